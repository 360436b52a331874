"""300,000 log lines through /ws/containers/{id}/logs/?tail=all&follow=0 on a real
server (daphne), next to `docker logs` of the same container in the same run.

Targets: no line lost; at most 2x the CLI's wall time.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests import rig
from tests.bench.conftest import bench_count, ratio, ws_session, ws_url
from tests.rig import wait_for


async def _read_all(url: str, cookie: str, origin: str) -> tuple[int, str, str]:
    count, last = 0, ""
    async with ws_session(url, cookie, origin) as ws:
        async for message in ws:
            frame = json.loads(message)
            if frame["type"] == "logs":
                assert not frame["skipped"], "lines were skipped"
                count += len(frame["lines"])
                if frame["lines"]:
                    last = frame["lines"][-1][1]
            elif frame["type"] == "end":
                return count, last, frame["reason"]
            else:
                raise AssertionError(frame)
    raise AssertionError("the socket closed before the end marker")


@pytest.mark.timeout(900)
def test_logs_bench(
    make_container: Callable[..., Any],
    docker_client: Any,
    bench_server: rig.LiveServer,
    bench_cookie: str,
) -> None:
    lines = bench_count("LOG_LINES", 300_000)
    container = make_container(["seq", "1", str(lines)])
    wait_for(
        lambda: docker_client.api.inspect_container(container.id)["State"]["Status"] == "exited",
        timeout=120,
        what="the container to print its lines",
    )

    started = time.perf_counter()
    cli = subprocess.run(
        ["docker", "logs", container.id], capture_output=True, check=True, timeout=300
    )
    cli_seconds = time.perf_counter() - started
    cli_lines = cli.stdout.count(b"\n")

    url = ws_url(bench_server, f"/ws/containers/{container.id}/logs/?tail=all&follow=0")
    started = time.perf_counter()
    count, last, reason = asyncio.run(_read_all(url, bench_cookie, bench_server.url))
    ws_seconds = time.perf_counter() - started

    print(
        f"\n[logs_bench] a container that printed {lines} lines"
        f"\n  docker logs:             {cli_seconds:7.2f} s  {cli_lines} lines"
        f"\n  websocket (tail=all):    {ws_seconds:7.2f} s  {count} lines, last {last!r}"
        f"  end: {reason!r}"
        f"\n  websocket / CLI: {ratio(ws_seconds, cli_seconds)}   target <= 2x:"
        f" {'MET' if ws_seconds <= 2 * cli_seconds else 'MISSED'}"
        f"\n  lines lost: {lines - count}"
    )
    assert cli_lines == lines
    assert count == lines and last == str(lines)
