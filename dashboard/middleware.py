"""Login for every page, and refusals (the engine's too) turned into pages a person understands."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from containers_app.engine.errors import EngineError, EngineUnavailable
from dashboard.refusals import Refusal


class LoginRequiredMiddleware(DjangoLoginRequired):
    """Django's login requirement, except for the JSON API.

    The API authenticates by session or token inside DRF and answers 401/403 as
    JSON itself; a redirect to the login page would be wrong for a script.
    """

    def process_view(self, request: HttpRequest, view_func: Any, *args: Any) -> Any:
        if request.path.startswith("/api/"):
            return None
        return super().process_view(request, view_func, *args)


class EngineErrorMiddleware:
    def __init__(self, get_response: Any):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, Refusal):
            return None
        if isinstance(exc, EngineUnavailable):
            return render(request, "errors/engine_unavailable.html", {"error": exc}, status=503)
        context = {"error": exc, "from_engine": isinstance(exc, EngineError)}
        return render(request, "errors/refused.html", context, status=exc.status)
