"""The JSON API for containers, images, networks and volumes (DESIGN.md, API contract v1).

Same services and validation as the pages; errors as `{"error": ..., "field": ...}`
(dashboard.api.exception_handler).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from containers_app import containers as container_ops
from containers_app import engine, translate
from containers_app import images as image_ops
from containers_app import networks as network_ops
from containers_app import volumes as volume_ops
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
from dashboard.refusals import Refusal


def _flag(request: Request, name: str) -> bool:
    try:
        return parse_bool(request.query_params.get(name, ""))
    except ValueError:
        return False


def _parsed(serializer_class: Any, request: Request) -> Any:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["parsed"]


def _created_error_field(exc: Any) -> Response:
    body: dict[str, Any] = {"error": exc.message}
    field = container_ops.engine_error_field(exc)
    if field:
        body["field"] = field
    return Response(body, status=exc.status)


# ---------------------------------------------------------------- containers


@extend_schema(
    methods=["GET"],
    operation_id="containers_list",
    summary="List containers (docker ps)",
    parameters=[
        OpenApiParameter("all", bool, description="also stopped containers (docker ps -a)"),
        OpenApiParameter("q", str, description="text in the name, image or id"),
        OpenApiParameter("state", str),
        OpenApiParameter("label", str, description="key or key=value"),
    ],
    responses={200: OpenApiTypes.OBJECT},
)
@extend_schema(
    methods=["POST"],
    operation_id="containers_create",
    summary="Create a container, and start it unless start is false",
    request=ContainerCreateSerializer,
    responses={201: OpenApiTypes.OBJECT},
)
@api_view(["GET", "POST"])
def containers(request: Request) -> Response:
    if request.method == "POST":
        spec = _parsed(ContainerCreateSerializer, request)
        try:
            container_id = container_ops.create_container(request, spec)
        except engine.EngineUnavailable:
            raise
        except engine.EngineError as exc:
            return _created_error_field(exc)
        except Refusal as exc:
            # The policy says `mounts`; this API's body calls them `volumes`.
            field = "volumes" if exc.field == "mounts" else exc.field or None
            return Response({"error": exc.message, "field": field}, status=exc.status)
        attrs = container_for_user(request.user, container_id)
        return Response(translate.container_row_from_inspect(attrs), status=status.HTTP_201_CREATED)
    rows = container_ops.list_containers(
        request.user,
        all=_flag(request, "all"),
        text=request.query_params.get("q", ""),
        state=request.query_params.get("state", ""),
        label=request.query_params.get("label", ""),
    )
    return Response([translate.api_row(r) for r in rows])


@extend_schema(
    methods=["GET"],
    operation_id="container_retrieve",
    summary="A container's details (docker inspect)",
    responses=OpenApiTypes.OBJECT,
)
@extend_schema(
    methods=["DELETE"],
    operation_id="container_remove",
    summary="Remove a container (docker rm)",
    parameters=[OpenApiParameter("force", bool), OpenApiParameter("volumes", bool)],
    responses={200: OpenApiTypes.OBJECT},
)
@api_view(["GET", "DELETE"])
def container(request: Request, ref: str) -> Response:
    if request.method == "DELETE":
        done = container_ops.remove_container(
            request, ref, force=_flag(request, "force"), volumes=_flag(request, "volumes")
        )
        return Response(done)
    attrs = container_for_user(request.user, ref)
    return Response({**translate.container_row_from_inspect(attrs), "inspect": attrs})


@extend_schema(
    operation_id="container_action",
    summary="start, stop, restart, pause, unpause or kill a container",
    request=None,
    responses={200: OpenApiTypes.OBJECT},
)
@api_view(["POST"])
def container_action(request: Request, ref: str, action: str) -> Response:
    return Response(container_ops.container_action(request, ref, action))


@extend_schema(
    operation_id="container_rename",
    summary="Rename a container",
    request=RenameSerializer,
    responses=OpenApiTypes.OBJECT,
)
@api_view(["POST"])
def container_rename(request: Request, ref: str) -> Response:
    return Response(
        container_ops.rename_container(request, ref, _parsed(RenameSerializer, request))
    )


# ---------------------------------------------------------------- images


@extend_schema(
    operation_id="images_list",
    summary="List images (docker images)",
    parameters=[OpenApiParameter("dangling", bool)],
    responses=OpenApiTypes.OBJECT,
)
@api_view(["GET"])
def images(request: Request) -> Response:
    return Response(image_ops.list_images(request.user, dangling_only=_flag(request, "dangling")))


@extend_schema(
    methods=["GET"],
    operation_id="image_retrieve",
    summary="Inspect an image, with its history",
    responses=OpenApiTypes.OBJECT,
)
@extend_schema(
    methods=["DELETE"],
    operation_id="image_remove",
    summary="Remove an image (docker rmi)",
    parameters=[OpenApiParameter("force", bool)],
    responses=OpenApiTypes.OBJECT,
)
@api_view(["GET", "DELETE"])
def image(request: Request, ref: str) -> Response:
    if request.method == "DELETE":
        return Response(
            {"deleted": image_ops.remove_image(request, ref, force=_flag(request, "force"))}
        )
    return Response(image_ops.image_detail(request.user, ref))


@extend_schema(
    summary="Tag an image (docker tag)", request=TagSerializer, responses=OpenApiTypes.OBJECT
)
@api_view(["POST"])
def image_tag(request: Request, ref: str) -> Response:
    p = _parsed(TagSerializer, request)
    return Response({"tag": image_ops.tag_image(request, ref, p["repository"], p["tag"])})


@extend_schema(
    summary="Remove dangling images (docker image prune)",
    request=None,
    parameters=[OpenApiParameter("label", str, description="only images with this label")],
    responses=OpenApiTypes.OBJECT,
)
@api_view(["POST"])
def image_prune(request: Request) -> Response:
    return Response(image_ops.prune_images(request, label=request.query_params.get("label", "")))


# ---------------------------------------------------------------- networks


@extend_schema(
    methods=["GET"],
    operation_id="networks_list",
    summary="List networks",
    responses=OpenApiTypes.OBJECT,
)
@extend_schema(
    methods=["POST"],
    operation_id="networks_create",
    summary="Create a bridge network",
    request=NetworkCreateSerializer,
    responses={201: OpenApiTypes.OBJECT},
)
@api_view(["GET", "POST"])
def networks(request: Request) -> Response:
    if request.method == "POST":
        p = _parsed(NetworkCreateSerializer, request)
        network_id = network_ops.create_network(
            request,
            p["name"],
            subnet=p["subnet"],
            gateway=p["gateway"],
            internal=p["internal"],
            labels=p["labels"],
        )
        return Response({"id": network_id, "name": p["name"]}, status=status.HTTP_201_CREATED)
    return Response(network_ops.list_networks(request.user))


@extend_schema(
    methods=["GET"],
    operation_id="network_retrieve",
    summary="Inspect a network",
    responses=OpenApiTypes.OBJECT,
)
@extend_schema(
    methods=["DELETE"],
    operation_id="network_remove",
    summary="Remove a network",
    responses={204: None},
)
@api_view(["GET", "DELETE"])
def network(request: Request, ref: str) -> Response:
    if request.method == "DELETE":
        network_ops.remove_network(request, ref)
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(network_ops.network_detail(request.user, ref))


@extend_schema(
    summary="Connect a container to a network",
    request=ConnectSerializer,
    responses=OpenApiTypes.OBJECT,
)
@api_view(["POST"])
def network_connect(request: Request, ref: str) -> Response:
    p = _parsed(ConnectSerializer, request)
    return Response(network_ops.connect_network(request, ref, p["container"], aliases=p["aliases"]))


@extend_schema(
    summary="Disconnect a container from a network",
    request=ConnectSerializer,
    responses=OpenApiTypes.OBJECT,
)
@api_view(["POST"])
def network_disconnect(request: Request, ref: str) -> Response:
    p = _parsed(ConnectSerializer, request)
    return Response(network_ops.connect_network(request, ref, p["container"], disconnect=True))


@extend_schema(
    summary="Remove unused networks (docker network prune)",
    request=None,
    parameters=[OpenApiParameter("label", str, description="only networks with this label")],
    responses=OpenApiTypes.OBJECT,
)
@api_view(["POST"])
def network_prune(request: Request) -> Response:
    label = request.query_params.get("label", "")
    return Response({"deleted": network_ops.prune_networks(request, label=label)})


# ---------------------------------------------------------------- volumes


@extend_schema(
    methods=["GET"],
    operation_id="volumes_list",
    summary="List volumes, with sizes",
    responses=OpenApiTypes.OBJECT,
)
@extend_schema(
    methods=["POST"],
    operation_id="volumes_create",
    summary="Create a volume",
    request=VolumeCreateSerializer,
    responses={201: OpenApiTypes.OBJECT},
)
@api_view(["GET", "POST"])
def volumes(request: Request) -> Response:
    if request.method == "POST":
        p = _parsed(VolumeCreateSerializer, request)
        name = volume_ops.create_volume(request, p["name"], labels=p["labels"])
        return Response({"name": name}, status=status.HTTP_201_CREATED)
    return Response(volume_ops.list_volumes(request.user))


@extend_schema(
    methods=["GET"],
    operation_id="volume_retrieve",
    summary="Inspect a volume",
    responses=OpenApiTypes.OBJECT,
)
@extend_schema(
    methods=["DELETE"],
    operation_id="volume_remove",
    summary="Remove a volume (refused while in use)",
    responses={204: None},
)
@api_view(["GET", "DELETE"])
def volume(request: Request, name: str) -> Response:
    if request.method == "DELETE":
        volume_ops.remove_volume(request, name)
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(volume_ops.volume_detail(request.user, name))


@extend_schema(
    summary="Remove unused volumes (docker volume prune)",
    request=None,
    parameters=[OpenApiParameter("label", str, description="only volumes with this label")],
    responses=OpenApiTypes.OBJECT,
)
@api_view(["POST"])
def volume_prune(request: Request) -> Response:
    return Response(volume_ops.prune_volumes(request, label=request.query_params.get("label", "")))
