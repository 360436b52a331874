"""Finding a container for a user: 404 for what they may not see, 403 for what they may not do."""

from __future__ import annotations

from typing import Any

from containers_app import gate
from containers_app.tabs import container_tabs
from dashboard import access
from dashboard.access import Perm


def container_for_user(user: Any, ref: str, perm: Perm = Perm.VIEW) -> dict[str, Any]:
    """The inspect data of container `ref`, if `user` may `perm` it."""
    target = gate.find_container(user, ref)
    access.require(user, perm, target.owner, what="container", ref=ref)
    return dict(target.raw)


def container_summary(attrs: dict[str, Any]) -> dict[str, Any]:
    """The few fields every container page shows in its header."""
    config = attrs.get("Config") or {}
    return {
        "id": attrs["Id"],
        "short_id": attrs["Id"][:12],
        "name": attrs.get("Name", "").lstrip("/"),
        "state": (attrs.get("State") or {}).get("Status", "unknown"),
        "image": config.get("Image", ""),
        "owner": access.owner_of(config.get("Labels")),
        "pid": (attrs.get("State") or {}).get("Pid", 0),
    }


def container_page_context(attrs: dict[str, Any], tab: str) -> dict[str, Any]:
    """Context for a page that extends containers_app/container_base.html."""
    summary = container_summary(attrs)
    return {"container": summary, "tab": tab, "container_tabs": container_tabs(summary["id"])}
