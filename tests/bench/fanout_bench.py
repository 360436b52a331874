"""M browser-like viewers of the overview (/ws/stats/?compact=1, each saying "ack" after
each frame as the page does) with N running containers, for a window of T seconds; by
default M=100 and N=800 (DOCKDASH_BENCH_CLIENTS, DOCKDASH_BENCH_FANOUT_CONTAINERS).

Figures: the server's CPU (sampler included) and RSS, frames per viewer per second once
it joined, the age of a sample when it reaches a viewer (p50/p95; a viewer's first frame,
the full one it joins with, apart: all M join at once), frame sizes, the size of the API
contract's frame of the same containers (every container as an object: at 800 it passes
daphne's 1 MiB message limit, so that socket ends with a reason), and the CPU
dockerd+containerd spent in three windows of the same length: no viewer at all, our M
viewers, and one `docker stats` (streaming) watching the same N containers.

Targets: 1 frame a second to every viewer, p95 age <= 250 ms, server CPU <= 50% of one
core, RSS <= 250 MB, dockerd+containerd CPU no higher than with no viewer.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests import rig
from tests.bench.conftest import (
    IdlePool,
    Viewing,
    bench_count,
    frame_ages,
    percentile,
    ratio,
    ws_session,
    ws_url,
)

TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _engine_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in {"dockerd", "containerd"}:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _engine_cpu() -> float:
    return sum(_cpu_seconds(pid) for pid in _engine_pids())


def _engine_window(seconds: float) -> float:
    """dockerd+containerd CPU % of one core over a window of `seconds`."""
    before, started = _engine_cpu(), time.perf_counter()
    time.sleep(seconds)
    return (_engine_cpu() - before) / (time.perf_counter() - started) * 100


def _viewers(
    server: rig.LiveServer, cookie: str, path: str, clients: int, seconds: float
) -> tuple[float, float, Viewing]:
    """(server CPU %, engine CPU %, what they got) of `clients` paced viewers of `path`
    for `seconds`."""
    process = server.process
    assert process is not None
    url = ws_url(server, path)
    server_before, engine_before = _cpu_seconds(process.pid), _engine_cpu()
    started = time.perf_counter()
    viewing = asyncio.run(frame_ages(url, cookie, server.url, clients, seconds, ack=True))
    wall = time.perf_counter() - started
    server_cpu = (_cpu_seconds(process.pid) - server_before) / wall * 100
    engine_cpu = (_engine_cpu() - engine_before) / wall * 100
    return server_cpu, engine_cpu, viewing


async def _contract_frame(url: str, cookie: str, origin: str) -> str:
    """What a viewer of the API contract's messages of objects (/ws/stats/) gets: their
    sizes, or how the socket ended."""
    got = []
    async with ws_session(url, cookie, origin) as ws:
        try:
            while len(got) < 2:
                message = str(await ws.recv())
                got.append(f"{len(message) / 1024:.0f} KiB {message[:80]}")
        except websockets.ConnectionClosed as exc:
            got.append(f"closed {exc.rcvd.code if exc.rcvd else '?'}")
    return "; ".join(got)


async def _warm_up(url: str, cookie: str, origin: str, containers: list[Any]) -> None:
    ids, shown = {c.id for c in containers}, set[str]()
    async with asyncio.timeout(300), ws_session(url, cookie, origin) as ws:
        while not ids <= shown:
            frame = json.loads(await ws.recv())
            if frame["type"] == "stats":
                await ws.send("ack")
                rows = {row[0] for row in frame["rows"]}
                shown = rows if frame["full"] else (shown - set(frame["gone"])) | rows


@pytest.mark.timeout(1500)
def test_fanout_bench(idle_pool: IdlePool, bench_server: rig.LiveServer, bench_cookie: str) -> None:
    containers = idle_pool.resize(bench_count("FANOUT_CONTAINERS", 800))
    clients = bench_count("CLIENTS", 100)
    seconds = float(bench_count("SECONDS", 30))
    server = bench_server.process
    assert server is not None

    idle_engine = _engine_window(seconds)

    # Warm up: the first viewer starts the sampler, which lists and inspects each container
    # once (seconds, for 800): the window starts once a frame carries them all.
    page = "/ws/stats/?compact=1"
    asyncio.run(_warm_up(ws_url(bench_server, page), bench_cookie, bench_server.url, containers))

    server_cpu, engine_with_us, viewing = _viewers(
        bench_server, bench_cookie, page, clients, seconds
    )
    rss = _rss_mb(server.pid)

    ids = [c.id for c in containers]
    streaming = subprocess.Popen(
        ["docker", "stats", *ids], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(3)  # let it open its streams
        engine_with_cli = _engine_window(seconds)
    finally:
        streaming.kill()  # the CLI does not stop on SIGTERM while it streams
        streaming.wait(timeout=30)

    contract = asyncio.run(
        _contract_frame(ws_url(bench_server, "/ws/stats/"), bench_cookie, bench_server.url)
    )
    counts, rates = viewing.counts, viewing.rates
    steady = [a * 1000 for a in viewing.steady_ages]
    joins = [a * 1000 for a in viewing.join_ages]
    p95 = percentile(steady, 0.95)
    sizes = viewing.sizes
    print(
        f"\n[fanout_bench] N={len(containers)} running containers, M={clients} paced viewers"
        f" (?compact=1), {seconds:.0f} s windows"
        f"\n  frames per viewer per second, once joined: {statistics.mean(rates):.2f}"
        f" (min {min(rates):.2f})   target 1: {'MET' if min(rates) >= 0.95 else 'MISSED'}"
        f"\n  sample age at the viewer: p50 {percentile(steady, 0.5):.0f} ms,"
        f" p95 {p95:.0f} ms   target p95 <= 250 ms: {'MET' if p95 <= 250 else 'MISSED'}"
        f"\n  joining (the first, full frame of each viewer, all at once): age p50"
        f" {percentile(joins, 0.5):.0f} ms, p95 {percentile(joins, 0.95):.0f} ms,"
        f" {max(sizes) / 1024:.0f} KiB"
        f"\n  frame size after that: median {statistics.median(sizes) / 1024:.1f} KiB"
        f"\n  server (daphne, sampler included) CPU: {server_cpu:.1f} % of one core"
        f"   target <= 50 %: {'MET' if server_cpu <= 50 else 'MISSED'}"
        f"\n  server RSS: {rss:.0f} MB   target <= 250 MB: {'MET' if rss <= 250 else 'MISSED'}"
        f"\n  a viewer of the API contract's messages of objects: {contract}"
        f"\n  dockerd+containerd CPU: no viewer {idle_engine:.1f} %,"
        f" our {clients} viewers {engine_with_us:.1f} %,"
        f" one `docker stats` stream {engine_with_cli:.1f} %"
        f" ({ratio(engine_with_cli, max(engine_with_us, 0.01))} of ours)"
    )
    assert min(counts) > 0
