"""The "Under the hood" tab, its JSON API (namespaces, cgroups), and the architecture page."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from containers_app import architecture, cgroup_limits, internals, translate
from containers_app.engine.client import recent_api_calls, shared_api_calls
from containers_app.lookup import container_for_user, container_page_context, record_for_user
from dashboard import access


@require_GET
def container_internals(request: HttpRequest, container_id: str) -> HttpResponse:
    attrs = container_for_user(request.user, container_id)
    container = translate.container_record(attrs)
    oci = internals.oci_spec(container.id)
    context = {
        **container_page_context(attrs, "internals"),
        "not_running": internals.kernel_problem(container),
        "namespaces": internals.container_namespaces(container, request.user),
        "isolation": internals.container_isolation(container),
        "cgroups": cgroup_limits.container_cgroups(container),
        "layers": internals.safely(lambda: internals.container_layers(container.id), "layers"),
        "oci": oci,
        "oci_json": json.dumps(oci.get("json"), indent=2) if oci.get("json") else "",
    }
    return render(request, "containers_app/internals.html", context)


@extend_schema(summary="A container's namespaces as the kernel holds them", responses={200: dict})
@api_view(["GET"])
def api_container_namespaces(request: Request, container_id: str) -> Response:
    container = record_for_user(request.user, container_id)
    return Response(internals.container_namespaces(container, request.user))


@extend_schema(
    summary="A container's cgroups: limits, usage and events from the kernel files",
    responses={200: dict},
)
@api_view(["GET"])
def api_container_cgroups(request: Request, container_id: str) -> Response:
    container = record_for_user(request.user, container_id)
    return Response({"id": container.id, **cgroup_limits.container_cgroups(container)})


@require_GET
def engine_architecture(request: HttpRequest) -> HttpResponse:
    """The process chain from this dashboard to the containers, and its recent engine calls."""
    context = {
        "arch": architecture.engine_architecture(request.user),
        # The calls name other users' containers, so only those who may see everything see them.
        "may_see_calls": access.can(request.user, access.Perm.VIEW_AUDIT),
        "calls_shared": shared_api_calls(),
    }
    calls = recent_api_calls() if context["may_see_calls"] else []
    context["api_calls"] = [{**c, "when": datetime.fromtimestamp(c["at"], tz=UTC)} for c in calls]
    return render(request, "containers_app/architecture.html", context)
