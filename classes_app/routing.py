"""Websocket routes of classes: the class grid, a student's merged lab logs and open
terminals."""

from __future__ import annotations

from django.urls import URLPattern, path

from classes_app import consumers

websocket_urlpatterns: list[URLPattern] = [
    path("ws/classes/<slug:slug>/", consumers.ClassGridConsumer.as_asgi()),
    path(
        "ws/classes/<slug:slug>/students/<str:username>/logs/",
        consumers.StudentLogsConsumer.as_asgi(),
    ),
    path(
        "ws/classes/<slug:slug>/students/<str:username>/sessions/",
        consumers.StudentSessionsConsumer.as_asgi(),
    ),
]
