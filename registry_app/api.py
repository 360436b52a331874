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
from registry_app.models import Credential, Job, Registry
from registry_app.v2client import RegistryClient, RegistryError


def _error(message: str, field: str | None = None, code: int = 400) -> Response:
    body: dict[str, Any] = {"error": message}
    if field:
        body["field"] = field
    return Response(body, status=code)


class RegistrySerializer(serializers.ModelSerializer):
    username = serializers.CharField(required=False, allow_blank=True, max_length=150)
    password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False
    )
    credentials_scope = serializers.ChoiceField(
        choices=Credential.Scope.choices, required=False, default=Credential.Scope.PERSONAL
    )
    has_password = serializers.BooleanField(read_only=True)
    host = serializers.CharField(read_only=True)

    class Meta:
        model = Registry
        fields = [
            "id",
            "name",
            "url",
            "host",
            "username",
            "password",
            "has_password",
            "credentials_scope",
            "allow_non_admins",
        ]

    def validate_url(self, value: str) -> str:
        try:
            return services.check_registry_url(value)
        except refs.InputError as exc:
            raise serializers.ValidationError(exc.message) from None

    def create(self, validated_data: dict[str, Any]) -> Registry:
        login = self._pop_login(validated_data)
        registry = Registry.objects.create(**validated_data)
        registry.set_own_credential(
            login["username"] or "", login["password"] or "", login["scope"]
        )
        return registry

    def update(self, instance: Registry, validated_data: dict[str, Any]) -> Registry:
        # Left out: the stored login stays; "" clears the password; no username: no login.
        login = self._pop_login(validated_data)
        for key, value in validated_data.items():
            setattr(instance, key, value)
        instance.save()
        username = instance.username if login["username"] is None else login["username"]
        scope = login["scope"] if "credentials_scope" in self.initial_data else ""
        instance.set_own_credential(username, login["password"], scope)
        return instance

    @staticmethod
    def _pop_login(data: dict[str, Any]) -> dict[str, Any]:
        return {
            "username": data.pop("username", None),
            "password": data.pop("password", None),
            "scope": data.pop("credentials_scope", Credential.Scope.PERSONAL),
        }


class CredentialSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    scope = serializers.ChoiceField(choices=Credential.Scope.choices, default="personal")


def _safe_params(data: Any) -> dict[str, Any]:
    """What an audit row may keep of a registry request: never the password."""
    return {
        "url": data.get("url", ""),
        "username": data.get("username", ""),
        "password_changed": bool(data.get("password")),
        "credentials_scope": data.get("credentials_scope", ""),
        "allow_non_admins": data.get("allow_non_admins", ""),
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


def _refusal(exc: refs.InputError, default_field: str) -> Response:
    return _error(exc.message, exc.field or default_field, getattr(exc, "status", 400))


def _registry_call(fn: Any) -> Response:
    try:
        return Response(fn())
    except RegistryError as exc:
        return _error(exc.message, code=exc.status if 400 <= exc.status < 600 else 502)
    except refs.InputError as exc:
        return _refusal(exc, "")


def _browser(request: Request, registry: Registry) -> RegistryClient:
    """A catalog client for this user: only registries they may use, with their pull login."""
    services.check_registry_use(request.user, registry.host, registry, "registry")
    credential = services.credential_for(request.user, registry, "pull")
    return RegistryClient.for_registry(registry, credential)


@extend_schema(
    methods=["GET"],
    summary="Your stored logins for a registry (admins: everyone's); passwords never shown",
    responses=dict,
    operation_id="v1_registry_credentials_list",
)
@extend_schema(
    methods=["POST"],
    summary="Store your own login for a registry (encrypted; replaces yours)",
    request=CredentialSerializer,
    responses=dict,
    operation_id="v1_registry_credentials_create",
)
@extend_schema(
    methods=["DELETE"],
    summary="Remove your own login for a registry",
    responses=None,
    operation_id="v1_registry_credentials_delete",
)
@api_view(["GET", "POST", "DELETE"])
def registry_credentials(request: Request, pk: int) -> Response:
    registry = _registry(pk)
    mine = registry.credentials.filter(owner=request.user)
    if request.method == "GET":
        shown = registry.credentials.all() if services.is_admin(request.user) else mine
        return Response([c.as_dict() for c in shown.select_related("owner", "registry")])
    access.require_global(request.user, Perm.CREATE)
    target = {"target_kind": "registry", "target_id": str(pk), "target_name": registry.name}
    if request.method == "DELETE":
        with audited(request, "registry.credential.delete", **target):
            mine.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
    body = CredentialSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    params = {"username": data["username"], "scope": data["scope"]}
    try:
        with audited(request, "registry.credential.set", params=params, **target):
            cred = services.store_credential(
                request.user, registry, data["username"], data["password"], data["scope"]
            )
    except refs.InputError as exc:
        return _refusal(exc, "username")
    return Response(cred.as_dict(), status=status.HTTP_201_CREATED)


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
        found = _browser(request, registry).repositories(n, last)
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
        client = _browser(request, registry)
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
            credential = services.credential_for(request.user, registry, "push")
            digest = RegistryClient.for_registry(registry, credential).delete_tag(name, tag)
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
        return _refusal(exc, "image")
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
        return _refusal(exc, "image")
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
