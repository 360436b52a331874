"""What the pages and the API do with networks:
lists and details for a user, changes through the gate."""

from __future__ import annotations

import shlex
from typing import Any

from containers_app import containers, gate, translate
from containers_app.engine import networks as engine_networks
from dashboard import access
from dashboard.access import Perm


def list_networks(user: Any) -> list[dict[str, Any]]:
    attached = containers.rows_by(containers.visible_rows(user), lambda r: r["networks"])
    rows = [
        translate.network_row(raw, attached.get(raw["Name"], []))
        for raw in engine_networks.list_networks()
    ]
    rows = access.visible(user, rows, lambda r: r["labels"], shared=lambda r: r["predefined"])
    return sorted(rows, key=lambda r: (not r["predefined"], r["name"]))


def network_detail(user: Any, ref: str) -> dict[str, Any]:
    """The network as the engine inspects it, with only the attached containers `user` may see.

    Everyone sees the predefined networks; what other students attached to them is theirs.
    """
    target = gate.visible(user, "network", ref)
    sees_all = access.can(user, Perm.VIEW, None)
    keep = None if sees_all else {row["id"] for row in containers.visible_rows(user)}
    return translate.network_with_containers(target.raw, keep)


def create_network(
    request: Any,
    name: str,
    *,
    subnet: str = "",
    gateway: str = "",
    internal: bool = False,
    labels: dict[str, str] | None = None,
) -> str:
    params = {"subnet": subnet, "gateway": gateway, "internal": internal}
    done = gate.perform(request, "network.create", name, **params, labels=labels or {})
    return str(done.result)


def remove_network(request: Any, ref: str) -> str:
    return str(gate.perform(request, "network.remove", ref).result)


def connect_network(
    request: Any,
    ref: str,
    container: str,
    *,
    aliases: list[str] | None = None,
    disconnect: bool = False,
) -> dict[str, Any]:
    verb = "disconnect" if disconnect else "connect"
    done = gate.perform(request, f"network.{verb}", ref, container=container, aliases=aliases or [])
    alias_flags = [f"--alias={a}" for a in aliases or []] if not disconnect else []
    argv = ["docker", "network", verb, *alias_flags, done.target.name, str(done.result)]
    return {"command": shlex.join(argv)}


def prune_networks(request: Any, *, label: str = "") -> list[str]:
    done = gate.perform(request, "network.prune", label=label)
    return list(translate.pruned("network", done.result)["deleted"])
