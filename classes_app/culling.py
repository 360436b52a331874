"""End of lesson: lab containers left idle are stopped, and all of a lab at its end time.

A lab container is idle while its CPU stays under CULL_CPU_PERCENT of one core and
no terminal is open in it (an exec still running, as the engine reports it, so a
terminal served by any process counts). Quiet for its lab's `idle_minutes`, it is
stopped; at the lab's `ends_at` every running container of the lab is stopped. A
student's extensions (`LabSeat.extended_minutes`, at most the lab's
`extend_max_minutes`, else LAB_EXTEND_MAX_MINUTES) restart the idle clock and push the
end time back.

Every server process starts `start()` (dashboard.asgi); the one holding the lock
file `culler.lock` in DOCKDASH_LOCK_DIR checks every CULL_INTERVAL seconds, so a
host culls once however many processes serve (another takes over when it exits). Each
check goes over every engine (containers_app.engines), with a culler of its own per
engine; an engine that does not answer is skipped until the next check, and the
watches are marked stopped only by a check every engine answered.
Its CPU figures come from the process's shared stats sampler (containers_app.stats:
the CPU counters it last read, or one sweep the culler asks for while no viewer keeps
it ticking), so a host's cgroups are read once per tick; the rate is the mean over the
culler's whole interval, from the cgroup counters. Each stop is the gate's `lab.cull`
row, done by the dashboard itself (`dashboard.access.SYSTEM`: username "dockdash",
role "system") with the reason in the audit row; the culler marks the container's
`LabWatch` no longer running, as it does for those it no longer sees running, so the
warning of a stop ahead (`upcoming_stops`) is read from the database alone.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import F, Prefetch
from django.db.models.functions import Greatest
from django.utils import timezone

from classes_app.labs import CLASS_LABEL, LAB_LABEL
from classes_app.models import LabSeat, LabWatch
from containers_app import engines, gate, stats, translate
from containers_app.engine import client as engine_client
from containers_app.engine.containers import inspect_container, running_containers
from containers_app.engine.errors import EngineError
from containers_app.engine.streams import exec_inspect
from dashboard import audit
from dashboard.access import SYSTEM, role_of
from dashboard.hostlocks import HostLock
from dashboard.models import Lab, Role
from dashboard.records import OWNER_LABEL
from dashboard.refusals import PolicyViolation, Refusal

log = logging.getLogger(__name__)

PARALLEL = 8  # containers stopped at once when a lab ends
LAB_ENDED = "lab ended"  # the reason of a stop at the lab's end time
EXTEND_STEP_MINUTES = 15  # an extension of a lab without an idle window


def register_actions() -> None:
    """The gate's row for a stop on the culler's timer: a stop, audited with its reason."""
    stop = gate.ACTIONS["container.stop"]
    gate.register(
        dataclasses.replace(stop, name="lab.cull", describe=lambda p: {"reason": p["reason"]})
    )


# ---------------------------------------------------------------- when a container stops


def idle_window(lab: Lab) -> timedelta | None:
    if not lab.idle_minutes:
        return None
    if settings.CULL_IDLE_SECONDS:
        return timedelta(seconds=settings.CULL_IDLE_SECONDS)
    return timedelta(minutes=lab.idle_minutes)


def _words(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    return f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"


def end_of(lab: Lab, seat: LabSeat) -> datetime | None:
    """When the lab ends for this student: its end time and their extensions."""
    if lab.ends_at is None:
        return None
    return lab.ends_at + timedelta(minutes=seat.extended_minutes)


@dataclass(frozen=True)
class Deadline:
    at: datetime
    reason: str  # the audit row's: "idle 20 min", "lab ended"


def deadline(lab: Lab, seat: LabSeat, quiet_since: datetime | None) -> Deadline | None:
    """When a container of `seat` quiet since `quiet_since` (None: busy) is stopped, and why."""
    found = []
    window = idle_window(lab)
    if window is not None and quiet_since is not None:
        found.append(Deadline(quiet_since + window, f"idle {_words(window)}"))
    end = end_of(lab, seat)
    if end is not None:
        found.append(Deadline(end, LAB_ENDED))
    return min(found, key=lambda d: d.at) if found else None


def seat_deadline(lab: Lab, seat: LabSeat) -> Deadline | None:
    """The first stop ahead among a student's running lab containers (`seat.watches`)."""
    watches = [w for w in seat.watches.all() if w.quiet_since is not None] or [None]
    found = [deadline(lab, seat, w.quiet_since if w else None) for w in watches]
    return min((d for d in found if d is not None), key=lambda d: d.at, default=None)


@dataclass(frozen=True)
class UpcomingStop:
    """A stop of a student's running lab containers, CULL_WARN_MINUTES away or less."""

    lab: Lab
    deadline: Deadline
    seconds: int  # left when it was read (0: due, the culler's next check stops them)

    @property
    def left(self) -> str:
        return f"{self.seconds // 60}:{self.seconds % 60:02d}"

    @property
    def idle(self) -> bool:
        return self.deadline.reason != LAB_ENDED


