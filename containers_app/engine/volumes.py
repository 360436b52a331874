"""Volumes on the engine: list, usage, inspect, create, remove, prune."""

from __future__ import annotations

from typing import Any

from containers_app.engine.client import call, label_filters
from containers_app.engine.system import system_df


def list_volumes() -> list[dict[str, Any]]:
    return call(lambda c: c.api.volumes().get("Volumes") or [])


def volume_usage() -> dict[str, dict[str, int]]:
    """Size and reference count of each local volume, from `/system/df` (empty while busy)."""
    df = system_df() or {}
    return {v["Name"]: v.get("UsageData") or {} for v in df.get("Volumes") or []}


def inspect_volume(name: str) -> dict[str, Any]:
    return call(lambda c: c.api.inspect_volume(name))


def create_volume(
    name: str, *, driver: str = "local", labels: dict[str, str] | None = None
) -> dict[str, Any]:
    return call(lambda c: c.api.create_volume(name or None, driver=driver, labels=labels or None))


def remove_volume(name: str) -> None:
    call(lambda c: c.api.remove_volume(name))


def prune_volumes(*, label: str = "") -> dict[str, Any]:
    return call(lambda c: c.api.prune_volumes(filters=label_filters(label) or None))
