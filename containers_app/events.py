"""The one Docker events watcher per process, and the consumer that forwards its events.

The watcher is a producer outside the consumers: a thread reads the engine's
blocking `/events` stream (never on the event loop) and hops each event onto the
loop to `group_send` it to one channel-layer group. It starts with the first
subscriber and stops after the last one leaves; when the engine goes away it
reconnects, resuming from the last event's time so nothing is missed.

The consumer (`/ws/events/`) needs a logged-in user, forwards only events about
objects the user may see (dashboard.access), and batches them into one frame per
~100 ms so a burst (300 containers stopped at once) is a few frames, not hundreds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypedDict

from channels.layers import get_channel_layer

from containers_app.engine import client as engine_client
from containers_app.engine.errors import EngineError
from containers_app.engine.networks import inspect_network
from containers_app.engine.system import EventStream
from containers_app.engine.volumes import inspect_volume
from containers_app.push_sockets import PushOnlyConsumer
from dashboard import access
from dashboard.access import OWNER_LABEL, Perm
from dashboard.records import CLASS_LABEL

log = logging.getLogger(__name__)

GROUP = "docker-events"
KINDS = ("container", "image", "network", "volume")
FLUSH_SECONDS = 0.1
PREDEFINED_NETWORKS = ("bridge", "host", "none")


class DockerEvent(TypedDict):
    kind: str  # container, image, network, volume
    action: str  # create, start, die, destroy, tag, delete, connect, ...
    id: str
    name: str
    owner: str  # "" when the object carries no owner label
    course: str  # its dockdash.class label, "" without one
    exit_code: int | None  # a container's `die`: the code its process ended with
    time: float


class EventsFrame(TypedDict):
    type: str  # "events"
    events: list[DockerEvent]


def slim(raw: dict[str, Any]) -> DockerEvent | None:
    """The part of an engine event pages need; None for kinds no page shows."""
    kind = raw.get("Type", "")
    action = str(raw.get("Action", "")).split(":", 1)[0]
    if kind not in KINDS or action.startswith("exec_"):
        return None
    actor = raw.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    code = str(attrs.get("exitCode", ""))
    return {
        "kind": kind,
        "action": action,
        "id": str(actor.get("ID", "")),
        "name": str(attrs.get("name", "")),
        "owner": str(attrs.get(OWNER_LABEL, "")),
        "course": str(attrs.get(CLASS_LABEL, "")),
        "exit_code": int(code) if code.lstrip("-").isdigit() else None,
        "time": raw.get("timeNano", 0) / 1e9 or float(raw.get("time", 0)),
    }


class Owners:
    """Who owns the networks and volumes named in events (their events carry no labels).

    Looked up on the engine in the watcher's thread and remembered, so that the
    `destroy` of an object seen before still reaches its owner after it is gone.
    """

    LIMIT = 10_000

    def __init__(self) -> None:
        self._known: dict[str, str] = {}

    def fill(self, event: DockerEvent) -> DockerEvent:
        if event["kind"] not in ("network", "volume") or event["owner"] or not event["id"]:
            return event
        key = f"{event['kind']}:{event['id']}"
        if key not in self._known:
            inspect = inspect_network if event["kind"] == "network" else inspect_volume
            try:
                labels = inspect(event["id"]).get("Labels")
            except EngineError:  # gone already: only what was seen before is known
                labels = None
            if len(self._known) >= self.LIMIT:
                self._known.clear()
            self._known[key] = access.owner_of(labels) or ""
        owner = self._known.pop(key) if event["action"] == "destroy" else self._known[key]
        return {**event, "owner": owner}


def may_see(user: Any, event: DockerEvent) -> bool:
    shared = event["kind"] == "image" or (
        event["kind"] == "network" and event["name"] in PREDEFINED_NETWORKS
    )
    return access.can(user, Perm.VIEW, event["owner"] or None, shared=shared)


class EventsWatcher:
    """One `docker events` stream per process, feeding the GROUP channel-layer group.

    What this process keeps of the engine's state may listen too (`listen`): each event
    reaches the listeners, in the watcher's thread, before it reaches any page.
    """

    def __init__(self, address: engine_client.Address | None = None, group: str = GROUP) -> None:
        self.address = address  # None: the configured engine's
        self.group = group
        self._lock = threading.Lock()
        self._subscribers = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._stream: EventStream | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[Callable[[DockerEvent], None]] = []
        self.engine_error = ""  # why the stream cannot be opened now ("" while it runs)
        # The stream is open, and how many times one was opened: what a listener kept from
        # an earlier stream may have missed events in between.
        self.connected = False
        self.generation = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def following(self) -> bool:
        """Whether every event reaches the listeners now (the stream is open)."""
        return self.connected and self.running

    def listen(self, listener: Callable[[DockerEvent], None]) -> None:
        self._listeners.append(listener)

    def subscribe(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Follow the stream; events reach pages through `loop`'s channel layer (None: a
        subscriber that only listens, in a thread of its own: the alert engine)."""
        with self._lock:
            self._subscribers += 1
            if loop is not None:
                self._loop = loop
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(
                    target=self._follow, args=(self._stop,), name="docker-events", daemon=True
                )
                self._thread.start()

    def unsubscribe(self) -> None:
        with self._lock:
            self._subscribers = max(self._subscribers - 1, 0)
            if self._subscribers or self._thread is None:
                return
            self._stop.set()
            self.connected = False
            if self._stream is not None:
                self._stream.close()  # wakes the thread out of its blocking read
            self._thread = self._stream = None

    def _follow(self, stop: threading.Event) -> None:
        with engine_client.using(self.address or engine_client.configured()):
            self._run(stop)

    def _run(self, stop: threading.Event) -> None:
        since = time.time()
        owners = Owners()
        while not stop.is_set():
            try:
                stream = EventStream(since=int(since))
                with self._lock:
                    if stop.is_set():
                        stream.close()
                        return
                    self._stream = stream
                    self.generation += 1
                    self.connected = True
                self.engine_error = ""
                for raw in stream:
                    if stop.is_set():
                        return
                    event = slim(raw)
                    if event is not None:
                        since = max(since, event["time"])
                        for listener in self._listeners:
                            listener(event)
                        self._publish(owners.fill(event))
            except EngineError as exc:
                log.info("docker events stream ended: %s; reconnecting", exc.message)
                self.engine_error = exc.message
            finally:
                self.connected = False
            stop.wait(1.0)  # the engine is away or the stream ended: retry gently

    def _publish(self, event: DockerEvent) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        message = {"type": "docker.event", "event": event}
        future = asyncio.run_coroutine_threadsafe(
            get_channel_layer().group_send(self.group, message), loop
        )
        with contextlib.suppress(Exception):  # the loop is shutting down: nobody listens
            future.result(timeout=5)


