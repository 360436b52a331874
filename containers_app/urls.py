from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []

# ---------------------------------------------------------------- under the hood (issue 7)
from django.urls import path  # noqa: E402 - imports of an appended section

from containers_app import internals_views  # noqa: E402

urlpatterns += [
    path(
        "containers/<str:container_id>/internals/",
        internals_views.container_internals,
        name="container-internals",
    ),
    path(
        "api/v1/containers/<str:container_id>/namespaces/",
        internals_views.api_container_namespaces,
        name="api-container-namespaces",
    ),
    path(
        "api/v1/containers/<str:container_id>/cgroups/",
        internals_views.api_container_cgroups,
        name="api-container-cgroups",
    ),
    path("engine/architecture/", internals_views.engine_architecture, name="architecture"),
]


# ---------------------------------------------------------------- containers, images, networks,
# volumes: pages (containers feature)
from django.urls import re_path, register_converter  # noqa: E402 - imports of an appended section

from containers_app import views  # noqa: E402


class ImageRefConverter:
    """An image reference may hold "/" and ":"; pull and push belong to the registry feature."""

    regex = r"[^?#]+?"

    def to_python(self, value: str) -> str:
        if value in ("pull", "push"):
            raise ValueError(value)
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ImageRefConverter, "imageref")

urlpatterns += [
    path("containers/", views.container_list, name="containers"),
    path("containers/create/", views.container_create, name="container-create"),
    path(
        "containers/create/preview/",
        views.container_create_preview,
        name="container-create-preview",
    ),
    path("containers/bulk/", views.container_bulk, name="container-bulk"),
    path("containers/<str:ref>/", views.container_detail, name="container-detail"),
    path(
        "containers/<str:ref>/action/<str:action>/",
        views.container_action,
        name="container-action",
    ),
    path("containers/<str:ref>/rename/", views.container_rename, name="container-rename"),
    path("containers/<str:ref>/remove/", views.container_remove, name="container-remove"),
    path("images/", views.image_list, name="images"),
    path("images/prune/", views.image_prune, name="image-prune"),
    path("images/<imageref:ref>/tag/", views.image_tag, name="image-tag"),
    path("images/<imageref:ref>/remove/", views.image_remove, name="image-remove"),
    path("images/<imageref:ref>/", views.image_detail, name="image-detail"),
    path("networks/", views.network_list, name="networks"),
    path("networks/prune/", views.network_prune, name="network-prune"),
    path("networks/<str:ref>/", views.network_detail, name="network-detail"),
    path("networks/<str:ref>/remove/", views.network_remove, name="network-remove"),
    path("networks/<str:ref>/connect/", views.network_connect, name="network-connect"),
    path("networks/<str:ref>/disconnect/", views.network_disconnect, name="network-disconnect"),
    path("volumes/", views.volume_list, name="volumes"),
    path("volumes/prune/", views.volume_prune, name="volume-prune"),
    path("volumes/<str:name>/", views.volume_detail, name="volume-detail"),
    path("volumes/<str:name>/remove/", views.volume_remove, name="volume-remove"),
]

# ---------------------------------------------------------------- containers, images, networks,
# volumes: JSON API v1 (containers feature)
from containers_app import api  # noqa: E402

urlpatterns += [
    path("api/v1/containers/", api.containers, name="api-containers"),
    path("api/v1/containers/<str:ref>/", api.container, name="api-container"),
    path("api/v1/containers/<str:ref>/rename/", api.container_rename, name="api-container-rename"),
    # The actions are spelled out so other container routes (logs/, stats/...) stay free.
    re_path(
        r"^api/v1/containers/(?P<ref>[^/]+)/(?P<action>start|stop|restart|pause|unpause|kill)/$",
        api.container_action,
        name="api-container-action",
    ),
    path("api/v1/images/", api.images, name="api-images"),
    path("api/v1/images/prune/", api.image_prune, name="api-image-prune"),
    path("api/v1/images/<imageref:ref>/tag/", api.image_tag, name="api-image-tag"),
    path("api/v1/images/<imageref:ref>/", api.image, name="api-image"),
    path("api/v1/networks/", api.networks, name="api-networks"),
    path("api/v1/networks/prune/", api.network_prune, name="api-network-prune"),
    path("api/v1/networks/<str:ref>/", api.network, name="api-network"),
    path("api/v1/networks/<str:ref>/connect/", api.network_connect, name="api-network-connect"),
    path(
        "api/v1/networks/<str:ref>/disconnect/",
        api.network_disconnect,
        name="api-network-disconnect",
    ),
    path("api/v1/volumes/", api.volumes, name="api-volumes"),
    path("api/v1/volumes/prune/", api.volume_prune, name="api-volume-prune"),
    path("api/v1/volumes/<str:name>/", api.volume, name="api-volume"),
]


# ------------------------------------------------ live stats, logs and terminal (issue 4)
from django.urls import path  # noqa: E402

from containers_app import live_views  # noqa: E402

urlpatterns += [
    path("live/", live_views.stats_overview, name="stats-overview"),
    path("containers/<str:ref>/stats/", live_views.container_stats, name="container-stats"),
    path("containers/<str:ref>/logs/", live_views.container_logs, name="container-logs"),
    path(
        "containers/<str:ref>/logs/download/",
        live_views.container_logs_download,
        name="container-logs-download",
    ),
    path(
        "containers/<str:ref>/terminal/", live_views.container_terminal, name="container-terminal"
    ),
    path(
        "api/v1/containers/<str:ref>/logs/",
        live_views.api_container_logs,
        name="api-container-logs",
    ),
    path(
        "api/v1/containers/<str:ref>/stats/",
        live_views.api_container_stats,
        name="api-container-stats",
    ),
]
