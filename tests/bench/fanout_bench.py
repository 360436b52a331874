"""M browser-like clients on /ws/stats/ with N containers, for a window of T seconds.

Figures: the server's CPU and RSS, frames per client per second, the age of a
sample when it reaches a client (p50/p95), and the CPU dockerd+containerd spent
in three windows of the same length: no viewer at all, our M viewers, and one
`docker stats` (streaming) watching the same N containers.

Targets: p95 age <= 250 ms, server CPU <= 25% of one core, RSS <= 250 MB,
dockerd+containerd CPU no higher than with no viewer.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests import rig
from tests.bench.conftest import bench_count, frame_ages, ratio, ws_url

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


@pytest.mark.timeout(900)
def test_fanout_bench(
    idle_containers: list[Any], bench_server: rig.LiveServer, bench_cookie: str
) -> None:
    clients = bench_count("CLIENTS", 50)
    seconds = float(bench_count("SECONDS", 30))
    server = bench_server.process
    assert server is not None

    idle_engine = _engine_window(seconds)

    # Warm up: the first viewer starts the sampler, which lists and inspects once.
    url = ws_url(bench_server, "/ws/stats/")
    asyncio.run(frame_ages(url, bench_cookie, bench_server.url, 1, 3))

    server_before, engine_before = _cpu_seconds(server.pid), _engine_cpu()
    started = time.perf_counter()
    counts, ages = asyncio.run(frame_ages(url, bench_cookie, bench_server.url, clients, seconds))
    wall = time.perf_counter() - started
    server_cpu = (_cpu_seconds(server.pid) - server_before) / wall * 100
    engine_with_us = (_engine_cpu() - engine_before) / wall * 100
    rss = _rss_mb(server.pid)

    ids = [c.id for c in idle_containers]
    streaming = subprocess.Popen(
        ["docker", "stats", *ids], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(3)  # let it open its streams
        engine_with_cli = _engine_window(seconds)
    finally:
        streaming.kill()  # the CLI does not stop on SIGTERM while it streams
        streaming.wait(timeout=30)

    ages_ms = sorted(a * 1000 for a in ages)
    p50 = statistics.median(ages_ms) if ages_ms else float("nan")
    p95 = ages_ms[int(len(ages_ms) * 0.95) - 1] if ages_ms else float("nan")
    per_client = statistics.mean(counts) / seconds
    print(
        f"\n[fanout_bench] N={len(idle_containers)} idle containers, M={clients} clients,"
        f" {seconds:.0f} s windows"
        f"\n  frames per client per second: {per_client:.2f}  (min {min(counts) / seconds:.2f})"
        f"\n  sample age at the client: p50 {p50:.0f} ms, p95 {p95:.0f} ms"
        f"   target p95 <= 250 ms: {'MET' if p95 <= 250 else 'MISSED'}"
        f"\n  server (daphne) CPU: {server_cpu:.1f} % of one core"
        f"   target <= 25 %: {'MET' if server_cpu <= 25 else 'MISSED'}"
        f"\n  server RSS: {rss:.0f} MB   target <= 250 MB: {'MET' if rss <= 250 else 'MISSED'}"
        f"\n  dockerd+containerd CPU: no viewer {idle_engine:.1f} %,"
        f" our {clients} viewers {engine_with_us:.1f} %,"
        f" one `docker stats` stream {engine_with_cli:.1f} %"
        f" ({ratio(engine_with_cli, max(engine_with_us, 0.01))} of ours)"
    )
    assert min(counts) > 0
