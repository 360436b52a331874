"""A container's namespaces, layers and OCI spec, against real containers on the real engine.

The judge for namespaces is the kernel itself (`readlink /proc/<pid>/ns/<type>`, read here
in the test) and Docker's own inspect data, not the dashboard's code.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.rig import docker_cli, docker_inspect

pytestmark = pytest.mark.django_db

OWN = ("pid", "net", "ipc", "uts", "mnt")


def kernel_inode(pid: int, ns_type: str) -> int:
    match = re.fullmatch(r"\w+:\[(\d+)\]", os.readlink(f"/proc/{pid}/ns/{ns_type}"))
    assert match, ns_type
    return int(match.group(1))


def dockerd_pid() -> int:
    """The first engine's daemon (other tests may run extra engines in namespaces of their own)."""
    return int(Path("/var/run/docker.pid").read_text())


def namespaces(client: Any, ref: str) -> dict[str, dict[str, Any]]:
    response = client.get(f"/api/v1/containers/{ref}/namespaces/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["problem"] == "", body["problem"]
    return {row["type"]: row for row in body["namespaces"]}


def init_pid(container: Any) -> int:
    return int(docker_inspect(container.id)["State"]["Pid"])


def test_default_container_has_its_own_namespaces_not_the_hosts(
    admin_client: Any, make_container: Any
) -> None:
    container = make_container()
    rows = namespaces(admin_client, container.id)
    pid = init_pid(container)
    host = dockerd_pid()
    for t in OWN:
        assert rows[t]["inode"] == kernel_inode(pid, t), t
        assert kernel_inode(pid, t) != kernel_inode(host, t), t
        assert rows[t]["is_host"] is False, t
    # Docker 20.10 on cgroup v1 neither remaps users nor gives a cgroup namespace by default.
    assert rows["user"]["is_host"] is True
    assert rows["user"]["inode"] == kernel_inode(host, "user")


def test_pid_host_container_shares_the_hosts_pid_namespace(
    admin_client: Any, make_container: Any
) -> None:
    container = make_container(pid_mode="host")
    rows = namespaces(admin_client, container.id)
    assert rows["pid"]["asked"]["option"] == "PidMode"
    assert rows["pid"]["asked"]["value"] == "host"
    assert rows["pid"]["inode"] == kernel_inode(dockerd_pid(), "pid")
    assert rows["pid"]["is_host"] is True
    assert rows["net"]["is_host"] is False


def test_network_container_mode_shares_the_other_containers_net_namespace(
    admin_client: Any, make_container: Any
) -> None:
    first = make_container()
    second = make_container(network_mode=f"container:{first.id}")
    rows = namespaces(admin_client, second.id)
    assert rows["net"]["asked"]["value"] == f"container:{first.id}"
    assert rows["net"]["inode"] == kernel_inode(init_pid(first), "net")
    assert first.id in [o["id"] for o in rows["net"]["shared_with"]]
    # Only the network is shared: the second still has its own pid namespace.
    assert first.id not in [o["id"] for o in rows["pid"]["shared_with"]]
    first_rows = namespaces(admin_client, first.id)
    assert second.id in [o["id"] for o in first_rows["net"]["shared_with"]]


def test_two_default_containers_share_no_namespace_they_own(
    admin_client: Any, make_container: Any
) -> None:
    a, b = make_container(), make_container()
    rows = namespaces(admin_client, a.id)
    for t in OWN:
        assert kernel_inode(init_pid(a), t) != kernel_inode(init_pid(b), t), t
        assert b.id not in [o["id"] for o in rows[t]["shared_with"]], t


def test_stopped_container_says_not_running_and_shows_no_numbers(
    admin_client: Any, make_container: Any
) -> None:
    container = make_container(start=False)
    body = admin_client.get(f"/api/v1/containers/{container.id}/namespaces/").json()
    assert "not running" in body["problem"]
    assert all(row["inode"] is None for row in body["namespaces"])


def test_student_cannot_read_namespaces_of_a_container_that_is_not_theirs(
    api_client: Any, make_user: Any, make_container: Any
) -> None:
    container = make_container(labels={"dockdash.owner": "someone-else"})
    api_client.force_authenticate(make_user("stud1", "student"))
    response = api_client.get(f"/api/v1/containers/{container.id}/namespaces/")
    assert response.status_code == 404
    assert "inode" not in response.content.decode()


def test_page_shows_isolation_live_processes_hostname_and_addresses(
    admin_client: Any, make_container: Any
) -> None:
    container = make_container(hostname="inside-box")
    pid = init_pid(container)
    ip = docker_inspect(container.id)["NetworkSettings"]["IPAddress"]
    page = admin_client.get(f"/containers/{container.id}/internals/").content.decode()
    assert "inside-box" in page
    assert ip and f"<code>{ip}</code>" in page
    # PID 1 inside is `pid` on the host.
    assert re.search(rf"<strong>1</strong></td><td class=\"r\">{pid}</td>", page)


def test_file_written_in_container_shows_as_added_and_deleted_image_file_as_deleted(
    admin_client: Any, make_container: Any
) -> None:
    container = make_container()
    docker_cli("exec", container.id, "sh", "-c", "echo hi > /added-by-test.txt && rm /bin/vi")
    page = admin_client.get(f"/containers/{container.id}/internals/").content.decode()
    assert '<tr data-kind="added"><td><span class="badge change-added">added</span></td>' in page
    assert re.search(r'data-kind="added">.*?<code>/added-by-test.txt</code>', page)
    assert re.search(r'data-kind="deleted">.*?<code>/bin/vi</code>', page)
    upper = docker_inspect(container.id)["GraphDriver"]["Data"]["UpperDir"]
    assert upper in page


def test_oci_spec_is_read_from_the_runtime_bundle(admin_client: Any, make_container: Any) -> None:
    container = make_container(mem_limit="64m")
    page = admin_client.get(f"/containers/{container.id}/internals/").content.decode()
    assert f"/moby/{container.id}/config.json" in page
    assert f"/docker/{container.id}" in page  # cgroupsPath with the cgroupfs driver
    assert "CAP_NET_BIND_SERVICE" in page
    assert "CAP_SYS_ADMIN" not in page.split('data-field="oci-json"')[0]


def test_student_architecture_page_hides_other_users_containers_and_engine_calls(
    client: Any, make_user: Any, make_container: Any
) -> None:
    theirs = make_container(labels={"dockdash.owner": "someone-else"})
    mine = make_container(labels={"dockdash.owner": "stud2"})
    client.force_login(make_user("stud2", "student"))
    page = client.get("/engine/architecture/").content.decode()
    assert f'data-container="{mine.id}"' in page
    assert theirs.id not in page
    assert "Shown to instructors and admins" in page
    assert "/v1." not in page  # no engine call paths
