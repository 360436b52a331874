"""The policy's engine lookups on the real engine: networks and volumes resolved as the engine
resolves them (by id, short id or name), with their owner labels and mount options."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from containers_app import gate
from dashboard.models import User
from dashboard.policy import PolicyViolation
from dashboard.specs import ContainerSpec, MountSpec
from tests.rig import LABELS, RUN_ID

pytestmark = [pytest.mark.engine, pytest.mark.django_db]
BASE = ContainerSpec(image="busybox")


def student(name: str) -> User:
    return User(username=name, role="student")


@pytest.fixture
def owned_network(docker_client: Any) -> Iterator[Any]:
    network = docker_client.networks.create(
        f"dd-pol-{RUN_ID}", labels={**LABELS, "dockdash.owner": "ann"}
    )
    yield network
    network.remove()


@pytest.fixture
def sock_volume(docker_client: Any) -> Iterator[Any]:
    volume = docker_client.volumes.create(
        f"dd-pol-sock-{RUN_ID}",
        driver_opts={"type": "none", "o": "bind", "device": "/var/run"},
        labels={**LABELS, "dockdash.owner": "ann"},
    )
    yield volume
    volume.remove(force=True)


def test_networks_are_resolved_by_id_and_name_with_their_owner(
    docker_client: Any, owned_network: Any
) -> None:
    host_id = docker_client.networks.get("host").id
    bridge_id = docker_client.networks.get("bridge").id
    ann, bob = student("ann"), student("bob")
    for ref in (bridge_id, bridge_id[:12], owned_network.name, owned_network.id[:12]):
        gate.check(ann, "container.create", spec=replace(BASE, network=ref))
    for ref in (host_id, host_id[:12]):
        with pytest.raises(PolicyViolation, match="not yours"):
            gate.check(ann, "container.create", spec=replace(BASE, network=ref))
    with pytest.raises(PolicyViolation, match="not yours"):
        gate.check(bob, "container.create", spec=replace(BASE, network=owned_network.name))
    with pytest.raises(PolicyViolation, match="no network"):
        gate.check(ann, "container.create", spec=replace(BASE, network=f"nosuch-{RUN_ID}"))


def test_a_volume_whose_options_bind_the_socket_folder_is_refused(sock_volume: Any) -> None:
    with pytest.raises(PolicyViolation, match="Docker socket"):
        gate.check(
            student("ann"),
            "container.create",
            spec=replace(BASE, mounts=[MountSpec(sock_volume.name, "/v")]),
        )


def test_exec_into_a_container_with_the_socket_mounted_is_refused_to_an_instructor(
    make_container: Any,
) -> None:
    # Containers of a student the instructor teaches (the fact handed in with the user).
    ivy = User(username="ivy", role="instructor")
    ivy.taught = frozenset({"stu"})
    owned = {"labels": {"dockdash.owner": "stu"}}
    socket = {"/var/run/docker.sock": {"bind": "/s", "mode": "ro"}}
    container = make_container(volumes=socket, **owned)
    with pytest.raises(PolicyViolation, match="only an admin may open a shell"):
        gate.check(ivy, "exec.start", container.id)
    plain = make_container(**owned)
    gate.check(ivy, "exec.start", plain.id)


def test_a_policy_refusal_answers_the_api_shape(rf: Any) -> None:
    from dashboard.api import exception_handler

    response = exception_handler(PolicyViolation("ports", "Host port 80 is outside"), {})
    assert response is not None
    assert response.status_code == 403
    assert response.data == {"error": "Host port 80 is outside", "field": "ports"}
