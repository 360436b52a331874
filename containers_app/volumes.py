"""What the pages and the API do with volumes:
lists and details for a user, changes through the gate."""

from __future__ import annotations

from typing import Any

from containers_app import containers, gate, translate
from containers_app.engine import volumes as engine_volumes
from dashboard import access


def _volumes_of(row: dict[str, Any]) -> list[str]:
    return [m["name"] for m in row["mounts"] if m["type"] == "volume"]


def list_volumes(user: Any, *, with_sizes: bool = True) -> list[dict[str, Any]]:
    users = containers.rows_by(containers.visible_rows(user), _volumes_of)
    usage = engine_volumes.volume_usage() if with_sizes else {}
    rows = [
        translate.volume_row(
            raw, (usage.get(raw["Name"]) or {}).get("Size", -1), users.get(raw["Name"], [])
        )
        for raw in engine_volumes.list_volumes()
    ]
    rows = access.visible(user, rows, lambda r: r["labels"])
    return sorted(rows, key=lambda r: r["name"])


def volume_detail(user: Any, name: str) -> dict[str, Any]:
    target = gate.visible(user, "volume", name)
    used_by = [r["name"] for r in containers.visible_rows(user) if name in _volumes_of(r)]
    return {"attrs": dict(target.raw), "used_by": used_by}


def create_volume(request: Any, name: str, *, labels: dict[str, str] | None = None) -> str:
    return str(gate.perform(request, "volume.create", name, labels=labels or {}).result)


def remove_volume(request: Any, name: str) -> None:
    gate.perform(request, "volume.remove", name)


def prune_volumes(request: Any, *, label: str = "") -> dict[str, Any]:
    return translate.pruned("volume", gate.perform(request, "volume.prune", label=label).result)
