"""The log follower with a viewer too slow for the log: lines are skipped and counted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from containers_app import logs
from tests.rig import wait_for


# No database is used; but without this mark, after the Playwright (sync API) browser
# tests of the same session, pytest-asyncio refuses to start this test's loop
# ("Runner.run() cannot be called from a running event loop"), as the consumer
# tests (which carry it) do not. Cause not traced further.
@pytest.mark.django_db(transaction=True)
async def test_slow_viewer_gets_a_skipped_count_and_nothing_else_is_lost(
    make_container: Callable[..., Any], docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "MAX_PENDING", 2000)
    total = 50_000
    container = await asyncio.to_thread(make_container, ["sh", "-c", f"seq 1 {total}; sleep 3600"])
    await asyncio.to_thread(
        wait_for,
        lambda: docker_client.api.logs(container.id, tail=1).strip() == str(total).encode(),
        what="all lines written",
    )
    received: list[str] = []
    skipped = 0
    ended = asyncio.Event()

    async def slow_send(frame: Any) -> None:
        nonlocal skipped
        if frame["type"] == "logs":
            skipped += frame["skipped"]
            received.extend(text for _, text in frame["lines"])
            await asyncio.sleep(0.05)  # a viewer on a slow link
        if frame["type"] == "end" or len(received) + skipped >= total:
            ended.set()

    async def reason() -> str:
        return "end"

    follower = logs.LogFollower(
        container.id,
        logs.LogOptions(tail="all", follow=True),
        tty=False,
        send=slow_send,
        on_end=reason,
    )
    follower.start()
    try:
        await asyncio.wait_for(ended.wait(), 30)
    finally:
        await follower.close()
    assert skipped > 0
    assert len(received) + skipped == total
    numbers = [int(n) for n in received]
    assert numbers == sorted(numbers) and numbers[0] == 1  # in order, from the start
    assert await asyncio.to_thread(logs.wait_idle)
