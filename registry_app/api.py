"""JSON API of the registry app (DESIGN.md): registries, catalog, pull/push jobs, job state."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from dashboard import access
from dashboard.access import Perm
from dashboard.audit import audited
from registry_app import jobs, refs, services
from registry_app.models import Job, Registry
from registry_app.v2client import RegistryClient, RegistryError


def _error(message: str, field: str | None = None, code: int = 400) -> Response:
    body: dict[str, Any] = {"error": message}
    if field:
        body["field"] = field
    return Response(body, status=code)


class RegistrySerializer(serializers.ModelSerializer):
    password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False
    )
    has_password = serializers.BooleanField(read_only=True)
    host = serializers.CharField(read_only=True)

    class Meta:
        model = Registry
        fields = ["id", "name", "url", "host", "username", "password", "has_password"]

    def validate_url(self, value: str) -> str:
        try:
            return services.check_registry_url(value)
        except refs.InputError as exc:
            raise serializers.ValidationError(exc.message) from None

    def create(self, validated_data: dict[str, Any]) -> Registry:
        password = validated_data.pop("password", "")
        registry = Registry(**validated_data)
        registry.set_password(password if registry.username else "")
        registry.save()
        return registry

    def update(self, instance: Registry, validated_data: dict[str, Any]) -> Registry:
        # Left out: the stored password stays; "" clears it; no username: no password.
        password = validated_data.pop("password", None)
        for key, value in validated_data.items():
            setattr(instance, key, value)
        if not instance.username:
            instance.set_password("")
        elif password is not None:
            instance.set_password(password)
        instance.save()
        return instance


def _safe_params(data: Any) -> dict[str, Any]:
    """What an audit row may keep of a registry request: never the password."""
    return {
        "url": data.get("url", ""),
        "username": data.get("username", ""),
        "password_changed": bool(data.get("password")),
    }


@extend_schema(
    methods=["GET"],
    summary="Configured registries",
    responses=RegistrySerializer(many=True),
    operation_id="v1_registries_list",
)
@extend_schema(
    methods=["POST"],
    summary="Add a registry (the password is write-only)",
    request=RegistrySerializer,
    responses=RegistrySerializer,
    operation_id="v1_registries_create",
)
@api_view(["GET", "POST"])
def registries(request: Request) -> Response:
    if request.method == "GET":
        return Response(RegistrySerializer(Registry.objects.all(), many=True).data)
    access.require_global(request.user, Perm.MANAGE_REGISTRIES)
    serializer = RegistrySerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    with audited(
        request,
        "registry.create",
        target_kind="registry",
        target_name=serializer.validated_data["name"],
        params=_safe_params(request.data),
    ) as extra:
        registry = serializer.save()
        extra["target_id"] = str(registry.pk)
    return Response(RegistrySerializer(registry).data, status=status.HTTP_201_CREATED)


def _registry(pk: int) -> Registry:
    found = Registry.objects.filter(pk=pk).first()
    if found is None:
        raise Http404(f"Unknown registry {pk}.")
    return found


@extend_schema(
    summary="One registry",
    request=RegistrySerializer,
    responses=RegistrySerializer,
)
@api_view(["GET", "PATCH", "DELETE"])
def registry_detail(request: Request, pk: int) -> Response:
    registry = _registry(pk)
    if request.method == "GET":
        return Response(RegistrySerializer(registry).data)
    access.require_global(request.user, Perm.MANAGE_REGISTRIES)
    target = {"target_kind": "registry", "target_id": str(pk), "target_name": registry.name}
    if request.method == "DELETE":
        services.delete_registry(request, registry)
        return Response(status=status.HTTP_204_NO_CONTENT)
    serializer = RegistrySerializer(registry, data=request.data, partial=True)
    serializer.is_valid(raise_exception=True)
    with audited(request, "registry.update", params=_safe_params(request.data), **target):
        serializer.save()
    return Response(RegistrySerializer(registry).data)


@extend_schema(summary="Test the stored login through the engine", request=None, responses=dict)
@api_view(["POST"])
def registry_test(request: Request, pk: int) -> Response:
    registry = _registry(pk)
    access.require_global(request.user, Perm.MANAGE_REGISTRIES)
    outcome = services.probe_registry(request, registry)
    return Response({"ok": outcome.ok, "message": outcome.message})


def _registry_call(fn: Any) -> Response:
    try:
        return Response(fn())
    except RegistryError as exc:
        return _error(exc.message, code=exc.status if 400 <= exc.status < 600 else 502)
    except refs.InputError as exc:
        return _error(exc.message, exc.field)


@extend_schema(summary="Repositories of a private registry (paginated by `last`)", responses=dict)
@api_view(["GET"])
def repositories(request: Request, pk: int) -> Response:
    registry = _registry(pk)
    if registry.is_docker_hub:
        return _error("Docker Hub offers no catalog; search it instead.", code=400)
    try:
        n = min(max(int(request.query_params.get("n", 100)), 1), 1000)
    except ValueError:
        return _error("n must be a whole number.", "n")
    last = request.query_params.get("last", "")

    def page() -> dict[str, Any]:
        found = RegistryClient.for_registry(registry).repositories(n, last)
        return {"repositories": found.items, "next": found.next_last or None}

    return _registry_call(page)


@extend_schema(summary="Tags of a repository, each with digest, size, architecture", responses=dict)
@api_view(["GET"])
def tags(request: Request, pk: int, name: str) -> Response:
    registry = _registry(pk)
    last = request.query_params.get("last", "")
    detail = request.query_params.get("detail", "1") != "0"

    def listing() -> dict[str, Any]:
        refs.check_repository(name, "name")
        client = RegistryClient.for_registry(registry)
        found = client.tags(name, 100, last)
        rows: list[Any] = (
            [client.tag_detail(name, t) for t in found.items] if detail else found.items
        )
        return {"repository": name, "tags": rows, "next": found.next_last or None}

    return _registry_call(listing)


@extend_schema(summary="Delete a tag (its manifest) from a registry", responses=dict)
@api_view(["DELETE"])
def tag_delete(request: Request, pk: int, name: str, tag: str) -> Response:
    registry = _registry(pk)
    access.require_global(request.user, Perm.MANAGE_REGISTRIES)
    try:
        with audited(
            request,
            "registry.tag.delete",
            target_kind="registry",
            target_id=str(pk),
            target_name=f"{registry.host}/{name}:{tag}",
        ):
            digest = RegistryClient.for_registry(registry).delete_tag(name, tag)
    except RegistryError as exc:
        return _error(exc.message, code=exc.status if 400 <= exc.status < 600 else 502)
    return Response({"deleted": f"{name}:{tag}", "digest": digest})


class PullSerializer(serializers.Serializer):
    image = serializers.CharField(allow_blank=True)
    registry = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class PushSerializer(serializers.Serializer):
    image = serializers.CharField(allow_blank=True)
    registry = serializers.CharField()
    repository = serializers.CharField(allow_blank=True)
    tag = serializers.CharField(allow_blank=True, default="latest")


@extend_schema(summary="Pull an image as a job", request=PullSerializer, responses=dict)
@api_view(["POST"])
def image_pull(request: Request) -> Response:
    access.require_global(request.user, Perm.CREATE)
    body = PullSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    try:
        job = services.pull(request, data["image"], data.get("registry"))
    except refs.InputError as exc:
        return _error(exc.message, exc.field or "image")
    return Response({"job": job.pk}, status=status.HTTP_202_ACCEPTED)


@extend_schema(
    summary="Tag a local image and push it as a job", request=PushSerializer, responses=dict
)
@api_view(["POST"])
def image_push(request: Request) -> Response:
    access.require_global(request.user, Perm.CREATE)
    body = PushSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    try:
        job = services.push(
            request, data["image"], data["registry"], data["repository"], data["tag"]
        )
    except refs.InputError as exc:
        return _error(exc.message, exc.field or "image")
    return Response({"job": job.pk}, status=status.HTTP_202_ACCEPTED)


@extend_schema(summary="A pull, push or build job", responses=dict)
@api_view(["GET"])
def job_detail(request: Request, pk: int) -> Response:
    job = Job.objects.filter(pk=pk).first()
    if job is None or not access.can(request.user, Perm.VIEW, job.username):
        return _error(f"No job {pk}.", code=404)
    if jobs.interrupted(job):
        jobs.mark_interrupted(job)
    return Response(job.as_dict())
