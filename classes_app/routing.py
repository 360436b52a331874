"""Websocket routes of classes: the class grid and a student's merged lab logs."""

from __future__ import annotations

from django.urls import URLPattern, path

from classes_app import consumers

websocket_urlpatterns: list[URLPattern] = [
    path("ws/classes/<slug:slug>/", consumers.ClassGridConsumer.as_asgi()),
    path(
        "ws/classes/<slug:slug>/students/<str:username>/logs/",
        consumers.StudentLogsConsumer.as_asgi(),
    ),
]
