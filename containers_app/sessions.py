"""The terminal sessions open in this process, for watching over a student's shoulder.

Each open exec terminal (containers_app.consumers.ContainerExecConsumer) is listed
here while it runs: whose container, who opened it, and the channel of its
consumer. Its output goes to the channel-layer group `group_of(key)`, which
watchers join; what a watcher asks of the session (join, leave, take over,
release, keystrokes once taken over) goes as a message to that channel, so the
session's own consumer decides. The list is of this process: a single-host
install (the in-memory channel layer) serves every socket from one process.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict

from dashboard import access
from dashboard.access import Perm

RECENT_BYTES = 64 * 1024  # output a watcher is shown on joining (the screen so far)


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


_open: dict[str, OpenSession] = {}
_lock = threading.Lock()


def new_key() -> str:
    return secrets.token_urlsafe(12)


def group_of(key: str) -> str:
    return f"exec-watch.{key}"


def add(session: OpenSession) -> None:
    with _lock:
        _open[session.key] = session


def remove(key: str) -> None:
    with _lock:
        _open.pop(key, None)


def get(key: str) -> OpenSession | None:
    with _lock:
        return _open.get(key)


def watchable_by(user: Any, owner: str = "") -> list[OpenSession]:
    """The open sessions `user` may watch (those in containers they may open a shell in),
    of containers owned by `owner` when given; oldest first."""
    with _lock:
        found: Iterable[OpenSession] = list(_open.values())
    return sorted(
        (
            s
            for s in found
            if (not owner or s.owner == owner) and access.can(user, Perm.EXEC, s.owner)
        ),
        key=lambda s: s.opened,
    )


def keep_recent(buffer: bytearray, data: bytes) -> None:
    """Append `data` to the session's recent output, keeping its last RECENT_BYTES."""
    buffer.extend(data)
    if len(buffer) > RECENT_BYTES:
        del buffer[: len(buffer) - RECENT_BYTES]
