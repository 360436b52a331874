"""Swarm mode on the engine: its state, nodes (and their availability), services, tasks and
service logs. Only a manager answers the node, service and task calls."""

from __future__ import annotations

from typing import Any

import docker

from containers_app.engine.client import call
from dashboard.specs import ContainerSpec

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


def owned_services(label: str) -> list[dict[str, Any]]:
    """The services carrying `label` ("key=value"); none on an engine that is no manager
    (it runs no services of its own: its tasks are its managers' services)."""

    def read(c: Any) -> list[dict[str, Any]]:
        try:
            return c.api.services(filters={"label": label})
        except docker.errors.APIError as exc:
            if exc.status_code == 503:  # "This node is not a swarm manager."
                return []
            raise

    return call(read)


def create_service(spec: ContainerSpec) -> str:
    """One replica of the container `spec` describes, as a service of the swarm; its id.

    Its CPUs and memory are both the limit and the reservation (the scheduler places it
    only on a node that still has them), its pids a limit; its tasks spread over the
    nodes; it publishes its ports on every node (the routing mesh); it restarts as its
    restart policy says (a service's task that exits is replaced: "no" becomes
    "on-failure").
    """
    nano_cpus = round(spec.cpus * 1e9) if spec.cpus else None
    restart = spec.restart_policy.partition(":")[0]
    resources = docker.types.Resources(
        cpu_limit=nano_cpus,
        mem_limit=spec.memory,
        cpu_reservation=nano_cpus,
        mem_reservation=spec.memory,
    )
    if spec.pids_limit:  # API 1.41 (docker-py has no argument for it)
        resources.setdefault("Limits", {})["Pids"] = spec.pids_limit
    template = docker.types.TaskTemplate(
        container_spec=docker.types.ContainerSpec(
            spec.image,
            command=spec.entrypoint,
            args=spec.command,
            env=dict(spec.env) or None,
            labels=dict(spec.labels),
            mounts=[
                # A named volume is made by the node that runs the task: with its labels.
                docker.types.Mount(
                    m.target,
                    m.source,
                    type=m.kind,
                    read_only=m.read_only,
                    labels=dict(spec.labels) if m.kind == "volume" else None,
                )
                for m in spec.mounts
            ]
            or None,
            workdir=spec.working_dir or None,
            user=spec.user or None,
            tty=spec.tty,
        ),
        resources=resources,
        restart_policy=docker.types.RestartPolicy(
            condition="any" if restart in {"always", "unless-stopped"} else "on-failure"
        ),
        placement=docker.types.Placement(
            preferences=[docker.types.PlacementPreference("spread", "node.id")]
        ),
        networks=[docker.types.NetworkAttachmentConfig(spec.network, aliases=spec.aliases)]
        if spec.network
        else None,
    )
    ports = {p.host_port: (p.container_port, p.protocol) for p in spec.ports if p.host_port}
    made = call(
        lambda c: c.api.create_service(
            template,
            name=spec.name,
            labels=dict(spec.labels),
            mode=docker.types.ServiceMode("replicated", 1 if spec.start else 0),
            endpoint_spec=docker.types.EndpointSpec(ports=ports) if ports else None,
        )
    )
    return str(made["ID"])


def scale_service(ref: str, replicas: int) -> None:
    """`docker service scale ref=replicas`: the spec as it is, at its version, but that. At
    that scale already, its tasks are made again (`docker service update --force`): a
    started service whose task ended (exited 0, no restart) runs again."""

    def scale(c: Any) -> None:
        service = c.api.inspect_service(ref)
        spec = service["Spec"]
        again = ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas") == replicas
        forced = int((spec.get("TaskTemplate") or {}).get("ForceUpdate") or 0) + 1
        c.api.update_service(
            service["ID"],
            service["Version"]["Index"],
            task_template={"ForceUpdate": forced} if again and replicas else None,
            mode=docker.types.ServiceMode("replicated", replicas),
            fetch_current_spec=True,
        )

    call(scale)


def remove_service(ref: str) -> None:
    call(lambda c: c.api.remove_service(ref))


def inspect_service(ref: str) -> dict[str, Any]:
    return call(lambda c: c.api.inspect_service(ref))


def list_tasks(service_id: str) -> list[dict[str, Any]]:
    return call(lambda c: c.api.tasks(filters={"service": service_id}))


def all_tasks() -> list[dict[str, Any]]:
    """Every task the swarm knows (of all services, the ended ones it keeps too), with its
    node."""
    return call(lambda c: c.api.tasks())


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
