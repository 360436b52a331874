"""Login for every page, the engine a request works on, and refusals (the engine's too)
turned into pages a person understands."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from containers_app import engines
from containers_app.engine.client import scoped
from containers_app.engine.errors import EngineError, EngineUnavailable
from containers_app.templatetags.engines import with_engine
from dashboard.refusals import NotVisible, Refusal


class LoginRequiredMiddleware(DjangoLoginRequired):
    """Django's login requirement, except for the JSON API.

    The API authenticates by session or token inside DRF and answers 401/403 as
    JSON itself; a redirect to the login page would be wrong for a script.
    """

    def process_view(self, request: HttpRequest, view_func: Any, *args: Any) -> Any:
        if request.path.startswith("/api/"):
            return None
        return super().process_view(request, view_func, *args)


class EngineScopeMiddleware:
    """`?engine=<name>` on any page or API path: the request works on that engine (the
    engine client reads it); without it, on the first. An unknown name answers 404 in words.

    Who is not signed in gets the login page before any engine is named. The API signs
    callers in inside its views (session or token), after this: there an unknown name
    answers 404 before the 401, which tells a stranger only that no such engine exists.
    """

    def __init__(self, get_response: Any):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = request.GET.get("engine", "")
        is_api = request.path.startswith("/api/")
        if not name or not (is_api or request.user.is_authenticated):
            return self.get_response(request)
        try:
            target = engines.scope_named(name)
        except NotVisible as exc:
            if is_api:
                return JsonResponse({"error": exc.message, "field": exc.field}, status=404)
            return render(request, "errors/refused.html", {"error": exc}, status=404)
        with scoped(target):
            response = self.get_response(request)
            # A page that sends the browser on (after a form) keeps it on this engine.
            location = response.get("Location", "")
            if location.startswith("/") and "engine=" not in location:
                response["Location"] = with_engine(location)
            return response


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


class EngineScopeSocketMiddleware:
    """Websockets: `?engine=<name>` in the URL, as on pages; the consumer and whatever it
    starts (a sampler, a log stream) work on that engine. An unknown name closes the
    handshake with 4404, as a container the user may not see does."""

    def __init__(self, inner: Any):
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        query = parse_qs(scope.get("query_string", b"").decode(errors="replace"))
        name = (query.get("engine") or [""])[0]
        user = scope.get("user")
        if not name or user is None or not user.is_authenticated:
            return await self.inner(scope, receive, send)
        try:
            target = await database_sync_to_async(engines.scope_named)(name)
        except NotVisible as exc:
            await receive()  # the handshake, refused
            await send({"type": "websocket.close", "code": exc.close_code})
            return None
        with scoped(target):
            return await self.inner(scope, receive, send)


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
