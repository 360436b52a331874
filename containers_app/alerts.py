"""The alert engine: the rules of dashboard.alert_rules run on what is read already.

Facts come from two places and nowhere else: each stats sweep (containers_app.stats
hands every frame to its observers, on the sweeping thread) and the process's one
Docker events stream (containers_app.events listeners, on its thread). `Watch` keeps
the little each rule needs over time (the last ticks' throttling, the recent exits,
the OOM kills seen), evaluates the rules in memory and notes which conditions began
and which ended. Nothing there queries the database or calls the engine.

The alert loop (a thread, in the one server process per host holding `alerts.lock`)
keeps the sampler sweeping once a tick while no page does, and turns the conditions
that began or ended into Alert rows: a condition that begins fires a new alert, or
reopens the same one resolved less than ALERT_REOPEN_SECONDS ago (a flapping
container is one alert, notified once); a condition that ends resolves it. A new alert
goes to the notifier (containers_app.notifications), which sends on threads of its
own. Each change is announced on the channel layer's ALERTS_GROUP, where the bell of
every page, the container pages and the class grids listen.

A user near a quota is judged from the engine's records of their objects, read again
only when an event says one of theirs was created, started, stopped or removed (at
most once per QUOTA_EVERY seconds per user).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.db.models import Q

from containers_app import events, notifications, translate
from containers_app.engine.containers import inspect_container
from containers_app.engine.errors import EngineError
from containers_app.gate import usage_of
from containers_app.models import Alert
from dashboard import access, audit
from dashboard.alert_rules import (
    TITLES,
    Kind,
    Thresholds,
    cpu_pinned,
    exited,
    memory_high,
    near_quota,
    oom,
    restart_loop,
)
from dashboard.hostlocks import HostLock
from dashboard.models import Course, Role, User
from dashboard.quotas import limits_for
from dashboard.refusals import Forbidden

if TYPE_CHECKING:
    from containers_app.stats import ContainerSample, StatsFrame, StatsSampler

log = logging.getLogger(__name__)

ALERTS_GROUP = "alerts"
QUOTA_EVERY = 10.0  # seconds between two looks at one user's quotas
QUOTA_ACTIONS = {"create", "start", "die", "destroy"}
STOP_ACTIONS = {"kill", "stop"}  # a stop someone asked for: its exit code is no error
REQUESTED_STOP = 30.0  # seconds a `kill` or `stop` event explains a `die` after it
RESTARTING_POLICIES = {"always", "unless-stopped", "on-failure"}
OPEN = (Alert.State.FIRING, Alert.State.ACKNOWLEDGED)
Key = tuple[str, str, str]  # (kind, container id, owner): what one alert is about


@dataclass(frozen=True)
class Condition:
    key: Key
    name: str  # the container's
    course: str
    summary: str


def thresholds() -> Thresholds:
    return Thresholds(
        restarts=settings.ALERT_RESTARTS,
        restart_seconds=settings.ALERT_RESTART_MINUTES * 60,
        cpu_seconds=settings.ALERT_CPU_SECONDS,
        memory_percent=settings.ALERT_MEMORY_PERCENT,
        quota_percent=settings.ALERT_QUOTA_PERCENT,
        oom_clear_seconds=settings.ALERT_OOM_CLEAR_SECONDS,
    )


# ---------------------------------------------------------------- facts over time


@dataclass
class _Seen:
    """What the rules need of one container over time."""

    name: str
    owner: str
    course: str
    throttled: deque[bool]
    dies: deque[float] = field(default_factory=deque)
    oom_count: int | None = None  # the cgroup's count at the last sweep (None: not read yet)
    kills: int = 0  # kills seen while watched
    last_kill: float | None = None
    exit_code: int | None = None  # of its last `die`, until it starts again
    exited_at: float | None = None
    stop_asked: float = 0.0  # the last `kill` or `stop` event
    sample: ContainerSample | None = None  # of its last sweep; None: not running


class Watch:
    """The facts and the conditions that hold now; fed by the sampler and the events."""

    def __init__(self, th: Thresholds, interval: float) -> None:
        self.th = th
        self.interval = interval
        self._lock = threading.Lock()
        self._seen: dict[str, _Seen] = {}
        self.holding: dict[Key, Condition] = {}  # what held at the last evaluation
        # Alerts an earlier process left open: held until `settle` (its windows are full).
        self.adopted: dict[Key, Condition] = {}
        self.settle = 0.0
        self.began: list[Condition] = []  # since the loop last took them
        self.ended: list[Key] = []
        self.quota_owners: set[str] = set()  # users whose holdings changed
        self.changed = threading.Event()

    def _entry(self, cid: str, name: str, owner: str, course: str) -> _Seen:
        seen = self._seen.get(cid)
        if seen is None:
            window = max(1, round(self.th.cpu_seconds / self.interval))
            seen = self._seen[cid] = _Seen(name, owner, course, deque(maxlen=window))
        elif name:
            seen.name = name
        return seen

    # ------------------------------------------------------------ feeds

    def observe(self, frame: StatsFrame, courses: dict[str, str | None]) -> None:
        """A sweep (on the sampler's thread), with the class of each container in it."""
        now = frame["t"]
        # A running container missing from one sweep (its cgroup unread this once) keeps
        # its last sample: its `die` event says when it stopped.
        with self._lock:
            for sample in frame["containers"]:
                cid = sample["id"]
                seen = self._entry(cid, sample["name"], sample["owner"] or "", "")
                seen.course = courses.get(cid) or seen.course
                seen.sample = sample
                seen.throttled.append(sample["throttled"] > 0)
                count = sample["oom_kills"]
                if seen.oom_count is not None and count > seen.oom_count:
                    seen.kills += count - seen.oom_count
                    seen.last_kill = now
                seen.oom_count = count
            self._evaluate(now)

    def hear(self, event: events.DockerEvent) -> None:
        """An engine event (on the events thread)."""
        if event["kind"] != "container":
            if event["action"] in QUOTA_ACTIONS and event["owner"]:
                with self._lock:
                    self.quota_owners.add(event["owner"])
            return
        cid, action, now = event["id"], event["action"], event["time"]
        with self._lock:
            if action in QUOTA_ACTIONS and event["owner"]:
                self.quota_owners.add(event["owner"])
            if action == "destroy":
                self._seen.pop(cid, None)
                self._evaluate(time.time())
                return
            seen = self._entry(cid, event["name"], event["owner"], event["course"])
            seen.course = event["course"] or seen.course
            if action == "oom":
                seen.kills += 1
                seen.last_kill = now
            elif action in STOP_ACTIONS:
                seen.stop_asked = now
            elif action == "die":
                seen.sample = None
                seen.throttled.clear()
                seen.dies.append(now)
                while seen.dies and seen.dies[0] <= now - self.th.restart_seconds:
                    seen.dies.popleft()
                asked = now - seen.stop_asked < REQUESTED_STOP
                seen.exit_code = None if asked else event["exit_code"]
                seen.exited_at = now
            elif action == "start":
                seen.exit_code = seen.exited_at = None

    # ------------------------------------------------------------ the rules

    def _conditions(self, cid: str, seen: _Seen, now: float) -> Iterable[tuple[Kind, str]]:
        th = self.th
        looping = restart_loop(seen.dies, now, th)
        sample = seen.sample
        found = [
            (Kind.OOM, oom(seen.kills, seen.last_kill, now, th)),
            (Kind.RESTART_LOOP, looping),
            (Kind.EXITED, exited(seen.exit_code, seen.exited_at, bool(looping), now, th)),
        ]
        if sample is not None:
            firing = (Kind.MEMORY_HIGH, cid, seen.owner) in self.holding
            found += [
                (
                    Kind.CPU_PINNED,
                    cpu_pinned(seen.throttled, sample["cpu_limit"], self.interval, th),
                ),
                (
                    Kind.MEMORY_HIGH,
                    memory_high(
                        sample["mem_usage"], sample["mem_limit"], sample["mem_limited"], firing, th
                    ),
                ),
            ]
        return [(kind, summary) for kind, summary in found if summary]

    def tick(self, now: float) -> None:
        """Evaluate again without a sweep: what follows from events changes with time."""
        with self._lock:
            self._evaluate(now)

    def _evaluate(self, now: float) -> None:
        # Quotas are judged by the loop; adopted alerts hold until the windows are full.
        holding = {k: c for k, c in self.holding.items() if k[0] == Kind.QUOTA}
        if now < self.settle:
            holding.update(self.adopted)
        for cid, seen in self._seen.items():
            for kind, summary in self._conditions(cid, seen, now):
                key = (str(kind), cid, seen.owner)
                holding[key] = Condition(key, seen.name, seen.course, summary)
        self._changes(holding)

    def _changes(self, holding: dict[Key, Condition]) -> None:
        # A condition that goes on keeps the summary it began with (its figures move).
        began = [c for k, c in holding.items() if k not in self.holding]
        ended = [k for k in self.holding if k not in holding]
        self.holding = {k: self.holding.get(k, c) for k, c in holding.items()}
        if began or ended:
            self.began += began
            self.ended += ended
            self.changed.set()

    def set_quota(self, owner: str, summary: str | None) -> None:
        """The loop's verdict on `owner`'s quotas."""
        with self._lock:
            holding = dict(self.holding)
            key = (str(Kind.QUOTA), "", owner)
            holding.pop(key, None)
            if summary:
                holding[key] = Condition(key, "", "", summary)
            self._changes(holding)

    def take(self) -> tuple[list[Condition], list[Key], set[str]]:
        with self._lock:
            taken = self.began, self.ended, self.quota_owners
            self.began, self.ended, self.quota_owners = [], [], set()
            self.changed.clear()
        return taken


# ---------------------------------------------------------------- the database


def _now() -> datetime:
    return datetime.now(UTC)


def fire(condition: Condition) -> Alert | None:
    """The alert for a condition that began: the open one (its summary now), the one
    resolved moments ago (reopened), or a new one. Answers a new alert, else None."""
    kind, cid, owner = condition.key
    mine = Alert.objects.filter(kind=kind, container_id=cid, owner=owner)
    now = _now()
    current = mine.filter(state__in=OPEN).order_by("-pk").first()
    if current is not None:
        if current.summary != condition.summary:
            current.summary = condition.summary
            current.save(update_fields=["summary"])
        return None
    since = now - timedelta(seconds=settings.ALERT_REOPEN_SECONDS)
    recent = mine.filter(state=Alert.State.RESOLVED, resolved__gte=since).order_by("-pk").first()
    if recent is not None:
        recent.state, recent.resolved, recent.changed = Alert.State.FIRING, None, now
        recent.summary, recent.fired = condition.summary, recent.fired + 1
        recent.acknowledged_by = ""
        recent.save()
        return None
    # Anyone may write a class's label on a container of theirs: the alert is the class's
    # only when its owner is one of the class's students or instructors.
    members = Q(students__username=owner) | Q(instructors__username=owner)
    course = condition.course if owner else ""
    if course and not Course.objects.filter(members, slug=course).exists():
        course = ""
    return Alert.objects.create(
        kind=kind,
        container_id=cid,
        container_name=condition.name[: Alert._meta.get_field("container_name").max_length],
        owner=owner,
        course=course,
        summary=condition.summary,
        started=now,
        changed=now,
    )


def resolve(key: Key) -> int:
    kind, cid, owner = key
    now = _now()
    return Alert.objects.filter(kind=kind, container_id=cid, owner=owner, state__in=OPEN).update(
        state=Alert.State.RESOLVED, resolved=now, changed=now
    )


def visible_to(user: Any) -> Any:
    """The alerts `user` may see (a queryset): a student's own, an instructor's and their
    students', everyone's for admins and viewers."""
    alerts = Alert.objects.all()
    if access.can(user, access.Perm.VIEW, None):
        return alerts
    mine = {user.get_username()} | set(access.taught_by(user))
    return alerts.filter(owner__in=mine)


def may_acknowledge(user: Any, alert: Alert) -> bool:
    """Instructors (of the alert's owner) and admins acknowledge; students and viewers do not."""
    role = access.role_of(user)
    if role not in (Role.ADMIN, Role.INSTRUCTOR):
        return False
    return access.can(user, access.Perm.CONTROL, alert.owner or None)


def acknowledge(request: Any, alert_id: int) -> Alert:
    """Acknowledge alert `alert_id` for the request's user: NotVisible when they may not see
    it, Forbidden when they may not acknowledge; one audit row, refusals included."""
    user = request.user
    target = {"target_kind": "alert", "target_id": str(alert_id)}
    with audit.audited(request, "alert.acknowledge", **target) as row:
        alert = visible_to(user).filter(pk=alert_id).first()
        if alert is None:
            raise access.not_found("alert", str(alert_id))
        row["target_name"] = f"{alert.kind} {alert.container_name or alert.owner}"
        if not may_acknowledge(user, alert):
            raise Forbidden(f"Your role ({access.role_of(user)}) may not acknowledge this alert.")
        if alert.state == Alert.State.FIRING:
            alert.state, alert.changed = Alert.State.ACKNOWLEDGED, _now()
            alert.acknowledged_by = user.get_username()
            alert.save(update_fields=["state", "changed", "acknowledged_by"])
    announce()
    return alert


def for_container(user: Any, container_id: str) -> list[Alert]:
    """The alerts of one container `user` may see: open ones first, then the last resolved."""
    alerts = visible_to(user).filter(container_id=container_id)
    return list(alerts.filter(state__in=OPEN).order_by("-started")) + list(
        alerts.filter(state=Alert.State.RESOLVED).order_by("-resolved")[:5]
    )


def firing_count(user: Any) -> int:
    return int(visible_to(user).filter(state=Alert.State.FIRING).count())


def open_in_class(slug: str) -> dict[str, list[dict[str, Any]]]:
    """The open alerts of a class's containers, by container id (for its grid)."""
    found: dict[str, list[dict[str, Any]]] = {}
    rows = Alert.objects.filter(Q(course=slug), state__in=OPEN).order_by("started")
    for a in rows.values("id", "kind", "state", "container_id", "summary"):
        found.setdefault(a["container_id"], []).append(
            {"id": a["id"], "kind": a["kind"], "state": a["state"], "title": title(a["kind"])}
        )
    return found


def title(kind: str) -> str:
    return TITLES.get(Kind(kind), kind) if kind in Kind._value2member_map_ else kind


# ---------------------------------------------------------------- announcing changes

_loop: asyncio.AbstractEventLoop | None = None


def listen_from(loop: asyncio.AbstractEventLoop) -> None:
    """A page's socket opened on `loop`: changes are announced through it from now on."""
    global _loop
    _loop = loop


def announce() -> None:
    """Tell the pages that alerts changed (from any thread; nothing waits for them)."""
    loop = _loop
    message = {"type": "alerts.changed"}
    if loop is None or loop.is_closed():
        # No page of this process listens; with REDIS_URL, those of the others may.
        if settings.REDIS_URL:
            with contextlib.suppress(Exception):  # the layer is away: pages poll on reconnect
                async_to_sync(get_channel_layer().group_send)(ALERTS_GROUP, message)
        return
    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
        asyncio.run_coroutine_threadsafe(
            get_channel_layer().group_send(ALERTS_GROUP, message), loop
        )


# ---------------------------------------------------------------- the loop


class Loop:
    """The alert engine of one process: evaluates while it holds the host's alert lock."""

    def __init__(self, sampler: StatsSampler) -> None:
        self.sampler = sampler
        self.watch = Watch(thresholds(), sampler.interval)
        self.notifier = notifications.Notifier()
        self._stop = threading.Event()
        self._quota_checked: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, name="dockdash-alerts", daemon=True)

    def start(self) -> Loop:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.watch.changed.set()
        self._thread.join(timeout=5)
        self.notifier.stop()

    def _run(self) -> None:
        lock = HostLock("alerts.lock")
        try:
            while not lock.take():
                if self._stop.wait(settings.ALERT_INTERVAL * 10):
                    return
            self._adopt_open_alerts()
            events.watcher.listen(self.watch.hear)
            events.watcher.subscribe(None)
            self.sampler.observers.append(self.watch.observe)
            try:
                self._evaluate_forever()
            finally:
                self.sampler.observers.remove(self.watch.observe)
                events.watcher.unsubscribe()
        finally:
            lock.close()

    def _adopt_open_alerts(self) -> None:
        """The open alerts an earlier process left: their conditions hold until the first
        sweeps say otherwise (then they resolve), and do not fire twice."""
        try:
            rows = Alert.objects.filter(state__in=OPEN).values_list(
                "kind", "container_id", "owner", "container_name", "course", "summary"
            )
            holding = {
                (k, c, o): Condition((k, c, o), name, course, summary)
                for k, c, o, name, course, summary in rows
            }
        finally:
            connection.close()
        self.watch.holding = dict(holding)
        self.watch.adopted = holding
        self.watch.settle = time.time() + self.watch.th.cpu_seconds + 3 * self.sampler.interval
        self.watch.quota_owners = {o for k, c, o in holding if k == Kind.QUOTA}

    def _evaluate_forever(self) -> None:
        interval = settings.ALERT_INTERVAL
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.sampler.sweep_unless_ticking()
                self.watch.tick(time.time())
                self._quotas()
                self._store()
            except Exception:  # a failed round must not end the loop: log, go on
                log.exception("evaluating alerts failed")
            finally:
                connection.close()
            self._stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def _store(self) -> None:
        began, ended, _ = self.watch.take()
        if not began and not ended:
            return
        for key in ended:
            resolve(key)
        for condition in began:
            try:
                if condition.key[0] == Kind.EXITED and _will_restart(condition.key[1]):
                    continue  # its restart policy starts it again: a restart loop says more
                alert = fire(condition)
            except Exception:  # one alert's failure must not lose the others of this round
                log.exception("storing the alert %s failed", condition.key)
                continue
            if alert is not None:
                self.notifier.send(alert)
        announce()

    def _quotas(self) -> None:
        with self.watch._lock:
            owners, self.watch.quota_owners = self.watch.quota_owners, set()
        now = time.monotonic()
        later = set()
        for owner in owners:
            if now - self._quota_checked.get(owner, -QUOTA_EVERY) < QUOTA_EVERY:
                later.add(owner)  # looked at moments ago: again when the time has come
                continue
            self._quota_checked[owner] = now
            self.watch.set_quota(owner, self._quota_verdict(owner))
        with self.watch._lock:
            self.watch.quota_owners |= later

    def _quota_verdict(self, owner: str) -> str | None:
        user = User.objects.filter(username=owner).first()
        if user is None:
            return None
        limits = limits_for(user)
        if limits.unlimited:
            return None
        try:
            return near_quota(limits, usage_of(owner), self.watch.th)
        except EngineError:
            return None


def _will_restart(container_id: str) -> bool:
    """Whether the engine starts this exited container again by itself (one inspect per
    exit with an error code, never per tick)."""
    try:
        record = translate.container_record(inspect_container(container_id))
    except EngineError:
        return False  # gone: it exited for good
    policy = record.spec.restart_policy.split(":")[0]
    return record.state in ("running", "restarting") or policy in RESTARTING_POLICIES


def start(sampler: StatsSampler) -> Loop | None:
    """This process's alert engine for `sampler`, unless DOCKDASH_ALERTS=0."""
    if not settings.ALERTS:
        return None
    loop = Loop(sampler).start()
    atexit.register(loop.stop)
    return loop
