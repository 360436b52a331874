"""Stored stats history, through a real daphne server: written while nobody watches,
still answered after the server restarts (SIGTERM ends it at once while a viewer watches)
and after the container is removed (the CLI says it is gone), pruned past retention, 404
for a student who may not see it.

Steps and retentions are tiny (1 s fine points, 2 s coarse ones kept 4 s) so that the
whole module runs in seconds.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import connect

from tests import rig
from tests.integration.live_helpers import login_cookie
from tests.rig import RUN_ID, docker_cli, docker_run_labelled, wait_for

pytestmark = [pytest.mark.engine]

PASSWORD = "history-pass-1"
OWNER, OTHER = f"hist{RUN_ID}", f"histother{RUN_ID}"
COARSE_RETENTION = 4
PRUNE_INTERVAL = 1


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rig.LiveServer]:
    workdir = tmp_path_factory.mktemp("history")
    env = {
        "DOCKDASH_STATS_HISTORY": "1",
        "DOCKDASH_LOCK_DIR": str(workdir / "locks"),  # its own history lock
        "DOCKDASH_HISTORY_FINE_STEP": "1",
        "DOCKDASH_HISTORY_COARSE_STEP": "2",
        "DOCKDASH_HISTORY_COARSE_RETENTION": str(COARSE_RETENTION),
        "DOCKDASH_HISTORY_PRUNE_INTERVAL": str(PRUNE_INTERVAL),
    }
    users = {"admin": "admin", OWNER: "student", OTHER: "student"}
    with rig.live_server_with_users(workdir, users, PASSWORD, extra_env=env) as live:
        yield live


@pytest.fixture(scope="module")
def cookies(server: rig.LiveServer) -> dict[str, str]:
    return {name: login_cookie(server.url, name, PASSWORD) for name in ("admin", OWNER, OTHER)}


def get(server: rig.LiveServer, cookie: str, path: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(server.url + path, headers={"Cookie": cookie})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def points(server: rig.LiveServer, cookie: str, ref: str, span: str) -> dict[str, list[float]]:
    status, body = get(server, cookie, f"/api/v1/containers/{ref}/stats/?range={span}")
    assert status == 200, body
    return dict(zip(body["fields"], body["points"], strict=True))


def test_history_survives_a_restart_and_outlives_its_container(
    server: rig.LiveServer, cookies: dict[str, str], test_image: str
) -> None:
    name = f"hist-box-{RUN_ID}"
    cid = docker_run_labelled(name, test_image, "sleep", "3600", owner=OWNER).strip()
    try:
        # Nobody watches it: the writer samples on its own, once a fine step.
        before = wait_for(
            lambda: (p := points(server, cookies[OWNER], cid, "1h")) and len(p["t"]) >= 3 and p,
            timeout=20,
            what="three stored points",
        )
        assert sorted(before["t"]) == before["t"]
        assert min(before["mem_usage"]) > 0 and min(before["mem_limit"]) > 0
        assert all(abs(t - time.time()) < 60 for t in before["t"]), before["t"]
        assert min(before["pids"]) >= 1
        # One a step (a loaded machine may miss one now and then).
        assert (before["t"][-1] - before["t"][0]) / (len(before["t"]) - 1) <= 2

        # While a viewer keeps the sampler ticking, SIGTERM still ends the server at once
        # (its history writer flushes and goes; nothing waits for the stopped loop).
        viewer = server.url.replace("http://", "ws://") + f"/ws/containers/{cid}/stats/"
        owner = {"Cookie": cookies[OWNER]}
        with connect(viewer, additional_headers=owner, origin=server.url) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "history"
            assert json.loads(ws.recv(timeout=10))["type"] == "sample"
            assert server.terminate(within=5), "still running 5 s after SIGTERM"
        server.serve()
        after = points(server, cookies[OWNER], cid, "1h")
        assert set(before["t"]) <= set(after["t"]), (before["t"], after["t"])
        # The other student may not see it (404, as for a container that does not exist).
        status, body = get(server, cookies[OTHER], f"/api/v1/containers/{cid}/stats/?range=1h")
        assert status == 404, body
    finally:
        docker_cli("rm", "-f", cid)
    assert cid not in docker_cli("ps", "-aq", "--no-trunc")

    # Removed: its history stays, for its owner and admins, by id, short id or name.
    for ref in (cid, cid[:12], name):
        kept = points(server, cookies[OWNER], ref, "1h")
        assert set(before["t"]) <= set(kept["t"]), ref
    assert points(server, cookies["admin"], name, "24h")["t"]
    status, body = get(server, cookies[OTHER], f"/api/v1/containers/{cid}/stats/?range=1h")
    assert status == 404, body
    assert "No such container" in body["error"]


def test_coarse_points_are_pruned_past_their_retention(
    server: rig.LiveServer, cookies: dict[str, str], test_image: str
) -> None:
    name = f"hist-prune-{RUN_ID}"
    cid = docker_run_labelled(name, test_image, "sleep", "3600").strip()
    try:
        # Coarse (2 s) points older than COARSE_RETENTION go; fine points stay meanwhile.
        started = time.time()
        wait_for(
            lambda: points(server, cookies["admin"], cid, "1h")["t"][0] < time.time() - 8,
            timeout=30,
            what="fine points older than 8 s",
        )
        coarse = points(server, cookies["admin"], cid, "7d")["t"]
        assert coarse, "no coarse points"
        # Kept: COARSE_RETENTION, plus a prune interval, plus a step not yet closed.
        assert coarse[0] >= time.time() - COARSE_RETENTION - PRUNE_INTERVAL - 2 - 1, (
            coarse,
            started,
        )
        assert all(b - a == 2 for a, b in itertools.pairwise(coarse)), coarse
    finally:
        docker_cli("rm", "-f", cid)


def test_a_range_it_does_not_keep_is_a_clear_400(
    server: rig.LiveServer, cookies: dict[str, str], test_image: str
) -> None:
    name = f"hist-range-{RUN_ID}"
    cid = docker_run_labelled(name, test_image, "sleep", "3600").strip()
    try:
        status, body = get(server, cookies["admin"], f"/api/v1/containers/{cid}/stats/?range=2h")
        assert status == 400
        assert body == {"error": "range must be one of 1h, 24h, 7d, not '2h'", "field": "range"}
        status, body = get(
            server, cookies["admin"], "/api/v1/containers/no-such-box/stats/?range=1h"
        )
        assert status == 404, body
    finally:
        docker_cli("rm", "-f", cid)
