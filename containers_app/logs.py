"""Following a container's log for one viewer: a docker log stream read on a bounded
thread pool, cut into lines, batched into frames (about every 100 ms or 1000 lines)
for the event loop, and closed when the viewer leaves.

The reader thread never waits for the viewer while following a live log: past
MAX_PENDING unsent lines it drops lines and counts them, and the next frame
says how many were skipped. A finite read (follow off) waits instead, so that
nothing is lost when a whole log is fetched.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from django.conf import settings

from containers_app import translate
from containers_app.engine import client as engine_client
from containers_app.engine.containers import inspect_container
from containers_app.engine.errors import EngineError, NotFound
from containers_app.engine.streams import STDERR, STDOUT, Stream, log_stream
from dashboard import access
from dashboard.models import Role

BATCH_SECONDS = 0.1
BATCH_LINES = 1000
MAX_PENDING = 20_000
MAX_LINE = 16 * 1024  # longer lines are cut (a runaway binary dump should not stall the page)

MAX_STREAMS = settings.LOG_STREAM_WORKERS
_workers = ThreadPoolExecutor(max_workers=MAX_STREAMS, thread_name_prefix="log-stream")
_active = 0
_active_by_user: dict[str, int] = {}  # log views each user follows (ends when the view closes)
_active_lock = threading.Lock()


class TooManyStreams(Exception):
    pass


def streams_allowed(user: Any) -> int:
    """How many log views `user` may follow at once.

    Below the server cap for everyone, admins included, so the rest of the
    server always keeps a reserve; instructors and admins watch many students'
    containers, so they get twice a student's share.
    """
    per_user = int(settings.LOG_STREAMS_PER_USER)
    if access.role_of(user) in (Role.ADMIN, Role.INSTRUCTOR):
        return max(per_user, min(2 * per_user, MAX_STREAMS - 1))
    return per_user


def streams_open(username: str) -> int:
    with _active_lock:
        return _active_by_user.get(username, 0)


class LogFrame(TypedDict):
    type: Literal["logs"]
    skipped: int  # lines dropped before these because the viewer fell behind
    lines: list[tuple[Literal["o", "e"], str]]  # stdout/stderr, text without newline


class LogEnd(TypedDict):
    type: Literal["end"]
    reason: str


@dataclass(frozen=True)
class LogOptions:
    tail: int | Literal["all"] = 100
    follow: bool = True
    timestamps: bool = False
    since: float | None = None


def parse_options(query: dict[str, str]) -> LogOptions:
    """Options from a query string; ValueError with a message a person understands."""
    tail_text = query.get("tail", "100").strip().lower() or "100"
    tail: int | Literal["all"]
    if tail_text == "all":
        tail = "all"
    else:
        if not tail_text.isdigit():
            raise ValueError("tail must be a number of lines or 'all'.")
        tail = int(tail_text)

    def flag(name: str, default: bool) -> bool:
        value = query.get(name, "1" if default else "0").strip().lower()
        if value not in {"0", "1", "true", "false", "yes", "no", "on", "off", ""}:
            raise ValueError(f"{name} must be 1 or 0.")
        return value in {"1", "true", "yes", "on"}

    since: float | None = None
    if query.get("since", "").strip():
        try:
            since = float(query["since"])
        except ValueError:
            raise ValueError("since must be a time in seconds since the epoch.") from None
        if since < 0:
            raise ValueError("since must be a time in seconds since the epoch.")
    return LogOptions(
        tail=tail,
        follow=flag("follow", True),
        timestamps=flag("timestamps", False),
        since=since,
    )


def _line_batches(
    chunks: Iterator[tuple[int, bytes]],
) -> Iterator[list[tuple[Literal["o", "e"], str]]]:
    """The complete lines of each chunk (a line split over chunks is kept until whole)."""
    partial = {STDOUT: b"", STDERR: b""}
    for stream, data in chunks:
        tag: Literal["o", "e"] = "e" if stream == STDERR else "o"
        buf = partial[stream] + data if partial[stream] else data
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) > MAX_LINE:
                yield [(tag, buf[:MAX_LINE].decode("utf-8", errors="replace"))]
                buf = b""
            partial[stream] = buf
            continue
        partial[stream] = buf[cut + 1 :]
        text = buf[:cut].decode("utf-8", errors="replace")
        yield [
            (tag, line if len(line) <= MAX_LINE else line[:MAX_LINE]) for line in text.split("\n")
        ]
    for stream, rest in partial.items():
        if rest:
            tag = "e" if stream == STDERR else "o"
            yield [(tag, rest[:MAX_LINE].decode("utf-8", errors="replace"))]


class LogFollower:
    """One viewer's log stream. `start()` on the event loop; frames go to `send`."""

    def __init__(
        self,
        container_id: str,
        options: LogOptions,
        *,
        tty: bool,
        send: Callable[[LogFrame | LogEnd], Awaitable[None]],
        on_end: Callable[[], Awaitable[str]],
        user: Any = None,
    ):
        # Whose share of the streams this one takes (None: only the server cap applies).
        self.username = user.get_username() if user is not None else ""
        self.allowed = streams_allowed(user) if user is not None else MAX_STREAMS
        self.container_id = container_id
        self.options = options
        self.tty = tty
        self._send = send
        self._on_end = on_end
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream: Stream | None = None
        self._pending: list[tuple[Literal["o", "e"], str]] = []
        self._skipped = 0
        self._cond = threading.Condition()
        self._closed = False
        self._finished = False
        self._error = ""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._counted = False
        self._holds_share = False

    def start(self) -> None:
        global _active
        with _active_lock:
            mine = _active_by_user.get(self.username, 0)
            if self.username and mine >= self.allowed:
                raise TooManyStreams(
                    f"You have {mine} log views open; close one to open another "
                    f"(at most {self.allowed} at once)."
                )
            if _active >= MAX_STREAMS:
                raise TooManyStreams(
                    "Too many log streams are open on this server; close another log view."
                )
            _active += 1
            if self.username:
                _active_by_user[self.username] = mine + 1
            self._counted = True
            self._holds_share = bool(self.username)
        self._loop = asyncio.get_running_loop()
        self._loop.run_in_executor(_workers, engine_client.carrying(self._read))
        self._task = self._loop.create_task(self._pump())

    # ---------------------------------------------------------------- reader thread

    def _read(self) -> None:
        try:
            self._stream = log_stream(
                self.container_id,
                tail=self.options.tail,
                follow=self.options.follow,
                timestamps=self.options.timestamps,
                since=self.options.since,
                tty=self.tty,
            )
            if self._closed:
                self._stream.close()
                return
            for batch in _line_batches(iter(self._stream)):
                with self._cond:
                    if self._closed:
                        break
                    if not self.options.follow:
                        # A finite read: wait for the viewer rather than lose lines.
                        while (
                            self._pending
                            and len(self._pending) + len(batch) > MAX_PENDING
                            and not self._closed
                        ):
                            self._cond.wait(0.5)
                    else:
                        room = max(MAX_PENDING - len(self._pending), 0)
                        if len(batch) > room:
                            self._skipped += len(batch) - room
                            batch = batch[:room]
                    before = len(self._pending)
                    self._pending.extend(batch)
                    after = len(self._pending)
                # Wake the pump for the first line of a batch and when a batch is full.
                if before == 0 < after or before < BATCH_LINES <= after:
                    self._notify()
        except EngineError as exc:
            self._error = exc.message
        except Exception as exc:  # noqa: BLE001 - urllib3 says "connection broken" its own way
            if not self._closed:  # (a shut-down socket after close() is the normal end)
                self._error = f"The log stream broke: {exc}"
        finally:
            self._finished = True
            self._notify()
            global _active
            with _active_lock:
                if self._counted:
                    _active -= 1
                    self._counted = False
            self._release_share()

    def _release_share(self) -> None:
        """Give the user's share back: when the view closes or the log ends, whichever first."""
        with _active_lock:
            if not self._holds_share:
                return
            self._holds_share = False
            left = _active_by_user.get(self.username, 0) - 1
            if left > 0:
                _active_by_user[self.username] = left
            else:
                _active_by_user.pop(self.username, None)

    def _notify(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    # ---------------------------------------------------------------- event loop

    def _take(self) -> tuple[int, list[tuple[Literal["o", "e"], str]]]:
        with self._cond:
            lines, self._pending = self._pending, []
            skipped, self._skipped = self._skipped, 0
            self._cond.notify_all()
        return skipped, lines

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()  # the first line of a batch, or the end
            self._wake.clear()
            if not self._finished and len(self._pending) < BATCH_LINES:
                # Let the batch fill for up to BATCH_SECONDS (or BATCH_LINES lines).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), BATCH_SECONDS)
                self._wake.clear()
            finished = self._finished
            skipped, lines = self._take()
            # Frames of at most BATCH_LINES lines keep each websocket message small.
            for start in range(0, max(len(lines), 1 if skipped else 0), BATCH_LINES):
                await self._send(
                    {
                        "type": "logs",
                        "skipped": skipped if start == 0 else 0,
                        "lines": lines[start : start + BATCH_LINES],
                    }
                )
            if finished and not self._pending:
                if self._closed:
                    return
                reason = self._error or await self._on_end()
                await self._send({"type": "end", "reason": reason})
                return
            if self._pending or self._skipped:
                self._wake.set()

    async def close(self) -> None:
        """End the stream (the reader thread returns at once) and the pump."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._release_share()  # the viewer left: the reader thread still counts on the server
        if self._stream is not None:
            await asyncio.to_thread(self._stream.close)
        if self._task is not None:
            self._task.cancel()


async def end_reason(container_id: str) -> str:
    """Why a followed log ended, in words: the container stopped, was removed, ..."""
    try:
        attrs = await asyncio.to_thread(inspect_container, container_id)
    except NotFound:
        return "The container was removed."
    except EngineError as exc:
        return exc.message
    container = translate.container_record(attrs)
    if not container.running:
        return f"The container stopped (exit code {container.exit_code})."
    return "End of the log."


def wait_idle(timeout: float = 5.0) -> bool:
    """True once no log stream thread is busy (tests use it to prove nothing leaked)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _active_lock:
            if _active == 0:
                return True
        time.sleep(0.02)
    return False


def active_streams() -> int:
    with _active_lock:
        return _active


def _read_batch(items: Iterator[tuple[int, bytes]], size: int = 64 * 1024) -> bytes:
    parts, total = [], 0
    for _, data in items:
        parts.append(data)
        total += len(data)
        if total >= size:
            break
    return b"".join(parts)


def log_file_chunks(container_id: str, *, tty: bool, timestamps: bool) -> AsyncIterator[bytes]:
    """The whole log as bytes, stdout and stderr interleaved as written, for a download.

    Read on the log pool in 64 KiB batches, so a large log is never held in memory, from
    the engine of the caller (the response is read after its view returned).
    """
    return _log_file_chunks(
        engine_client.carrying(
            lambda: log_stream(
                container_id, tail="all", follow=False, timestamps=timestamps, tty=tty
            )
        )
    )


async def _log_file_chunks(open_stream: Callable[[], Stream]) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    stream = await loop.run_in_executor(_workers, open_stream)
    items = iter(stream)
    try:
        while True:
            chunk = await loop.run_in_executor(_workers, _read_batch, items)
            if not chunk:
                return
            yield chunk
    finally:
        await loop.run_in_executor(_workers, stream.close)


def log_text(container_id: str, options: LogOptions, *, tty: bool) -> bytes:
    """The log (not followed) as one text, for the API."""
    stream = log_stream(
        container_id,
        tail=options.tail,
        follow=False,
        timestamps=options.timestamps,
        since=options.since,
        tty=tty,
    )
    try:
        return b"".join(data for _, data in stream)
    finally:
        stream.close()
