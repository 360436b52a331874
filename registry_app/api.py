"""JSON API of the registry app (DESIGN.md): registries, catalog, pull/push jobs, job state.

The routes are one table (dashboard.endpoints) at the end; each function below answers
one method, checking who may do it before it reads the body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import Http404
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from dashboard import access
from dashboard.access import Perm
from dashboard.audit import audited
from dashboard.endpoints import Endpoint, Op
from registry_app import refs, services
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


def _registry(pk: int) -> Registry:
    found = Registry.objects.filter(pk=pk).first()
    if found is None:
        raise Http404(f"Unknown registry {pk}.")
    return found


def _audit_target(registry: Registry) -> dict[str, str]:
    return {"target_kind": "registry", "target_id": str(registry.pk), "target_name": registry.name}


def _managed_registry(request: Request, pk: int) -> Registry:
    """The registry, for someone who may change it (a missing one is a 404 first)."""
    registry = _registry(pk)
    access.require_global(request.user, Perm.MANAGE_REGISTRIES)
    return registry


# ---------------------------------------------------------------- registries


def _create_registry(request: Request) -> Any:
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
    return RegistrySerializer(registry).data


def _update_registry(request: Request, pk: int) -> Any:
    registry = _managed_registry(request, pk)
    serializer = RegistrySerializer(registry, data=request.data, partial=True)
    serializer.is_valid(raise_exception=True)
    params = _safe_params(request.data)
    with audited(request, "registry.update", params=params, **_audit_target(registry)):
        serializer.save()
    return RegistrySerializer(registry).data


def _test_registry(request: Request, pk: int) -> dict[str, Any]:
    outcome = services.probe_registry(request, _managed_registry(request, pk))
    return {"ok": outcome.ok, "message": outcome.message}


# ---------------------------------------------------------------- stored logins


def _list_credentials(request: Request, pk: int) -> list[dict[str, Any]]:
    registry = _registry(pk)
    shown = registry.credentials.all()
    if not services.is_admin(request.user):
        shown = shown.filter(owner=request.user)
    return [c.as_dict() for c in shown.select_related("owner", "registry")]


def _store_credential(request: Request, pk: int) -> Any:
    registry = _registry(pk)
    access.require_global(request.user, Perm.CREATE)
    body = CredentialSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    params = {"username": data["username"], "scope": data["scope"]}
    try:
        with audited(request, "registry.credential.set", params=params, **_audit_target(registry)):
            cred = services.store_credential(
                request.user, registry, data["username"], data["password"], data["scope"]
            )
    except refs.InputError as exc:
        return _refusal(exc, "username")
    return cred.as_dict()


def _delete_credential(request: Request, pk: int) -> None:
    registry = _registry(pk)
    access.require_global(request.user, Perm.CREATE)
    with audited(request, "registry.credential.delete", **_audit_target(registry)):
        registry.credentials.filter(owner=request.user).delete()


# ---------------------------------------------------------------- catalog


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


def _repositories(request: Request, pk: int) -> Response:
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


def _tags(request: Request, pk: int, name: str) -> Response:
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


def _delete_tag(request: Request, pk: int, name: str, tag: str) -> Any:
    registry = _managed_registry(request, pk)
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
    return {"deleted": f"{name}:{tag}", "digest": digest}


# ---------------------------------------------------------------- pull and push jobs


class PullSerializer(serializers.Serializer):
    image = serializers.CharField(allow_blank=True)
    registry = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class PushSerializer(serializers.Serializer):
    image = serializers.CharField(allow_blank=True)
    registry = serializers.CharField()
    repository = serializers.CharField(allow_blank=True)
    tag = serializers.CharField(allow_blank=True, default="latest")


def _job(request: Request, serializer_class: Any, start: Callable[[dict[str, Any]], Job]) -> Any:
    """Start a pull or push job for someone who may create: `{"job": <id>}`."""
    access.require_global(request.user, Perm.CREATE)
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        job = start(body.validated_data)
    except refs.InputError as exc:
        return _refusal(exc, "image")
    return {"job": job.pk}


def _pull(request: Request) -> Any:
    return _job(
        request,
        PullSerializer,
        lambda data: services.pull(request, data["image"], data.get("registry")),
    )


def _push(request: Request) -> Any:
    def push(data: dict[str, Any]) -> Job:
        return services.push(
            request, data["image"], data["registry"], data["repository"], data["tag"]
        )

    return _job(request, PushSerializer, push)


def _job_detail(request: Request, pk: int) -> Any:
    job = Job.objects.filter(pk=pk).first()
    if job is None or not access.can(request.user, Perm.VIEW, job.username):
        return _error(f"No job {pk}.", code=404)
    return job.as_dict()


ENDPOINTS = [
    Endpoint(
        "api/v1/registries/",
        "api-registries",
        get=Op(
            "Configured registries",
            lambda request: RegistrySerializer(Registry.objects.all(), many=True).data,
            response=RegistrySerializer(many=True),
            operation_id="v1_registries_list",
        ),
        post=Op(
            "Add a registry (the password is write-only)",
            _create_registry,
            request=RegistrySerializer,
            response=RegistrySerializer,
            status=status.HTTP_201_CREATED,
            operation_id="v1_registries_create",
        ),
    ),
    Endpoint(
        "api/v1/registries/<int:pk>/",
        "api-registry",
        get=Op(
            "One registry",
            lambda request, pk: RegistrySerializer(_registry(pk)).data,
            response=RegistrySerializer,
        ),
        patch=Op(
            "One registry",
            _update_registry,
            request=RegistrySerializer,
            response=RegistrySerializer,
        ),
        delete=Op(
            "One registry",
            lambda request, pk: services.delete_registry(request, _managed_registry(request, pk)),
            status=status.HTTP_204_NO_CONTENT,
        ),
    ),
    Endpoint(
        "api/v1/registries/<int:pk>/test/",
        "api-registry-test",
        post=Op("Test the stored login through the engine", _test_registry),
    ),
    Endpoint(
        "api/v1/registries/<int:pk>/credentials/",
        "api-registry-credentials",
        get=Op(
            "Your stored logins for a registry (admins: everyone's); passwords never shown",
            _list_credentials,
            operation_id="v1_registry_credentials_list",
        ),
        post=Op(
            "Store your own login for a registry (encrypted; replaces yours)",
            _store_credential,
            request=CredentialSerializer,
            status=status.HTTP_201_CREATED,
            operation_id="v1_registry_credentials_create",
        ),
        delete=Op(
            "Remove your own login for a registry",
            _delete_credential,
            status=status.HTTP_204_NO_CONTENT,
            operation_id="v1_registry_credentials_delete",
        ),
    ),
    Endpoint(
        "api/v1/registries/<int:pk>/repositories/",
        "api-repositories",
        get=Op("Repositories of a private registry (paginated by `last`)", _repositories),
    ),
    Endpoint(
        "api/v1/registries/<int:pk>/repositories/<path:name>/tags/<str:tag>/",
        "api-tag",
        delete=Op("Delete a tag (its manifest) from a registry", _delete_tag),
    ),
    Endpoint(
        "api/v1/registries/<int:pk>/repositories/<path:name>/tags/",
        "api-tags",
        get=Op("Tags of a repository, each with digest, size, architecture", _tags),
    ),
    Endpoint(
        "api/v1/images/pull/",
        "api-image-pull",
        post=Op(
            "Pull an image as a job",
            _pull,
            request=PullSerializer,
            status=status.HTTP_202_ACCEPTED,
        ),
    ),
    Endpoint(
        "api/v1/images/push/",
        "api-image-push",
        post=Op(
            "Tag a local image and push it as a job",
            _push,
            request=PushSerializer,
            status=status.HTTP_202_ACCEPTED,
        ),
    ),
    Endpoint("api/v1/jobs/<int:pk>/", "api-job", get=Op("A pull, push or build job", _job_detail)),
]
