"""Websocket consumers for live stats, logs, the terminal and the alerts bell.

Thin: check the user and the container, join the sampler's group or start a
stream service (containers_app.stats, .logs, .terminal), forward frames. The
ASGI stack has already checked the Origin and loaded the session user.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import parse_qsl

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from containers_app import alerts, gate, sessions, stats, translate
from containers_app.engine.errors import EngineError
from containers_app.logs import (
    LogEnd,
    LogFollower,
    LogFrame,
    TooManyStreams,
    end_reason,
    parse_options,
)
from containers_app.lookup import container_for_user
from containers_app.overview_frames import CompactFrames
from containers_app.push_sockets import PushOnlyConsumer
from containers_app.terminal import SHELLS, ExecSession, clamp_size, relay_output
from dashboard import audit
from dashboard.access import Perm
from dashboard.refusals import Forbidden, NotVisible, Refusal

# Close codes the pages understand (4000-4999 are the application's own).
CLOSE_LOGIN = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAVAILABLE = 4503
CLOSE_TOO_MANY = 4429  # this user's (or the server's) share of log streams is taken
CLOSE_TOO_BIG = 4413  # a frame over the server's message limit
SPARK_POINTS = 60
# The largest websocket message daphne sends (its default); a frame of every container as
# objects passes it at about 600 containers, and their history of a minute sooner.
MESSAGE_LIMIT = 1 << 20
TOO_BIG = (
    "Too many containers for messages of objects: they pass the server's 1 MiB limit. "
    "Ask for /ws/stats/?compact=1: rows of what changed, paced by your acks."
)


def query_of(scope: dict[str, Any]) -> dict[str, str]:
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


async def _container_or_close(
    consumer: AsyncWebsocketConsumer, perm: Perm = Perm.VIEW
) -> dict[str, Any] | None:
    """The container of the URL if the user may `perm` it; else tell why and close."""
    user = consumer.scope["user"]
    if not user.is_authenticated:
        await consumer.close(code=CLOSE_LOGIN)
        return None
    ref = consumer.scope["url_route"]["kwargs"]["ref"]
    try:
        return await asyncio.to_thread(container_for_user, user, ref, perm)
    except (NotVisible, Forbidden) as exc:
        await consumer.close(code=exc.close_code)
    except EngineError as exc:
        await consumer.accept()
        await consumer.send(text_data=json.dumps({"type": "error", "message": exc.message}))
        await consumer.close(code=CLOSE_UNAVAILABLE)
    return None


# ---------------------------------------------------------------- stats


class _SamplerViewer(PushOnlyConsumer):
    """A viewer of the process's stats sampler: in its group while connected."""

    sampler: stats.StatsSampler | None = None

    async def join_sampler(self) -> stats.StatsSampler:
        self.sampler = sampler = stats.sampler_for()
        await self.accept()
        await sampler.subscribe()
        await self.channel_layer.group_add(sampler.group, self.channel_name)
        return sampler

    async def disconnect(self, code: int) -> None:
        if self.sampler is not None:
            await self.channel_layer.group_discard(self.sampler.group, self.channel_name)
            await self.sampler.unsubscribe()
            self.sampler = None


class StatsOverviewConsumer(_SamplerViewer):
    """/ws/stats/: recent points of every visible container, then one frame per tick.

    With ?compact=1 (the overview page), compact frames (containers_app.overview_frames)
    paced by the viewer: after each frame it sends "ack" when it has drawn it, and the
    ticks until then are skipped, so a slow viewer never has frames queue up for it.
    """

    sent_t: float | None = None  # the tick of the last compact frame sent
    drawn = True  # the viewer said it drew the last compact frame

    async def connect(self) -> None:
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=CLOSE_LOGIN)
            return
        self.sees_all = stats.sees_everything(user)
        self.compact = query_of(self.scope).get("compact") == "1"
        sampler = await self.join_sampler()
        frame = sampler.last_frame
        shown = [s["id"] for s in stats.visible_samples(user, frame["containers"] if frame else [])]
        if self.compact:  # the page draws the CPU of the last minute alone
            recent: dict[str, Any] = {
                cid: {"fields": ["cpu_percent"], "fine": [sampler.recent_cpu(cid, SPARK_POINTS)]}
                for cid in shown
            }
        else:
            recent = {cid: sampler.history(cid, fine_points=SPARK_POINTS) for cid in shown}
        await self.send_within_limit(json.dumps({"type": "history", "containers": recent}))

    async def send_within_limit(self, text: str) -> None:
        """Send `text`, unless the server would refuse it and end the socket: then say why
        and close."""
        if len(text) > MESSAGE_LIMIT:
            await self.send_json({"type": "error", "message": TOO_BIG})
            await self.close(code=CLOSE_TOO_BIG)
            return
        await self.send(text_data=text)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if text_data == "ack":
            self.drawn = True

    async def stats_tick(self, event: dict[str, Any]) -> None:
        sampler = self.sampler
        if sampler is None or sampler.last_frame is None:
            return
        frame = sampler.last_frame
        if self.compact:
            if not self.drawn:
                return
            key = "*" if self.sees_all else self.scope["user"].get_username()
            audience = _compact_frames.setdefault(sampler.group, CompactFrames()).audience(
                key, frame, self.visible
            )
            self.drawn = False
            await self.send(text_data=audience.text_for(self.sent_t))
            self.sent_t = audience.t
            return
        text = sampler.last_text
        if not self.sees_all:
            text = json.dumps({**frame, "containers": self.visible(frame["containers"])})
        await self.send_within_limit(text)

    def visible(self, samples: list[stats.ContainerSample]) -> list[stats.ContainerSample]:
        return samples if self.sees_all else stats.visible_samples(self.scope["user"], samples)


