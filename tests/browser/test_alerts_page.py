"""The alerts a person sees without reloading, in Chromium: a CPU burner's alert appears in
the bell, on its container's page and in its class's grid while the pages are open."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests import rig
from tests.conftest import login
from tests.rig import LABELS, RUN_ID, docker_cli

pytestmark = [pytest.mark.engine, pytest.mark.browser]

PASSWORD = "alerts-page-pass-1"
SLUG, TEACHER, S1 = f"alp{RUN_ID}", f"alpt{RUN_ID}", f"alps{RUN_ID}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rig.LiveServer]:
    workdir = tmp_path_factory.mktemp("alerts-page")
    env = {
        "DOCKDASH_ALERTS": "1",
        "DOCKDASH_LOCK_DIR": str(workdir / "locks"),  # its own alert lock
        "DOCKDASH_ALERT_CPU_SECONDS": "3",
    }
    with rig.live_server_with_users(workdir, {}, PASSWORD, extra_env=env) as live:
        live.make_class(SLUG, TEACHER, PASSWORD, students=[S1])
        yield live


def run(name: str, owner: str, *args: str) -> str:
    labels = [f"--label={k}={v}" for k, v in LABELS.items()]
    labels += [f"--label=dockdash.owner={owner}", f"--label=dockdash.class={SLUG}"]
    return docker_cli("run", "-d", "--name", name, *labels, *args).strip()


def test_the_bell_the_container_page_and_the_grid_show_an_alert_live(
    server: rig.LiveServer, browser_page: Any, test_image: str
) -> None:
    page = browser_page
    page.set_viewport_size({"width": 1024, "height": 768})
    login(page, server.url, TEACHER, PASSWORD)
    name = f"al-live-{RUN_ID}"
    container = run(name, S1, "--cpus", "0.1", "--stop-signal", "KILL", test_image, "sleep", "600")
    try:
        page.goto(f"{server.url}/containers/{name}/")
        bell = page.locator("[data-alert-bell]")
        page.wait_for_selector("[data-alert-bell][data-live='1']")
        before = int(page.locator("[data-alert-count]").text_content() or 0)
        assert page.locator(".container-alerts").count() == 0
        # Its burner starts now, with the page open: no reload from here on.
        docker_cli("exec", "-d", container, "sh", "-c", "while :; do :; done")
        alert = page.locator(".container-alerts [data-kind='cpu_pinned']")
        alert.wait_for(timeout=20_000)
        assert "CPU pinned at its limit" in alert.text_content()
        page.wait_for_function(
            f"Number(document.querySelector('[data-alert-count]').textContent) > {before}"
        )
        assert "firing" in (bell.get_attribute("title") or "")
        page.goto(f"{server.url}/classes/{SLUG}/grid/")
        badge = page.locator(f"[data-student='{S1}'] [data-alert='cpu_pinned']")
        badge.first.wait_for(timeout=10_000)
    finally:
        docker_cli("rm", "-f", name)
