"""The JSON API for containers, images, networks and volumes (DESIGN.md, API contract v1).

One table per resource (dashboard.endpoints): a row is a route, and per method the
schema's summary, body and parameters and the containers_app.<resource> operation it
calls. Same services and validation as the pages; errors as `{"error": ..., "field": ...}`
(dashboard.api.exception_handler).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from containers_app import containers as container_ops
from containers_app import images as image_ops
from containers_app import networks as network_ops
from containers_app import translate
from containers_app import volumes as volume_ops
from containers_app.engine.errors import EngineError, EngineUnavailable
from containers_app.lookup import container_for_user
from containers_app.serializers import (
    ConnectSerializer,
    ContainerCreateSerializer,
    NetworkCreateSerializer,
    RenameSerializer,
    TagSerializer,
    VolumeCreateSerializer,
)
from containers_app.validation import parse_bool
from dashboard.endpoints import Endpoint, Op
from dashboard.refusals import Refusal

CREATED = status.HTTP_201_CREATED
NO_CONTENT = status.HTTP_204_NO_CONTENT


def _flag(request: Request, name: str) -> bool:
    try:
        return parse_bool(request.query_params.get(name, ""))
    except ValueError:
        return False


def _label(request: Request) -> str:
    return request.query_params.get("label", "")


def _parsed(serializer_class: Any, request: Request) -> Any:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["parsed"]


def _label_parameter(kind: str) -> OpenApiParameter:
    return OpenApiParameter("label", str, description=f"only {kind} with this label")


# ---------------------------------------------------------------- containers


def _list_containers(request: Request) -> list[dict[str, Any]]:
    rows = container_ops.list_containers(
        request.user,
        all=_flag(request, "all"),
        text=request.query_params.get("q", ""),
        state=request.query_params.get("state", ""),
        label=_label(request),
    )
    return [translate.api_row(r) for r in rows]


def _create_container(request: Request) -> Any:
    spec = _parsed(ContainerCreateSerializer, request)
    try:
        container_id = container_ops.create_container(request, spec)
    except EngineUnavailable:
        raise
    except EngineError as exc:
        return _refused(exc.message, container_ops.engine_error_field(exc), exc.status)
    except Refusal as exc:
        # The policy says `mounts`; this API's body calls them `volumes`.
        field = "volumes" if exc.field == "mounts" else exc.field or None
        return Response({"error": exc.message, "field": field}, status=exc.status)
    return translate.container_row_from_inspect(container_for_user(request.user, container_id))


def _refused(message: str, field: str | None, code: int) -> Response:
    body: dict[str, Any] = {"error": message}
    if field:
        body["field"] = field
    return Response(body, status=code)


def _container_detail(request: Request, ref: str) -> dict[str, Any]:
    attrs = container_for_user(request.user, ref)
    return {**translate.container_row_from_inspect(attrs), "inspect": attrs}


CONTAINERS = [
    Endpoint(
        "api/v1/containers/",
        "api-containers",
        get=Op(
            "List containers (docker ps)",
            _list_containers,
            operation_id="containers_list",
            parameters=[
                OpenApiParameter("all", bool, description="also stopped containers (docker ps -a)"),
                OpenApiParameter("q", str, description="text in the name, image or id"),
                OpenApiParameter("state", str),
                OpenApiParameter("label", str, description="key or key=value"),
            ],
        ),
        post=Op(
            "Create a container, and start it unless start is false",
            _create_container,
            request=ContainerCreateSerializer,
            status=CREATED,
            operation_id="containers_create",
        ),
    ),
    Endpoint(
        "api/v1/containers/<str:ref>/",
        "api-container",
        get=Op(
            "A container's details (docker inspect)",
            _container_detail,
            operation_id="container_retrieve",
        ),
        delete=Op(
            "Remove a container (docker rm)",
            lambda request, ref: container_ops.remove_container(
                request, ref, force=_flag(request, "force"), volumes=_flag(request, "volumes")
            ),
            parameters=[OpenApiParameter("force", bool), OpenApiParameter("volumes", bool)],
            operation_id="container_remove",
        ),
    ),
    Endpoint(
        "api/v1/containers/<str:ref>/rename/",
        "api-container-rename",
        post=Op(
            "Rename a container",
            lambda request, ref: container_ops.rename_container(
                request, ref, _parsed(RenameSerializer, request)
            ),
            request=RenameSerializer,
            operation_id="container_rename",
        ),
    ),
    # The actions are spelled out so other container routes (logs/, stats/...) stay free.
    Endpoint(
        r"^api/v1/containers/(?P<ref>[^/]+)/(?P<action>start|stop|restart|pause|unpause|kill)/$",
        "api-container-action",
        post=Op(
            "start, stop, restart, pause, unpause or kill a container",
            container_ops.container_action,
            operation_id="container_action",
        ),
    ),
]


# ---------------------------------------------------------------- images


def _tag_image(request: Request, ref: str) -> dict[str, str]:
    p = _parsed(TagSerializer, request)
    return {"tag": image_ops.tag_image(request, ref, p["repository"], p["tag"])}


IMAGES = [
    Endpoint(
        "api/v1/images/",
        "api-images",
        get=Op(
            "List images (docker images)",
            lambda request: image_ops.list_images(
                request.user, dangling_only=_flag(request, "dangling")
            ),
            parameters=[OpenApiParameter("dangling", bool)],
            operation_id="images_list",
        ),
    ),
    Endpoint(
        "api/v1/images/prune/",
        "api-image-prune",
        post=Op(
            "Remove dangling images (docker image prune)",
            lambda request: image_ops.prune_images(request, label=_label(request)),
            parameters=[_label_parameter("images")],
        ),
    ),
    Endpoint(
        "api/v1/images/<imageref:ref>/tag/",
        "api-image-tag",
        post=Op("Tag an image (docker tag)", _tag_image, request=TagSerializer),
    ),
    Endpoint(
        "api/v1/images/<imageref:ref>/",
        "api-image",
        get=Op(
            "Inspect an image, with its history",
            lambda request, ref: image_ops.image_detail(request.user, ref),
            operation_id="image_retrieve",
        ),
        delete=Op(
            "Remove an image (docker rmi)",
            lambda request, ref: {
                "deleted": image_ops.remove_image(request, ref, force=_flag(request, "force"))
            },
            parameters=[OpenApiParameter("force", bool)],
            operation_id="image_remove",
        ),
    ),
]


# ---------------------------------------------------------------- networks


def _create_network(request: Request) -> dict[str, str]:
    p = _parsed(NetworkCreateSerializer, request)
    return {"id": network_ops.create_network(request, **p), "name": p["name"]}


def _connect(request: Request, ref: str) -> dict[str, Any]:
    p = _parsed(ConnectSerializer, request)
    return network_ops.connect_network(request, ref, p["container"], aliases=p["aliases"])


def _disconnect(request: Request, ref: str) -> dict[str, Any]:
    p = _parsed(ConnectSerializer, request)
    return network_ops.connect_network(request, ref, p["container"], disconnect=True)


NETWORKS = [
    Endpoint(
        "api/v1/networks/",
        "api-networks",
        get=Op(
            "List networks",
            lambda request: network_ops.list_networks(request.user),
            operation_id="networks_list",
        ),
        post=Op(
            "Create a bridge network",
            _create_network,
            request=NetworkCreateSerializer,
            status=CREATED,
            operation_id="networks_create",
        ),
    ),
    Endpoint(
        "api/v1/networks/prune/",
        "api-network-prune",
        post=Op(
            "Remove unused networks (docker network prune)",
            lambda request: {"deleted": network_ops.prune_networks(request, label=_label(request))},
            parameters=[_label_parameter("networks")],
        ),
    ),
    Endpoint(
        "api/v1/networks/<str:ref>/",
        "api-network",
        get=Op(
            "Inspect a network",
            lambda request, ref: network_ops.network_detail(request.user, ref),
            operation_id="network_retrieve",
        ),
        delete=Op(
            "Remove a network",
            lambda request, ref: network_ops.remove_network(request, ref),
            status=NO_CONTENT,
            operation_id="network_remove",
        ),
    ),
    Endpoint(
        "api/v1/networks/<str:ref>/connect/",
        "api-network-connect",
        post=Op("Connect a container to a network", _connect, request=ConnectSerializer),
    ),
    Endpoint(
        "api/v1/networks/<str:ref>/disconnect/",
        "api-network-disconnect",
        post=Op("Disconnect a container from a network", _disconnect, request=ConnectSerializer),
    ),
]


# ---------------------------------------------------------------- volumes


def _create_volume(request: Request) -> dict[str, str]:
    return {"name": volume_ops.create_volume(request, **_parsed(VolumeCreateSerializer, request))}


VOLUMES = [
    Endpoint(
        "api/v1/volumes/",
        "api-volumes",
        get=Op(
            "List volumes, with sizes",
            lambda request: volume_ops.list_volumes(request.user),
            operation_id="volumes_list",
        ),
        post=Op(
            "Create a volume",
            _create_volume,
            request=VolumeCreateSerializer,
            status=CREATED,
            operation_id="volumes_create",
        ),
    ),
    Endpoint(
        "api/v1/volumes/prune/",
        "api-volume-prune",
        post=Op(
            "Remove unused volumes (docker volume prune)",
            lambda request: volume_ops.prune_volumes(request, label=_label(request)),
            parameters=[_label_parameter("volumes")],
        ),
    ),
    Endpoint(
        "api/v1/volumes/<str:name>/",
        "api-volume",
        get=Op(
            "Inspect a volume",
            lambda request, name: volume_ops.volume_detail(request.user, name),
            operation_id="volume_retrieve",
        ),
        delete=Op(
            "Remove a volume (refused while in use)",
            lambda request, name: volume_ops.remove_volume(request, name),
            status=NO_CONTENT,
            operation_id="volume_remove",
        ),
    ),
]

ENDPOINTS = [*CONTAINERS, *IMAGES, *NETWORKS, *VOLUMES]
