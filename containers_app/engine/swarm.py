"""Swarm mode on the engine: its state, nodes (and their availability), services, tasks and
service logs. Only a manager answers the node, service and task calls."""

from __future__ import annotations

from typing import Any

from containers_app.engine.client import call

LOG_BYTES = 2 << 20  # of one service's logs read at most for a page


def swarm_state() -> dict[str, Any]:
    """The `Swarm` part of `docker info`: LocalNodeState, ControlAvailable, NodeID, ..."""
    return dict(call(lambda c: c.api.info()).get("Swarm") or {})


def list_nodes() -> list[dict[str, Any]]:
    return call(lambda c: c.api.nodes())


def inspect_node(ref: str) -> dict[str, Any]:
    return call(lambda c: c.api.inspect_node(ref))


def set_node_availability(ref: str, availability: str) -> None:
    """`docker node update --availability`: the spec as it is, at its version, but that."""

    def update(c: Any) -> None:
        node = c.api.inspect_node(ref)
        spec = {**node["Spec"], "Availability": availability}
        c.api.update_node(node["ID"], node["Version"]["Index"], spec)

    call(update)


def list_services() -> list[dict[str, Any]]:
    return call(lambda c: c.api.services(status=True))


def inspect_service(ref: str) -> dict[str, Any]:
    return call(lambda c: c.api.inspect_service(ref))


def list_tasks(service_id: str) -> list[dict[str, Any]]:
    return call(lambda c: c.api.tasks(filters={"service": service_id}))


def service_logs(service_id: str, *, tail: int) -> bytes:
    """The last `tail` lines of every task of the service, each led by its details
    (`com.docker.swarm.node.id=...,com.docker.swarm.task.id=... `) and a timestamp."""

    def read(c: Any) -> bytes:
        chunks = c.api.service_logs(
            service_id,
            details=True,
            stdout=True,
            stderr=True,
            timestamps=True,
            tail=tail,
            follow=False,
        )
        taken = bytearray()
        for chunk in chunks:
            taken += chunk
            if len(taken) >= LOG_BYTES:
                break
        return bytes(taken)

    return call(read)