# The configured engine's stream: what this process keeps of the engine's state (the
# sampler's running set, restart counts, alerts) follows it.
watcher = EventsWatcher()
_others: dict[str, EventsWatcher] = {}


def watcher_for_pages() -> EventsWatcher:
    """The stream of the engine the running code talks to (another engine's only feeds pages)."""
    address = engine_client.address()
    if address == engine_client.configured():
        return watcher
    found = _others.get(address.url)
    if found is None:
        digest = hashlib.sha1(address.url.encode(), usedforsecurity=False).hexdigest()[:12]
        found = _others[address.url] = EventsWatcher(address, f"{GROUP}.{digest}")
    return found


class EventsConsumer(PushOnlyConsumer):
    """`/ws/events/`: the Docker events this user may see, batched."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.user = user
        self.buffer: list[DockerEvent] = []
        self.flush_task: asyncio.Task[None] | None = None
        self.watcher = watcher_for_pages()
        await self.channel_layer.group_add(self.watcher.group, self.channel_name)
        self.watcher.subscribe(asyncio.get_running_loop())
        self.subscribed = True
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "subscribed", False):
            self.subscribed = False
            await self.channel_layer.group_discard(self.watcher.group, self.channel_name)
            self.watcher.unsubscribe()
        task = getattr(self, "flush_task", None)
        if task is not None:
            task.cancel()

    async def docker_event(self, message: dict[str, Any]) -> None:
        event: DockerEvent = message["event"]
        if not may_see(self.user, event):
            return
        self.buffer.append(event)
        if self.flush_task is None:
            self.flush_task = asyncio.create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_SECONDS)
        events, self.buffer, self.flush_task = self.buffer, [], None
        frame: EventsFrame = {"type": "events", "events": events}
        await self.send_json(frame)
