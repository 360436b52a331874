"""A person runs, watches, stops and removes containers in Chromium; the CLI is the judge."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from tests import rig
from tests.conftest import screenshot
from tests.rig import (
    LABELS,
    RUN_ID,
    docker_cli,
    docker_inspect,
    docker_run_labelled,
    free_port,
    wait_for,
)

pytestmark = pytest.mark.browser


def test_run_form_creates_a_container_then_stop_and_remove_it(
    admin_page: Any, live_server_proc: rig.LiveServer, docker_client: Any, test_image: str
) -> None:
    page = admin_page
    volume = f"dd-bvol-{RUN_ID}"
    docker_client.volumes.create(volume, labels=LABELS)
    name, port = f"dd-browser-{RUN_ID}", free_port()
    page.goto(live_server_proc.url + "/containers/")
    page.click("text=Run a container")
    page.fill("#id_image", test_image)
    page.fill("#id_name", name)
    # A shell as PID 1 that ends on SIGTERM, so `docker stop` does not wait its 10 s.
    page.fill("#id_command", "sh -c 'trap \"exit 0\" TERM; httpd -f -p 80 & wait'")
    page.fill("#id_ports", f"{port}:80/tcp")
    page.fill("#id_env", "GREETING=hello")
    page.fill("#id_volumes", f"{volume}:/data")
    page.fill("#id_memory", "48x")
    error = page.locator('[data-error-for="memory"]')
    wait_for(lambda: "is not a size" in error.inner_text(), what="live memory error")
    page.fill("#id_memory", "48m")
    page.fill("#id_labels", "\n".join(f"{k}={v}" for k, v in LABELS.items()))
    shown = page.locator("#docker-run-command")
    wait_for(lambda: "--memory 48m" in shown.inner_text(), what="docker run preview")
    command = shown.inner_text().strip()
    assert command.startswith(f"docker run -d --name {name} -e GREETING=hello -p {port}:80/tcp")
    assert error.inner_text() == ""
    screenshot(page, "container-create", full_page=True)
    page.click("button:has-text('Create')")
    page.wait_for_url(lambda url: "/containers/" in url and "/create/" not in url)
    assert page.locator('[data-field="container.state"]').inner_text() == "running"
    got = docker_inspect(name)
    assert got["HostConfig"]["Memory"] == 48 * 1024 * 1024
    assert got["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": str(port)}]}
    assert got["HostConfig"]["Binds"] == [f"{volume}:/data"]
    assert "GREETING=hello" in got["Config"]["Env"]
    # The command the page showed makes the same container when pasted into a terminal.
    cli_name = f"{name}-cli"
    cli_port = free_port()
    pasted = command.replace(f"--name {name}", f"--name {cli_name}").replace(
        f"-p {port}:80", f"-p {cli_port}:80"
    )
    docker_cli(*shlex.split(pasted)[1:])
    theirs = docker_inspect(cli_name)
    for key in ("Memory", "NanoCpus", "PidsLimit", "Binds", "RestartPolicy", "AutoRemove"):
        assert got["HostConfig"][key] == theirs["HostConfig"][key], key
    assert got["Config"]["Labels"] == theirs["Config"]["Labels"]
    screenshot(page, "container-detail", full_page=True)
    page.click("button[data-action=stop]")
    wait_for(
        lambda: page.locator('[data-field="container.state"]').inner_text() == "exited",
        what="exited",
    )
    assert docker_inspect(name)["State"]["Status"] == "exited"
    assert f"docker stop {name}" in page.locator(".messages").inner_text()
    page.click("summary:has-text('Remove')")
    page.click(f"button:has-text('Remove {name} permanently')")
    page.wait_for_url(live_server_proc.url + "/containers/")
    assert f"Removed {name}" in page.locator(".messages").inner_text()
    assert docker_cli("ps", "-aq", "--filter", f"name=^{name}$") == ""


def test_container_started_from_the_cli_appears_without_a_reload(
    admin_page: Any, live_server_proc: rig.LiveServer, test_image: str
) -> None:
    page = admin_page
    name = f"dd-live-{RUN_ID}"
    page.goto(live_server_proc.url + f"/containers/?q={RUN_ID}")
    page.wait_for_function("() => document.body.dataset.eventsLive === '1'")
    page.evaluate("window.__noReload = true")
    row = page.locator(f'tr[data-name="{name}"]')
    assert row.count() == 0
    docker_run_labelled(name, test_image, "sleep", "600")
    row.wait_for(timeout=3000)
    wait_for(lambda: row.locator(".badge").inner_text() == "running", timeout=3, what="running")
    docker_cli("kill", name)
    wait_for(lambda: row.locator(".badge").inner_text() == "exited", timeout=3, what="exited badge")
    docker_cli("rm", name)
    row.wait_for(state="detached", timeout=3000)
    assert page.evaluate("window.__noReload") is True


def test_detail_page_follows_the_cli_and_says_when_the_container_is_gone(
    admin_page: Any, live_server_proc: rig.LiveServer, make_container: Any
) -> None:
    page = admin_page
    c = make_container(stop_signal="SIGKILL")
    page.goto(live_server_proc.url + f"/containers/{c.id}/")
    page.wait_for_function("() => document.body.dataset.eventsLive === '1'")
    header = page.locator('[data-field="container.state"]')
    assert header.inner_text() == "running"
    docker_cli("pause", c.id)
    wait_for(lambda: header.inner_text() == "paused", timeout=3, what="paused in the header")
    assert page.locator("button[data-action=unpause]").is_visible()
    docker_cli("rm", "-f", c.id)
    page.locator(".alert.gone").wait_for(timeout=3000)
    # A click on what is left of the stale page lands on the list with the reason.
    page.click("button:has-text('Rename')")
    page.wait_for_url(live_server_proc.url + "/containers/")
    assert "No such container" in page.locator(".messages").inner_text()
