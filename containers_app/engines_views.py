"""The engines' page (each engine's reachability, version and load; admins add and remove
engines there) and the engines' JSON API. Every change goes through the gate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from rest_framework import serializers
from rest_framework.request import Request

from containers_app import engines, gate
from containers_app.engines import EngineFields
from dashboard import access, crypto
from dashboard.access import Perm
from dashboard.endpoints import Endpoint, Op
from dashboard.refusals import Invalid, Refusal

FIELDS = ("endpoint", "ca_cert", "client_cert", "client_key", "agent")


def _shown(user: Any, row: dict[str, Any]) -> dict[str, Any]:
    """An engine's row for `user`: where it listens only for those who see the host's own
    objects (admins, viewers); its name and state for everyone, who may pick it."""
    if access.can(user, Perm.VIEW, None):
        return row
    return {k: v for k, v in row.items() if k not in ("endpoint", "error", "tls", "agent")}


def fields_from(data: Any, current: EngineFields | None = None) -> EngineFields:
    """An engine's settings from a request's data: those it gives, the others as they are."""
    if not isinstance(data, Mapping):
        raise Invalid("expected a JSON object", "body")
    unknown = sorted(set(data) - set(FIELDS) - {"name"})
    if unknown:
        raise Invalid(f"{unknown[0]}: not an engine setting (use {', '.join(FIELDS)})", unknown[0])
    given: dict[str, Any] = {}
    for key in FIELDS:
        if key not in data:
            continue
        value = data[key]
        if key == "agent":
            if not isinstance(value, bool) and value not in ("on", "true", "1", "false", "0", ""):
                raise Invalid("agent: must be true or false", "agent")
            given[key] = value is True or value in ("on", "true", "1")
        elif isinstance(value, str):
            given[key] = value.strip() if key == "endpoint" else value
        else:
            raise Invalid(f"{key}: must be text", key)
    base = current or EngineFields(endpoint="")
    return replace(base, **given)


def _current(name: str) -> EngineFields:
    engine = engines.named(name)
    if engine is None:
        return EngineFields(endpoint="")
    return EngineFields(
        endpoint=engine.endpoint,
        ca_cert=engine.ca_cert,
        client_cert=engine.client_cert,
        client_key=crypto.decrypt(engine.client_key_encrypted),
        agent=engine.agent,
    )


# ---------------------------------------------------------------- the page


@require_GET
def engines_page(request: HttpRequest) -> HttpResponse:
    rows = [_shown(request.user, row) for row in engines.statuses(engines.every())]
    context = {
        "rows": rows,
        "chosen_engine": request.engine.name,  # type: ignore[attr-defined]
        "may_change": access.can(request.user, Perm.CONTROL, None),
        "sees_endpoints": access.can(request.user, Perm.VIEW, None),
    }
    return render(request, "containers_app/engines.html", context)


@require_POST
def engine_add(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "").strip()
    try:
        fields = fields_from({k: v for k, v in request.POST.items() if k in FIELDS})
        gate.perform(request, "engine.add", name, fields=fields)
    except Refusal as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Added engine {name} ({fields.endpoint}).")
    return redirect("engines")


@require_POST
def engine_remove(request: HttpRequest, name: str) -> HttpResponse:
    try:
        gate.perform(request, "engine.remove", name)
    except Refusal as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Removed engine {name}: the dashboard no longer talks to it.")
    return redirect("engines")


# ---------------------------------------------------------------- the JSON API


class EngineSerializer(serializers.Serializer):
    """What the schema shows; `fields_from` reads the data (unknown keys refused)."""

    name = serializers.CharField(help_text="letters, digits, - and _; used as ?engine=<name>")
    endpoint = serializers.CharField(
        help_text="unix:///var/run/docker.sock, tcp://host:2376, ssh://user@host"
    )
    ca_cert = serializers.CharField(required=False, help_text="tcp:// with TLS: PEM")
    client_cert = serializers.CharField(required=False, help_text="tcp:// with TLS: PEM")
    client_key = serializers.CharField(
        required=False, help_text="tcp:// with TLS: PEM, stored encrypted"
    )
    agent = serializers.BooleanField(
        required=False, help_text="its cgroups are read by a stats agent"
    )


def _api_list(request: Request) -> list[dict[str, Any]]:
    return [_shown(request.user, row) for row in engines.statuses(engines.every())]


def _api_detail(request: Request, name: str) -> dict[str, Any]:
    target = gate.visible(request.user, "engine", name)
    return _shown(request.user, engines.status(target.record))


def _api_add(request: Request) -> dict[str, Any]:
    name = request.data.get("name")
    if not isinstance(name, str) or not name:
        raise Invalid("name: required, the engine's name", "name")
    fields = fields_from(request.data)
    gate.perform(request, "engine.add", name, fields=fields)
    return _api_detail(request, name)


def _api_change(request: Request, name: str) -> dict[str, Any]:
    if "name" in request.data:
        raise Invalid("name: an engine keeps its name (remove it and add it again)", "name")
    gate.perform(request, "engine.change", name, fields=fields_from(request.data, _current(name)))
    return _api_detail(request, name)


def _api_remove(request: Request, name: str) -> None:
    gate.perform(request, "engine.remove", name)


ENDPOINTS = [
    Endpoint(
        "api/v1/engines/",
        "api-engines",
        get=Op("List the engines, each with its reachability, version and load", _api_list),
        post=Op(
            "Add an engine (admins)",
            _api_add,
            request=EngineSerializer,
            status=201,
            operation_id="engines_create",
        ),
    ),
    Endpoint(
        "api/v1/engines/<str:name>/",
        "api-engine-named",
        get=Op("One engine", _api_detail, operation_id="engines_retrieve"),
        patch=Op(
            "Change an engine's endpoint, TLS or agent (admins)",
            _api_change,
            request=EngineSerializer,
            operation_id="engines_update",
        ),
        delete=Op("Remove an engine (admins)", _api_remove, status=204),
    ),
]
