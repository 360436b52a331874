"""Networks on the engine: list, inspect, create, connect, disconnect, remove, prune."""

from __future__ import annotations

from typing import Any

import docker

from containers_app.engine.client import call, label_filters


def list_networks() -> list[dict[str, Any]]:
    return call(lambda c: c.api.networks())


def inspect_network(ref: str) -> dict[str, Any]:
    return call(lambda c: c.api.inspect_network(ref))


def create_network(
    name: str,
    *,
    driver: str = "bridge",
    subnet: str = "",
    gateway: str = "",
    internal: bool = False,
    labels: dict[str, str] | None = None,
) -> str:
    def create(c: docker.DockerClient) -> str:
        ipam = None
        if subnet or gateway:
            pool = docker.types.IPAMPool(subnet=subnet or None, gateway=gateway or None)
            ipam = docker.types.IPAMConfig(pool_configs=[pool])
        made = c.api.create_network(
            name,
            driver=driver,
            ipam=ipam,
            internal=internal,
            labels=labels or None,
            # A swarm's network: its services' tasks, and containers started beside them.
            attachable=driver == "overlay" or None,
        )
        return str(made["Id"])

    return call(create)


def connect_network(network: str, container: str, *, aliases: list[str] | None = None) -> None:
    call(lambda c: c.api.connect_container_to_network(container, network, aliases=aliases or None))


def disconnect_network(network: str, container: str, *, force: bool = False) -> None:
    call(lambda c: c.api.disconnect_container_from_network(container, network, force=force))


def remove_network(ref: str) -> None:
    call(lambda c: c.api.remove_network(ref))


def prune_networks(*, label: str = "") -> dict[str, Any]:
    return call(lambda c: c.api.prune_networks(filters=label_filters(label) or None))
