"""A published port's host IP, IPv4 or IPv6, through POST /api/v1/containers/: the CLI judges."""

from __future__ import annotations

from typing import Any

import pytest

from tests.rig import LABELS, RUN_ID, docker_cli, docker_inspect, free_port

pytestmark = pytest.mark.django_db


def _names() -> set[str]:
    out = docker_cli(
        "ps", "-a", "--filter", f"label=dockdash.test={RUN_ID}", "--format", "{{.Names}}"
    )
    return set(out.split())


def _create_publishing(api_client: Any, image: str, host_ip: str) -> tuple[str, int, Any]:
    """POST a container publishing port 80 on host_ip; its name, host port and the answer."""
    port = free_port()
    name = f"dd-hostip-{RUN_ID}-{port}"
    ports = [{"container_port": 80, "host_port": port, "host_ip": host_ip}]
    body = {"image": image, "name": name, "command": ["sleep", "600"], "ports": ports}
    response = api_client.post("/api/v1/containers/", {**body, "labels": LABELS}, format="json")
    return name, port, response


@pytest.mark.parametrize("host_ip", ["::", "::1", "127.0.0.1"])
def test_api_create_publishes_the_port_on_the_host_ip_asked(
    api_client: Any, admin_user: Any, test_image: str, host_ip: str
) -> None:
    api_client.force_authenticate(admin_user)
    name, port, response = _create_publishing(api_client, test_image, host_ip)
    assert response.status_code == 201, response.json()
    got = docker_inspect(name)
    assert got["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": host_ip, "HostPort": str(port)}]
    }
    assert got["State"]["Running"] is True
    shown = f"[{host_ip}]:{port}" if ":" in host_ip else f"{host_ip}:{port}"
    assert docker_cli("port", name, "80/tcp").split() == [shown]


@pytest.mark.parametrize("host_ip", ["::zz", "300.1.1.1", "localhost", "1.2.3"])
def test_api_create_refuses_a_bad_host_ip_on_the_ports_field(
    api_client: Any, admin_user: Any, test_image: str, host_ip: str
) -> None:
    api_client.force_authenticate(admin_user)
    before = _names()
    _, _, response = _create_publishing(api_client, test_image, host_ip)
    assert response.status_code == 400, response.json()
    assert response.json()["field"] == "ports"
    assert f"{host_ip!r} is not a host IP address, IPv4 or IPv6" in response.json()["error"]
    assert _names() == before
