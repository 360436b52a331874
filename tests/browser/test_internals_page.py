"""A person opens a container's "Under the hood" tab and the Architecture page in Chromium."""

from __future__ import annotations

import json
import os
import re
import subprocess
from typing import Any

import pytest

from tests import rig
from tests.conftest import field, screenshot
from tests.rig import docker_cli, docker_inspect

pytestmark = pytest.mark.browser


def test_under_the_hood_tab_renders_for_a_running_container(
    admin_page: Any, live_server_proc: rig.LiveServer, make_container: Any
) -> None:
    container = make_container()
    pid = docker_inspect(container.id)["State"]["Pid"]
    page = admin_page
    page.goto(f"{live_server_proc.url}/containers/{container.id}/internals/")
    assert page.locator("nav.tabs a.active").inner_text() == "Under the hood"
    assert page.locator('[data-field="not-running"]').count() == 0
    net_inode = re.fullmatch(r"net:\[(\d+)\]", os.readlink(f"/proc/{pid}/ns/net"))
    assert net_inode
    row = page.locator('tr[data-ns="net"]')
    assert row.locator('[data-field="inode"]').inner_text().strip() == net_inode.group(1)
    assert row.locator('[data-field="is-host"]').inner_text().strip() == "own"
    assert field(page, "ns.pid") == str(pid)
    assert "memory.limit_in_bytes" in page.locator("#cgroups").inner_text()
    screenshot(page, "internals-running", full_page=True)


def test_under_the_hood_tab_says_not_running_for_a_stopped_container(
    admin_page: Any, live_server_proc: rig.LiveServer, make_container: Any
) -> None:
    container = make_container(start=False)
    page = admin_page
    page.goto(f"{live_server_proc.url}/containers/{container.id}/internals/")
    assert "Not running." in field(page, "not-running")
    assert page.locator('tr[data-ns="pid"] [data-field="inode"]').inner_text().strip() == "—"
    assert "cannot be read" in field(page, "oci-problem")


def test_architecture_page_shows_the_real_versions_pids_and_lights_up_a_container(
    admin_page: Any, live_server_proc: rig.LiveServer, make_container: Any
) -> None:
    container = make_container()
    init_pid = docker_inspect(container.id)["State"]["Pid"]
    with open(f"/proc/{init_pid}/status") as status:
        shim_pid = int(re.search(r"^PPid:\s+(\d+)", status.read(), re.M).group(1))  # type: ignore[union-attr]
    version = json.loads(docker_cli("version", "--format", "{{json .}}"))
    server = version["Server"]
    components = {c["Name"]: c["Version"] for c in server["Components"]}
    dockerd = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True, check=True)
    page = admin_page
    page.goto(f"{live_server_proc.url}/engine/architecture/")
    assert page.locator("nav.mainnav a.active").inner_text() == "Engine"
    assert page.locator("nav.tabs a.active").inner_text() == "Architecture"
    assert field(page, "engine.version") == server["Version"]
    assert field(page, "engine.api_version") == server["ApiVersion"]
    assert field(page, "client.api_version") == version["Client"]["ApiVersion"]
    assert field(page, "components.containerd") == components["containerd"]
    assert field(page, "components.runc") == components["runc"]
    assert field(page, "dockerd.pid") == dockerd.stdout.strip()

    column = page.locator(f'.arch-col[data-container="{container.id}"]')
    assert "lit" not in (column.get_attribute("class") or "")
    page.click(f'[data-pick="{container.id}"]')
    assert "lit" in (column.get_attribute("class") or "")
    assert column.locator('[data-field="shim.pid"]').inner_text() == str(shim_pid)
    assert column.locator('[data-field="init.pid"]').inner_text() == str(init_pid)
    assert page.locator(".arch-col.lit").count() == 1
    # The page's own calls to the engine are listed.
    assert "/version" in field(page, "api-calls")
    screenshot(page, "architecture", full_page=True)
