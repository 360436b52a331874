"""The container list of a live server shows a crash-looping container's restart count and
last exit; while a live page follows the events, renders inspect it once per restart, not
once per render. Judged by the Docker CLI and by the requests the server sends the engine
(a proxy of the engine socket notes them)."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests import rig
from tests.integration.live_helpers import login_cookie
from tests.integration.registry_helpers import engine_requests
from tests.rig import docker_inspect, wait_for

pytestmark = pytest.mark.engine

PASSWORD = "restarts-pass-1"
RENDERS = 8
STATUS = re.compile(r'<span class="muted">(Restarting[^<]*)</span></td>')


def _status(server: rig.LiveServer, cookie: str, name: str) -> str:
    request = urllib.request.Request(
        f"{server.url}/containers/?q={name}&partial=rows", headers={"Cookie": cookie}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback
        found = STATUS.search(answer.read().decode())
    return found.group(1) if found else ""


def _renders_in_one_restart(
    server: rig.LiveServer, cookie: str, looping: Any, proxy: Any, at_least: int
) -> tuple[int, list[str], int]:
    """RENDERS renders of the list while the container stays in one restart (its count the
    same before and after): (that count, what each render showed, inspects of it sent)."""
    inspect = re.compile(rf"/containers/{looping.id}/json")

    def one_restart() -> tuple[int, list[str], int] | None:
        before = docker_inspect(looping.id)
        if before["State"]["Status"] != "restarting" or before["RestartCount"] < at_least:
            return None
        start = len(proxy.paths)
        shown = [_status(server, cookie, looping.name) for _ in range(RENDERS)]
        sent = len([p for p in proxy.paths[start:] if inspect.search(p)])
        after = docker_inspect(looping.id)
        if (
            after["State"]["Status"] != "restarting"
            or after["RestartCount"] != before["RestartCount"]
        ):
            return None  # it ran meanwhile: try again in its next restart
        return before["RestartCount"], shown, sent

    found: tuple[int, list[str], int] = wait_for(
        one_restart, timeout=90, interval=0.1, what=f"{RENDERS} renders in one restart"
    )
    return found


def test_a_live_list_inspects_a_crash_looping_container_once_per_restart(
    tmp_path: Path, make_container: Callable[..., Any]
) -> None:
    looping = make_container(["sh", "-c", "exit 3"], restart_policy={"Name": "always"})
    with (
        engine_requests() as proxy,
        rig.live_server_with_users(
            tmp_path, {"admin": "admin"}, PASSWORD, docker_host=proxy.url
        ) as server,
    ):
        cookie = login_cookie(server.url, "admin", PASSWORD)
        # Nobody follows the events: each render asks the engine.
        count, shown, sent = _renders_in_one_restart(server, cookie, looping, proxy, 4)
        assert shown == [f"Restarting · {count} restarts, last exit 3"] * RENDERS
        assert sent == RENDERS

        events = server.url.replace("http://", "ws://") + "/ws/events/"
        with connect(events, additional_headers={"Cookie": cookie}, origin=server.url) as ws:
            wait_for(lambda: "/events" in " ".join(proxy.paths), what="the events stream")
            # A live page is open: one inspect for the restart, however many renders.
            count, shown, sent = _renders_in_one_restart(server, cookie, looping, proxy, 4)
            assert shown == [f"Restarting · {count} restarts, last exit 3"] * RENDERS
            assert sent <= 1
            # The next restart is told by the events: the count moves on with it.
            later, shown, sent = _renders_in_one_restart(server, cookie, looping, proxy, count + 1)
            assert shown == [f"Restarting · {later} restarts, last exit 3"] * RENDERS
            assert sent <= 1
            ws.close()
