"""Several containers' logs followed as one, ordered by time (Dozzle's merged view).

One `LogFollower` per container (so each takes its share of the viewer's log
streams and of the server's pool), asked for timestamps; their lines are held
for a short window, sorted by the engine's timestamp and sent as one frame.
The first frame waits, briefly, for every container's tail, so the history
before the view opened is in order too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from containers_app.logs import LogEnd, LogFollower, LogFrame, LogOptions, end_reason

WINDOW_SECONDS = 0.2  # lines of the containers that arrive this close are put in order
# How long the first frame waits for each container's tail (an empty log sends none).
FIRST_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class Source:
    id: str
    name: str
    tty: bool


# time (RFC 3339, nanoseconds), index of the source, stdout/stderr, text
MergedLine = tuple[str, int, Literal["o", "e"], str]


class MergedFrame(TypedDict):
    type: Literal["logs"]
    skipped: int
    lines: list[MergedLine]


class SourceEnd(TypedDict):
    type: Literal["end"]
    source: int
    reason: str


def split_timestamp(line: str) -> tuple[str, str]:
    """The engine's timestamp of a line (its fraction padded, so that times sort as
    text) and the text after it."""
    stamp, _, text = line.partition(" ")
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    return f"{whole}.{fraction.ljust(9, '0')[:9]}Z", text


class MergedLogs:
    """The logs of `sources` for one viewer. `start()` on the event loop; frames go to `send`."""

    def __init__(
        self,
        sources: Sequence[Source],
        options: LogOptions,
        *,
        send: Callable[[MergedFrame | SourceEnd], Awaitable[None]],
        user: Any,
    ):
        self.sources = list(sources)
        self.options = LogOptions(
            tail=options.tail, follow=options.follow, timestamps=True, since=options.since
        )
        self._send = send
        self._user = user
        self._followers: list[LogFollower] = []
        self._pending: list[MergedLine] = []
        self._skipped = 0
        self._heard: set[int] = set()
        self._all_heard = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Follow every source; TooManyStreams (none left open) if the viewer's share is taken."""
        try:
            for index, source in enumerate(self.sources):
                follower = LogFollower(
                    source.id,
                    self.options,
                    tty=source.tty,
                    send=self._collector(index),
                    on_end=functools.partial(end_reason, source.id),
                    user=self._user,
                )
                follower.start()
                self._followers.append(follower)
        except Exception:
            for follower in self._followers:
                asyncio.get_running_loop().create_task(follower.close())
            self._followers = []
            raise
        self._task = asyncio.get_running_loop().create_task(self._flush_every_window())

    def _collector(self, index: int) -> Callable[[LogFrame | LogEnd], Awaitable[None]]:
        async def collect(frame: LogFrame | LogEnd) -> None:
            self._hear(index)
            if frame["type"] == "end":
                await self._flush()
                await self._send({"type": "end", "source": index, "reason": frame["reason"]})
                return
            self._skipped += frame["skipped"]
            for stream, line in frame["lines"]:
                stamp, text = split_timestamp(line)
                self._pending.append((stamp, index, stream, text))

        return collect

    def _hear(self, index: int) -> None:
        self._heard.add(index)
        if len(self._heard) == len(self.sources):
            self._all_heard.set()

    async def _flush_every_window(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_heard.wait(), FIRST_WAIT_SECONDS)
        while True:
            await self._flush()
            await asyncio.sleep(WINDOW_SECONDS)

    async def _flush(self) -> None:
        if not self._pending and not self._skipped:
            return
        # A stable sort: lines of one source at one instant keep the order they came in.
        lines, self._pending = sorted(self._pending, key=lambda line: line[0]), []
        skipped, self._skipped = self._skipped, 0
        await self._send({"type": "logs", "skipped": skipped, "lines": lines})

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for follower in self._followers:
            await follower.close()
        self._followers = []
