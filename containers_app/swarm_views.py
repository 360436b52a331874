"""The Swarm pages (nodes and services, a service's tasks and logs, draining a node) and
their JSON API."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request

from containers_app import swarm
from containers_app.engine.errors import EngineUnavailable
from containers_app.serializers import NodeAvailabilitySerializer
from dashboard import access
from dashboard.access import Perm
from dashboard.endpoints import Endpoint, Op
from dashboard.refusals import Refusal

VERBS = {"drain": "Drained", "active": "Activated"}


@require_GET
def swarm_page(request: HttpRequest) -> HttpResponse:
    found = swarm.overview(request.user)
    names = {n.id: n.hostname for n in found["nodes"]}
    context = {
        **found,
        "can_control_nodes": access.can(request.user, Perm.CONTROL, None),
        "shared_hostnames": len(set(names.values())) < len(names),
        "node_labels": any(n.labels for n in found["nodes"]),
    }
    return render(request, "containers_app/swarm.html", context)


@require_GET
def service_page(request: HttpRequest, ref: str) -> HttpResponse:
    tail = swarm.parse_tail(request.GET.get("tail"))
    found = swarm.service_detail(request.user, ref, log_tail=tail)
    names = found["node_names"]
    context = {
        "service": found["service"],
        "tasks": [swarm.task_row(t, names) for t in found["tasks"]],
        "logs": found["logs"],
        "tail": tail,
        "inspect_json": json.dumps(found["inspect"], indent=2, sort_keys=True),
    }
    return render(request, "containers_app/swarm_service.html", context)


@require_POST
def node_availability(request: HttpRequest, ref: str) -> HttpResponse:
    availability = request.POST.get("availability", "")
    try:
        node = swarm.set_availability(request, ref, availability)
    except EngineUnavailable:
        raise
    except Refusal as exc:
        messages.error(request, exc.message)
    else:
        cli = f"docker node update --availability {availability} {node.id[:12]}"
        messages.success(request, f"{VERBS[availability]} node {node.hostname} ({cli})")
    return redirect("swarm")


# ---------------------------------------------------------------- the JSON API


def _api_overview(request: Request) -> dict[str, Any]:
    found = swarm.overview(request.user)
    return {
        "role": found["role"],
        "message": found["message"],
        "nodes": [asdict(n) for n in found["nodes"]],
        "services": [asdict(s) for s in found["services"]],
    }


def _api_service(request: Request, ref: str) -> dict[str, Any]:
    found = swarm.service_detail(request.user, ref)
    names = found["node_names"]
    return {
        **asdict(found["service"]),
        "tasks": [swarm.task_row(t, names) for t in found["tasks"]],
    }


def _api_logs(request: Request, ref: str) -> dict[str, Any]:
    tail = swarm.parse_tail(request.query_params.get("tail"))
    return {"lines": swarm.service_logs(request.user, ref, tail=tail)}


def _api_set_availability(request: Request, ref: str) -> dict[str, Any]:
    serializer = NodeAvailabilitySerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return asdict(swarm.set_availability(request, ref, serializer.validated_data["parsed"]))


ENDPOINTS = [
    Endpoint(
        "api/v1/swarm/",
        "api-swarm",
        get=Op(
            "The engine's place in its swarm, its nodes and the services you may see",
            _api_overview,
            operation_id="swarm_retrieve",
        ),
    ),
    Endpoint(
        "api/v1/swarm/nodes/",
        "api-swarm-nodes",
        get=Op("List the swarm's nodes (admins, viewers)", lambda r: swarm.node_rows(r.user)),
    ),
    Endpoint(
        "api/v1/swarm/nodes/<str:ref>/",
        "api-swarm-node",
        get=Op(
            "Inspect a node",
            lambda request, ref: swarm.node_detail(request.user, ref),
            operation_id="swarm_node_retrieve",
        ),
        patch=Op(
            "Drain a node or make it active again (admins)",
            _api_set_availability,
            request=NodeAvailabilitySerializer,
            operation_id="swarm_node_update",
        ),
    ),
    Endpoint(
        "api/v1/swarm/services/",
        "api-swarm-services",
        get=Op("List the services you may see", lambda r: swarm.service_rows(r.user)),
    ),
    Endpoint(
        "api/v1/swarm/services/<str:ref>/",
        "api-swarm-service",
        get=Op("A service and its tasks", _api_service, operation_id="swarm_service_retrieve"),
    ),
    Endpoint(
        "api/v1/swarm/services/<str:ref>/logs/",
        "api-swarm-service-logs",
        get=Op(
            "A service's last log lines, of all its tasks (docker service logs)",
            _api_logs,
            parameters=[OpenApiParameter("tail", int, description="lines, 200 unless told")],
        ),
    ),
]
