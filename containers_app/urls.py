from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []

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
