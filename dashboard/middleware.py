"""Login for every page, the engine each request and websocket talks to, and refusals (the
engine's too) turned into pages a person understands."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from containers_app import engines
from containers_app.engine import client as engine_client
from containers_app.engine.errors import EngineError, EngineUnavailable
from containers_app.models import Engine
from dashboard.refusals import NotVisible, Refusal

# The session key of the engine a person last chose (`?engine=`): their pages, and the
# API calls and websockets those pages make, stay on it.
CHOSEN_ENGINE = "dockdash_engine"


class LoginRequiredMiddleware(DjangoLoginRequired):
    """Django's login requirement, except for the JSON API.

    The API authenticates by session or token inside DRF and answers 401/403 as
    JSON itself; a redirect to the login page would be wrong for a script.
    """

    def process_view(self, request: HttpRequest, view_func: Any, *args: Any) -> Any:
        if request.path.startswith("/api/"):
            return None
        return super().process_view(request, view_func, *args)


def _chosen_engine(asked: str | None, session: Any) -> Engine:
    """The engine `?engine=` names (remembered in the session), else the one the session
    remembers (while it exists), else the first."""
    if asked is not None:
        engine = engines.chosen(asked)
        if session is not None and session.get(CHOSEN_ENGINE) != engine.name:
            session[CHOSEN_ENGINE] = engine.name
        return engine
    remembered = session.get(CHOSEN_ENGINE) if session is not None else None
    return (engines.named(remembered) if remembered else None) or engines.configured()


class EngineMiddleware:
    """Every request talks to the engine it chose (containers_app.engines): `request.engine`."""

    def __init__(self, get_response: Any):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        asked = request.GET.get("engine")
        try:
            if asked is not None and request.path.startswith("/api/"):
                engine = engines.chosen(asked)  # for this call: a script's choice is not kept
            else:
                engine = _chosen_engine(asked, session)
        except NotVisible as exc:
            if request.path.startswith("/api/"):
                return JsonResponse({"error": exc.message, "field": "engine"}, status=404)
            return render(request, "errors/refused.html", {"error": exc}, status=404)
        request.engine = engine  # type: ignore[attr-defined]
        with engine_client.using(engines.address_of(engine)):
            return self.get_response(request)


class EngineScopeMiddleware:
    """A websocket talks to the engine of `?engine=` in its URL, else its session's."""

    def __init__(self, inner: Any):
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        asked = parse_qs(scope.get("query_string", b"").decode()).get("engine", [None])[-1]
        session = scope.get("session")
        try:
            engine = await database_sync_to_async(_remembered_or, thread_sensitive=False)(
                asked, session
            )
        except NotVisible as exc:
            # Accepted to be closed: a refused handshake would carry no code to tell.
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": exc.close_code})
            return None
        scope["engine"] = engine
        with engine_client.using(engines.address_of(engine)):
            return await self.inner(scope, receive, send)


def _remembered_or(asked: str | None, session: Any) -> Engine:
    # A socket does not save its session: what `?engine=` picks holds for this socket only.
    return _chosen_engine(asked, None) if asked is not None else _chosen_engine(None, session)


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
