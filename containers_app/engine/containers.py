"""Containers on the engine: list, inspect, create, act on, remove (`docker ps`, `run`, ...).

Raw Engine API data out; containers_app.translate turns it into records and rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import docker
import docker.errors
from docker.api import APIClient

from containers_app.engine.client import call
from dashboard.specs import ContainerSpec


def list_containers(*, all: bool = True) -> list[dict[str, Any]]:  # noqa: A002 - the API's word
    """`docker ps [-a]`: one engine call for every container, never `size=true`."""
    return call(lambda c: c.api.containers(all=all))


def running_containers() -> list[dict[str, Any]]:
    """Id, name and labels of every running container (one cheap list call)."""
    raw = call(lambda c: c.api.containers(filters={"status": "running"}))
    return [
        {
            "id": item["Id"],
            "name": ((item.get("Names") or ["/"])[0]).lstrip("/"),
            "labels": item.get("Labels") or {},
        }
        for item in raw
    ]


def inspect_container(ref: str) -> dict[str, Any]:
    """`docker inspect` of one container, by id, short id or name."""
    return call(lambda c: c.api.inspect_container(ref))


def inspect_container_with_size(ref: str) -> dict[str, Any]:
    """Inspect with `?size=1` (SizeRw, SizeRootFs): slow on big layers, so one container only."""

    def fetch(c: docker.DockerClient) -> dict[str, Any]:
        api = c.api
        result: dict[str, Any] = api._result(
            api._get(api._url("/containers/{0}/json", ref), params={"size": 1}), True
        )
        return result

    return call(fetch)


# Kind in GET /containers/{id}/changes
CHANGE_KINDS = {0: "changed", 1: "added", 2: "deleted"}


def container_changes(ref: str) -> list[dict[str, str]]:
    """`docker diff`: what the container's writable layer changed, as {"path", "kind"}."""
    raw = call(lambda c: c.api.diff(ref)) or []
    return [{"path": item["Path"], "kind": CHANGE_KINDS.get(item["Kind"], "?")} for item in raw]


def running_container_pids() -> list[dict[str, Any]]:
    """id, name, labels and host PID of every running container."""

    def gather(c: docker.DockerClient) -> list[dict[str, Any]]:
        found = []
        for summary in c.api.containers(filters={"status": "running"}):
            try:
                attrs = c.api.inspect_container(summary["Id"])
            except docker.errors.NotFound:
                continue  # removed between the list and the inspect
            found.append(
                {
                    "id": attrs["Id"],
                    "name": attrs.get("Name", "").lstrip("/"),
                    "labels": (attrs.get("Config") or {}).get("Labels") or {},
                    "pid": (attrs.get("State") or {}).get("Pid", 0),
                }
            )
        return found

    return call(gather)


def inspect_labelled_containers(label: str) -> list[dict[str, Any]]:
    """`docker inspect` of every container carrying `label` ("key=value"), stopped ones too.

    One list call filtered by the label, then an inspect of only those containers
    (the list lacks the HostConfig limits the quotas add up).
    """

    def gather(c: docker.DockerClient) -> list[dict[str, Any]]:
        found = []
        for item in c.api.containers(all=True, filters={"label": label}):
            try:
                found.append(c.api.inspect_container(item["Id"]))
            except docker.errors.NotFound:
                continue  # removed between the list and the inspect
        return found

    return call(gather)


def _restart_policy(policy: str) -> dict[str, Any]:
    name, _, retries = policy.partition(":")
    return {"Name": name, "MaximumRetryCount": int(retries) if retries else 0}


def _binds(spec: ContainerSpec) -> list[str]:
    # Binds (not Mounts), as `docker run -v source:target[:ro]` writes them, so the
    # dashboard and the shown command line create the same container.
    return [f"{m.source}:{m.target}{':ro' if m.read_only else ''}" for m in spec.mounts]


def _port_bindings(spec: ContainerSpec) -> dict[str, list[tuple[str, int | None]]]:
    bindings: dict[str, list[tuple[str, int | None]]] = {}
    for p in spec.ports:
        bindings.setdefault(f"{p.container_port}/{p.protocol}", []).append((p.host_ip, p.host_port))
    return bindings


def _aliases(c: docker.DockerClient, spec: ContainerSpec) -> dict[str, Any] | None:
    if not (spec.aliases and spec.network):
        return None
    endpoint = c.api.create_endpoint_config(aliases=spec.aliases)
    return dict(c.api.create_networking_config({spec.network: endpoint}))


def create_container(spec: ContainerSpec) -> str:
    """Create (and start, if `spec.start`) the container `spec` describes; returns its id.

    `spec` is already validated and carries every label it should (the owner's too).
    """

    def create(c: docker.DockerClient) -> str:
        host_config = c.api.create_host_config(
            binds=_binds(spec) or None,
            port_bindings=_port_bindings(spec) or None,
            mem_limit=spec.memory,
            nano_cpus=round(spec.cpus * 1e9) if spec.cpus else None,
            pids_limit=spec.pids_limit,
            restart_policy=_restart_policy(spec.restart_policy),
            auto_remove=spec.auto_remove,
            network_mode=spec.network or None,
            privileged=spec.privileged,
            cap_add=spec.cap_add or None,
            devices=spec.devices or None,
            pid_mode=spec.pid_mode or None,
            ipc_mode=spec.ipc_mode or None,
            uts_mode=spec.uts_mode or None,
            userns_mode=spec.userns_mode or None,
            security_opt=spec.security_opt or None,
            sysctls=spec.sysctls or None,
            cgroup_parent=spec.cgroup_parent or None,
        )
        created = c.api.create_container(
            spec.image,
            command=spec.command,
            entrypoint=spec.entrypoint,
            name=spec.name or None,
            environment=[f"{k}={v}" for k, v in spec.env.items()] or None,
            labels=dict(spec.labels),
            ports=[(p.container_port, p.protocol) for p in spec.ports] or None,
            working_dir=spec.working_dir or None,
            user=spec.user or None,
            tty=spec.tty,
            host_config=host_config,
            networking_config=_aliases(c, spec),
        )
        container_id = str(created["Id"])
        if spec.start:
            try:
                c.api.start(container_id)
            except docker.errors.APIError:
                # A container that could not start (port taken, ...) is not left behind:
                # the host stays as it was before the request.
                c.api.remove_container(container_id, force=True, v=True)
                raise
        return container_id

    return call(create)


# What each action a request may name asks the engine: an explicit table, never
# getattr on a request string.
CONTAINER_ACTIONS: dict[str, Callable[[APIClient, str], Any]] = {
    "start": APIClient.start,
    "stop": APIClient.stop,
    "restart": APIClient.restart,
    "pause": APIClient.pause,
    "unpause": APIClient.unpause,
    "kill": APIClient.kill,
}


def act_on_container(action: str, ref: str) -> None:
    """`docker start|stop|restart|pause|unpause|kill ref`."""
    send = CONTAINER_ACTIONS[action]
    call(lambda c: send(c.api, ref))


def remove_container(ref: str, *, force: bool = False, volumes: bool = False) -> None:
    call(lambda c: c.api.remove_container(ref, force=force, v=volumes))


def rename_container(ref: str, name: str) -> None:
    call(lambda c: c.api.rename(ref, name))
