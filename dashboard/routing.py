"""All websocket routes, gathered from the apps."""

from __future__ import annotations

from containers_app.routing import websocket_urlpatterns as container_routes
from registry_app.routing import websocket_urlpatterns as registry_routes

websocket_urlpatterns = [*container_routes, *registry_routes]