def warned(user: Any) -> bool:
    """Whether `user` is warned of stops ahead: students only (of their own labs)."""
    return role_of(user) == Role.STUDENT


def upcoming_stops(student: Any, running_labs: Collection[int] | None = None) -> list[UpcomingStop]:
    """The stops to warn `student` of, soonest first, in two queries and no engine call.

    Of the labs (ids) in `running_labs`, where the caller saw the student's containers
    run; by default of those the culler saw running at its last check.
    """
    if not warned(student):
        return []
    seats = LabSeat.objects.filter(student=student)
    if running_labs is None:
        seats = seats.filter(watches__running=True).distinct()
    else:
        seats = seats.filter(lab__in=running_labs)
    seats = seats.select_related("lab__course").prefetch_related(
        Prefetch("watches", queryset=LabWatch.objects.filter(running=True))
    )
    now = timezone.now()
    soon = now + timedelta(minutes=settings.CULL_WARN_MINUTES)
    found = []
    for seat in seats:
        stop = seat_deadline(seat.lab, seat)
        if stop is not None and stop.at <= soon:
            seconds = max(int((stop.at - now).total_seconds()), 0)
            found.append(UpcomingStop(seat.lab, stop, seconds))
    return sorted(found, key=lambda w: w.deadline.at)


def extend_max(lab: Lab) -> int:
    """The most a student may extend `lab` in all: its own maximum, else the setting's."""
    if lab.extend_max_minutes is not None:
        return lab.extend_max_minutes
    return int(settings.LAB_EXTEND_MAX_MINUTES)


def extend(request: Any, lab: Lab, seat: LabSeat) -> int:
    """Postpone the stops of `seat` by one idle window (within the maximum); audited.

    Answers the minutes added. The idle clocks of its containers restart now and its
    end time moves back by the same minutes.
    """
    step = lab.idle_minutes or EXTEND_STEP_MINUTES
    cap = extend_max(lab)
    with audit.audited(
        request,
        "lab.extend",
        target_kind="lab",
        target_id=str(lab),
        target_name=f"{lab.course.slug}-{lab.slug}-{seat.student.username}",
        params={"minutes": step, "student": seat.student.username},
    ):
        # One conditional update: two processes extending at once cannot pass the cap.
        within = LabSeat.objects.filter(pk=seat.pk, extended_minutes__lte=cap - step)
        if not within.update(extended_minutes=F("extended_minutes") + step):
            seat.refresh_from_db(fields=["extended_minutes"])
            left = max(cap - seat.extended_minutes, 0)
            raise PolicyViolation(
                "extend",
                f"This lab was already extended by {seat.extended_minutes} min; "
                f"at most {cap} min in all, so {left} min left "
                f"(an extension is {step} min).",
            )
        seat.watches.filter(quiet_since__isnull=False).update(quiet_since=timezone.now())
    return step


# ---------------------------------------------------------------- one check


def terminal_open(container_id: str) -> bool:
    """Whether an exec (a terminal, whichever process serves it) runs in the container."""
    try:
        ids = translate.exec_ids(inspect_container(container_id))
        return any(translate.exec_running(exec_inspect(i)) for i in ids)
    except EngineError:
        return False


@dataclass(frozen=True)
class _Seen:
    row: dict[str, Any]
    lab: Lab
    seat: LabSeat


@dataclass(frozen=True)
class _Use:
    """What a container used between two of the culler's checks."""

    cpu_seconds: float
    cpu_percent: float  # the mean over the interval, of one core
    mem_usage: int  # at the later check


def _use_between(
    before: stats.ContainerTotals | None, after: stats.ContainerTotals | None
) -> _Use | None:
    """None without a reading at both checks, or when the counter went back (a restart)."""
    if before is None or after is None or after.t <= before.t:
        return None
    if before.cpu_seconds is None or after.cpu_seconds is None:
        return None
    seconds = after.cpu_seconds - before.cpu_seconds
    if seconds < 0:
        return None
    return _Use(seconds, seconds / (after.t - before.t) * 100, after.sample["mem_usage"])


