"""Websocket consumers for live stats, logs and the terminal.

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
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

from containers_app import gate, stats, translate
from containers_app.engine.containers import inspect_container
from containers_app.engine.errors import EngineError, NotFound
from containers_app.logs import LogEnd, LogFollower, LogFrame, TooManyStreams, parse_options
from containers_app.lookup import container_for_user
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
SPARK_POINTS = 60


def _query(scope: dict[str, Any]) -> dict[str, str]:
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


class _SamplerViewer(AsyncJsonWebsocketConsumer):
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
    """/ws/stats/: recent points of every visible container, then one frame per tick."""

    async def connect(self) -> None:
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=CLOSE_LOGIN)
            return
        self.sees_all = stats.sees_everything(user)
        sampler = await self.join_sampler()
        frame = sampler.last_frame
        recent = {
            s["id"]: sampler.history(s["id"], fine_points=SPARK_POINTS)
            for s in stats.visible_samples(user, frame["containers"] if frame else [])
        }
        await self.send_json({"type": "history", "containers": recent})

    async def stats_tick(self, event: dict[str, Any]) -> None:
        sampler = self.sampler
        if sampler is None or sampler.last_frame is None:
            return
        if self.sees_all:
            await self.send(text_data=sampler.last_text)
            return
        frame = sampler.last_frame
        mine = stats.visible_samples(self.scope["user"], frame["containers"])
        await self.send_json({**frame, "containers": mine})


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
            options = parse_options(_query(self.scope))
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
        try:
            attrs = await asyncio.to_thread(inspect_container, self.container_id)
        except NotFound:
            return "The container was removed."
        except EngineError as exc:
            return exc.message
        container = translate.container_record(attrs)
        if not container.running:
            return f"The container stopped (exit code {container.exit_code})."
        return "End of the log."

    async def disconnect(self, code: int) -> None:
        if self.follower is not None:
            await self.follower.close()
            self.follower = None


# ---------------------------------------------------------------- terminal


class ContainerExecConsumer(AsyncWebsocketConsumer):
    """/ws/containers/{id}/exec/?shell=sh&cols=80&rows=24: a TTY, bytes both ways.

    Binary frames carry keystrokes in and output out; a text frame
    `{"type": "resize", "cols": C, "rows": R}` resizes the TTY.
    """

    session: ExecSession | None = None

    async def connect(self) -> None:
        if not self.scope["user"].is_authenticated:
            await self.close(code=CLOSE_LOGIN)
            return
        query = _query(self.scope)
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
        session = self.session = done.result
        self.output: asyncio.Queue[bytes | None] = asyncio.Queue()
        session.start_reading(*relay_output(asyncio.get_running_loop(), self.output))
        self.forward = asyncio.get_running_loop().create_task(self._forward())

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

    async def disconnect(self, code: int) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        await asyncio.to_thread(session.close)
        with contextlib.suppress(Exception):
            self.forward.cancel()
        await self._audit("exec.end", {"exec_id": session.exec_id})
