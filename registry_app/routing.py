"""Websocket routes of the registry app."""

from __future__ import annotations

from django.urls import URLPattern, path

from registry_app import consumers

websocket_urlpatterns: list[URLPattern] = [
    path("ws/jobs/<int:pk>/", consumers.JobConsumer.as_asgi(), name="ws-job"),
]
