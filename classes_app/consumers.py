"""Websockets of classes: the class grid (instructors of the class and admins join its shared
frames, classes_app.grid), a student's lab logs, merged (containers_app.merged_logs), and
the student's open terminals (containers_app.sessions announces each one opened or closed).

Thin: check the user may see what they ask for (anyone else is told it does not
exist), then join the shared producer or follow the logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from classes_app import courses, grid, shoulder
from containers_app import sessions
from containers_app.consumers import CLOSE_BAD_REQUEST, CLOSE_LOGIN, CLOSE_TOO_MANY, query_of
from containers_app.logs import TooManyStreams, parse_options
from containers_app.merged_logs import MergedFrame, MergedLogs, Source, SourceEnd
from dashboard.refusals import NotVisible, Refusal

Found = TypeVar("Found")


class ClassGridConsumer(AsyncWebsocketConsumer):
    """/ws/classes/{slug}/: the latest grid frame on connect, then one per tick."""

    grid: grid.ClassGrid | None = None

    async def connect(self) -> None:
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=CLOSE_LOGIN)
            return
        slug = self.scope["url_route"]["kwargs"]["slug"]
        try:
            course = await database_sync_to_async(courses.course_for)(user, slug)
        except NotVisible as exc:
            await self.close(code=exc.close_code)
            return
        await self.accept()
        self.grid = found = grid.grid_for(course.slug)
        await self.channel_layer.group_add(found.group, self.channel_name)
        await found.subscribe()
        if found.last_text:
            await self.send(text_data=found.last_text)

    async def grid_tick(self, event: dict[str, Any]) -> None:
        if self.grid is not None and self.grid.last_text:
            await self.send(text_data=self.grid.last_text)

    async def disconnect(self, code: int) -> None:
        if self.grid is not None:
            await self.channel_layer.group_discard(self.grid.group, self.channel_name)
            await self.grid.unsubscribe()
            self.grid = None


async def _watched_or_close(
    consumer: AsyncWebsocketConsumer, find: Callable[[Any, str, str], Found]
) -> Found | None:
    """`find(user, slug, username)` for the student of the URL, if the user teaches them
    (shoulder.student_for_watcher); else close with the refusal's code."""
    user = consumer.scope["user"]
    if not user.is_authenticated:
        await consumer.close(code=CLOSE_LOGIN)
        return None
    kwargs = consumer.scope["url_route"]["kwargs"]
    try:
        return await database_sync_to_async(find)(user, kwargs["slug"], kwargs["username"])
    except Refusal as exc:
        await consumer.close(code=exc.close_code)
        return None


def _sources(user: Any, slug: str, username: str) -> list[Source]:
    course, student = shoulder.student_for_watcher(user, slug, username)
    return shoulder.lab_sources(user, course, student)


class StudentLogsConsumer(AsyncWebsocketConsumer):
    """/ws/classes/{slug}/students/{username}/logs/?tail=N: the student's lab logs as one.

    First `{"type": "containers", "containers": [{"name"}]}`, then frames of
    `[time, container index, "o"/"e", text]` lines in time order, and an
    `{"type": "end", "source": i}` when one container's log ends.
    """

    merged: MergedLogs | None = None

    async def connect(self) -> None:
        sources = await _watched_or_close(self, _sources)
        if sources is None:
            return
        await self.accept()
        try:
            options = parse_options(query_of(self.scope))
        except ValueError as exc:
            await self._fail(str(exc), CLOSE_BAD_REQUEST)
            return
        names = [{"name": s.name} for s in sources]
        await self.send(text_data=json.dumps({"type": "containers", "containers": names}))
        self.merged = MergedLogs(sources, options, send=self._send_frame, user=self.scope["user"])
        try:
            self.merged.start()
        except TooManyStreams as exc:
            self.merged = None
            await self._fail(str(exc), CLOSE_TOO_MANY)

    async def _fail(self, message: str, code: int) -> None:
        await self.send(text_data=json.dumps({"type": "error", "message": message}))
        await self.close(code=code)

    async def _send_frame(self, frame: MergedFrame | SourceEnd) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def disconnect(self, code: int) -> None:
        if self.merged is not None:
            await self.merged.close()
            self.merged = None


class StudentSessionsConsumer(AsyncWebsocketConsumer):
    """/ws/classes/{slug}/students/{username}/sessions/: the student's open terminals, as
    the rows of the page's table (shoulder.OpenTerminals), on connect and whenever one
    opens or closes."""

    student: Any = None
    group = ""  # the student's: told when one of their sessions opens or closes
    recheck: asyncio.Task[None] | None = None
    sent = ""

    async def connect(self) -> None:
        found = await _watched_or_close(self, shoulder.student_for_watcher)
        if found is None:
            return
        _, student = found
        await self.accept()
        self.student, self.group = student, sessions.owner_group(student.get_username())
        # Joined before the first read: nothing opened in between goes unseen.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self._send_rows()
        every = sessions.recheck_every()
        if every is not None:
            self.recheck = asyncio.get_running_loop().create_task(self._recheck(every))

    async def sessions_changed(self, event: dict[str, Any]) -> None:
        await self._send_rows()

    async def _recheck(self, every: float) -> None:
        # Through this consumer's own channel, so that reads of the list take turns.
        while True:
            await asyncio.sleep(every)
            await self.channel_layer.send(self.channel_name, {"type": "sessions.changed"})

    async def _send_rows(self) -> None:
        # The ORM (the user's taught students) and, with REDIS_URL, Redis: off the loop.
        terminals = await database_sync_to_async(shoulder.open_terminals)(
            self.scope["user"], self.student
        )
        if terminals["rows"] != self.sent:
            self.sent = terminals["rows"]
            await self.send(text_data=json.dumps(terminals))

    async def disconnect(self, code: int) -> None:
        if self.recheck is not None:
            self.recheck.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.recheck
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = ""
