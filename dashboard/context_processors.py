from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from containers_app.engine import endpoint
from dashboard.access import Perm, can

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
    ("Classes", "classes"),
    ("My labs", "my-labs"),
    ("Audit", "audit"),
    ("Users", "users"),
    ("My usage", "my-usage"),
]
# Sections only some roles may open: hidden from the others (shared host, issue 6).
NAV_PERMS = {
    "audit": Perm.VIEW_AUDIT,
    "users": Perm.MANAGE_USERS,
    "classes": Perm.MANAGE_USERS,
    "my-labs": Perm.CREATE,
    "my-usage": Perm.CREATE,
}


def _nav(path: str, user: Any = None) -> list[dict[str, Any]]:
    items = []
    for label, name in NAV_SECTIONS:
        if name in NAV_PERMS and not can(user, NAV_PERMS[name]):
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        active = path == url if url == "/" else path.startswith(url)
        items.append({"label": label, "url": url, "active": active})
    return items


def engine_endpoint(request: HttpRequest) -> dict[str, Any]:
    return {
        "docker_endpoint": endpoint(),
        "nav_items": _nav(request.path, getattr(request, "user", None)),
    }
