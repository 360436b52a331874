"""All websocket routes, gathered from the apps."""

from __future__ import annotations

from classes_app.routing import websocket_urlpatterns as class_routes
from containers_app.routing import websocket_urlpatterns as container_routes
from registry_app.routing import websocket_urlpatterns as registry_routes

websocket_urlpatterns = [*container_routes, *registry_routes, *class_routes]
