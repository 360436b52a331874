"""Websocket routes of the engine side: Docker events, live stats, logs, the terminal, alerts."""

from __future__ import annotations

from django.urls import URLPattern, path

from containers_app import consumers
from containers_app.events import EventsConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/events/", EventsConsumer.as_asgi()),
    path("ws/stats/", consumers.StatsOverviewConsumer.as_asgi()),
    path("ws/containers/<str:ref>/stats/", consumers.ContainerStatsConsumer.as_asgi()),
    path("ws/containers/<str:ref>/logs/", consumers.ContainerLogsConsumer.as_asgi()),
    path("ws/containers/<str:ref>/exec/", consumers.ContainerExecConsumer.as_asgi()),
    path("ws/sessions/<str:key>/watch/", consumers.WatchConsumer.as_asgi()),
    path("ws/alerts/", consumers.AlertsConsumer.as_asgi()),
]
