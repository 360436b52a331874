"""A stats agent per node, three web processes: with REDIS_URL, `manage.py agent` samples each
engine's cgroups and the daphne processes only fan its frames out. Real daphne processes, a
real redis-server, a second real engine (tests/extra_engines.py), real containers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests import rig
from tests.extra_engines import Node, extra_engine, require_extra_engines
from tests.integration.live_helpers import login_cookie
from tests.rig import RUN_ID

pytestmark = [pytest.mark.engine, pytest.mark.timeout(240)]

PASSWORD = "agent-pass-1"
TOKEN = "agent-metrics-token"
PROCESSES = 3
ADD_SECOND = (
    "from containers_app.models import Engine; "
    "Engine.objects.create(name='second', endpoint='{url}', agent=True)"
)


@pytest.fixture
def node() -> Iterator[Node]:
    require_extra_engines()
    with extra_engine("ag") as made:
        yield made


@pytest.fixture
def agents(
    redis_url: str, node: Node, tmp_path: Path
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """One agent per engine: the first one's on the host's socket; the second's as in a
    container of a Swarm global service, in a PID namespace of its own (its /proc shows its
    own processes only) with the host's /proc mounted elsewhere (DOCKDASH_PROC)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE=rig.LIVE_SETTINGS,
        SECRET_KEY="agent-test-" + RUN_ID,
        REDIS_URL=redis_url,
        DOCKDASH_STATS_INTERVAL="0.5",
        PYTHONUNBUFFERED="1",
    )
    host_proc = tmp_path / "host-proc"
    host_proc.mkdir()
    subprocess.run(["mount", "--bind", "/proc", str(host_proc)], check=True)
    contained = ["unshare", "--fork", "--pid", "--mount-proc"]
    ways = {
        "local": ([], [], {}),
        "second": (contained, ["--docker-host", node.url], {"DOCKDASH_PROC": str(host_proc)}),
    }
    started = {}
    try:
        for name, (wrapper, extra, own_env) in ways.items():
            log = open(tmp_path / f"agent-{name}.log", "wb")  # noqa: SIM115 - the process's
            started[name] = subprocess.Popen(
                [*wrapper, sys.executable, "manage.py", "agent", "--engine", name, *extra],
                env={**env, **own_env},
                cwd=rig.ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        yield started
    finally:
        for process in started.values():
            _stop(process)
        for name, process in started.items():
            try:  # a clean stop on SIGTERM, also as the first process of its PID namespace
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                pytest.fail(f"the agent of {name} did not stop on SIGTERM")
        subprocess.run(["umount", str(host_proc)], check=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the agent, as `docker stop` sends it: to the first process of its PID
    namespace when it runs under `unshare` (which does not pass signals on)."""
    if process.poll() is not None:  # the test stopped it
        return
    pid = process.pid
    if Path(f"/proc/{pid}/comm").read_text().strip() == "unshare":
        pid = int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])
    os.kill(pid, signal.SIGTERM)


@pytest.fixture
def web(redis_url: str, node: Node, tmp_path: Path) -> Iterator[list[rig.LiveServer]]:
    """Three daphne processes on one database and one Redis, both engines' agents named."""
    env = {
        "REDIS_URL": redis_url,
        "DOCKDASH_STATS_AGENT": "1",
        "DOCKDASH_STATS_INTERVAL": "0.5",
        "DOCKDASH_METRICS_TOKEN": TOKEN,
    }
    first = rig.start_live_server(
        tmp_path / "live",
        extra_env=env,
        users={"admin": ("admin", PASSWORD)},
        commands=[["shell", "-c", ADD_SECOND.format(url=node.url)]],
    )
    servers = [first]
    try:
        for number in range(1, PROCESSES):
            more = rig.LiveServer(
                url=f"http://127.0.0.1:{rig.free_port()}",
                workdir=first.workdir,
                env=first.env,
                log_path=tmp_path / f"daphne-{number}.log",
            )
            more.serve()
            servers.append(more)
        yield servers
    finally:
        for server in servers:
            server.stop()


def _page(server: rig.LiveServer, path: str, cookie: str = "", **headers: str) -> str:
    request = urllib.request.Request(server.url + path, headers={"Cookie": cookie, **headers})
    with urllib.request.urlopen(request, timeout=15) as answer:  # noqa: S310 - loopback
        return str(answer.read().decode())


def _metric(server: rig.LiveServer, name: str) -> float:
    for line in _page(server, "/metrics", Authorization=f"Bearer {TOKEN}").splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in the metrics of {server.url}")


async def _frames(server: rig.LiveServer, cookie: str, engine: str, want: str) -> list[float]:
    """The times of the frames a viewer of `engine` on `server` gets for 3 s, once one of
    them shows container `want`."""
    url = server.url.replace("http://", "ws://") + f"/ws/stats/?engine={engine}"
    async with websockets.connect(
        url, additional_headers={"Cookie": cookie}, origin=server.url
    ) as ws:
        deadline = time.monotonic() + 30
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
            if frame.get("type") == "stats" and want in {c["name"] for c in frame["containers"]}:
                break
            assert time.monotonic() < deadline, (engine, want, server.url, frame)
        seen, until = [frame["t"]], time.monotonic() + 3
        while time.monotonic() < until:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
            if frame.get("type") == "stats":
                # Read from its cgroup files (another test's container that was going away
                # when it was listed may be read through the API: not this one).
                assert [c["source"] for c in frame["containers"] if c["name"] == want] == ["cgroup"]
                seen.append(frame["t"])
        return seen


def _sweeps(redis_url: str, engines: list[str]) -> tuple[float, dict[str, int]]:
    """Now, and how many sweeps each engine's agent has made (its last published frame)."""
    import redis

    kept = redis.Redis.from_url(redis_url)
    found = {e: json.loads(kept.get(f"dockdash:stats:agent:{e}") or "{}") for e in engines}
    return time.monotonic(), {e: message.get("sweeps", 0) for e, message in found.items()}


async def test_one_agent_per_node_feeds_viewers_on_every_process_and_no_process_sweeps(
    agents: dict[str, Any],
    web: list[rig.LiveServer],
    node: Node,
    make_container: Callable[..., Any],
    redis_url: str,
) -> None:
    here = make_container().name
    there = f"dd-agent-{RUN_ID}"
    await asyncio.to_thread(
        node.cli, "run", "-d", "--name", there, "busybox:latest", "sleep", "300"
    )
    cookies = [await asyncio.to_thread(login_cookie, s.url, "admin", PASSWORD) for s in web]
    started, before = await asyncio.to_thread(_sweeps, redis_url, list(agents))
    views = [
        _frames(server, cookie, engine, want)
        for server, cookie in zip(web, cookies, strict=True)
        for engine, want in (("local", here), ("second", there))
    ]
    seen = await asyncio.gather(*views)
    ended, after = await asyncio.to_thread(_sweeps, redis_url, list(agents))
    # Every viewer of one engine, on whichever process, got the same frames: one sweep each.
    for engine, frames in (("local", seen[0::2]), ("second", seen[1::2])):
        common = set.intersection(*(set(f) for f in frames))
        assert len(common) >= 4, (engine, frames)
    for server in web:
        assert await asyncio.to_thread(_metric, server, "dockdash_sampler_relayed") == 1
        assert await asyncio.to_thread(_metric, server, "dockdash_sampler_sweeps_total") == 0
    # Each agent sweeps once a tick (0.5 s here), however many processes and viewers.
    ticks = (ended - started) / 0.5
    for engine in agents:
        assert ticks - 2 <= after[engine] - before[engine] <= ticks + 2, (ticks, before, after)

    # The architecture page of any process lists the agents' engine calls too.
    for server, cookie in zip(web, cookies, strict=True):
        page = await asyncio.to_thread(_page, server, "/engine/architecture/?engine=second", cookie)
        assert '<td class="small nowrap">agent ' in page  # its pid is its namespace's
        assert "/containers/json" in page
    page = await asyncio.to_thread(_page, web[0], "/engine/architecture/?engine=local", cookie)
    assert f"agent {agents['local'].pid}<" in page
    assert page.count('nowrap">agent ') == page.count(f"agent {agents['local'].pid}<")

    # The first engine's agent stops: its viewers are told, and what to run.
    agents["local"].terminate()
    await asyncio.to_thread(agents["local"].wait, 10)
    url = web[0].url.replace("http://", "ws://") + "/ws/stats/?engine=local"
    headers = {"Cookie": cookies[0]}
    async with websockets.connect(url, additional_headers=headers, origin=web[0].url) as ws:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
            if frame.get("type") == "stats" and frame["engine_error"]:
                break
    assert "manage.py agent --engine local" in frame["engine_error"]
    assert frame["containers"] == []
    assert agents["second"].poll() is None