_compact_frames: dict[str, CompactFrames] = {}  # per sampler group


class ContainerStatsConsumer(_SamplerViewer):
    """/ws/containers/{id}/stats/: the container's history, then its sample of each tick."""

    async def connect(self) -> None:
        attrs = await _container_or_close(self)
        if attrs is None:
            return
        self.container_id = attrs["Id"]
        sampler = await self.join_sampler()
        history = sampler.history(self.container_id)
        await self.send_json(
            {"type": "history", "id": self.container_id, "interval": sampler.interval, **history}
        )

    async def stats_tick(self, event: dict[str, Any]) -> None:
        if self.sampler is None or self.sampler.last_frame is None:
            return
        frame = self.sampler.last_frame
        await self.send_json(
            {
                "type": "sample",
                "t": frame["t"],
                "sample": self.sampler.latest(self.container_id),
            }
        )


# ---------------------------------------------------------------- logs


class ContainerLogsConsumer(AsyncWebsocketConsumer):
    """/ws/containers/{id}/logs/?tail=N&timestamps=1&follow=1&since=T: batched log frames."""

    follower: LogFollower | None = None

    async def connect(self) -> None:
        attrs = await _container_or_close(self)
        if attrs is None:
            return
        await self.accept()
        try:
            options = parse_options(query_of(self.scope))
        except ValueError as exc:
            await self.send(text_data=json.dumps({"type": "error", "message": str(exc)}))
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        self.container_id = attrs["Id"]
        self.follower = LogFollower(
            self.container_id,
            options,
            tty=translate.container_record(attrs).tty,
            send=self._send_frame,
            on_end=self._end_reason,
            user=self.scope["user"],
        )
        try:
            self.follower.start()
        except TooManyStreams as exc:
            self.follower = None
            await self.send(text_data=json.dumps({"type": "error", "message": str(exc)}))
            await self.close(code=CLOSE_TOO_MANY)

    async def _send_frame(self, frame: LogFrame | LogEnd) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def _end_reason(self) -> str:
        return await end_reason(self.container_id)

    async def disconnect(self, code: int) -> None:
        if self.follower is not None:
            await self.follower.close()
            self.follower = None


# ---------------------------------------------------------------- terminal


