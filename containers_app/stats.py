"""The live stats sampler: one per process per engine endpoint, shared by every viewer.

Each tick it reads the cgroup files of every running container (found from
`/proc/<pid>/cgroup`, see containers_app.cgroups), the network counters in
`/proc/<pid>/net/dev` and the host's `/proc/stat` and `/proc/meminfo`, turns
cumulative counters into rates, keeps a history per container and publishes ONE
frame per tick to a channel-layer group. Consumers only join that group.

The running set comes from one container list call, refreshed when a Docker
event says a container started or died (and every RELIST_EVERY ticks as a
safety net); each new container is inspected once for its PID, never per tick.
Where the cgroup files cannot be read (a remote engine, or the cgroup is not
visible from here) the sampler falls back to the engine's stats API, with one
upstream stream per container whatever the number of viewers.

The sampler starts with its first subscriber and stops GRACE seconds after the
last one left. File reads and docker calls run on its own worker thread, never
on the event loop. The end-of-lesson culler reads each container's counters from
it (`fresh_totals`): the last tick's while viewers keep it ticking, else those of a
sweep the culler's thread asks for; one sweep at a time, so a host's cgroups are read
once per tick however many need them. In the process that writes the host's stats
history, each reading also goes to its `recorder` (containers_app.history), which only
adds it to a bucket: the database is written on the history writer's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypedDict

from channels.layers import get_channel_layer
from django.conf import settings

from containers_app import cgroups, engines, events, translate
from containers_app.engine import client as engine_client
from containers_app.engine.containers import inspect_container, running_containers
from containers_app.engine.errors import EngineError
from containers_app.engine.streams import Stream, stats_stream
from containers_app.history import FIELDS, Recorder, columns
from containers_app.watched import Watched
from dashboard import access
from dashboard.records import CLASS_LABEL, ContainerRecord

log = logging.getLogger(__name__)

PROC = cgroups.PROC
RELIST_EVERY = 30  # ticks between two list calls when no event said anything changed
# Ticks between two reads of all of an idle container's files (one that used no CPU, and
# whose memory in use and processes stayed): the others wait for them to move.
READ_ALL_EVERY = 5
RELIST_ACTIONS = {"start", "restart", "die", "kill", "destroy", "pause", "unpause"}
FINE_SECONDS = 15 * 60
COARSE_SECONDS = 6 * 60 * 60
COARSE_STEP = 10.0
# A container whose first process started this many seconds ago (at least the
# first, so that its first CFS periods weigh little) reads its CPU on its first tick.
FRESH_START = (0.5, 5.0)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Ticks without a frame from an engine's stats agent before its viewers are told.
AGENT_QUIET_TICKS = 3


class ContainerSample(TypedDict):
    id: str
    name: str
    owner: str | None
    cpu_percent: float  # of one core: two busy cores read 200
    cpu_limit: float | None  # CPUs it may use (--cpus or a CFS quota); None: no limit
    cpu_of_limit: float  # cpu_percent against cpu_limit (else the host's CPUs): 100 = all it may
    mem_usage: int  # bytes, without inactive file cache
    mem_limit: int  # bytes; the host's memory when the container has no limit
    mem_limited: bool  # False: no limit of its own (mem_limit is the host's memory)
    mem_percent: float
    net_rx: float  # bytes/s, all interfaces but lo
    net_tx: float
    blk_read: float  # bytes/s
    blk_write: float
    pids: int
    pids_limit: int | None
    throttled: int  # CPU periods held back by its quota since the last tick
    oom_kills: int  # processes the OOM killer ended in it since it started
    source: Literal["cgroup", "api"]


class HostSample(TypedDict):
    cpu_percent: float  # of one core, like the containers'
    ncpu: int
    mem_used: int
    mem_total: int


class StatsFrame(TypedDict):
    type: Literal["stats"]
    t: float
    host: HostSample
    containers: list[ContainerSample]
    engine_error: str  # "": the engine answered the last list call; else why it did not


@dataclass(frozen=True)
class ContainerTotals:
    """A container at the last sweep: its sample, and what it used since it started
    (the cgroup's cumulative counters; None: not readable)."""

    sample: ContainerSample
    t: float  # when read: seconds on the counters' clock (monotonic; the engine's for the API)
    course: str | None  # the class it belongs to (its dockdash.class label)
    restarts: int  # restarts by its restart policy, as its last start found them
    cpu_seconds: float | None
    net_rx: int | None  # bytes
    net_tx: int | None
    blk_read: int | None
    blk_write: int | None


class History(TypedDict):
    """Columns of FIELDS: `fine` at the tick rate (15 min), `coarse` 10 s means (6 h)."""

    fields: list[str]
    fine: list[list[float | None]]
    coarse: list[list[float | None]]


# ---------------------------------------------------------------- readers of /proc


def parse_net_dev(text: str | bytes) -> tuple[int, int]:
    """(rx bytes, tx bytes) summed over every interface but lo, from /proc/<pid>/net/dev."""
    data = text.encode() if isinstance(text, str) else text
    rx = tx = 0
    for line in data.splitlines()[2:]:
        name, sep, rest = line.partition(b":")
        if not sep or name.strip() == b"lo":
            continue
        fields = rest.split()
        if len(fields) >= 9:
            rx += int(fields[0])
            tx += int(fields[8])
    return rx, tx


def read_net_dev(file: cgroups.KeptFile) -> tuple[int, int] | None:
    """parse_net_dev of a process's /proc/<pid>/net/dev, None when the process is gone."""
    data = file.read()
    if data is None:
        return None
    try:
        return parse_net_dev(data)
    except ValueError:
        return None


def parse_proc_stat_cpu(text: str) -> tuple[int, int]:
    """(busy jiffies, total jiffies) of all CPUs, from /proc/stat."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
            # guest time is already counted in user/nice
            total = sum(values[:8])
            return total - idle, total
    return 0, 0


def parse_meminfo(text: str) -> tuple[int, int]:
    """(used bytes, total bytes) from /proc/meminfo; used is total minus available."""
    kv = cgroups.parse_kv(text.replace(":", " ").replace(" kB", ""))
    total = kv.get("MemTotal", 0) * 1024
    available = kv.get("MemAvailable", kv.get("MemFree", 0)) * 1024
    return total - available, total


def host_memory_total(proc: Path = PROC) -> int:
    try:
        return parse_meminfo((proc / "meminfo").read_text())[1]
    except OSError:
        return 0


class _HostMeter:
    def __init__(self, proc: Path = PROC):
        self.proc = proc
        self.ncpu = os.cpu_count() or 1
        self.prev: tuple[int, int] | None = None

    def sample(self) -> HostSample:
        try:
            busy, total = parse_proc_stat_cpu((self.proc / "stat").read_text())
            used, mem_total = parse_meminfo((self.proc / "meminfo").read_text())
        except OSError:
            return {"cpu_percent": 0.0, "ncpu": self.ncpu, "mem_used": 0, "mem_total": 0}
        percent = 0.0
        if self.prev is not None and total > self.prev[1]:
            percent = (busy - self.prev[0]) / (total - self.prev[1]) * self.ncpu * 100
        self.prev = (busy, total)
        return {
            "cpu_percent": round(percent, 2),
            "ncpu": self.ncpu,
            "mem_used": used,
            "mem_total": mem_total,
        }


# ---------------------------------------------------------------- one container


@dataclass
class _Counters:
    """Cumulative counters at one moment (seconds on some monotonic clock)."""

    t: float
    cpu_ns: int | None
    rx: int | None
    tx: int | None
    blk_read: int | None
    blk_write: int | None
    throttled: int | None = None


@dataclass
class _Reading:
    counters: _Counters
    mem_usage: int
    mem_limit: int | None
    pids: int
    pids_limit: int | None
    oom_kills: int = 0


def _rate(new: int | None, old: int | None, seconds: float) -> float:
    if new is None or old is None or seconds <= 0 or new < old:
        return 0.0
    return (new - old) / seconds


def _parse_engine_time(text: str) -> float | None:
    # "2026-11-27T22:10:00.123456789Z": Python parses at most microseconds.
    try:
        head, _, frac = text.rstrip("Z").partition(".")
        stamp = datetime.fromisoformat(head + "+00:00").timestamp()
        return stamp + (float("0." + frac) if frac.isdigit() else 0.0)
    except ValueError:
        return None


def reading_from_api(raw: dict[str, Any]) -> _Reading | None:
    """A reading out of one Docker stats API sample (the fallback source)."""
    t = _parse_engine_time(str(raw.get("read", "")))
    cpu = (raw.get("cpu_stats") or {}).get("cpu_usage") or {}
    if t is None or "total_usage" not in cpu:
        return None
    memory = raw.get("memory_stats") or {}
    stat = memory.get("stats") or {}
    usage = int(memory.get("usage", 0))
    inactive = int(stat.get("total_inactive_file", stat.get("inactive_file", 0)))
    nets = (raw.get("networks") or {}).values()
    blk_read = blk_write = 0
    for entry in (raw.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = str(entry.get("op", "")).lower()
        if op == "read":
            blk_read += int(entry.get("value", 0))
        elif op == "write":
            blk_write += int(entry.get("value", 0))
    pids = raw.get("pids_stats") or {}
    limit = memory.get("limit")
    throttling = (raw.get("cpu_stats") or {}).get("throttling_data") or {}
    return _Reading(
        counters=_Counters(
            t=t,
            cpu_ns=int(cpu["total_usage"]),
            rx=sum(int(n.get("rx_bytes", 0)) for n in nets),
            tx=sum(int(n.get("tx_bytes", 0)) for n in nets),
            blk_read=blk_read,
            blk_write=blk_write,
            throttled=int(throttling.get("throttled_periods", 0)),
        ),
        mem_usage=usage - inactive if inactive < usage else usage,
        mem_limit=int(limit) if limit else None,
        pids=int(pids.get("current", 0)),
        pids_limit=int(pids["limit"]) if pids.get("limit") else None,
    )


class _ApiFeed:
    """One engine stats stream for one container, read on a thread; keeps the latest sample."""

    def __init__(self, container_id: str):
        self.container_id = container_id
        self.latest: dict[str, Any] | None = None
        self._stream: Stream | None = None
        self._closed = False
        self._thread = threading.Thread(
            target=engine_client.carrying(self._run),
            name=f"stats-api-{container_id[:12]}",
            daemon=True,
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            self._stream = stats_stream(self.container_id)
            if self._closed:
                self._stream.close()
                return
            for raw in self._stream:
                self.latest = raw
        except EngineError as exc:
            log.info("stats stream of %s ended: %s", self.container_id[:12], exc.message)
        except Exception as exc:  # noqa: BLE001 - closed under the reader, or broken
            if not self._closed:
                log.info("stats stream of %s broke: %s", self.container_id[:12], exc)

    def close(self) -> None:
        self._closed = True
        if self._stream is not None:
            self._stream.close()


@dataclass
class _Tracked:
    id: str
    name: str
    owner: str | None
    pid: int
    dirs: dict[str, Path]
    cpu_limit: float | None = None
    course: str | None = None
    restarts: int = 0
    reader: cgroups.UsageReader | None = None
    net_dev: cgroups.KeptFile | None = None
    net: tuple[int, int] | None = None  # the last read of net_dev
    phase: int = 0  # ticks after which its files are all read (spreads them over ticks)
    feed: _ApiFeed | None = None
    prev: _Counters | None = None
    last: ContainerSample | None = None


def _reading_from_cgroups(tracked: _Tracked, keep_open: bool, everything: bool) -> _Reading | None:
    """A reading of the container's files; without `everything`, those that cost the most
    (memory.stat, /proc/<pid>/net/dev, ...) only if its CPU time, memory or processes moved
    (cgroups.UsageReader.read)."""
    if tracked.reader is None or tracked.net_dev is None:
        tracked.reader = cgroups.UsageReader(tracked.dirs, keep_open=keep_open)
        tracked.net_dev = cgroups.KeptFile(
            str(PROC / str(tracked.pid) / "net" / "dev"), keep_open=keep_open
        )
    usage = tracked.reader.read(everything=everything)
    if usage.cpu_ns is None and usage.mem_usage is None:
        return None  # the cgroup is gone: the container stopped
    if tracked.reader.read_all or tracked.net is None:
        tracked.net = read_net_dev(tracked.net_dev)
    net = tracked.net
    return _Reading(
        counters=_Counters(
            t=time.monotonic(),
            cpu_ns=usage.cpu_ns,
            rx=net[0] if net else None,
            tx=net[1] if net else None,
            blk_read=usage.blk_read,
            blk_write=usage.blk_write,
            throttled=usage.throttled,
        ),
        mem_usage=usage.mem_usage or 0,
        mem_limit=usage.mem_limit,
        pids=usage.pids or 0,
        pids_limit=usage.pids_limit,
        oom_kills=usage.oom_kills or 0,
    )


def process_age(pid: int, proc: Path = PROC) -> float | None:
    """Seconds since process `pid` started (field 22 of /proc/<pid>/stat), None when gone."""
    try:
        fields = (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return None
    return time.clock_gettime(time.CLOCK_BOOTTIME) - started


def _at_start(tracked: _Tracked, now: _Counters) -> _Counters | None:
    """The cgroup's counters when the container's first process started (all zero: its
    cgroup is new), for a first reading moments after: a just-started burner reads busy
    on its first tick instead of idle until the second."""
    age = process_age(tracked.pid)
    if age is None or not FRESH_START[0] <= age <= FRESH_START[1]:
        return None
    return _Counters(
        t=now.t - age, cpu_ns=0, rx=None, tx=None, blk_read=None, blk_write=None, throttled=0
    )


# ---------------------------------------------------------------- history


@dataclass
class _Series:
    fine: deque[tuple[float, ...]]
    coarse: deque[tuple[float, ...]]
    bucket: list[tuple[float, ...]] = field(default_factory=list)

    def add(self, point: tuple[float, ...]) -> None:
        self.fine.append(point)
        if self.bucket and point[0] // COARSE_STEP != self.bucket[0][0] // COARSE_STEP:
            n = len(self.bucket)
            start = self.bucket[0][0] // COARSE_STEP * COARSE_STEP
            means = [sum(p[i] for p in self.bucket) / n for i in range(1, len(FIELDS))]
            self.coarse.append((start, *means))
            self.bucket = []
        self.bucket.append(point)


# ---------------------------------------------------------------- the sampler


class StatsSampler(Watched):
    """Samples every running container of one engine endpoint, once per tick."""

    def __init__(
        self,
        endpoint: str,
        *,
        interval: float | None = None,
        source: Literal["auto", "cgroup", "api", "agent"] = "auto",
        address: engine_client.Address | None = None,
    ):
        super().__init__()
        self.endpoint = endpoint
        # The engine its calls go to, whichever thread makes them.
        self.address = address or engine_client.Address(settings.ENGINE_NAME, endpoint)
        self.interval = float(interval or settings.STATS_INTERVAL)
        local = endpoint.startswith("unix://") or endpoint.startswith("/")
        self.source = source if source != "auto" else ("cgroup" if local else "api")
        # Relayed: the engine's agent sweeps and publishes each frame (containers_app.agent);
        # this sampler only takes them, so this process reads none of its files.
        self.relayed = self.address.agent and bool(settings.REDIS_URL)
        if self.relayed:
            self.source = "agent"
        self._redis: Any = None  # a client for the agent's last frame, made on first use
        self.sweeps = 0  # sweeps this process made (none while relayed)
        self._relayed_totals: list[ContainerTotals] = []
        self._relayed_host_cpu: float | None = None
        # An agent's: awaited after each sweep, to publish it (containers_app.agent).
        self.publisher: Callable[[StatsSampler], Awaitable[None]] | None = None
        digest = hashlib.sha1(endpoint.encode(), usedforsecurity=False).hexdigest()[:12]
        # One group per process too: with a shared (redis) channel layer each
        # process's viewers hear their own process's sampler only.
        self.group = f"stats.{os.getpid()}.{digest}"
        self.last_frame: StatsFrame | None = None
        self.last_text = ""
        self.sweep_seconds = 0.0
        self._tracked: dict[str, _Tracked] = {}
        self._series: dict[str, _Series] = {}
        # Set by the history writer of the process that writes this host's history.
        self.recorder: Recorder | None = None
        # Called with each sweep's frame on the sweeping thread (the alert rules): quick,
        # in memory, never a query or an engine call.
        self.observers: list[Callable[[StatsFrame, dict[str, str | None]], None]] = []
        self._lock = threading.Lock()  # history is read from request threads too
        # One sweep at a time: the ticking task's, or one a caller asks for while it is off.
        self._sweep_lock = threading.Lock()
        self._ticking = False
        self._host = _HostMeter()
        self._mem_total = host_memory_total()
        self._fd_budget = cgroups.open_file_budget()
        self._relist_needed = True
        self._events_generation = -1  # the events stream whose news it has followed
        self.engine_error = ""
        self._ticks = 0
        self._executor: ThreadPoolExecutor | None = None
        self._swept: asyncio.Event | None = None  # set after the next sweep, for next_frame

    # ------------------------------------------------------------ sweep (worker thread)

    def sweep(self) -> StatsFrame:
        """Sample every running container once; blocking, so never on the event loop."""
        with self._sweep_lock, engine_client.using(self.address):
            return self._sweep()

    def _sweep(self) -> StatsFrame:
        started = time.perf_counter()
        self.sweeps += 1
        # The events stream broke (the engine went away?), or nobody follows it (or it was
        # opened again, events in between unheard): no event would say what changed, ask now.
        following, stream = events.watcher.following, events.watcher.generation
        if events.watcher.engine_error or not following or stream != self._events_generation:
            self._relist_needed = True
        if self.endpoint != settings.DOCKER_HOST:
            # The events stream is the first engine's: another engine's news comes unheard.
            self._relist_needed = True
        self._events_generation = stream if following else -1
        if self._relist_needed or self._ticks % RELIST_EVERY == 0:
            self._relist()
        self._ticks += 1
        host = self._host.sample()
        wall = round(time.time(), 3)
        samples: list[ContainerSample] = []
        for tracked in list(self._tracked.values()):
            rated = tracked.prev is not None  # else its rates are no reading yet
            sample = self._sample(tracked)
            if sample is None:
                continue
            samples.append(sample)
            self._record(wall, sample, rated)
        frame: StatsFrame = {
            "type": "stats",
            "t": wall,
            "host": host,
            "containers": samples,
            "engine_error": self.engine_error,
        }
        self.last_frame = frame
        self.last_text = json.dumps(frame, separators=(",", ":"))
        self.sweep_seconds = time.perf_counter() - started
        courses = {cid: t.course for cid, t in self._tracked.items()} if self.observers else {}
        self._tell_observers(frame, courses)
        return frame

    def _tell_observers(self, frame: StatsFrame, courses: dict[str, str | None]) -> None:
        for observer in self.observers:
            try:
                observer(frame, courses)
            except Exception:  # an observer's bug must not stop the sampling
                log.exception("stats observer failed")

    def _relist(self) -> None:
        self._relist_needed = False
        try:
            running = {c["id"]: c for c in running_containers()}
        except EngineError as exc:
            if not self.engine_error:
                log.warning("stats: cannot list containers: %s", exc.message)
            self.engine_error = exc.message
            self._relist_needed = True  # ask again next tick: the page says it meanwhile
            return
        self.engine_error = ""
        for gone in set(self._tracked) - set(running):
            self._forget(gone)
        for cid, info in running.items():
            if cid in self._tracked:
                continue
            try:
                record = translate.container_record(inspect_container(cid))
            except EngineError:
                continue  # gone between the list and the inspect
            pid = record.pid
            if not pid:
                continue
            dirs = cgroups.container_cgroup_dirs(pid) if self.source == "cgroup" else {}
            tracked = _Tracked(
                id=cid,
                name=info["name"],
                owner=access.owner_of(info["labels"]),
                pid=pid,
                dirs=dirs,
                cpu_limit=record.cpus or None,
                course=info["labels"].get(CLASS_LABEL),
                restarts=record.restart_count,
                phase=len(self._tracked) % READ_ALL_EVERY,
            )
            if not dirs:
                tracked.feed = _ApiFeed(cid)
            self._tracked[cid] = tracked

    def _forget(self, cid: str) -> None:
        tracked = self._tracked.pop(cid, None)
        if tracked is None:
            return
        if tracked.feed is not None:
            tracked.feed.close()
        if tracked.reader is not None:
            tracked.reader.close()
        if tracked.net_dev is not None:
            tracked.net_dev.close()

    def _sample(self, tracked: _Tracked) -> ContainerSample | None:
        if tracked.feed is not None:
            raw = tracked.feed.latest
            reading = reading_from_api(raw) if raw else None
            if reading is None:
                return None  # the engine has not answered yet
        else:
            # Files stay open between ticks while this process may hold that many.
            keep_open = len(self._tracked) * (cgroups.UsageReader.FILES + 1) < self._fd_budget
            everything = (self._ticks + tracked.phase) % READ_ALL_EVERY == 0
            reading = _reading_from_cgroups(tracked, keep_open, everything)
            if reading is None:
                self._forget(tracked.id)
                self._relist_needed = True
                return None
        new, old = reading.counters, tracked.prev
        if old is None and tracked.feed is None:
            old = _at_start(tracked, new)
        cpu = rx = tx = br = bw = 0.0
        throttled = 0
        if old is not None and new.t > old.t:
            seconds = new.t - old.t
            cpu = _rate(new.cpu_ns, old.cpu_ns, seconds) / 1e9 * 100
            rx, tx = _rate(new.rx, old.rx, seconds), _rate(new.tx, old.tx, seconds)
            br = _rate(new.blk_read, old.blk_read, seconds)
            bw = _rate(new.blk_write, old.blk_write, seconds)
            throttled = int(_rate(new.throttled, old.throttled, 1.0))
        elif old is not None:
            return tracked.last  # the API feed has not moved since the last tick
        tracked.prev = new
        limit = reading.mem_limit or self._mem_total
        # A limit above the host's memory cannot be reached: show the host's.
        if self._mem_total and limit > self._mem_total:
            limit = self._mem_total
        cores = tracked.cpu_limit or self._host.ncpu
        tracked.last = {
            "id": tracked.id,
            "name": tracked.name,
            "owner": tracked.owner,
            "cpu_percent": round(cpu, 2),
            "cpu_limit": tracked.cpu_limit,
            "cpu_of_limit": round(cpu / cores, 2),
            "mem_usage": reading.mem_usage,
            "mem_limit": limit,
            "mem_limited": reading.mem_limit is not None and limit == reading.mem_limit,
            "mem_percent": round(reading.mem_usage / limit * 100, 2) if limit else 0.0,
            "net_rx": round(rx, 1),
            "net_tx": round(tx, 1),
            "blk_read": round(br, 1),
            "blk_write": round(bw, 1),
            "pids": reading.pids,
            "pids_limit": reading.pids_limit,
            "throttled": throttled,
            "oom_kills": reading.oom_kills,
            "source": "api" if tracked.feed is not None else "cgroup",
        }
        return tracked.last

    def _record(self, t: float, s: ContainerSample, rated: bool) -> None:
        point = (
            t,
            s["cpu_percent"],
            float(s["mem_usage"]),
            float(s["mem_limit"]),
            s["net_rx"],
            s["net_tx"],
            s["blk_read"],
            s["blk_write"],
            float(s["pids"]),
        )
        with self._lock:
            series = self._series.get(s["id"])
            if series is None:
                series = self._series[s["id"]] = _Series(
                    fine=deque(maxlen=max(1, int(FINE_SECONDS / self.interval))),
                    coarse=deque(maxlen=int(COARSE_SECONDS / COARSE_STEP)),
                )
            series.add(point)
        recorder = self.recorder
        if recorder is not None and rated:
            recorder.add(s["id"], s["name"], s["owner"], point)

    def fresh_totals(self) -> list[ContainerTotals]:
        """`last_sweep()` for a caller that judges use over spans of its own (the culler).

        While viewers keep the sampler ticking, the last tick's; while they do not, those
        of one sweep now, the host's only sweep at that moment (blocking: never on the
        event loop). A container read for the first time has no rate yet.
        """
        self.sweep_unless_ticking()
        return self.last_sweep()

    def sweep_unless_ticking(self) -> None:
        """One sweep now, unless viewers keep the sampler ticking (then its ticks sweep).

        Blocking: never on the event loop.
        """
        if self.relayed:
            if not self._ticking:
                self._take_latest()
            return
        with self._sweep_lock, engine_client.using(self.address):
            if not self._ticking:
                self._sweep()

    def _forget_all(self) -> None:
        with self._sweep_lock:
            for cid in list(self._tracked):
                self._forget(cid)
            self._relist_needed = True  # a sweep after this one (a start again) lists anew
            self._host.prev = None
            # What it last saw is not news when it starts again.
            self.last_frame = None
            self.last_text = ""

    # ------------------------------------------------------------ reading history (any thread)

    def history(self, container_id: str, *, fine_points: int | None = None) -> History:
        with self._lock:
            series = self._series.get(container_id)
            fine = list(series.fine) if series else []
            coarse = list(series.coarse) if series else []
        if fine_points is not None:
            fine = fine[-fine_points:]
        return {"fields": list(FIELDS), "fine": columns(fine), "coarse": columns(coarse)}

    def recent_cpu(self, container_id: str, points: int) -> list[float]:
        """A container's last `points` CPU figures, oldest first (a sparkline's): cheap
        enough to ask for every container whenever a viewer comes."""
        cpu = FIELDS.index("cpu_percent")
        with self._lock:
            series = self._series.get(container_id)
            newest = list(itertools.islice(reversed(series.fine), points)) if series else []
        return [point[cpu] for point in reversed(newest)]

    def last_sweep(self) -> list[ContainerTotals]:
        """Every container the last sweep sampled, with its cumulative counters."""
        if self.relayed:
            return list(self._relayed_totals)
        frame = self.last_frame
        rows = []
        for sample in frame["containers"] if frame else []:
            tracked = self._tracked.get(sample["id"])
            counters = tracked.prev if tracked is not None else None
            if tracked is None or counters is None:
                continue  # forgotten since (it stopped)
            rows.append(
                ContainerTotals(
                    sample=sample,
                    t=counters.t,
                    course=tracked.course,
                    restarts=tracked.restarts,
                    cpu_seconds=counters.cpu_ns / 1e9 if counters.cpu_ns is not None else None,
                    net_rx=counters.rx,
                    net_tx=counters.tx,
                    blk_read=counters.blk_read,
                    blk_write=counters.blk_write,
                )
            )
        return rows

    @property
    def host_cpu_seconds(self) -> float | None:
        """CPU seconds the host's CPUs were busy since boot, at the last sweep."""
        if self.relayed:
            return self._relayed_host_cpu
        prev = self._host.prev
        return prev[0] / CLOCK_TICKS if prev is not None else None

    async def next_frame(self, timeout: float) -> StatsFrame | None:
        """The last sweep's frame; right after a start, the first one (waiting `timeout` s)."""
        if self.last_frame is None and self.running:
            if self._swept is None:
                self._swept = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._swept.wait(), timeout)
        return self.last_frame

    def latest(self, container_id: str) -> ContainerSample | None:
        frame = self.last_frame
        for sample in frame["containers"] if frame else []:
            if sample["id"] == container_id:
                return sample
        return None

    # ------------------------------------------------------------ an agent's frames

    def published(self) -> dict[str, Any]:
        """What an agent sends after each sweep: the frame as viewers get it, and what a web
        process needs besides (the culler's counters, the host's CPU seconds)."""
        return {
            "type": "stats.frame",
            "text": self.last_text,
            "sweep_seconds": self.sweep_seconds,
            "sweeps": self.sweeps,
            "host_cpu_seconds": self.host_cpu_seconds,
            "totals": [
                {"id": row.sample["id"], **{k: v for k, v in asdict(row).items() if k != "sample"}}
                for row in self.last_sweep()
            ],
        }

    def take(self, message: dict[str, Any]) -> bool:
        """An agent's frame becomes this sampler's last sweep: its history, its observers'
        news (any thread). False when it is not newer than the last one taken."""
        frame: StatsFrame = json.loads(message["text"])
        if self.last_frame is not None and frame["t"] <= self.last_frame["t"]:
            return False
        samples = {sample["id"]: sample for sample in frame["containers"]}
        totals = [
            ContainerTotals(samples[row["id"]], **{k: v for k, v in row.items() if k != "id"})
            for row in message["totals"]
            if row["id"] in samples
        ]
        for sample in frame["containers"]:
            self._record(frame["t"], sample, True)
        self._relayed_totals, self._relayed_host_cpu = totals, message["host_cpu_seconds"]
        self.sweep_seconds = message["sweep_seconds"]
        self.engine_error = frame["engine_error"]
        self.last_frame, self.last_text = frame, message["text"]
        self._tell_observers(frame, {row.sample["id"]: row.course for row in totals})
        return True

    def _take_latest(self) -> None:
        """The agent's last frame, read from Redis (for a caller while no viewer keeps the
        relay going: the culler, the history writer, the alerts)."""
        if self._redis is None:
            import redis  # the optional scale-out install

            self._redis = redis.Redis.from_url(settings.REDIS_URL)
        raw = self._redis.get(agent_key(self.address.name))
        if raw is not None:
            self.take(json.loads(raw))

    def _agent_quiet(self, seconds: float) -> None:
        name = self.address.name
        self.engine_error = (
            f"No frame from the stats agent of engine {name} for {seconds:g} s: is "
            f"`python manage.py agent --engine {name}` running on its node?"
        )
        frame: StatsFrame = {
            "type": "stats",
            "t": round(time.time(), 3),
            "host": self.last_frame["host"] if self.last_frame else self._host.sample(),
            "containers": [],
            "engine_error": self.engine_error,
        }
        self.last_frame, self.last_text = frame, json.dumps(frame, separators=(",", ":"))
        self._relayed_totals = []

    async def _relay(self) -> None:
        """While viewers watch: each frame the engine's agent publishes, to them."""
        layer = get_channel_layer()
        # The default prefix: a process reads all its own channels through one Redis list.
        channel = await layer.new_channel()
        group = agent_group(self.address.name)
        await layer.group_add(group, channel)
        quiet = max(AGENT_QUIET_TICKS * self.interval, 3.0)
        self._ticking = True
        try:
            while True:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), quiet)
                except TimeoutError:
                    self._agent_quiet(quiet)
                else:
                    if not await asyncio.to_thread(self.take, message):
                        continue
                if self._swept is not None:
                    self._swept.set()
                    self._swept = None
                await layer.group_send(self.group, {"type": "stats.tick"})
        finally:
            self._ticking = False
            self._swept = None
            await layer.group_discard(group, channel)

    # ------------------------------------------------------------ lifecycle (event loop)

    async def _run(self) -> None:
        if self.relayed:
            await self._relay()
            return
        loop = asyncio.get_running_loop()
        layer = get_channel_layer()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="stats-sampler")
        self._relist_needed = True
        # The process's one Docker events stream (containers_app.events) says when the
        # running set changed (`_heard`): it is followed while the sampler ticks.
        events.watcher.subscribe(loop)
        self._ticking = True
        next_tick = loop.time()
        try:
            while True:
                await loop.run_in_executor(self._executor, self.sweep)
                if self._swept is not None:
                    self._swept.set()
                    self._swept = None
                if self.publisher is not None:
                    await self.publisher(self)
                await layer.group_send(self.group, {"type": "stats.tick"})
                next_tick += self.interval
                delay = next_tick - loop.time()
                if delay < 0:  # fell behind (a slow sweep): keep the pace, skip the backlog
                    next_tick, delay = loop.time(), 0
                await asyncio.sleep(delay)
        finally:
            self._ticking = False
            events.watcher.unsubscribe()
            # On the worker, after a sweep still under way, never in the middle of one.
            self._executor.submit(self._forget_all)
            self._executor.shutdown(wait=False)
            self._swept = None


