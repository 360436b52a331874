"""JSON API pieces shared by every app: error shape and the engine endpoint."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from containers_app.engine.errors import EngineUnavailable
from containers_app.engine.system import engine_overview
from dashboard.refusals import PolicyViolation, Refusal


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every API error as `{"error": "...", "field": ...}`; engine errors with their status."""
    if isinstance(exc, Refusal):  # every refusal: access, policy, quotas, input, the engine
        body: dict[str, Any] = {"error": exc.message}
        if exc.field or isinstance(exc, PolicyViolation):
            body["field"] = exc.field or None
        if isinstance(exc, EngineUnavailable):
            body.update(engine=exc.engine, endpoint=exc.endpoint, hint=exc.hint)
        return Response(body, status=exc.status)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict) and "detail" in data:
        response.data = {"error": str(data["detail"])}
    elif isinstance(data, dict):
        field, problems = next(iter(data.items()))
        message = problems[0] if isinstance(problems, list) and problems else problems
        response.data = {"error": f"{field}: {message}", "field": field}
    elif isinstance(data, list):
        response.data = {"error": " ".join(str(item) for item in data)}
    return response


@extend_schema(summary="The engine this dashboard drives", responses={200: dict})
@api_view(["GET"])
def engine_detail(request: Request) -> Response:
    return Response(engine_overview(), status=status.HTTP_200_OK)