class ContainerExecConsumer(AsyncWebsocketConsumer):
    """/ws/containers/{id}/exec/?shell=sh&cols=80&rows=24: a TTY, bytes both ways.

    Binary frames carry keystrokes in and output out; a text frame
    `{"type": "resize", "cols": C, "rows": R}` resizes the TTY. While it runs the
    session is listed in containers_app.sessions and its output also goes to the
    session's group, for watchers (WatchConsumer); the student gets a
    `{"type": "watchers", ...}` frame whenever who watches or who types changes.
    """

    session: ExecSession | None = None

    async def connect(self) -> None:
        if not self.scope["user"].is_authenticated:
            await self.close(code=CLOSE_LOGIN)
            return
        query = query_of(self.scope)
        shell = query.get("shell", "sh")
        if shell not in SHELLS:
            await self.accept()
            await self._fail(f"Unknown shell {shell!r}: choose one of {', '.join(SHELLS)}.")
            return
        try:
            # Through the gate: a shell in a container with powers the create policy
            # refuses (privileged, the Docker socket mounted, ...) is root on the host.
            done = await database_sync_to_async(gate.perform)(
                self,
                "exec.start",
                self.scope["url_route"]["kwargs"]["ref"],
                shell=shell,
                cols=clamp_size(query.get("cols"), 80),
                rows=clamp_size(query.get("rows"), 24),
            )
        except (NotVisible, Forbidden) as exc:
            await self.close(code=exc.close_code)
            return
        except Refusal as exc:
            await self.accept()
            await self.send(text_data=json.dumps({"type": "error", "message": exc.message}))
            await self.close(code=exc.close_code)
            return
        await self.accept()
        self.container_id, self.container_name = done.target.id, done.target.name
        self.container_owner = done.target.owner
        session = self.session = done.result
        self.output: asyncio.Queue[bytes | None] = asyncio.Queue()
        await self._list_session(session)
        session.start_reading(*relay_output(asyncio.get_running_loop(), self.output))
        self.forward = asyncio.get_running_loop().create_task(self._forward())

    async def _list_session(self, session: ExecSession) -> None:
        self.key = sessions.new_key()
        self.watchers: dict[str, str] = {}  # channel -> username
        self.typist: tuple[str, str] | None = None  # the watcher who took over: channel, name
        self.recent = bytearray()
        self.listed = sessions.OpenSession(
            key=self.key,
            container_id=self.container_id,
            container_name=self.container_name,
            owner=self.container_owner,
            opened_by=self.scope["user"].get_username(),
            channel=self.channel_name,
            exec_id=session.exec_id,
        )
        await sessions.add(self.listed)

    async def _fail(self, message: str) -> None:
        await self.send(text_data=json.dumps({"type": "error", "message": message}))
        await self.close(code=CLOSE_BAD_REQUEST)

    async def _audit(self, action: str, params: dict[str, Any], error: str = "") -> None:
        await database_sync_to_async(audit.record)(
            self,
            action,
            target_kind="container",
            target_id=self.container_id,
            target_name=self.container_name,
            params=params,
            error=error,
        )

    async def _forward(self) -> None:
        while True:
            data = await self.output.get()
            if data is None:
                break
            await self.send(bytes_data=data)
            sessions.keep_recent(self.recent, data)
            if self.watchers:
                await self.channel_layer.group_send(
                    sessions.group_of(self.key), {"type": "watch.output", "data": data}
                )
        code = await asyncio.to_thread(self.session.exit_code) if self.session else None
        await self.send(text_data=json.dumps({"type": "exit", "code": code}))
        await self.close()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        session = self.session
        if session is None:
            return
        if bytes_data is not None:
            await asyncio.to_thread(session.write, bytes_data)
            return
        try:
            message = json.loads(text_data or "")
        except ValueError:
            return
        if isinstance(message, dict) and message.get("type") == "resize":
            cols = clamp_size(message.get("cols"), session.cols)
            rows = clamp_size(message.get("rows"), session.rows)
            await asyncio.to_thread(session.resize, cols, rows)
        elif isinstance(message, dict) and message.get("type") == "input":
            await asyncio.to_thread(session.write, str(message.get("data", "")).encode())

    # What watchers ask of this session (messages from WatchConsumer).

    async def watch_join(self, event: dict[str, Any]) -> None:
        self.watchers[event["channel"]] = event["name"]
        if self.recent:
            await self.channel_layer.send(
                event["channel"], {"type": "watch.output", "data": bytes(self.recent)}
            )
        await self._tell_watch_state()

    async def watch_leave(self, event: dict[str, Any]) -> None:
        self.watchers.pop(event["channel"], None)
        if self.typist and self.typist[0] == event["channel"]:
            self.typist = None
        await self._tell_watch_state()

    async def watch_takeover(self, event: dict[str, Any]) -> None:
        if event["channel"] in self.watchers:
            self.typist = (event["channel"], self.watchers[event["channel"]])
            await self._tell_watch_state()

    async def watch_release(self, event: dict[str, Any]) -> None:
        if self.typist and self.typist[0] == event["channel"]:
            self.typist = None
            await self._tell_watch_state()

    async def watch_input(self, event: dict[str, Any]) -> None:
        # Only the watcher who took over types; any other's keys go nowhere.
        if self.session is not None and self.typist and self.typist[0] == event["channel"]:
            await asyncio.to_thread(self.session.write, event["data"])

    async def _tell_watch_state(self) -> None:
        state: sessions.WatchState = {
            "type": "watchers",
            "watchers": sorted(set(self.watchers.values())),
            "typist": self.typist[1] if self.typist else None,
        }
        await self.send(text_data=json.dumps(state))
        typist_channel = self.typist[0] if self.typist else ""
        await self.channel_layer.group_send(
            sessions.group_of(self.key),
            {**state, "type": "watch.state", "typist_channel": typist_channel},
        )

    async def disconnect(self, code: int) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        await sessions.remove(self.listed)
        await self.channel_layer.group_send(sessions.group_of(self.key), {"type": "watch.ended"})
        await asyncio.to_thread(session.close)
        with contextlib.suppress(Exception):
            self.forward.cancel()
        await self._audit("exec.end", {"exec_id": session.exec_id})


