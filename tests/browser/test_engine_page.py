"""A person logs in with Chromium and reads the engine page; the engine goes away and back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import rig
from tests.conftest import ADMIN_PASSWORD, field, login, screenshot
from tests.rig import docker_cli

pytestmark = pytest.mark.browser


def test_login_then_engine_page_shows_the_cli_values(
    browser_page: Any, live_server_proc: rig.LiveServer, docker_client: Any
) -> None:
    page = browser_page
    page.goto(live_server_proc.url + "/")
    assert "/login/" in page.url
    page.fill("#id_username", "admin")
    page.fill("#id_password", "wrong-password")
    page.click("button[type=submit]")
    assert "do not match" in page.locator(".alert.error").inner_text()
    login(page, live_server_proc.url, "admin", ADMIN_PASSWORD)
    info = json.loads(docker_cli("info", "--format", "{{json .}}"))
    version = json.loads(docker_cli("version", "--format", "{{json .Server}}"))
    assert page.locator("h1").first.inner_text().startswith("Docker Engine")
    assert field(page, "engine.version") == version["Version"]
    assert field(page, "engine.api_version") == version["ApiVersion"]
    assert field(page, "os.kernel") == info["KernelVersion"]
    assert field(page, "cgroup_driver") == info["CgroupDriver"]
    assert field(page, "cgroup_version") == info["CgroupVersion"]
    assert field(page, "storage_driver") == info["Driver"]
    assert field(page, "cpus") == str(info["NCPU"])
    assert page.locator("nav.mainnav a.active").inner_text() == "Engine"
    screenshot(page, "engine-page", full_page=True)


def test_engine_down_banner_then_page_recovers_by_itself(
    browser_page: Any, tmp_socket_dir: Path, tmp_path: Path, docker_client: Any
) -> None:
    link = tmp_socket_dir / "docker.sock"
    server = rig.start_live_server(
        tmp_path / "live",
        docker_host=f"unix://{link}",
        users={"admin": ("admin", ADMIN_PASSWORD)},
    )
    try:
        page = browser_page
        page.goto(server.url + "/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", ADMIN_PASSWORD)
        page.click("button[type=submit]")
        banner = page.locator("#engine-down")
        banner.wait_for()
        assert f"unix://{link}" in banner.inner_text()
        assert "the socket does not exist" in banner.inner_text()
        link.symlink_to("/var/run/docker.sock")
        page.locator('[data-field="engine.version"]').wait_for(timeout=10_000)
        assert field(page, "engine.version") == docker_client.version()["Version"]
    finally:
        server.stop()
