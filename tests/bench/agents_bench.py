"""Several web processes and a stats agent per node: P daphne processes (DOCKDASH_BENCH_PROCESSES,
3) on one database and one Redis, two engines (this host's and an extra one in its own
network namespace, tests/extra_engines.py) with N idle running containers each
(DOCKDASH_BENCH_NODE_CONTAINERS, 400), `manage.py agent` for each engine, and M paced viewers
of the overview (/ws/stats/?compact=1, "ack" after each frame) on each process
(DOCKDASH_BENCH_CLIENTS, 100), half of them on each engine, for T seconds.

Figures: frames per viewer per second, the age of a sample when it reaches a viewer (from
the agent's sweep, through Redis and a web process, to the viewer), the CPU of each web
process, of each agent and of redis-server, and sweeps per tick of each engine (the
agents' count; every web process's own stays 0).

Targets: 1 frame a second to every viewer, p95 age <= 250 ms, each web process <= 50 % of a
core, one sweep per node per tick.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker.types import IPAMConfig, IPAMPool

from tests import rig
from tests.bench.conftest import (
    BENCH_PASSWORD,
    IdlePool,
    Viewing,
    bench_count,
    frame_ages,
    login_cookie,
    percentile,
    ws_url,
)
from tests.bench.fanout_bench import _cpu_seconds
from tests.extra_engines import Node, extra_engine, require_extra_engines
from tests.integration.conftest import redis_url  # noqa: F401 - the fixture
from tests.rig import LABELS, RUN_ID

TOKEN = "bench-metrics-token"
IDLE_SUBNET = "198.18.160.0/22"  # of the benchmark range, apart from the extra engines' own
ADD_SECOND = (
    "from containers_app.models import Engine; "
    "Engine.objects.create(name='second', endpoint='{url}', agent=True)"
)


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    require_extra_engines()
    with extra_engine("bn") as made:
        yield made


def _agents(redis: str, node: Node, logs: Path) -> dict[str, subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE=rig.LIVE_SETTINGS,
        SECRET_KEY="bench-" + RUN_ID,
        REDIS_URL=redis,
        PYTHONUNBUFFERED="1",
    )
    started = {}
    for name, extra in (("local", []), ("second", ["--docker-host", node.url])):
        log = open(logs / f"agent-{name}.log", "wb")  # noqa: SIM115 - the process's
        started[name] = subprocess.Popen(
            [sys.executable, "manage.py", "agent", "--engine", name, *extra],
            env=env,
            cwd=rig.ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return started


def _web(redis: str, node: Node, workdir: Path, count: int) -> list[rig.LiveServer]:
    env = {"REDIS_URL": redis, "DOCKDASH_STATS_AGENT": "1", "DOCKDASH_METRICS_TOKEN": TOKEN}
    first = rig.start_live_server(
        workdir,
        extra_env=env,
        users={"admin": ("admin", BENCH_PASSWORD)},
        commands=[["shell", "-c", ADD_SECOND.format(url=node.url)]],
    )
    servers = [first]
    for number in range(1, count):
        more = rig.LiveServer(
            url=f"http://127.0.0.1:{rig.free_port()}",
            workdir=first.workdir,
            env=first.env,
            log_path=workdir / f"daphne-{number}.log",
        )
        more.serve()
        servers.append(more)
    return servers


def _redis_pid(url: str) -> int:
    port = url.rsplit(":", 1)[1].split("/")[0]
    found = subprocess.run(
        ["pgrep", "-f", f"redis-server 127.0.0.1:{port}"], capture_output=True, text=True
    ).stdout.split()
    assert found, f"no redis-server on port {port}"
    return int(found[0])


def _sweeps(redis: str, engines: list[str]) -> dict[str, int]:
    import redis as redis_py

    kept = redis_py.Redis.from_url(redis)
    return {
        e: json.loads(kept.get(f"dockdash:stats:agent:{e}") or "{}").get("sweeps", 0)
        for e in engines
    }


def _metric(server: rig.LiveServer, name: str) -> float:
    import urllib.request

    request = urllib.request.Request(
        server.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback
        for line in answer.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(name)


async def _everyone(
    views: list[tuple[str, str, str]], clients: int, seconds: float
) -> list[Viewing]:
    return await asyncio.gather(
        *(
            frame_ages(url, cookie, origin, clients, seconds, ack=True)
            for url, cookie, origin in views
        )
    )


@pytest.mark.timeout(1800)
def test_agents_bench(
    node: Node,
    idle_pool: IdlePool,
    redis_url: str,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    per_node = bench_count("NODE_CONTAINERS", 400)
    clients = bench_count("CLIENTS", 100)
    processes = bench_count("PROCESSES", 3)
    seconds = float(bench_count("SECONDS", 30))
    idle_pool.resize(per_node)
    remote = node.client(timeout=120)
    # An extra engine's own bridge is a /24: a network of the benchmark range holds more.
    room = remote.networks.create(
        "bench-idle", labels=LABELS, ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=IDLE_SUBNET)])
    )
    there = IdlePool(remote, "busybox:latest", network=room.name)
    there.resize(per_node)
    agents = _agents(redis_url, node, tmp_path)
    web = _web(redis_url, node, tmp_path / "live", processes)
    try:
        cookies = [login_cookie(server, "admin", BENCH_PASSWORD) for server in web]
        halves = (("local", clients // 2), ("second", clients - clients // 2))
        views = [
            (ws_url(server, f"/ws/stats/?compact=1&engine={engine}"), cookie, server.url)
            for server, cookie in zip(web, cookies, strict=True)
            for engine, _ in halves
        ]
        # Warm up: each engine's agent lists and inspects its containers once.
        asyncio.run(_everyone(views, 1, 15))
        pids = {f"web {i + 1}": s.process.pid for i, s in enumerate(web) if s.process}
        pids |= {f"agent {name}": p.pid for name, p in agents.items()}
        pids["redis-server"] = _redis_pid(redis_url)
        pids["the viewers (this process)"] = os.getpid()
        before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
        sweeps_before, started = _sweeps(redis_url, list(agents)), time.perf_counter()
        got = asyncio.run(_everyone_split(views, halves, seconds))
        wall = time.perf_counter() - started
        sweeps_after = _sweeps(redis_url, list(agents))
        cpu = {name: (_cpu_seconds(pid) - before[name]) / wall * 100 for name, pid in pids.items()}
        own_sweeps = [_metric(server, "dockdash_sampler_sweeps_total") for server in web]
    finally:
        for server in web:
            server.stop()
        for process in agents.values():
            process.terminate()
            process.wait(timeout=30)
        there.resize(0)
        room.remove()
    viewing = Viewing([f for v in got for f in v.frames])
    rates = viewing.rates
    steady = [a * 1000 for a in viewing.steady_ages]
    p95 = percentile(steady, 0.95)
    per_tick = {e: (sweeps_after[e] - sweeps_before[e]) / wall for e in agents}
    web_cpu = [cpu[name] for name in cpu if name.startswith("web")]
    print(
        f"\n[agents_bench] {processes} web processes x {clients} paced viewers (?compact=1,"
        f" half per engine) x 2 engines x {per_node} running containers, {seconds:.0f} s"
        f"\n  frames per viewer per second, once joined: {statistics.mean(rates):.2f}"
        f" (min {min(rates):.2f})   target 1: {'MET' if min(rates) >= 0.95 else 'MISSED'}"
        f"\n  sample age at the viewer (agent's sweep -> Redis -> web -> viewer): p50"
        f" {percentile(steady, 0.5):.0f} ms, p95 {p95:.0f} ms"
        f"   target p95 <= 250 ms: {'MET' if p95 <= 250 else 'MISSED'}"
        f"\n  CPU, % of one core: "
        + ", ".join(f"{name} {value:.1f}" for name, value in cpu.items())
        + f"\n  each web process <= 50 %: {'MET' if max(web_cpu) <= 50 else 'MISSED'}"
        f"\n  sweeps per tick (1 s): "
        + ", ".join(f"{e} {v:.2f}" for e, v in per_tick.items())
        + f"; the web processes' own sweeps: {own_sweeps}"
    )
    assert all(v > 0 for v in viewing.counts)
    assert own_sweeps == [0.0] * processes


async def _everyone_split(
    views: list[tuple[str, str, str]], halves: tuple[tuple[str, int], ...], seconds: float
) -> list[Viewing]:
    counts = [count for _ in range(len(views) // len(halves)) for _, count in halves]
    return await asyncio.gather(
        *(
            frame_ages(url, cookie, origin, count, seconds, ack=True)
            for (url, cookie, origin), count in zip(views, counts, strict=True)
        )
    )
