from __future__ import annotations

from django.urls import URLPattern, path

websocket_urlpatterns: list[URLPattern] = []

# ------------------------------------------------ live stats, logs and terminal (issue 4)
from containers_app import consumers  # noqa: E402

websocket_urlpatterns += [
    path("ws/stats/", consumers.StatsOverviewConsumer.as_asgi()),
    path("ws/containers/<str:ref>/stats/", consumers.ContainerStatsConsumer.as_asgi()),
    path("ws/containers/<str:ref>/logs/", consumers.ContainerLogsConsumer.as_asgi()),
    path("ws/containers/<str:ref>/exec/", consumers.ContainerExecConsumer.as_asgi()),
]
