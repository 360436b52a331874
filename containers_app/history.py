"""Stats history in the database: what the sampler read, downsampled, kept until retention.

The sampler (containers_app.stats) hands each reading to its `Recorder`, which only
adds it to the open buckets of its container (a fine and a coarse step, means); the
writer loop takes the buckets that closed and writes them in one batch, on a thread
of its own, so a tick never waits for the database. One server process per host
writes, for every engine: the one holding the lock file `history.lock`
(dashboard.hostlocks); the others' samplers record nothing. While no page keeps a
sampler ticking, the writer asks it for one sweep per fine step, so history goes on
when nobody watches (its rates are then the means over the step, from the cumulative
counters). Points older than their step's retention are pruned every
HISTORY_PRUNE_INTERVAL seconds, and a removed container's row once its last point is
gone.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection

from containers_app.engine.errors import EngineError
from containers_app.models import StatsContainer, StatsPoint
from dashboard.hostlocks import HostLock

if TYPE_CHECKING:
    from containers_app.stats import StatsSampler

log = logging.getLogger(__name__)

# Fields of a history point, in the order of the columns the websocket and the API send.
FIELDS = (
    "t",
    "cpu_percent",
    "mem_usage",
    "mem_limit",
    "net_rx",
    "net_tx",
    "blk_read",
    "blk_write",
    "pids",
)
Point = tuple[float, ...]  # one value per field of FIELDS
# The columns of StatsPoint after `t`, in the order of FIELDS.
_COLUMNS = ("cpu", "mem_usage", "mem_limit", "net_rx", "net_tx", "blk_read", "blk_write", "pids")
CPU_SCALE = 100  # StatsPoint.cpu is in hundredths of a percent
WRITE_BATCH = 500


def columns(points: Iterable[Point]) -> list[list[float | None]]:
    """Points as columns (one list per field of FIELDS), the shape pages and scripts read."""
    rows = list(points)
    return [[row[i] for row in rows] for i in range(len(FIELDS))]


# ---------------------------------------------------------------- ranges a user may ask


@dataclass(frozen=True)
class Range:
    seconds: int
    coarse: bool  # read the coarse step's points (else the fine step's)

    @property
    def step(self) -> int:
        return settings.HISTORY_COARSE_STEP if self.coarse else settings.HISTORY_FINE_STEP


RANGES = {
    "1h": Range(3600, False),
    "24h": Range(24 * 3600, False),
    "7d": Range(7 * 24 * 3600, True),
}


def stored_points(container_id: str, span: Range, now: float | None = None) -> list[Point]:
    """The stored points of `container_id` over the last `span`, oldest first."""
    since = (time.time() if now is None else now) - span.seconds
    rows = StatsPoint.objects.filter(
        container__container_id=container_id, step=span.step, t__gte=since
    ).order_by("t")
    return [
        (float(t), cpu / CPU_SCALE, *map(float, rest))
        for t, cpu, *rest in rows.values_list("t", *_COLUMNS)
    ]


def kept_container(ref: str) -> StatsContainer | None:
    """The stored row of a container the engine no longer has: by full or short id, or
    name (the newest of that name)."""
    rows = StatsContainer.objects.order_by("-pk")
    found = rows.filter(container_id=ref).first() or rows.filter(name=ref.lstrip("/")).first()
    if found is None and len(ref) >= 12:
        found = rows.filter(container_id__startswith=ref).first()
    return found


# ---------------------------------------------------------------- downsampling (sampler's thread)


@dataclass
class _Bucket:
    start: int
    name: str
    owner: str | None
    sums: list[float]
    n: int = 0


@dataclass(frozen=True)
class Mean:
    """One closed bucket: the means of a container's points over [t, t + step)."""

    container_id: str
    name: str
    owner: str | None
    step: int
    t: int
    values: tuple[float, ...]  # the fields of FIELDS after `t`


