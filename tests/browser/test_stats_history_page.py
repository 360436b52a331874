"""The Stats tab's stored ranges: 1 h / 24 h / 7 d draw what the server stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import rig
from tests.conftest import login
from tests.rig import RUN_ID, docker_cli, docker_run_labelled

pytestmark = [pytest.mark.engine, pytest.mark.browser]

PASSWORD = "history-page-pass-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rig.LiveServer]:
    workdir: Path = tmp_path_factory.mktemp("history-page")
    env = {
        "DOCKDASH_STATS_HISTORY": "1",
        "DOCKDASH_LOCK_DIR": str(workdir / "locks"),
        "DOCKDASH_HISTORY_FINE_STEP": "1",
        "DOCKDASH_HISTORY_COARSE_STEP": "2",
    }
    with rig.live_server_with_users(workdir, {"admin": "admin"}, PASSWORD, extra_env=env) as live:
        yield live


def test_stored_ranges_draw_the_stored_points(
    browser_page: Any, server: rig.LiveServer, test_image: str
) -> None:
    cid = docker_run_labelled(f"hist-page-{RUN_ID}", test_image, "sleep", "3600").strip()
    try:
        page = browser_page
        login(page, server.url, "admin", PASSWORD)
        page.goto(f"{server.url}/containers/{cid}/stats/")
        page.locator("[data-chart=cpu] canvas").wait_for()
        for span in ("1h", "24h", "7d"):
            page.click(f"[data-range='{span}']")
            assert page.locator(f"[data-range='{span}']").get_attribute("aria-pressed") == "true"
            page.wait_for_function(
                "([span]) => { const d = document.getElementById('container-stats').dataset;"
                " return d.storedRange === span && Number(d.stored) >= 2; }",
                arg=[span],
                timeout=20_000,
            )
        assert page.locator("[data-range-error]").is_hidden()
        assert page.locator(".chart canvas").count() == 5
    finally:
        docker_cli("rm", "-f", cid)
