"""A producer held by readers that do not stay connected (metrics scrapes) runs until the
last hold ends, and on while a viewer is connected."""

from __future__ import annotations

import asyncio
from typing import Any

from containers_app.watched import Watched


class Forever(Watched):
    async def _run(self) -> None:
        await asyncio.Event().wait()


async def _stopped_within(producer: Watched, seconds: float) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    while producer.running:
        assert loop.time() - started < seconds, "still running"
        await asyncio.sleep(0.01)
    return loop.time() - started


async def test_a_hold_runs_the_producer_until_the_last_hold_ends(settings: Any) -> None:
    producer = Forever()
    await producer.hold(0.3)
    assert producer.running and producer.subscribers == 0
    await asyncio.sleep(0.2)
    await producer.hold(0.3)  # a second scrape moves the end
    assert await _stopped_within(producer, 2.0) >= 0.25


async def test_a_connected_viewer_outlasts_a_hold_and_a_hold_outlasts_a_viewer(
    settings: Any,
) -> None:
    settings.STATS_GRACE = 0.0
    producer = Forever()
    await producer.subscribe()
    await producer.hold(0.05)
    await asyncio.sleep(0.15)  # past the hold's end: the viewer keeps it running
    assert producer.running
    await producer.hold(0.3)
    await producer.unsubscribe()  # the grace (0 s) ends before the hold does
    await asyncio.sleep(0.1)
    assert producer.running
    assert await _stopped_within(producer, 2.0) > 0
    await producer.stop()
