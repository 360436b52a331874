"""Websocket routes of classes: the class grid."""

from __future__ import annotations

from django.urls import URLPattern, path

from classes_app.consumers import ClassGridConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/classes/<slug:slug>/", ClassGridConsumer.as_asgi()),
]
