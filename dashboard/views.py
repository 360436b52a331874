"""Cross-cutting pages: the engine overview (home), the health check and the metrics."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from containers_app import metrics as container_metrics
from containers_app.engine.system import engine_overview, ping


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/engine.html", {"overview": engine_overview()})


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "engine": ping()})


@csrf_exempt
@login_not_required
@require_GET
async def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics for whoever sends `Authorization: Bearer $DOCKDASH_METRICS_TOKEN`
    (a scraper, not a person: no session, no login page); off (404) without a token."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("Metrics are off: set DOCKDASH_METRICS_TOKEN to turn them on.")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        given.strip().encode(), token.encode()
    ):
        return HttpResponse(
            "A valid bearer token is required: Authorization: Bearer <DOCKDASH_METRICS_TOKEN>.\n",
            status=401,
            content_type="text/plain; charset=utf-8",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body, content_type = await container_metrics.scrape(request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)
