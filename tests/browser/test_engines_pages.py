"""An admin adds a second engine in Chromium and works on both, in two tabs of one session:
each tab stays on the engine its page was drawn for, whatever the other one chose since."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests import rig
from tests.conftest import ADMIN_PASSWORD, login, screenshot
from tests.extra_engines import Node, extra_engine, require_extra_engines
from tests.rig import RUN_ID

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
ONLY_THERE = f"dd-there-{RUN_ID}"


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    require_extra_engines()
    with extra_engine("eb") as made:
        made.cli("run", "-d", "--name", ONLY_THERE, "busybox:latest", "sleep", "3600")
        yield made


@pytest.fixture(scope="module")
def server(node: Node) -> Iterator[rig.LiveServer]:
    """A dashboard of its own: the engines it knows are its database's, not the shared one's."""
    with tempfile.TemporaryDirectory(prefix="dd-engines") as work:
        users = {"admin": "admin"}
        with rig.live_server_with_users(Path(work), users, ADMIN_PASSWORD) as made:
            yield made


def test_two_tabs_of_one_session_each_stay_on_their_engine(
    chromium: Any, server: rig.LiveServer, node: Node, make_container: Any
) -> None:
    here = make_container()  # running on the first engine only
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(15_000)
    try:
        first = context.new_page()
        login(first, server.url, "admin", ADMIN_PASSWORD)
        first.goto(server.url + "/engine/all/")
        assert first.locator("select[name=engine]").count() == 0  # one engine: no switcher
        first.fill("input[name=name]", "lab2")
        first.fill("input[name=endpoint]", node.url)
        first.click("form[data-engine-add] button[type=submit]")
        assert "Added engine lab2" in first.locator(".messages").inner_text()
        assert first.locator('tr[data-engine="lab2"] .badge.ok').inner_text() == "up"

        first.goto(server.url + "/containers/")
        assert ONLY_THERE not in first.locator("main").inner_text()
        second = context.new_page()
        second.goto(server.url + "/containers/")
        with second.expect_navigation():
            second.select_option("select[name=engine]", "lab2")
        assert "engine=lab2" in second.url
        assert ONLY_THERE in second.locator("main").inner_text()
        screenshot(second, "engines-second-tab", full_page=True)

        # The first tab's links and live view stay on its engine.
        first.click("nav.mainnav >> text=Live")
        expect(first.locator("main")).to_contain_text(here.name, timeout=15_000)
        assert "engine=local" in first.url
        assert first.locator("select[name=engine]").input_value() == "local"
        first.wait_for_timeout(2500)  # a few frames of the live view
        assert ONLY_THERE not in first.locator("main").inner_text()
        second.click("nav.mainnav >> text=Live")
        expect(second.locator("main")).to_contain_text(ONLY_THERE, timeout=15_000)
        assert here.name not in second.locator("main").inner_text()
        second.set_viewport_size({"width": 1024, "height": 768})
        screenshot(second, "engines-live-projector", full_page=True)
    finally:
        context.close()