_samplers: dict[str, StatsSampler] = {}


def agent_group(engine: str) -> str:
    """The channel-layer group an engine's stats agent publishes its frames to."""
    return f"stats.agent.{engine}"


def agent_key(engine: str) -> str:
    """The Redis key that holds an engine's agent's last frame."""
    return f"dockdash:stats:agent:{engine}"


def _heard(event: events.DockerEvent) -> None:
    # Any container start/die/... may change the running set: re-list at the next sweep.
    if event["kind"] == "container" and event["action"] in RELIST_ACTIONS:
        for sampler in list(_samplers.values()):
            sampler._relist_needed = True


events.watcher.listen(_heard)


def sampler_for() -> StatsSampler:
    """This process's sampler for the engine the running code talks to."""
    address = engine_client.address()
    found = _samplers.get(address.url)
    if found is None:
        found = _samplers[address.url] = StatsSampler(address.url, address=address)
    return found


def each_sampler() -> Iterator[StatsSampler]:
    """Each engine's sampler in turn, the loop's body talking to that engine."""
    for _ in engines.each():
        yield sampler_for()


def visible_samples(user: Any, samples: Iterable[ContainerSample]) -> list[ContainerSample]:
    """The samples of the containers `user` may see."""
    return [s for s in samples if access.can(user, access.Perm.VIEW, s["owner"])]


def sees_everything(user: Any) -> bool:
    """True for roles that see every container, so the shared frame text can go out as is.

    Containers without an owner label belong to admins: whoever may see those may
    see all (admins, instructors, viewers).
    """
    return access.can(user, access.Perm.VIEW, None)


def measure_once(container: ContainerRecord, *, seconds: float = 0.5) -> ContainerSample | None:
    """One sample of a container outside the sampler (two readings `seconds` apart).

    For a request when no sampler runs; None when the container is not running or
    its cgroup cannot be read from here.
    """
    pid = container.pid
    if not container.running or not pid:
        return None
    address = engine_client.address()
    sampler = StatsSampler(address.url, interval=seconds, address=address)
    dirs = cgroups.container_cgroup_dirs(pid) if sampler.source == "cgroup" else {}
    if not dirs:
        return None
    tracked = _Tracked(
        id=container.id,
        name=container.name,
        owner=container.owner,
        pid=pid,
        dirs=dirs,
        cpu_limit=container.cpus or None,
    )
    sampler._tracked[tracked.id] = tracked
    try:
        if sampler._sample(tracked) is None:
            return None
        time.sleep(seconds)
        return sampler._sample(tracked)
    finally:
        sampler._forget(tracked.id)
