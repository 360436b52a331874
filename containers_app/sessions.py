"""The terminal sessions open now, for watching over a student's shoulder.

Each open exec terminal (containers_app.consumers.ContainerExecConsumer) is listed
here while it runs: whose container, who opened it, and the channel of its
consumer. Its output goes to the channel-layer group `group_of(key)`, which
watchers join; what a watcher asks of the session (join, leave, take over,
release, keystrokes once taken over) goes as a message to that channel, so the
session's own consumer decides. Both are names the channel layer routes to the
process holding the shell, so a watcher may be served by any process.

The list is this process's on a single-host install (the in-memory channel layer
serves every socket from one process). With REDIS_URL it is shared by every server
process: a hash in that Redis, each process keeping its own entries fresh every
SESSION_HEARTBEAT seconds; an entry STALE_BEATS beats old (its process is gone,
and its shells with it) is left out and dropped.

A session that opens or closes is announced, as `{"type": "sessions.changed"}`, to its
owner's group `owner_group(owner)`, which the pages listing that student's terminals
join: through the channel layer, so to every process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypedDict

from channels.layers import get_channel_layer
from django.conf import settings

from dashboard import access
from dashboard.access import Perm

log = logging.getLogger(__name__)

RECENT_BYTES = 64 * 1024  # output a watcher is shown on joining (the screen so far)
STALE_BEATS = 3  # heartbeats an entry of the shared list outlives its last refresh
REDIS_KEY = "dockdash:sessions"  # the shared list: session key -> the session, as JSON


@dataclass(frozen=True)
class OpenSession:
    key: str  # unguessable: it names the session in the watch URL
    container_id: str
    container_name: str
    owner: str | None  # the container's owner: who may watch is decided by it
    opened_by: str
    channel: str  # of the consumer that holds the shell
    exec_id: str
    opened: float = field(default_factory=time.time)

    @property
    def opened_at(self) -> datetime:
        return datetime.fromtimestamp(self.opened, tz=UTC)


class WatchState(TypedDict):
    """Sent to the student's terminal and to every watcher when who watches or types changes."""

    type: Literal["watchers"]
    watchers: list[str]
    typist: str | None


class _Sessions(Protocol):
    def add(self, session: OpenSession) -> None: ...
    def remove(self, key: str) -> None: ...
    def get(self, key: str) -> OpenSession | None: ...
    def all(self) -> list[OpenSession]: ...


class _Here:
    """The sessions of this process."""

    def __init__(self) -> None:
        self._open: dict[str, OpenSession] = {}
        self._lock = threading.Lock()

    def add(self, session: OpenSession) -> None:
        with self._lock:
            self._open[session.key] = session

    def remove(self, key: str) -> None:
        with self._lock:
            self._open.pop(key, None)

    def get(self, key: str) -> OpenSession | None:
        with self._lock:
            return self._open.get(key)

    def all(self) -> list[OpenSession]:
        with self._lock:
            return list(self._open.values())


