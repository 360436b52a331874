"""Producers that run only while watched: the stats sampler, a class's grid.

The first subscriber starts the producer's task; it stops STATS_GRACE seconds
after the last one leaves, unless another comes back in between (a page reload
does not restart it).
"""

from __future__ import annotations

import asyncio
import contextlib

from django.conf import settings


class Watched:
    """A task on the event loop that runs while it has subscribers (`_run` is the work)."""

    def __init__(self) -> None:
        self._subscribers = 0
        self._task: asyncio.Task[None] | None = None
        self._stop_handle: asyncio.TimerHandle | None = None

    async def _run(self) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def subscribe(self) -> None:
        """A viewer joined: start unless already running."""
        self._subscribers += 1
        if self._stop_handle is not None:
            self._stop_handle.cancel()
            self._stop_handle = None
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def unsubscribe(self) -> None:
        """A viewer left: stop GRACE seconds after the last one, unless another comes."""
        self._subscribers = max(0, self._subscribers - 1)
        if self._subscribers == 0 and self.running and self._stop_handle is None:
            loop = asyncio.get_running_loop()
            self._stop_handle = loop.call_later(settings.STATS_GRACE, self._stop_now)

    def _stop_now(self) -> None:
        self._stop_handle = None
        if self._subscribers == 0 and self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        """Stop now, whoever still listens (shutdown, tests)."""
        self._subscribers = 0
        if self._stop_handle is not None:
            self._stop_handle.cancel()
            self._stop_handle = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
