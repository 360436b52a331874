from __future__ import annotations

from functools import partial
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.functional import SimpleLazyObject

from classes_app import culling
from containers_app import alerts, engines
from containers_app.engine.client import endpoint
from dashboard import oidc
from dashboard.access import Perm, can, role_of
from dashboard.models import Role

# The sections of the navigation bar; a section shows once its app serves its URL name.
NAV_SECTIONS = [
    ("Engine", "home"),
    ("Containers", "containers"),
    ("Live", "stats-overview"),
    ("Images", "images"),
    ("Networks", "networks"),
    ("Volumes", "volumes"),
    ("Swarm", "swarm"),
    ("Registries", "registries"),
    ("Classes", "classes"),
    ("My labs", "my-labs"),
    ("Audit", "audit"),
    ("Users", "users"),
]
# Sections only some roles may open: hidden from the others.
NAV_PERMS = {
    "audit": Perm.VIEW_AUDIT,
    "users": Perm.MANAGE_USERS,
    "classes": Perm.MANAGE_USERS,
}
# Sections for one role only: a student's own labs (instructors see them in their classes).
NAV_ROLES = {"my-labs": Role.STUDENT}
# Pages under a section's own URL prefix light that section up (the engine's pages live under
# /engine/; its overview is the landing page). A student reaches a class's pages only for
# their own lab (a reset's job page): those belong to "My labs", the section they have.
NAV_PREFIXES = {"home": "/engine/", "my-labs": "/classes/"}


def _nav(path: str, user: Any = None) -> list[dict[str, Any]]:
    items = []
    for label, name in NAV_SECTIONS:
        if name in NAV_PERMS and not can(user, NAV_PERMS[name]):
            continue
        if name in NAV_ROLES and role_of(user) != NAV_ROLES[name]:
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        active = path.startswith(NAV_PREFIXES.get(name, url)) or path == url
        items.append({"label": label, "url": url, "active": active})
    return items


def _engine_switch(request: HttpRequest, nav_items: list[dict[str, Any]]) -> dict[str, Any]:
    """The header's engine switcher, where there is more than one engine: it goes to the
    same section's list on the other engine (a container of one is not on the other)."""
    chosen = getattr(request, "engine", None)
    if chosen is None or not request.user.is_authenticated:
        return {}
    names = [engine.name for engine in engines.every()]
    if len(names) < 2:
        return {}
    here = next((item["url"] for item in nav_items if item["active"]), reverse("home"))
    return {"engine_names": names, "chosen_engine": chosen.name, "engine_switch_to": here}


def engine_endpoint(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    nav_items = _nav(request.path, user)
    return {
        "docker_endpoint": endpoint(),
        "nav_items": nav_items,
        **_engine_switch(request, nav_items),
        "may_have_usage": can(user, Perm.CREATE),
        # A student's banner of stops ahead (base.html), read only by a page that shows it.
        "warn_lab_stops": culling.warned(user),
        "lab_stops": SimpleLazyObject(partial(culling.upcoming_stops, user)),
        "lab_stops_next": request.get_full_path(),
        "lab_stops_poll": settings.CULL_WARN_POLL,
        # The bell's count (base.html), read only by a page that shows it.
        "alerts_firing": SimpleLazyObject(partial(alerts.firing_count, user)),
    }


def sign_in(request: HttpRequest) -> dict[str, Any]:
    """The login page's "Sign in with <provider>" button, when a provider is configured."""
    return {"sign_in_with": oidc.provider_name() if oidc.enabled() else ""}