class Culler:
    """One engine's culler: `check()` once per interval, in one process, talking to it."""

    def __init__(self) -> None:
        self.sampler = stats.sampler_for()
        self.totals: dict[str, stats.ContainerTotals] = {}  # at the previous check
        self.last_check = timezone.now()

    def check(self) -> tuple[list[str], list[str]]:
        """Record each lab container's use, restart or run its idle clock, stop what is due.

        Answers the ids of the lab containers it saw running, and the names of those it
        stopped.
        """
        totals = {t.sample["id"]: t for t in self.sampler.fresh_totals()}
        now, since = timezone.now(), self.last_check
        before, self.totals = self.totals, totals
        self.last_check = now
        due = []
        seen_ids = []
        for seen in self._lab_containers():
            cid = seen.row["id"]
            seen_ids.append(cid)
            watch, _ = LabWatch.objects.get_or_create(
                container_id=cid, defaults={"seat": seen.seat, "name": seen.row["name"]}
            )
            quiet_since = self._judge(watch, _use_between(before.get(cid), totals.get(cid)), since)
            found = deadline(seen.lab, seen.seat, quiet_since)
            if found is not None and found.at <= now:
                due.append((seen, found.reason))
        return seen_ids, self._stop_all(due)

    def _lab_containers(self) -> list[_Seen]:
        rows = [
            r
            for r in running_containers()
            if {CLASS_LABEL, LAB_LABEL} <= set(r["labels"])
            # A service's task: Swarm would start another in its place (not culled yet).
            and translate.TASK_SERVICE_LABEL not in r["labels"]
        ]
        labs = {
            (lab.course.slug, lab.slug): lab
            for lab in Lab.objects.select_related("course").filter(
                course__slug__in={r["labels"][CLASS_LABEL] for r in rows}
            )
        }
        seats = {
            (seat.lab_id, seat.student.username): seat
            for seat in LabSeat.objects.select_related("student").filter(lab__in=labs.values())
        }
        found = []
        for row in rows:
            lab = labs.get((row["labels"][CLASS_LABEL], row["labels"][LAB_LABEL]))
            seat = seats.get((lab.pk, row["labels"].get(OWNER_LABEL, ""))) if lab else None
            if lab is not None and seat is not None:
                found.append(_Seen(row, lab, seat))
        return found

    def _judge(self, watch: LabWatch, use: _Use | None, since: datetime) -> datetime | None:
        """Add the interval's use to `watch`; answer since when it is quiet (None: busy)."""
        watches = LabWatch.objects.filter(pk=watch.pk)
        if use is None:  # first seen (or no reading): no evidence of quiet yet
            watches.update(quiet_since=None, running=True, last_seen=timezone.now())
            return None
        watches.update(
            cpu_seconds=F("cpu_seconds") + use.cpu_seconds,
            peak_memory=Greatest(F("peak_memory"), use.mem_usage),
            running=True,
            last_seen=timezone.now(),
        )
        if use.cpu_percent >= settings.CULL_CPU_PERCENT or terminal_open(watch.container_id):
            watches.update(quiet_since=None)
            return None
        # Quiet over the interval (its mean CPU): quiet since the previous check, unless
        # it was already (or an extension restarted its clock meanwhile: read it again).
        watches.filter(quiet_since__isnull=True).update(quiet_since=since)
        watch.refresh_from_db(fields=["quiet_since"])
        return watch.quiet_since

    def _stop_all(self, due: list[tuple[_Seen, str]]) -> list[str]:
        if not due:
            return []
        with concurrent.futures.ThreadPoolExecutor(PARALLEL, "dockdash-cull") as pool:
            seen, reasons = zip(*due, strict=True)
            stopped = pool.map(engine_client.carrying(self._stop), seen, reasons)
            return [name for name in stopped if name]

    def _stop(self, seen: _Seen, reason: str) -> str:
        try:
            gate.perform(SYSTEM, "lab.cull", seen.row["id"], reason=reason)
            LabWatch.objects.filter(container_id=seen.row["id"]).update(running=False)
        except (Refusal, EngineError) as exc:
            log.warning("culling %s: %s", seen.row["name"], getattr(exc, "message", exc))
            return ""
        finally:
            connection.close()  # this worker thread's own connection
        return str(seen.row["name"])


# ---------------------------------------------------------------- the loop


class Loop:
    """The culling loop of one process: checks every engine while it holds the culler lock."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dockdash-culler", daemon=True)

    def start(self) -> Loop:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=settings.CULL_INTERVAL + settings.DOCKER_TIMEOUT)

    def _run(self) -> None:
        lock = HostLock("culler.lock")
        holding = False
        cullers: dict[str, Culler] = {}  # each engine's, by its name
        try:
            while not self._stop.is_set():
                holding = holding or lock.take()
                if holding:
                    try:
                        self._check_all(cullers)
                    except Exception:  # a broken check must not end the loop: log, go on
                        log.exception("culling check failed")
                    finally:
                        connection.close()
                self._stop.wait(settings.CULL_INTERVAL)
        finally:
            lock.close()

    @staticmethod
    def _check_all(cullers: dict[str, Culler]) -> None:
        seen: list[str] = []
        everywhere = True  # every engine answered: what none saw running has stopped
        for engine in engines.each():
            culler = cullers.get(engine.name)
            if culler is None:
                culler = cullers[engine.name] = Culler()
            try:
                running, _ = culler.check()
            except EngineError as exc:
                log.warning("culling on engine %s: %s", engine.name, exc.message)
                everywhere = False
                continue
            seen += running
        if everywhere:
            # Stopped since the previous check (by hand, by a job): no stop ahead to warn of.
            LabWatch.objects.filter(running=True).exclude(container_id__in=seen).update(
                running=False
            )


def start() -> Loop | None:
    """This process's culling loop, unless DOCKDASH_CULL=0 (a server calls it once)."""
    return Loop().start() if settings.CULL_ENABLED else None
