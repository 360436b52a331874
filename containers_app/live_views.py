"""Pages and API views of live stats, logs and the terminal.

Thin: find the container for the user (containers_app.lookup), render or hand
over to the stats sampler and the log reader; the live data itself comes over
the websockets in containers_app.consumers.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from containers_app import gate, history, logs, stats, translate
from containers_app.engine.system import version
from containers_app.lookup import container_for_user, container_page_context, record_for_user
from containers_app.terminal import SHELLS
from dashboard import access
from dashboard.access import Perm
from dashboard.refusals import NotVisible


@require_GET
def stats_overview(request: HttpRequest) -> HttpResponse:
    version()  # an engine that does not answer gets the unreachable page, as elsewhere
    return render(request, "containers_app/stats_overview.html", {})


@require_GET
def container_stats(request: HttpRequest, ref: str) -> HttpResponse:
    attrs = container_for_user(request.user, ref)
    return render(
        request, "containers_app/container_stats.html", container_page_context(attrs, "stats")
    )


@require_GET
def container_logs(request: HttpRequest, ref: str) -> HttpResponse:
    attrs = container_for_user(request.user, ref)
    return render(
        request, "containers_app/container_logs.html", container_page_context(attrs, "logs")
    )


@require_GET
def container_logs_download(request: HttpRequest, ref: str) -> StreamingHttpResponse:
    container = record_for_user(request.user, ref)
    name = container.name or container.id[:12]
    timestamps = request.GET.get("timestamps", "0") == "1"
    response = StreamingHttpResponse(
        logs.log_file_chunks(container.id, tty=container.tty, timestamps=timestamps),
        content_type="text/plain; charset=utf-8",
    )
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    response["Content-Disposition"] = f'attachment; filename="{safe}.log"'
    return response


@require_GET
def container_terminal(request: HttpRequest, ref: str) -> HttpResponse:
    attrs = container_for_user(request.user, ref)
    container = translate.container_record(attrs)
    context = container_page_context(attrs, "terminal")
    context.update(
        may_exec=access.can(request.user, Perm.EXEC, container.owner),
        shells=list(SHELLS),
        running=container.running,
    )
    return render(request, "containers_app/container_terminal.html", context)


# ---------------------------------------------------------------- API


@extend_schema(
    summary="A container's log as text",
    parameters=[
        OpenApiParameter("tail", str, description="number of lines, or 'all' (default 100)"),
        OpenApiParameter("timestamps", int, description="1 to prefix each line with its time"),
        OpenApiParameter("since", float, description="only lines after this epoch time"),
    ],
    responses={200: str},
)
@api_view(["GET"])
def api_container_logs(request: Request, ref: str) -> HttpResponse | Response:
    container = record_for_user(request.user, ref)
    query = {k: v for k, v in request.query_params.items() if k in {"tail", "timestamps", "since"}}
    try:
        options = logs.parse_options({**query, "follow": "0"})
    except ValueError as exc:
        field = str(exc).split(" ", 1)[0]
        return Response({"error": str(exc), "field": field}, status=400)
    text = logs.log_text(container.id, options, tty=container.tty)
    return HttpResponse(text, content_type="text/plain; charset=utf-8")


@extend_schema(
    summary="A container's latest stats sample and recent history, or its stored history",
    parameters=[
        OpenApiParameter(
            "range",
            str,
            enum=list(history.RANGES),
            description="the stored history over this range instead (also of a removed"
            " container, until retention)",
        )
    ],
    responses={200: dict},
)
@api_view(["GET"])
def api_container_stats(request: Request, ref: str) -> Response:
    if "range" in request.query_params:
        return _stored_stats(request, ref, request.query_params["range"])
    container = record_for_user(request.user, ref)
    sampler = stats.sampler_for()
    latest = sampler.latest(container.id) if sampler.running else None
    if latest is None:
        latest = stats.measure_once(container)
    return Response(
        {
            "id": container.id,
            "running": container.running,
            "interval": sampler.interval,
            "latest": latest,
            "history": sampler.history(container.id),
        }
    )


def _stored_stats(request: Request, ref: str, range_name: str) -> Response:
    span = history.RANGES.get(range_name)
    if span is None:
        words = ", ".join(history.RANGES)
        return Response(
            {"error": f"range must be one of {words}, not {range_name!r}", "field": "range"},
            status=400,
        )
    try:
        found = gate.find_container(request.user, ref)
        container_id, name, owner = found.id, found.name, found.owner
    except NotVisible:  # not on the engine: a removed container's history, until retention
        kept = history.kept_container(ref)
        if kept is None:
            raise
        container_id, name, owner = kept.container_id, kept.name, kept.owner or None
    access.require(request.user, Perm.VIEW, owner, what="container", ref=ref)
    points = history.stored_points(container_id, span)
    return Response(
        {
            "id": container_id,
            "name": name,
            "range": range_name,
            "step": span.step,
            "fields": list(history.FIELDS),
            "points": history.columns(points),
        }
    )
