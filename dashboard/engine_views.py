"""The engines: the admins' page listing each with its reachability, version and load, and
`GET/POST /api/v1/engines/`, `GET/PATCH/DELETE /api/v1/engines/{name}/`.

TLS material is write-only: the answers say whether an engine has it, never what it is.
Adding, changing and removing are audited.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from rest_framework import serializers, status
from rest_framework.request import Request

from containers_app import engines
from containers_app.models import Engine
from dashboard import access
from dashboard.access import Perm
from dashboard.audit import audited
from dashboard.endpoints import Endpoint, Op
from dashboard.refusals import InUse, Invalid

_TLS = ("tls_cert", "tls_key", "tls_ca")
CREATED = status.HTTP_201_CREATED


class EngineSerializer(serializers.ModelSerializer):
    tls_cert = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False
    )
    tls_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False
    )
    tls_ca = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False
    )
    endpoint = serializers.CharField(max_length=500, required=False)
    has_tls = serializers.SerializerMethodField()
    first = serializers.SerializerMethodField()

    class Meta:
        model = Engine
        fields = ["name", "endpoint", *_TLS, "has_tls", "first", "created"]
        read_only_fields = ["created"]

    def get_has_tls(self, engine: Engine) -> bool:
        return bool(engine.tls_cert_encrypted)

    def get_first(self, engine: Engine) -> bool:
        return engines.is_first(engine)

    def to_representation(self, engine: Engine) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(engine)
        data["endpoint"] = engines.target_url(engine)
        return data

    # A refusal raised here (Invalid) passes is_valid(): the API's handler answers it.
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        engine = self.instance
        if engine is not None and engines.is_first(engine) and "endpoint" in attrs:
            raise Invalid(
                "The first engine's endpoint is DOCKDASH_DOCKER_HOST: change it there.", "endpoint"
            )
        if engine is None and "endpoint" not in attrs:
            raise Invalid("endpoint: this field is required.", "endpoint")
        url = attrs.get("endpoint", engine.endpoint if engine else "")
        if "endpoint" in attrs:
            attrs["endpoint"] = url = engines.check_endpoint(url)
        stored = engine.tls() if engine is not None and engine.tls_cert_encrypted else ("", "", "")
        given = [attrs.get(field, old) for field, old in zip(_TLS, stored, strict=True)]
        engines.check_tls(url, *given)
        return attrs

    def save_engine(self) -> Engine:
        data = dict(self.validated_data)
        tls = {field: data.pop(field, None) for field in _TLS}
        engine = self.instance or Engine()
        for key, value in data.items():
            setattr(engine, key, value)
        engine.set_tls(cert=tls["tls_cert"], key=tls["tls_key"], ca=tls["tls_ca"])
        engine.save()
        return engine


def _audit_params(data: Any) -> dict[str, Any]:
    """What an audit row keeps of a request: never the key or the certificates."""
    return {"endpoint": data.get("endpoint", ""), "tls_changed": any(f in data for f in _TLS)}


def _managed(request: Request, name: str) -> Engine:
    access.require_global(request.user, Perm.MANAGE_ENGINES)
    return engines.named(name)


def _list(request: Request) -> list[dict[str, Any]]:
    access.require_global(request.user, Perm.MANAGE_ENGINES)
    return list(EngineSerializer(engines.all_engines(), many=True).data)


def _create(request: Request) -> dict[str, Any]:
    access.require_global(request.user, Perm.MANAGE_ENGINES)
    engines.first()  # the setting's engine stays the first row
    serializer = EngineSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    name = serializer.validated_data["name"]
    with audited(
        request,
        "engine.create",
        target_kind="engine",
        target_name=name,
        params=_audit_params(request.data),
    ):
        engine = serializer.save_engine()
    return dict(EngineSerializer(engine).data)


def _detail(request: Request, name: str) -> dict[str, Any]:
    engine = _managed(request, name)
    return {**EngineSerializer(engine).data, "status": engines.status_of(engine)}


def _update(request: Request, name: str) -> dict[str, Any]:
    engine = _managed(request, name)
    serializer = EngineSerializer(engine, data=request.data, partial=True)
    serializer.is_valid(raise_exception=True)
    target = {"target_kind": "engine", "target_name": name}
    with audited(request, "engine.update", params=_audit_params(request.data), **target):
        serializer.save_engine()
    return dict(EngineSerializer(engine).data)


def _delete(request: Request, name: str) -> None:
    engine = _managed(request, name)
    with audited(request, "engine.delete", target_kind="engine", target_name=name):
        if engines.is_first(engine):
            raise InUse("The first engine (DOCKDASH_DOCKER_HOST's) cannot be removed.")
        engine.delete()


ENDPOINTS = [
    Endpoint(
        "api/v1/engines/",
        "api-engines",
        get=Op("The engines (admins)", _list),
        post=Op(
            "Add an engine (admins)", _create, EngineSerializer, status=status.HTTP_201_CREATED
        ),
    ),
    Endpoint(
        "api/v1/engines/<slug:name>/",
        "api-engine-row",
        get=Op("An engine and how it is (admins)", _detail),
        patch=Op("Change an engine (admins)", _update, EngineSerializer),
        delete=Op("Remove an engine (admins)", _delete, status=status.HTTP_204_NO_CONTENT),
    ),
]


@require_GET
def engine_list(request: HttpRequest) -> HttpResponse:
    access.require_global(request.user, Perm.MANAGE_ENGINES)
    rows = engines.all_engines()
    statuses = engines.statuses(rows)
    listed = [
        {"name": e.name, "first": i == 0, "status": s}
        for i, (e, s) in enumerate(zip(rows, statuses, strict=True))
    ]
    return render(request, "dashboard/engines.html", {"engines": listed})
