"""The engine page and API show what the Docker CLI reports for the same engine."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.rig import SocketProxy, docker_cli, wait_for

pytestmark = pytest.mark.django_db


def cli_facts() -> tuple[dict[str, Any], dict[str, Any]]:
    info = json.loads(docker_cli("info", "--format", "{{json .}}"))
    version = json.loads(docker_cli("version", "--format", "{{json .Server}}"))
    return info, version


def stable_counts() -> dict[str, int]:
    """Counts from the CLI, read twice until they agree (other test runs may be busy)."""

    def read() -> dict[str, int]:
        info = json.loads(docker_cli("info", "--format", "{{json .}}"))
        return {
            "containers": info["Containers"],
            "running": info["ContainersRunning"],
            "images": info["Images"],
            "networks": len(docker_cli("network", "ls", "-q").split()),
            "volumes": len(docker_cli("volume", "ls", "-q").split()),
        }

    return read()


def counts_beside_the_cli(client: Any) -> tuple[dict[str, int], dict[str, int]]:
    """The API's counts and the CLI's, read in a moment when nothing changed around them
    (the CLI read before and after agree): other tests add and remove objects meanwhile."""

    def quiet() -> tuple[dict[str, int], dict[str, int]] | None:
        before = stable_counts()
        counts = client.get("/api/v1/engine/").json()["counts"]
        return ({k: counts[k] for k in before}, before) if stable_counts() == before else None

    found: tuple[dict[str, int], dict[str, int]] = wait_for(
        quiet, timeout=30, interval=0.2, what="a quiet moment"
    )
    return found


def test_engine_api_matches_the_docker_cli(admin_client: Any, docker_client: Any) -> None:
    info, version = cli_facts()
    body = admin_client.get("/api/v1/engine/").json()
    components = {c["Name"]: c["Version"] for c in version["Components"]}
    assert body["engine"]["version"] == version["Version"] == info["ServerVersion"]
    assert body["engine"]["api_version"] == version["ApiVersion"]
    assert body["engine"]["min_api_version"] == version["MinAPIVersion"]
    assert body["components"]["containerd"] == components["containerd"]
    assert body["components"]["runc"] == components["runc"]
    assert body["components"]["docker_init"] == components["docker-init"]
    assert body["os"] == {
        "name": info["OperatingSystem"],
        "type": info["OSType"],
        "kernel": info["KernelVersion"],
        "architecture": info["Architecture"],
    }
    assert body["cpus"] == info["NCPU"] == os.cpu_count()
    assert body["memory"] == info["MemTotal"]
    assert body["storage_driver"] == info["Driver"]
    assert body["logging_driver"] == info["LoggingDriver"]
    assert body["cgroup_driver"] == info["CgroupDriver"]
    assert body["cgroup_version"] == info["CgroupVersion"]
    assert body["registry"]["index_server"] == info["IndexServerAddress"]
    assert [o["name"] for o in body["security_options"]] == [
        dict(p.split("=", 1) for p in o.split(","))["name"] for o in info["SecurityOptions"]
    ]
    counts, cli = counts_beside_the_cli(admin_client)
    assert counts == cli
    kinds = [row["kind"] for row in body["disk_usage"]]
    assert kinds == ["Images", "Containers", "Local volumes", "Build cache"]


def test_engine_page_shows_the_cli_values(admin_client: Any, docker_client: Any) -> None:
    info, version = cli_facts()
    page = admin_client.get("/").content.decode()
    for value in [
        version["Version"],
        version["ApiVersion"],
        info["KernelVersion"],
        info["CgroupDriver"],
        info["Driver"],
        info["OperatingSystem"],
    ]:
        assert value in page


def test_container_counts_follow_the_engine(admin_client: Any, make_container: Any) -> None:
    counts_beside_the_cli(admin_client)  # read once before: a kept answer would be stale below
    box = make_container()
    counts, cli = counts_beside_the_cli(admin_client)
    assert counts == cli and counts["running"] >= 1
    assert box.id in docker_cli("ps", "-q", "--no-trunc")


def point_at(settings: Any, sock: Path) -> None:
    settings.DOCKER_HOST = f"unix://{sock}"


def test_dead_socket_gives_503_page_api_error_and_healthz(
    admin_client: Any, settings: Any, tmp_socket_dir: Path
) -> None:
    point_at(settings, tmp_socket_dir / "docker.sock")
    for path in ("/", "/live/"):  # the Live page too: never "0 running containers"
        page = admin_client.get(path)
        assert page.status_code == 503, path
        html = page.content.decode()
        assert "The Docker engine is unreachable" in html
        assert f"unix://{tmp_socket_dir}/docker.sock" in html
        assert "the socket does not exist" in html
        assert "Traceback" not in html
    api = admin_client.get("/api/v1/engine/")
    assert api.status_code == 503
    assert "unreachable" in api.json()["error"]
    assert api.json()["endpoint"] == f"unix://{tmp_socket_dir}/docker.sock"
    health = admin_client.get("/healthz")
    assert health.status_code == 200 and health.json()["engine"]["reachable"] is False


def test_engine_that_refuses_connections_is_named_as_not_running(
    admin_client: Any, settings: Any, tmp_socket_dir: Path
) -> None:
    import socket

    sock_path = tmp_socket_dir / "refusing.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(sock_path))
    listener.close()  # the file stays, nobody listens: connection refused
    point_at(settings, sock_path)
    page = admin_client.get("/")
    assert page.status_code == 503
    assert "connection refused" in page.content.decode()


def test_dashboard_recovers_when_the_engine_comes_back_and_goes_again(
    admin_client: Any, settings: Any, tmp_socket_dir: Path, docker_client: Any
) -> None:
    engine = SocketProxy(tmp_socket_dir / "docker.sock")
    settings.DOCKER_HOST = engine.url
    assert admin_client.get("/").status_code == 503
    engine.start()
    try:
        assert admin_client.get("/").status_code == 200
        engine.stop()
        down = admin_client.get("/")
        assert down.status_code == 503
        assert "The Docker engine is unreachable" in down.content.decode()
        engine.start()
        wait_for(lambda: admin_client.get("/").status_code == 200, timeout=5, what="recovery")
    finally:
        engine.stop()
