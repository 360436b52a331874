"""Producers that run only while watched: the stats sampler, a class's grid.

The first subscriber starts the producer's task; it stops STATS_GRACE seconds
after the last one leaves, unless another comes back in between (a page reload
does not restart it). A reader that does not stay connected (a metrics scrape)
holds the producer instead: it runs until the hold ends, however many come.
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
        self._hold_handle: asyncio.TimerHandle | None = None

    async def _run(self) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def subscribers(self) -> int:
        """The viewers connected now (holds not counted)."""
        return self._subscribers

    def _keep_running(self) -> None:
        if self._stop_handle is not None:
            self._stop_handle.cancel()
            self._stop_handle = None
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def subscribe(self) -> None:
        """A viewer joined: start unless already running."""
        self._subscribers += 1
        self._keep_running()

    async def hold(self, seconds: float) -> None:
        """A reader without a connection came: run at least `seconds` from now (each call
        moves the end), then stop unless a viewer is connected."""
        if self._hold_handle is not None:
            self._hold_handle.cancel()
        self._hold_handle = asyncio.get_running_loop().call_later(seconds, self._hold_ended)
        self._keep_running()

    def _hold_ended(self) -> None:
        self._hold_handle = None
        if self._stop_handle is None:  # else a viewer's grace is still running: it decides
            self._stop_now()

    async def unsubscribe(self) -> None:
        """A viewer left: stop GRACE seconds after the last one, unless another comes."""
        self._subscribers = max(0, self._subscribers - 1)
        if self._subscribers == 0 and self.running and self._stop_handle is None:
            loop = asyncio.get_running_loop()
            self._stop_handle = loop.call_later(settings.STATS_GRACE, self._stop_now)

    def _stop_now(self) -> None:
        self._stop_handle = None
        idle = self._subscribers == 0 and self._hold_handle is None
        if idle and self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        """Stop now, whoever still listens (shutdown, tests)."""
        self._subscribers = 0
        for handle in (self._stop_handle, self._hold_handle):
            if handle is not None:
                handle.cancel()
        self._stop_handle = self._hold_handle = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
