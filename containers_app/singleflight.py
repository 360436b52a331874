"""One call at a time per key, its outcome shared by every caller that waited for it.

The first caller of a key runs the function; callers that arrive while it runs
wait for that call and get its result (or its exception) instead of starting
their own. A result is then kept for `ttl` seconds, so a burst of page loads
costs one call. Exceptions are shared with the waiters of that call but never
kept. Threads wait on the call; coroutines await it without blocking the loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self, ttl: Callable[[], float]):
        self._ttl = ttl  # read on each call, so a changed setting takes effect at once
        self._lock = threading.Lock()
        self._running: dict[str, Future[T]] = {}
        self._kept: dict[str, tuple[float, Future[T]]] = {}
        self.calls = 0  # how many times a function actually ran (tests and figures)

    def _join(self, key: str) -> tuple[Future[T], bool]:
        """The call to wait for, and whether this caller has to run it."""
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and time.monotonic() - kept[0] < self._ttl():
                return kept[1], False
            running = self._running.get(key)
            if running is not None:
                return running, False
            future: Future[T] = Future()
            self._running[key] = future
            self.calls += 1
            return future, True

    def _lead(self, key: str, fn: Callable[[], T], future: Future[T]) -> None:
        try:
            result = fn()
        except BaseException as exc:
            with self._lock:
                del self._running[key]
            future.set_exception(exc)
            return
        with self._lock:
            del self._running[key]
            self._kept[key] = (time.monotonic(), future)
        future.set_result(result)

    def run(self, key: str, fn: Callable[[], T]) -> T:
        """`fn()`, or the outcome of the call of `key` under way or kept."""
        future, leader = self._join(key)
        if leader:
            self._lead(key, fn, future)
        return future.result()

    async def arun(self, key: str, fn: Callable[[], T]) -> T:
        """As `run`, from a coroutine: `fn` (blocking) runs on a worker thread."""
        future, leader = self._join(key)
        if leader:
            await asyncio.to_thread(self._lead, key, fn, future)
        return await asyncio.wrap_future(future)

    def forget(self, key: str | None = None) -> None:
        """Drop the kept result of `key` (of every key when None); a call under way goes on."""
        with self._lock:
            if key is None:
                self._kept.clear()
            else:
                self._kept.pop(key, None)
