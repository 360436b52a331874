"""Cross-cutting pages: the engine overview (home) and the health check."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from containers_app.engine.system import engine_overview, ping


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/engine.html", {"overview": engine_overview()})


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "engine": ping()})
