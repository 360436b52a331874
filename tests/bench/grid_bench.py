"""The class grid with a class of S students x C lab containers (90 by default) and V
instructors watching /ws/classes/{slug}/ for T seconds.

Figures: the age of a grid frame when it reaches a viewer (from the sampler's tick
to arrival, p50/p95), frames per viewer per second, the frame's size, and the
server's CPU over the window. Every viewer gets the same text, computed once per
tick for the class, whatever the number of viewers.

Target: frame age p95 <= 250 ms with 30 students x 3 containers and 5 viewers.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests import rig
from tests.bench.conftest import (
    BENCH_PASSWORD,
    bench_count,
    frame_ages,
    login_cookie,
    ws_session,
    ws_url,
)
from tests.bench.fanout_bench import _cpu_seconds
from tests.rig import LABELS, RUN_ID

SLUG = f"bench{RUN_ID}"
TEACHER = f"bt{RUN_ID}"


@pytest.fixture(scope="module")
def lab_containers(docker_client: Any, test_image: str) -> Iterator[tuple[list[str], list[Any]]]:
    students = [f"bs{i:02d}{RUN_ID}" for i in range(bench_count("GRID_STUDENTS", 30))]
    per_student = bench_count("GRID_CONTAINERS", 3)

    def make(job: tuple[str, int]) -> Any:
        owner, n = job
        labels = {**LABELS, "dockdash.owner": owner, "dockdash.class": SLUG, "dockdash.lab": "lab1"}
        return docker_client.containers.run(
            test_image,
            ["sleep", "3600"],
            name=f"{SLUG}-lab1-{owner}-c{n}",
            labels=labels,
            mem_limit="32m",
            nano_cpus=500_000_000,
            detach=True,
        )

    jobs = [(s, n) for s in students for n in range(per_student)]
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(make, jobs))
    yield students, made
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda c: c.remove(force=True), made))


def test_grid_bench(lab_containers: Any, bench_server: rig.LiveServer) -> None:
    students, made = lab_containers
    viewers = bench_count("GRID_VIEWERS", 5)
    seconds = bench_count("GRID_SECONDS", 20)
    bench_server.make_class(SLUG, TEACHER, BENCH_PASSWORD, students)
    cookie = login_cookie(bench_server, TEACHER, BENCH_PASSWORD)
    url = ws_url(bench_server, f"/ws/classes/{SLUG}/")
    # One short look first: the grid and the sampler up, every container in the frame.
    asyncio.run(frame_ages(url, cookie, bench_server.url, 1, 3))

    assert bench_server.process is not None
    cpu0, t0 = _cpu_seconds(bench_server.process.pid), time.monotonic()
    viewing = asyncio.run(frame_ages(url, cookie, bench_server.url, viewers, seconds))
    counts, ages = viewing.counts, viewing.ages
    cpu = (_cpu_seconds(bench_server.process.pid) - cpu0) / (time.monotonic() - t0) * 100

    async def one_frame() -> dict[str, Any]:
        async with ws_session(url, cookie, bench_server.url) as ws:
            return dict(json.loads(await ws.recv()))

    frame = asyncio.run(one_frame())
    size = len(json.dumps(frame, separators=(",", ":")))
    assert len(frame["students"]) == len(students)
    assert frame["totals"]["running"] == len(made)

    ages_ms = sorted(a * 1000 for a in ages)
    p50 = statistics.median(ages_ms) if ages_ms else float("nan")
    p95 = ages_ms[int(len(ages_ms) * 0.95) - 1] if ages_ms else float("nan")
    print(
        f"\n[grid_bench] {len(students)} students x {len(made) // len(students)} containers,"
        f" {viewers} viewers, {seconds} s"
        f"\n  frame age at the viewer: p50 {p50:.0f} ms, p95 {p95:.0f} ms (target p95 <= 250 ms)"
        f"\n  frames per viewer per second: {min(counts) / seconds:.2f}-{max(counts) / seconds:.2f}"
        f"\n  frame size: {size / 1024:.1f} KiB; server CPU over the window: {cpu:.1f} %"
    )
    assert min(counts) >= seconds * 0.8, counts
    assert p95 <= 250, f"grid frame age p95 {p95:.0f} ms"
