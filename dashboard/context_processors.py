from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from containers_app.engine import endpoint

# The sections of the navigation bar; a section shows once its app serves its URL name.
NAV_SECTIONS = [
    ("Engine", "home"),
    ("Architecture", "architecture"),
    ("Containers", "containers"),
    ("Live", "stats-overview"),
    ("Images", "images"),
    ("Networks", "networks"),
    ("Volumes", "volumes"),
    ("Registries", "registries"),
    ("Audit", "audit"),
]


def _nav(path: str) -> list[dict[str, Any]]:
    items = []
    for label, name in NAV_SECTIONS:
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        active = path == url if url == "/" else path.startswith(url)
        items.append({"label": label, "url": url, "active": active})
    return items


def engine_endpoint(request: HttpRequest) -> dict[str, Any]:
    return {"docker_endpoint": endpoint(), "nav_items": _nav(request.path)}