class WatchConsumer(AsyncWebsocketConsumer):
    """/ws/sessions/{key}/watch/: a read-only mirror of someone's terminal session.

    Output comes as binary frames. Keys typed here are refused (a
    `{"type": "refused"}` frame) until `{"type": "takeover"}`, an audited action,
    is granted; `{"type": "release"}` gives the keyboard back. Opening the
    mirror is audited too (exec.watch).
    """

    key = ""
    session: sessions.OpenSession | None = None
    typing = False

    async def connect(self) -> None:
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=CLOSE_LOGIN)
            return
        self.key = self.scope["url_route"]["kwargs"]["key"]
        try:
            done = await database_sync_to_async(gate.perform)(self, "exec.watch", self.key)
        except Refusal as exc:
            await self.close(code=exc.close_code)
            return
        except EngineError:
            await self.close(code=CLOSE_UNAVAILABLE)
            return
        self.session = session = done.result
        await self.accept()
        await self.channel_layer.group_add(sessions.group_of(self.key), self.channel_name)
        await self.send(
            text_data=json.dumps(
                {
                    "type": "session",
                    "container": session.container_name,
                    "opened_by": session.opened_by,
                }
            )
        )
        await self._ask("watch.join", name=user.get_username())

    async def _ask(self, what: str, **more: Any) -> None:
        """Send `what` to the consumer holding the shell (it decides)."""
        if self.session is not None:
            message = {"type": what, "channel": self.channel_name, **more}
            await self.channel_layer.send(self.session.channel, message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if bytes_data is not None:
            if self.typing:
                await self._ask("watch.input", data=bytes_data)
            else:
                await self._say("refused", "Read only: take over to type.")
            return
        try:
            message = json.loads(text_data or "")
        except ValueError:
            return
        what = message.get("type") if isinstance(message, dict) else None
        if what in ("takeover", "release"):
            try:
                await database_sync_to_async(gate.perform)(self, f"exec.{what}", self.key)
            except Refusal as exc:
                await self._say("error", exc.message)
                return
            await self._ask(f"watch.{what}")

    async def _say(self, what: str, message: str) -> None:
        await self.send(text_data=json.dumps({"type": what, "message": message}))

    async def watch_output(self, event: dict[str, Any]) -> None:
        await self.send(bytes_data=event["data"])

    async def watch_state(self, event: dict[str, Any]) -> None:
        self.typing = event["typist_channel"] == self.channel_name
        state: sessions.WatchState = {
            "type": "watchers",
            "watchers": event["watchers"],
            "typist": event["typist"],
        }
        await self.send(text_data=json.dumps(state))

    async def watch_ended(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps({"type": "end"}))
        await self.close()

    async def disconnect(self, code: int) -> None:
        if self.session is None:
            return
        await self.channel_layer.group_discard(sessions.group_of(self.key), self.channel_name)
        await self._ask("watch.leave")
        self.session = None


# ---------------------------------------------------------------- alerts


class AlertsConsumer(PushOnlyConsumer):
    """/ws/alerts/: `{"type": "alerts", "firing": N}` for the bell, on connect and whenever
    alerts change (at most one count a second per socket)."""

    async def connect(self) -> None:
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=CLOSE_LOGIN)
            return
        self.user = user
        self.pending: asyncio.Task[None] | None = None
        alerts.listen_from(asyncio.get_running_loop())
        await self.channel_layer.group_add(alerts.ALERTS_GROUP, self.channel_name)
        self.joined = True
        await self.accept()
        await self._send_count()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "joined", False):
            await self.channel_layer.group_discard(alerts.ALERTS_GROUP, self.channel_name)
        if getattr(self, "pending", None) is not None:
            self.pending.cancel()  # type: ignore[union-attr]

    async def alerts_changed(self, message: dict[str, Any]) -> None:
        if self.pending is None:
            self.pending = asyncio.create_task(self._count_soon())

    async def _count_soon(self) -> None:
        await self._send_count()
        await asyncio.sleep(1.0)  # a burst of changes: one more count after it
        self.pending = None

    async def _send_count(self) -> None:
        firing = await database_sync_to_async(alerts.firing_count)(self.user)
        await self.send_json({"type": "alerts", "firing": firing})
