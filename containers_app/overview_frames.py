"""The compact frames of /ws/stats/?compact=1, encoded once per audience and tick.

A frame of every container as objects costs a process that pushes it to a hundred
viewers of 800 containers more than it has: each tick, the overview page gets
instead the rows that changed since the previous tick, as arrays in the order of
`ROW_FIELDS` (named once, in the full frame), and the ids of the rows gone. An
audience is everyone who sees the same containers (all who see everything share
one; a student is their own): its texts are built by the first of its viewers to
need them in a tick, and sent as they are to the others.

A viewer that missed a tick (it had not said it drew the frame before) gets the
next full frame instead of a change it could not apply.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from containers_app.stats import ContainerSample, StatsFrame

# What the overview shows of each container.
ROW_FIELDS = (
    "id",
    "name",
    "cpu_percent",
    "mem_usage",
    "mem_limit",
    "mem_percent",
    "net_rx",
    "net_tx",
    "blk_read",
    "blk_write",
    "pids",
    "pids_limit",
)

FORGET_AFTER = 60.0  # seconds an audience nobody asked for is kept


def _text(frame: StatsFrame, **rest: Any) -> str:
    head = {"type": "stats", "t": frame["t"]}  # first: readers match the head alone
    body = {"host": frame["host"], "engine_error": frame["engine_error"], **rest}
    return json.dumps({**head, **body}, separators=(",", ":"))


@dataclass
class Audience:
    """What one audience got at its latest tick `t`."""

    t: float | None = None
    prev_t: float | None = None  # the tick `delta` goes on from
    rows: dict[str, list[Any]] = field(default_factory=dict)
    full: str = ""
    delta: str | None = None

    def advance(self, frame: StatsFrame, samples: Sequence[ContainerSample]) -> None:
        rows = {s["id"]: [s[name] for name in ROW_FIELDS] for s in samples}  # type: ignore[literal-required]
        changed = [row for cid, row in rows.items() if self.rows.get(cid) != row]
        gone = [cid for cid in self.rows if cid not in rows]
        self.prev_t, self.t = self.t, frame["t"]
        self.full = _text(frame, full=True, fields=ROW_FIELDS, rows=list(rows.values()))
        first = self.prev_t is None
        self.delta = None if first else _text(frame, full=False, rows=changed, gone=gone)
        self.rows = rows

    def text_for(self, sent_t: float | None) -> str:
        """The frame of this tick for a viewer whose last frame was that of `sent_t`."""
        if self.delta is not None and sent_t is not None and sent_t == self.prev_t:
            return self.delta
        return self.full


class CompactFrames:
    """The audiences of one sampler's frames."""

    def __init__(self) -> None:
        self._audiences: dict[str, Audience] = {}

    def audience(
        self,
        key: str,
        frame: StatsFrame,
        visible: Callable[[list[ContainerSample]], list[ContainerSample]],
    ) -> Audience:
        """The audience `key` at the tick of `frame`, advanced to it by the first who asks."""
        found = self._audiences.get(key)
        if found is None:
            found = self._audiences[key] = Audience()
        if found.t != frame["t"]:
            found.advance(frame, visible(frame["containers"]))
            self._forget_idle(frame["t"])
        return found

    def _forget_idle(self, now: float) -> None:
        for key, audience in list(self._audiences.items()):
            if audience.t is not None and now - audience.t > FORGET_AFTER:
                del self._audiences[key]
