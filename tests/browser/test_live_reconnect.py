"""Live pages say when the server is gone and carry on by themselves once it is back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import rig
from tests.conftest import ADMIN_PASSWORD, login
from tests.rig import RUN_ID, docker_cli

pytestmark = pytest.mark.browser

ADMIN = {"admin": ("admin", ADMIN_PASSWORD)}


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[rig.LiveServer]:
    """A dashboard of this test's own, so restarting it disturbs no other test."""
    server = rig.start_live_server(tmp_path / "restart", users=ADMIN)
    yield server
    server.stop()


def _state(page: Any, selector: str = "[data-status]") -> str:
    return str(page.locator(selector).first.get_attribute("data-state"))


def test_live_pages_show_reconnecting_and_resume_after_the_server_restarts(
    browser_page: Any,
    own_server: rig.LiveServer,
    make_container: Callable[..., Any],
    test_image: str,
) -> None:
    busy = make_container(["sh", "-c", "while :; do :; done"])
    page = browser_page
    login(page, own_server.url, "admin", ADMIN_PASSWORD)
    page.goto(own_server.url + "/live/")
    page.locator(f'tr[data-id="{busy.id}"]').wait_for()
    page.wait_for_function("() => document.querySelector('[data-status]').dataset.state === 'live'")
    events = page.context.new_page()
    events.goto(own_server.url + f"/containers/?q={RUN_ID}")
    events.wait_for_function("() => document.body.dataset.eventsLive === '1'")

    own_server.stop()
    page.wait_for_function("() => document.querySelector('[data-status]').dataset.state !== 'live'")
    rig.wait_for(
        lambda: "reconnecting" in page.locator("[data-status]").inner_text().lower(),
        timeout=10,
        what="the overview saying it reconnects",
    )
    events.wait_for_function("() => document.body.dataset.eventsLive === undefined")
    assert _state(events, ".live-status") in ("down", "connecting")

    own_server.serve()
    page.wait_for_function(
        "() => document.querySelector('[data-status]').dataset.state === 'live'", timeout=30_000
    )
    ticks = int(page.locator("#stats-overview").get_attribute("data-ticks"))
    page.wait_for_function(
        f"() => Number(document.getElementById('stats-overview').dataset.ticks) > {ticks}"
    )
    events.wait_for_function("() => document.body.dataset.eventsLive === '1'", timeout=30_000)
    name = f"dd-after-restart-{RUN_ID}"
    docker_cli("create", "--name", name, "--label", f"dockdash.test={RUN_ID}", test_image)
    try:
        events.locator(f'tr[data-name="{name}"]').wait_for(timeout=5000)
    finally:
        docker_cli("rm", "-f", name)


def test_live_page_says_the_engine_is_unreachable_and_carries_on_once_it_answers(
    browser_page: Any, tmp_path: Path, tmp_socket_dir: Path, make_container: Callable[..., Any]
) -> None:
    busy = make_container(["sh", "-c", "while :; do :; done"])
    engine = rig.SocketProxy(tmp_socket_dir / "docker.sock")
    engine.start()
    server = rig.start_live_server(tmp_path / "enginedown", docker_host=engine.url, users=ADMIN)
    try:
        page = browser_page
        login(page, server.url, "admin", ADMIN_PASSWORD)
        page.goto(server.url + "/live/")
        page.locator(f'tr[data-id="{busy.id}"]').wait_for()
        banner = page.locator("[data-engine-down]")
        assert banner.is_hidden()

        engine.stop()
        banner.wait_for(state="visible", timeout=15_000)
        assert "unreachable" in banner.inner_text()
        assert page.locator('[data-host="count"]').inner_text() == "–"
        assert page.locator("[data-empty]").is_hidden()  # never "no running container"

        engine.start()
        banner.wait_for(state="hidden", timeout=15_000)
        page.wait_for_function(
            "() => document.getElementById('stats-overview').dataset.engine === 'up'"
        )
        assert int(page.locator('[data-host="count"]').inner_text()) >= 1

        engine.stop()
        page.goto(server.url + "/live/")  # opened while it is down: the unreachable page
        assert "The Docker engine is unreachable" in page.locator("#engine-down").inner_text()
    finally:
        server.stop()
        engine.stop()
