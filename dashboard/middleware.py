"""Login for every page, and refusals (the engine's too) turned into pages a person understands."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
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


class UserFactsMiddleware:
    """Websockets: load the facts the rules take about the user (the students an instructor
    teaches, the images a student's classes allow) once, when the connection opens; the
    consumers ask the rules from the event loop, where no query may run."""

    def __init__(self, inner: Any):
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        user = scope.get("user")
        if user is not None and user.is_authenticated:
            await database_sync_to_async(user.load_facts)()
        return await self.inner(scope, receive, send)