@dataclass
class Recorder:
    """Buckets of each container's points, one per step; `add` on the sampler's thread,
    `take` on the writer's."""

    steps: tuple[int, ...]
    _open: dict[tuple[str, int], _Bucket] = field(default_factory=dict)
    _closed: list[Mean] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, container_id: str, name: str, owner: str | None, point: Point) -> None:
        with self._lock:
            for step in self.steps:
                start = int(point[0] // step * step)
                key = (container_id, step)
                bucket = self._open.get(key)
                if bucket is not None and bucket.start != start:
                    self._closed.append(_mean(container_id, step, bucket))
                    bucket = None
                if bucket is None:
                    bucket = self._open[key] = _Bucket(start, name, owner, [0.0] * len(_COLUMNS))
                for i, value in enumerate(point[1:]):
                    bucket.sums[i] += value
                bucket.n += 1

    def take(self, now: float) -> list[Mean]:
        """The buckets closed since the last take, and those no reading can reach any more
        at `now` (a stopped container's last ones; math.inf: all)."""
        grace = min(self.steps)
        with self._lock:
            for key, bucket in list(self._open.items()):
                if bucket.start + key[1] + grace <= now:
                    self._closed.append(_mean(key[0], key[1], bucket))
                    del self._open[key]
            taken, self._closed = self._closed, []
        return taken


def _mean(container_id: str, step: int, bucket: _Bucket) -> Mean:
    values = tuple(s / bucket.n for s in bucket.sums)
    return Mean(container_id, bucket.name, bucket.owner, step, bucket.start, values)


# ---------------------------------------------------------------- the database (writer's thread)


class Store:
    """Writes and prunes the stored history; keeps the ids of the containers it wrote."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[int, str, str | None]] = {}  # container id: (pk, name, owner)

    def write(self, means: list[Mean]) -> int:
        """Store `means` in one transaction per batch; a point stored already is kept."""
        if not means:
            return 0
        pks = self._container_pks({m.container_id: (m.name, m.owner) for m in means})
        points = [
            StatsPoint(
                container_id=pks[m.container_id],
                step=m.step,
                t=m.t,
                cpu=round(m.values[0] * CPU_SCALE),
                **{name: round(v) for name, v in zip(_COLUMNS[1:], m.values[1:], strict=True)},
            )
            for m in means
        ]
        StatsPoint.objects.bulk_create(points, batch_size=WRITE_BATCH, ignore_conflicts=True)
        return len(points)

    def _container_pks(self, seen: dict[str, tuple[str, str | None]]) -> dict[str, int]:
        new = [cid for cid in seen if cid not in self._rows]
        if new:
            StatsContainer.objects.bulk_create(
                [
                    StatsContainer(container_id=c, name=seen[c][0], owner=seen[c][1] or "")
                    for c in new
                ],
                ignore_conflicts=True,
            )
            for pk, cid, name, owner in StatsContainer.objects.filter(
                container_id__in=new
            ).values_list("pk", "container_id", "name", "owner"):
                self._rows[cid] = (pk, name, owner or None)
        for cid, (name, owner) in seen.items():
            pk, kept_name, kept_owner = self._rows[cid]
            if (name, owner) != (kept_name, kept_owner):  # renamed (or relabelled)
                StatsContainer.objects.filter(pk=pk).update(name=name, owner=owner or "")
                self._rows[cid] = (pk, name, owner)
        return {cid: self._rows[cid][0] for cid in seen}

    def prune(self, now: float) -> int:
        """Delete points past their step's retention, then containers left without points."""
        keep = {
            settings.HISTORY_FINE_STEP: settings.HISTORY_FINE_RETENTION,
            settings.HISTORY_COARSE_STEP: settings.HISTORY_COARSE_RETENTION,
        }
        deleted = 0
        # One container at a time: each delete walks the (container, step, t) index.
        for pk in StatsContainer.objects.values_list("pk", flat=True):
            for step, seconds in keep.items():
                points = StatsPoint.objects.filter(container_id=pk, step=step, t__lt=now - seconds)
                deleted += points.delete()[0]
        StatsContainer.objects.filter(points__isnull=True).delete()
        self._rows.clear()  # some may be gone: read again at the next write
        return deleted


# ---------------------------------------------------------------- the loop


class Loop:
    """The history writer of one process: writes while it holds the host's history lock,
    what each engine's sampler (`samplers()`, each under its engine) recorded."""

    def __init__(self, samplers: Callable[[], Iterator[StatsSampler]]) -> None:
        self.samplers = samplers
        self.recording: list[StatsSampler] = []  # those it gave a recorder
        self.store = Store()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dockdash-history", daemon=True)

    def start(self) -> Loop:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=settings.DOCKER_TIMEOUT)

    def _run(self) -> None:
        lock = HostLock("history.lock")
        holding = False
        next_prune = 0.0
        step = settings.HISTORY_FINE_STEP
        try:
            while not self._stop.is_set():
                holding = holding or lock.take()
                if holding:
                    try:
                        for sampler in self.samplers():
                            self._write(sampler)
                        if time.monotonic() >= next_prune:
                            next_prune = time.monotonic() + settings.HISTORY_PRUNE_INTERVAL
                            self.store.prune(time.time())
                    except Exception:  # a failed write must not end the loop: log, go on
                        log.exception("writing stats history failed")
                    finally:
                        connection.close()
                # Wake in the middle of a fine step: a sweep of its own lands in each bucket.
                now = time.time()
                self._stop.wait((math.floor(now / step - 0.5) + 1.5) * step - now)
            self._flush()
        finally:
            lock.close()

    def _write(self, sampler: StatsSampler) -> None:
        """One engine's closed buckets; a sweep first while no viewer keeps it ticking."""
        if sampler.recorder is None:
            steps = (settings.HISTORY_FINE_STEP, settings.HISTORY_COARSE_STEP)
            sampler.recorder = Recorder(tuple(sorted(set(steps))))
            self.recording.append(sampler)
        try:
            sampler.sweep_unless_ticking()
        except EngineError as exc:  # that engine is down: what it recorded is still written
            log.warning("stats history of %s: %s", sampler.address.name, exc.message)
        self.store.write(sampler.recorder.take(time.time()))

    def _flush(self) -> None:
        """At exit, what the buckets hold (the last, partial ones too)."""
        try:
            for sampler in self.recording:
                recorder, sampler.recorder = sampler.recorder, None
                if recorder is not None:
                    self.store.write(recorder.take(math.inf))
        finally:
            connection.close()


def start(samplers: Callable[[], Iterator[StatsSampler]]) -> Loop | None:
    """This process's history writer for each engine's sampler, unless
    DOCKDASH_STATS_HISTORY=0; it writes what they hold when the process exits."""
    if not settings.STATS_HISTORY:
        return None
    loop = Loop(samplers).start()
    atexit.register(loop.stop)
    return loop
