from __future__ import annotations

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []

# ------------------------------------------------------------ Docker events (containers feature)
from django.urls import path  # noqa: E402

from containers_app.events import EventsConsumer  # noqa: E402

websocket_urlpatterns += [path("ws/events/", EventsConsumer.as_asgi())]


# ------------------------------------------------ live stats, logs and terminal (issue 4)
from django.urls import path  # noqa: E402

from containers_app import consumers  # noqa: E402

websocket_urlpatterns += [
    path("ws/stats/", consumers.StatsOverviewConsumer.as_asgi()),
    path("ws/containers/<str:ref>/stats/", consumers.ContainerStatsConsumer.as_asgi()),
    path("ws/containers/<str:ref>/logs/", consumers.ContainerLogsConsumer.as_asgi()),
    path("ws/containers/<str:ref>/exec/", consumers.ContainerExecConsumer.as_asgi()),
]
