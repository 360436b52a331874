"""Finding a container for a user: 404 for what they may not see, 403 for what they may not do."""

from __future__ import annotations

from typing import Any

from containers_app import gate, translate
from containers_app.tabs import container_tabs
from dashboard import access
from dashboard.access import Perm
from dashboard.records import ContainerRecord


def _container_target(user: Any, ref: str, perm: Perm) -> gate.Target:
    target = gate.find_container(user, ref)
    access.require(user, perm, target.owner, what="container", ref=ref)
    return target


def container_for_user(user: Any, ref: str, perm: Perm = Perm.VIEW) -> dict[str, Any]:
    """The inspect data of container `ref` (to show), if `user` may `perm` it."""
    return dict(_container_target(user, ref, perm).raw)


def record_for_user(user: Any, ref: str, perm: Perm = Perm.VIEW) -> ContainerRecord:
    """The record of container `ref` (its facts, translated), if `user` may `perm` it."""
    record: ContainerRecord = _container_target(user, ref, perm).record
    return record


def container_summary(container: ContainerRecord) -> dict[str, Any]:
    """The few fields every container page shows in its header."""
    return {
        "id": container.id,
        "short_id": container.id[:12],
        "name": container.name,
        "state": container.state or "unknown",
        "image": container.spec.image,
        "owner": container.owner,
        "pid": container.pid,
    }


def container_page_context(attrs: dict[str, Any], tab: str) -> dict[str, Any]:
    """Context for a page that extends containers_app/container_base.html."""
    summary = container_summary(translate.container_record(attrs))
    return {"container": summary, "tab": tab, "container_tabs": container_tabs(summary["id"])}
