"""What the pages and the API do with Swarm mode: the engine's place in its swarm, the
nodes (for those who see the host's own objects: admins and viewers), the services a
user may see with their tasks and logs, and a node's availability through the gate.

Node and service calls are a manager's: on an engine that is not one, the pages say
so and what would make it one, and the API answers 409 in the engine's words.
"""

from __future__ import annotations

import re
from dataclasses import asdict, replace
from typing import Any

from containers_app import gate, translate
from containers_app.engine import swarm as engine_swarm
from dashboard import access
from dashboard.access import Perm
from dashboard.records import NodeRecord, ServiceRecord, TaskRecord
from dashboard.refusals import Forbidden, Invalid

AVAILABILITY_ACTIONS = {"drain": "node.drain", "active": "node.activate"}
LOG_TAIL = 200  # lines of a service's logs a page shows
LOG_TAIL_MAX = 5000

NOT_A_MANAGER = {
    "": "This engine is not in Swarm mode: it runs containers on its own. "
    "`docker swarm init` on it makes it the manager of a new swarm.",
    "worker": "This engine is a worker of a swarm: only its managers list the swarm's "
    "nodes and services. Point the dashboard at a manager to see them.",
}


def role() -> str:
    """The engine's place in its swarm now: manager, worker, or "" (in none)."""
    return translate.swarm_role(engine_swarm.swarm_state())


def sees_nodes(user: Any) -> bool:
    return access.can(user, Perm.VIEW, None)


def _node_names(nodes: list[NodeRecord]) -> dict[str, str]:
    # Nodes on one machine may share a hostname: the start of the id tells them apart.
    return {n.id: f"{n.hostname} ({n.id[:8]})" for n in nodes}


def _nodes() -> list[NodeRecord]:
    nodes = [translate.node_record(raw) for raw in engine_swarm.list_nodes()]
    return sorted(nodes, key=lambda n: (n.role != "manager", n.hostname, n.id))


def _services(user: Any) -> list[ServiceRecord]:
    services = [translate.service_record(raw) for raw in engine_swarm.list_services()]
    return sorted(access.visible(user, services, lambda s: s.labels), key=lambda s: s.name)


def overview(user: Any) -> dict[str, Any]:
    """The swarm as `user` may see it; without a manager, why not (`message`)."""
    here = role()
    if here != "manager":
        return {"role": here, "message": NOT_A_MANAGER[here], "nodes": [], "services": []}
    nodes = _nodes() if sees_nodes(user) else []
    return {"role": here, "message": "", "nodes": nodes, "services": _services(user)}


def node_rows(user: Any) -> list[dict[str, Any]]:
    if not sees_nodes(user):
        raise Forbidden(f"Your role ({access.role_of(user)}) may not see the swarm's nodes.")
    return [asdict(n) for n in _nodes()]


def node_detail(user: Any, ref: str) -> dict[str, Any]:
    target = gate.visible(user, "node", ref)
    return {**asdict(target.record), "inspect": dict(target.raw)}


def service_rows(user: Any) -> list[dict[str, Any]]:
    return [asdict(s) for s in _services(user)]


def service_detail(user: Any, ref: str, *, log_tail: int | None = None) -> dict[str, Any]:
    """The service (its running tasks counted, as `docker service ls` does), its tasks by
    slot and newest first, and the names of their nodes; with `log_tail`, its last log
    lines too (`service_logs`), from the same lookups."""
    target = gate.visible(user, "service", ref)
    tasks = [translate.task_record(raw) for raw in engine_swarm.list_tasks(target.id)]
    tasks.sort(key=lambda t: t.updated, reverse=True)
    tasks.sort(key=lambda t: t.slot or 0)
    running = sum(t.state == "running" and t.desired_state == "running" for t in tasks)
    names = _node_names(_nodes())
    found = {
        "service": replace(target.record, running=running),
        "tasks": tasks,
        "node_names": names,
        "inspect": dict(target.raw),
    }
    if log_tail is not None:
        found["logs"] = _log_lines(target.id, names, log_tail)
    return found


def task_row(task: TaskRecord, node_names: dict[str, str]) -> dict[str, Any]:
    return {**asdict(task), "node": node_names.get(task.node_id, task.node_id[:12])}


# A line of service logs with details and timestamps:
# "<time> com.docker.swarm.node.id=N,com.docker.swarm.service.id=S,com.docker.swarm.task.id=T text"
_LOG_LINE = re.compile(rb"^(\S+) (\S*com\.docker\.swarm\.\S*) ?(.*)$")
_DETAIL = re.compile(rb"com\.docker\.swarm\.(node|task)\.id=([0-9a-z]+)")


def labelled_service_rows(label: str) -> list[dict[str, Any]]:
    """The services carrying `label` as rows beside containers' (translate.service_row); none
    and no more calls where there are none (an engine that is no manager has none)."""
    services = engine_swarm.owned_services(label)
    if not services:
        return []
    tasks = [translate.task_record(raw) for raw in engine_swarm.all_tasks()]
    names = _node_names(_nodes())
    return [
        translate.service_row(raw, [t for t in tasks if t.service_id == raw["ID"]], names)
        for raw in services
    ]


def service_logs(user: Any, ref: str, *, tail: int = LOG_TAIL) -> list[dict[str, str]]:
    """The service's last `tail` lines (of all its tasks), each with its time, node and task."""
    target = gate.visible(user, "service", ref)
    return _log_lines(target.id, _node_names(_nodes()), tail)


def parse_tail(value: str | None) -> int:
    """The lines of logs a query's `tail` asks for: LOG_TAIL unless a number, within 1 and
    LOG_TAIL_MAX."""
    try:
        tail = int(value or LOG_TAIL)
    except ValueError:
        return LOG_TAIL
    return max(1, min(tail, LOG_TAIL_MAX))


def _log_lines(service_id: str, names: dict[str, str], tail: int) -> list[dict[str, str]]:
    lines = []
    for raw in engine_swarm.service_logs(service_id, tail=tail).splitlines():
        match = _LOG_LINE.match(raw)
        if match is None:
            lines.append({"time": "", "node": "", "task": "", "text": _text(raw)})
            continue
        details = dict(_DETAIL.findall(match.group(2)))
        node = details.get(b"node", b"").decode()
        lines.append(
            {
                "time": match.group(1).decode()[:23].replace("T", " "),
                "node": names.get(node, node[:12]),
                "task": details.get(b"task", b"").decode()[:12],
                "text": _text(match.group(3)),
            }
        )
    lines.sort(key=lambda line: line["time"])
    return lines[-tail:]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def set_availability(request: Any, ref: str, availability: str) -> NodeRecord:
    """Drain a node (its tasks move to the others) or make it active again: admins only."""
    action = AVAILABILITY_ACTIONS.get(availability)
    if action is None:
        choices = ", ".join(AVAILABILITY_ACTIONS)
        raise Invalid(f"availability must be one of: {choices}", field="availability")
    done = gate.perform(request, action, ref)
    return translate.node_record(engine_swarm.inspect_node(done.target.id))
