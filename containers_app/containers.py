"""What the pages and the API do with containers: lists for a user, and changes through the gate.

Reads ask the access policy for what the user may see; every change is a row of
the gate's table (containers_app.gate), which checks, acts and audits. Results
are plain dicts shaped for templates and JSON alike, with the Docker CLI line
that does the same.
"""

from __future__ import annotations

import contextlib
import shlex
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from containers_app import gate, restarts, translate
from containers_app.engine import containers as engine_containers
from containers_app.engine.errors import EngineError, NotFound
from dashboard import access
from dashboard.specs import ContainerSpec

CONTAINER_STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")
ACTIONS = ("start", "stop", "restart", "pause", "unpause", "kill")
BULK_ACTIONS = (*ACTIONS, "remove")


def visible_rows(user: Any, *, all: bool = True) -> list[dict[str, Any]]:  # noqa: A002
    rows = [translate.container_row(raw) for raw in engine_containers.list_containers(all=all)]
    return access.visible(user, rows, lambda r: r["labels"])


def rows_by(
    rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], Iterable[str]]
) -> dict[str, list[str]]:
    """Container names by each value `key` gives (image id, network, volume)."""
    found: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        for k in key(row):
            found[k].append(row["name"])
    return found


SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "name": lambda r: r["name"].lower(),
    "image": lambda r: r["image"].lower(),
    "state": lambda r: (r["state"], r["name"].lower()),
    "created": lambda r: r["created"] or datetime.min.replace(tzinfo=UTC),
    "owner": lambda r: ((r["owner"] or ""), r["name"].lower()),
}


def list_containers(
    user: Any,
    *,
    all: bool = True,  # noqa: A002
    text: str = "",
    state: str = "",
    label: str = "",
    sort: str = "name",
) -> list[dict[str, Any]]:
    """The containers `user` may see, filtered and sorted as the list page asks."""
    rows = visible_rows(user, all=all)
    needle = text.strip().lower()
    if needle:
        rows = [
            r
            for r in rows
            if needle in r["name"].lower()
            or needle in r["image"].lower()
            or r["id"].startswith(needle)
        ]
    if state:
        rows = [r for r in rows if r["state"] == state]
    if label:
        key, sep, value = label.partition("=")
        rows = [r for r in rows if key in r["labels"] and (not sep or r["labels"][key] == value)]
    descending = sort.startswith("-")
    sort_key = SORT_KEYS.get(sort.lstrip("-"), SORT_KEYS["name"])
    return sorted(rows, key=sort_key, reverse=descending)


def with_restart_counts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows, restarting ones with their restart count in `status` (the list call lacks it:
    containers_app.restarts has it, an inspect per restart at most; none for the others)."""
    shown = []
    for row in rows:
        if row["state"] == "restarting":
            with contextlib.suppress(NotFound):  # gone since the list: keep what it said
                row = {**row, "status": restarts.status_of(row["id"])}
        shown.append(row)
    return shown


def create_container(request: Any, spec: ContainerSpec) -> str:
    return str(gate.perform(request, "container.create", spec.name, spec=spec).result)


def docker_command(action: str, name: str, **options: Any) -> str:
    """The Docker CLI line that does what the dashboard's `action` does."""
    if action == "remove":
        flags = [
            *(["-f"] if options.get("force") else []),
            *(["-v"] if options.get("volumes") else []),
        ]
        return shlex.join(["docker", "rm", *flags, name])
    if action == "rename":
        return shlex.join(["docker", "rename", name, options.get("new_name") or "NEW_NAME"])
    return shlex.join(["docker", action, name])


def _outcome(done: gate.Done, action: str, **options: Any) -> dict[str, Any]:
    name = options.get("new_name") or done.target.name
    return {
        "id": done.target.id,
        "name": name,
        "command": docker_command(action, done.target.name, **options),
    }


def container_action(request: Any, ref: str, action: str) -> dict[str, Any]:
    """start, stop, ... one container (`action` one of ACTIONS; others: 404)."""
    if action not in ACTIONS:
        raise access.not_found("action", action)
    return _outcome(gate.perform(request, f"container.{action}", ref), action)


def remove_container(request: Any, ref: str, *, force: bool, volumes: bool) -> dict[str, Any]:
    done = gate.perform(request, "container.remove", ref, force=force, volumes=volumes)
    return _outcome(done, "remove", force=force, volumes=volumes)


def rename_container(request: Any, ref: str, new_name: str) -> dict[str, Any]:
    done = gate.perform(request, "container.rename", ref, new_name=new_name)
    return _outcome(done, "rename", new_name=new_name)


def bulk_action(request: Any, refs: Iterable[str], action: str) -> list[dict[str, Any]]:
    """Run `action` on each container; one result per item, never one opaque error."""
    if action not in BULK_ACTIONS:
        raise access.not_found("action", action)
    name = f"container.{action}"
    params = {"force": True, "volumes": False} if action == "remove" else {}
    results = []
    for ref, done, refused in gate.perform_each(request, name, refs, **params):
        if done is not None:
            outcome = _outcome(done, action, **params)
            results.append({"ref": ref, **outcome, "ok": True, "error": ""})
        else:
            assert refused is not None
            name_shown = refused.about or ref  # a container the user may not see: as they sent it
            results.append(
                {"ref": ref, "name": name_shown, "ok": False, "error": str(refused), "command": ""}
            )
    return results


def engine_error_field(exc: EngineError) -> str | None:
    """The create form field an engine refusal is about, if it names one."""
    text = exc.message.lower()
    if "no such image" in text or "pull access denied" in text or "invalid reference" in text:
        return "image"
    if "is already in use by" in text:
        return "name"
    if "port is already allocated" in text or "address already in use" in text:
        return "ports"
    if "network" in text and ("not found" in text or "no such" in text):
        return "network"
    return None