class _Shared:
    """The sessions of every process, in Redis; this process's own kept fresh there.

    Should Redis fail, a process still knows its own sessions (and says so in its log).
    """

    def __init__(self, url: str) -> None:
        import redis  # the optional scale-out install (channels-redis needs it too)

        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._mine = _Here()
        # Held while this process's entries change: a refresh never writes back one removed.
        self._writing = threading.Lock()
        threading.Thread(target=self._refresh, name="dockdash-sessions", daemon=True).start()

    def add(self, session: OpenSession) -> None:
        with self._writing:
            self._mine.add(session)
            self._write([session])

    def remove(self, key: str) -> None:
        with self._writing:
            self._mine.remove(key)
            try:
                self._redis.hdel(REDIS_KEY, key)
            except self._errors:
                log.exception("terminal session %s: not removed from the shared list", key)

    def get(self, key: str) -> OpenSession | None:
        try:
            raw = self._redis.hget(REDIS_KEY, key)
        except self._errors:
            log.exception("the shared list of terminal sessions cannot be read")
            return self._mine.get(key)
        return self._fresh(key, raw)

    def all(self) -> list[OpenSession]:
        try:
            entries = self._redis.hgetall(REDIS_KEY)
        except self._errors:
            log.exception("the shared list of terminal sessions cannot be read")
            return self._mine.all()
        found = (self._fresh(str(key), raw) for key, raw in entries.items())
        return [session for session in found if session is not None]

    def _fresh(self, key: str, raw: str | bytes | None) -> OpenSession | None:
        """The session of an entry, or None when there is none or it is stale (dropped)."""
        if raw is None:
            return None
        entry = json.loads(raw)
        if entry.pop("expires") < time.time():
            with contextlib.suppress(*self._errors):  # the next reader drops it then
                self._redis.hdel(REDIS_KEY, key)
            return None
        return OpenSession(**entry)

    def _write(self, sessions: list[OpenSession]) -> None:
        if not sessions:
            return
        expires = time.time() + settings.SESSION_HEARTBEAT * STALE_BEATS
        entries = {
            s.key: json.dumps({**dataclasses.asdict(s), "expires": expires}) for s in sessions
        }
        try:
            self._redis.hset(REDIS_KEY, mapping=entries)  # type: ignore[arg-type]
        except self._errors:
            log.exception("terminal sessions not written to the shared list")

    def _refresh(self) -> None:
        while True:
            time.sleep(settings.SESSION_HEARTBEAT)
            with self._writing:
                self._write(self._mine.all())


@functools.cache
def _sessions() -> _Sessions:
    return _Shared(settings.REDIS_URL) if settings.REDIS_URL else _Here()


def new_key() -> str:
    return secrets.token_urlsafe(12)


def group_of(key: str) -> str:
    return f"exec-watch.{key}"


def owner_group(owner: str) -> str:
    """The group told when a session in `owner`'s containers opens or closes (hashed: a
    group's name is ASCII, a username need not be)."""
    return f"sessions-of.{hashlib.sha256(owner.encode()).hexdigest()[:32]}"


async def add(session: OpenSession) -> None:
    """List `session` and announce it to its owner's group."""
    await asyncio.to_thread(_sessions().add, session)  # blocks on Redis with REDIS_URL
    await _announce(session.owner)


async def remove(session: OpenSession) -> None:
    """Unlist `session` and announce it to its owner's group."""
    await asyncio.to_thread(_sessions().remove, session.key)
    await _announce(session.owner)


async def _announce(owner: str | None) -> None:
    if owner:  # a container without an owner is no student's: no page lists its sessions
        await get_channel_layer().group_send(owner_group(owner), {"type": "sessions.changed"})


def recheck_every() -> float | None:
    """How often a page listing sessions reads the list again, for those of a process that
    died (its sessions end unannounced and leave the shared list within STALE_BEATS
    beats); None when the list is this process's own (it dies with its pages)."""
    return settings.SESSION_HEARTBEAT if settings.REDIS_URL else None


def get(key: str) -> OpenSession | None:
    return _sessions().get(key)


def watchable_by(user: Any, owner: str = "") -> list[OpenSession]:
    """The open sessions `user` may watch (those in containers they may open a shell in),
    of containers owned by `owner` when given; oldest first."""
    found: Iterable[OpenSession] = _sessions().all()
    return sorted(
        (
            s
            for s in found
            if (not owner or s.owner == owner) and access.can(user, Perm.EXEC, s.owner)
        ),
        key=lambda s: s.opened,
    )


def open_per_owner() -> Counter[str]:
    """How many sessions are open in each owner's containers."""
    return Counter(s.owner for s in _sessions().all() if s.owner)


def keep_recent(buffer: bytearray, data: bytes) -> None:
    """Append `data` to the session's recent output, keeping its last RECENT_BYTES."""
    buffer.extend(data)
    if len(buffer) > RECENT_BYTES:
        del buffer[: len(buffer) - RECENT_BYTES]
