"""Every route of the engine side, pages and JSON API, each declared a read or a change.

A change goes through containers_app.gate; tests/integration/test_gate_coverage.py tries
every change and every read from this declaration. The API's rows are containers_app.api's
tables; an API route changes something when it answers any method but GET.
"""

from __future__ import annotations

from django.urls import URLPattern, register_converter

from containers_app import (
    alert_views,
    api,
    engines_views,
    internals_views,
    live_views,
    swarm_views,
    views,
)
from dashboard.endpoints import CHANGE, READ, Page, pages, route_kinds, routes


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

# route, view, name, and whether any of its methods changes something. First match wins:
# the fixed words (create/, prune/, tag/...) stand before the refs that would take them.
PAGES: list[Page] = [
    # containers
    ("containers/", views.container_list, "containers", READ),
    ("containers/create/", views.container_create, "container-create", CHANGE),
    (
        "containers/create/preview/",
        views.container_create_preview,
        "container-create-preview",
        READ,
    ),
    ("containers/bulk/", views.container_bulk, "container-bulk", CHANGE),
    ("containers/<str:ref>/", views.container_detail, "container-detail", READ),
    (
        "containers/<str:ref>/action/<str:action>/",
        views.container_action,
        "container-action",
        CHANGE,
    ),
    ("containers/<str:ref>/rename/", views.container_rename, "container-rename", CHANGE),
    ("containers/<str:ref>/remove/", views.container_remove, "container-remove", CHANGE),
    # images
    ("images/", views.image_list, "images", READ),
    ("images/prune/", views.image_prune, "image-prune", CHANGE),
    ("images/<imageref:ref>/tag/", views.image_tag, "image-tag", CHANGE),
    ("images/<imageref:ref>/remove/", views.image_remove, "image-remove", CHANGE),
    ("images/<imageref:ref>/", views.image_detail, "image-detail", READ),
    # networks (the list page's form creates one)
    ("networks/", views.network_list, "networks", CHANGE),
    ("networks/prune/", views.network_prune, "network-prune", CHANGE),
    ("networks/<str:ref>/", views.network_detail, "network-detail", READ),
    ("networks/<str:ref>/remove/", views.network_remove, "network-remove", CHANGE),
    ("networks/<str:ref>/connect/", views.network_connect, "network-connect", CHANGE),
    ("networks/<str:ref>/disconnect/", views.network_disconnect, "network-disconnect", CHANGE),
    # volumes (the list page's form creates one)
    ("volumes/", views.volume_list, "volumes", CHANGE),
    ("volumes/prune/", views.volume_prune, "volume-prune", CHANGE),
    ("volumes/<str:name>/", views.volume_detail, "volume-detail", READ),
    ("volumes/<str:name>/remove/", views.volume_remove, "volume-remove", CHANGE),
    # under the hood: namespaces, cgroups, the engine's architecture
    (
        "containers/<str:container_id>/internals/",
        internals_views.container_internals,
        "container-internals",
        READ,
    ),
    (
        "api/v1/containers/<str:container_id>/namespaces/",
        internals_views.api_container_namespaces,
        "api-container-namespaces",
        READ,
    ),
    (
        "api/v1/containers/<str:container_id>/cgroups/",
        internals_views.api_container_cgroups,
        "api-container-cgroups",
        READ,
    ),
    ("engine/architecture/", internals_views.engine_architecture, "architecture", READ),
    # every engine the dashboard drives
    ("engine/all/", engines_views.engines_page, "engines", READ),
    ("engine/all/add/", engines_views.engine_add, "engine-add", CHANGE),
    ("engine/all/<str:name>/remove/", engines_views.engine_remove, "engine-remove", CHANGE),
    # live stats, logs and the terminal
    ("live/", live_views.stats_overview, "stats-overview", READ),
    ("containers/<str:ref>/stats/", live_views.container_stats, "container-stats", READ),
    ("containers/<str:ref>/logs/", live_views.container_logs, "container-logs", READ),
    (
        "containers/<str:ref>/logs/download/",
        live_views.container_logs_download,
        "container-logs-download",
        READ,
    ),
    ("containers/<str:ref>/terminal/", live_views.container_terminal, "container-terminal", READ),
    (
        "api/v1/containers/<str:ref>/logs/",
        live_views.api_container_logs,
        "api-container-logs",
        READ,
    ),
    (
        "api/v1/containers/<str:ref>/stats/",
        live_views.api_container_stats,
        "api-container-stats",
        READ,
    ),
    # alerts, and where they are sent
    ("alerts/", alert_views.alert_list, "alerts", READ),
    ("alerts/targets/", alert_views.alert_target_add, "alert-target-add", CHANGE),
    (
        "alerts/targets/<int:pk>/remove/",
        alert_views.alert_target_remove,
        "alert-target-remove",
        CHANGE,
    ),
    ("alerts/<int:pk>/ack/", alert_views.alert_acknowledge, "alert-ack", CHANGE),
    # Swarm mode: nodes, services, their tasks and logs
    ("swarm/", swarm_views.swarm_page, "swarm", READ),
    ("swarm/services/<str:ref>/", swarm_views.service_page, "swarm-service", READ),
    (
        "swarm/nodes/<str:ref>/availability/",
        swarm_views.node_availability,
        "swarm-node-availability",
        CHANGE,
    ),
]
ENDPOINTS = [
    *api.ENDPOINTS,
    *alert_views.ENDPOINTS,
    *swarm_views.ENDPOINTS,
    *engines_views.ENDPOINTS,
]

urlpatterns: list[URLPattern] = [*pages(PAGES), *routes(ENDPOINTS)]

# Each route's name and whether it reads or changes: every change goes through the gate.
ROUTE_KINDS = route_kinds(PAGES, ENDPOINTS)
