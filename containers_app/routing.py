from __future__ import annotations

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []

# ------------------------------------------------------------ Docker events (containers feature)
from django.urls import path  # noqa: E402

from containers_app.events import EventsConsumer  # noqa: E402

websocket_urlpatterns += [path("ws/events/", EventsConsumer.as_asgi())]
