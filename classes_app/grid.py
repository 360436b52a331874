"""The class grid: one frame per tick per class, computed once and shared by every viewer.

A ClassGrid per class and process listens on one channel of its own to the
stats sampler's tick (containers_app.stats) and to the process's Docker events
stream (containers_app.events). On each tick it joins the sampler's latest
samples with the class's lab containers and roster, writes one JSON text and
tells its viewers' group; consumers only forward that text. The class's
containers are listed again only when an event names one of its students (at
most once per tick), and the roster is read again every ROSTER_EVERY ticks:
nothing is asked of the engine per viewer or per tick. The open terminal sessions
(containers_app.sessions) are counted again when one of a student's opens or closes,
which the grid hears in their groups, and every ROSTER_EVERY ticks (with REDIS_URL, a
process that died announced nothing).

Badges come from what is already read: OOM kills from the cgroup's counter
(and the engine's `oom` events, for a container that died of it), throttling
from the CPU periods its quota held it back this tick, restart loops from the
`die` events of the last RESTART_WINDOW seconds (and the engine's `restarting`
state after one of them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import defaultdict, deque
from collections.abc import Mapping
from typing import Any, Literal, TypedDict

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from classes_app.labs import LAB_LABEL, class_containers
from containers_app import alerts, events, sessions, stats
from containers_app.engine.errors import EngineError
from containers_app.watched import Watched
from dashboard.access import OWNER_LABEL
from dashboard.models import Course

log = logging.getLogger(__name__)

ROSTER_EVERY = 30  # ticks between two reads of the class's roster
RESTART_WINDOW = 120.0  # seconds of `die` events that count towards a restart loop
RESTART_LOOP = 3  # dies within the window that make a loop
Badge = Literal["oom", "restarts", "throttled"]


class GridContainer(TypedDict):
    id: str
    name: str  # as the lab names it ("shell"), else the container's name
    lab: str
    state: str  # running, exited, restarting, ...
    node: str  # the Swarm node its task runs on (a lab run as services), else ""
    status: str  # the engine's words on a service's task (why it is pending), else ""
    measured: bool  # the sampler read it (not a task on a node without a sampler of ours)
    cpu_percent: float  # of one core
    cpu_limit: float | None  # CPUs it may use; None: no limit of its own
    cpu_of_limit: float  # 100 = all its limit allows (the host's CPUs without one)
    mem_usage: int
    mem_limit: int
    mem_percent: float
    restarts: int  # dies within RESTART_WINDOW
    oom_kills: int
    badges: list[Badge]
    alerts: list[dict[str, Any]]  # its open alerts (containers_app.alerts): id, kind, state, title


class GridStudent(TypedDict):
    username: str
    full_name: str
    load: int  # the highest cpu_of_limit of their containers, in whole percents
    terminals: int  # terminal sessions open in their containers
    containers: list[GridContainer]


class GridTotals(TypedDict):
    students: int
    containers: int
    running: int
    cpu_percent: float
    mem_usage: int
    oom: int
    restarts: int
    throttled: int
    alerts: int  # open alerts of the class's containers


class GridFrame(TypedDict):
    type: Literal["grid"]
    t: float  # the sampler's tick the figures come from
    slug: str
    students: list[GridStudent]
    totals: GridTotals


class _Dies:
    """`die` events per container within RESTART_WINDOW, and every `oom` event seen."""

    def __init__(self) -> None:
        self.dies: defaultdict[str, deque[float]] = defaultdict(deque)
        self.ooms: defaultdict[str, int] = defaultdict(int)

    def note(self, event: events.DockerEvent) -> None:
        if event["action"] == "die":
            seen = self.dies[event["id"]]
            seen.append(event["time"])
            while seen[0] < event["time"] - RESTART_WINDOW:
                seen.popleft()
        elif event["action"] == "oom":
            self.ooms[event["id"]] += 1

    def restarts(self, container_id: str, now: float) -> int:
        seen = self.dies.get(container_id)
        if not seen:
            return 0
        while seen and seen[0] < now - RESTART_WINDOW:
            seen.popleft()
        return len(seen)


def _short_name(row: dict[str, Any], owner: str) -> str:
    # Lab containers are named <class>-<lab>-<student>-<name>.
    _, found, rest = row["name"].partition(f"-{owner}-")
    return rest if found and rest else str(row["name"])


def grid_container(
    row: dict[str, Any],
    sample: stats.ContainerSample | None,
    restarts: int,
    ooms: int,
    alerts: list[dict[str, Any]],
) -> GridContainer:
    """One tile line: the list row's state and the sampler's figures (none when stopped)."""
    owner = str(row["labels"].get(OWNER_LABEL, ""))
    oom_kills = max(sample["oom_kills"] if sample else 0, ooms)
    badges: list[Badge] = []
    if oom_kills:
        badges.append("oom")
    # Seen dying again and again; or, for a loop older than this grid, dead since
    # it was watched with the engine waiting to start it again.
    if restarts >= RESTART_LOOP or (restarts and row["state"] == "restarting"):
        badges.append("restarts")
    if sample and sample["throttled"]:
        badges.append("throttled")
    return {
        "id": row["id"],
        "name": _short_name(row, owner),
        "lab": str(row["labels"].get(LAB_LABEL, "")),
        "state": row["state"],
        "node": row.get("node", ""),
        "status": row.get("status", ""),
        "measured": sample is not None,
        "cpu_percent": sample["cpu_percent"] if sample else 0.0,
        "cpu_limit": sample["cpu_limit"] if sample else None,
        "cpu_of_limit": sample["cpu_of_limit"] if sample else 0.0,
        "mem_usage": sample["mem_usage"] if sample else 0,
        "mem_limit": sample["mem_limit"] if sample else 0,
        "mem_percent": sample["mem_percent"] if sample else 0.0,
        "restarts": restarts,
        "oom_kills": oom_kills,
        "badges": badges,
        "alerts": list(alerts),
    }


def grid_frame(
    slug: str,
    t: float,
    roster: list[tuple[str, str]],
    rows: list[dict[str, Any]],
    samples: dict[str, stats.ContainerSample],
    dies: _Dies,
    terminals: Mapping[str, int],
    alerts: Mapping[str, list[dict[str, Any]]],
) -> GridFrame:
    """The frame of one tick: each student of `roster` (username, full name) with their rows,
    the number of `terminals` open in their containers and the open `alerts` of each."""
    by_owner: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_owner[str(row["labels"].get(OWNER_LABEL, ""))].append(row)
    now = time.time()
    students: list[GridStudent] = []
    for username, full_name in roster:
        # Figures, events and alerts are of the container (a service's: its task's).
        containers = [
            grid_container(
                row,
                samples.get(row["container_id"]),
                dies.restarts(row["container_id"], now),
                dies.ooms[row["container_id"]],
                alerts.get(row["container_id"], []),
            )
            for row in by_owner.get(username, [])
        ]
        busiest = max((c["cpu_of_limit"] for c in containers), default=0)
        load = round(busiest)  # whole percents: idle students tie, and sort by name
        students.append(
            {
                "username": username,
                "full_name": full_name,
                "load": load,
                "terminals": terminals.get(username, 0),
                "containers": containers,
            }
        )
    every = [c for s in students for c in s["containers"]]
    return {
        "type": "grid",
        "t": t,
        "slug": slug,
        "students": students,
        "totals": {
            "students": len(students),
            "containers": len(every),
            "running": sum(c["state"] == "running" for c in every),
            "cpu_percent": round(sum(c["cpu_percent"] for c in every), 2),
            "mem_usage": sum(c["mem_usage"] for c in every),
            "oom": sum("oom" in c["badges"] for c in every),
            "restarts": sum("restarts" in c["badges"] for c in every),
            "throttled": sum("throttled" in c["badges"] for c in every),
            "alerts": sum(len(c["alerts"]) for c in every),
        },
    }


@database_sync_to_async
def _roster(slug: str) -> tuple[Course | None, list[tuple[str, str]]]:
    course = Course.objects.filter(slug=slug).first()
    if course is None:
        return None, []
    students = course.students.order_by("username")
    return course, [(s.username, s.get_full_name()) for s in students]


class ClassGrid(Watched):
    """One class's grid in this process: started by its first viewer, stopped after the last."""

    def __init__(self, slug: str):
        super().__init__()
        self.slug = slug
        self.group = f"grid.{os.getpid()}.{slug}"
        self.last_frame: GridFrame | None = None
        self.last_text = ""
        self._course: Course | None = None
        self._roster: list[tuple[str, str]] = []
        self._rows: list[dict[str, Any]] = []
        self._rows_stale = True
        self._dies = _Dies()
        self._ticks = 0
        self._channel = ""  # the grid's own, in the groups of its students' sessions
        self._terminals: Mapping[str, int] = {}
        self._terminals_stale = True
        self._alerts: Mapping[str, list[dict[str, Any]]] = {}
        self._alerts_stale = True

    def _note(self, event: events.DockerEvent) -> None:
        if event["kind"] != "container":
            return
        if event["owner"] in {name for name, _ in self._roster}:
            self._dies.note(event)
            self._rows_stale = True

    async def _follow_sessions_of(self, roster: list[tuple[str, str]]) -> None:
        """Hear of the terminals of `roster`'s students (no longer of those who left)."""
        layer = get_channel_layer()
        before, after = {name for name, _ in self._roster}, {name for name, _ in roster}
        for name in after - before:
            await layer.group_add(sessions.owner_group(name), self._channel)
        for name in before - after:
            await layer.group_discard(sessions.owner_group(name), self._channel)

    async def _tick(self, sampler: stats.StatsSampler) -> None:
        if self._ticks % ROSTER_EVERY == 0:
            self._course, roster = await _roster(self.slug)
            await self._follow_sessions_of(roster)
            self._roster, self._terminals_stale = roster, True
        self._ticks += 1
        course, frame = self._course, sampler.last_frame
        if course is None or frame is None:
            return
        if self._rows_stale or self._ticks % ROSTER_EVERY == 1:
            self._rows_stale = False
            try:
                self._rows = await asyncio.to_thread(class_containers, course)
            except EngineError as exc:
                log.warning("class grid %s: cannot list containers: %s", self.slug, exc.message)
        if self._terminals_stale:
            self._terminals_stale = False
            self._terminals = await asyncio.to_thread(sessions.open_per_owner)
        if self._alerts_stale or self._ticks % ROSTER_EVERY == 1:
            self._alerts_stale = False
            self._alerts = await database_sync_to_async(alerts.open_in_class)(self.slug)
        samples = {s["id"]: s for s in frame["containers"]}
        grid = grid_frame(
            self.slug,
            frame["t"],
            self._roster,
            self._rows,
            samples,
            self._dies,
            self._terminals,
            self._alerts,
        )
        self.last_frame = grid
        self.last_text = json.dumps(grid, separators=(",", ":"))
        await get_channel_layer().group_send(self.group, {"type": "grid.tick"})

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        layer = get_channel_layer()
        sampler = stats.sampler_for()
        channel = self._channel = await layer.new_channel()
        await layer.group_add(sampler.group, channel)
        await layer.group_add(events.GROUP, channel)
        await layer.group_add(alerts.ALERTS_GROUP, channel)
        alerts.listen_from(loop)
        await sampler.subscribe()
        events.watcher.subscribe(loop)
        self._ticks, self._rows_stale, self._roster = 0, True, []
        try:
            while True:
                message = await layer.receive(channel)
                if message.get("type") == "stats.tick":
                    await self._tick(sampler)
                elif message.get("type") == "docker.event":
                    self._note(message["event"])
                elif message.get("type") == "sessions.changed":
                    self._terminals_stale = True
                elif message.get("type") == "alerts.changed":
                    self._alerts_stale = True
        finally:
            events.watcher.unsubscribe()
            with contextlib.suppress(Exception):  # the layer may be closing with the loop
                await layer.group_discard(sampler.group, channel)
                await layer.group_discard(events.GROUP, channel)
                await layer.group_discard(alerts.ALERTS_GROUP, channel)
                await self._follow_sessions_of([])
            await sampler.unsubscribe()


_grids: dict[str, ClassGrid] = {}


def grid_for(slug: str) -> ClassGrid:
    """This process's grid of the class `slug`."""
    found = _grids.get(slug)
    if found is None:
        found = _grids[slug] = ClassGrid(slug)
    return found
