"""Websockets of classes: the class grid (instructors of the class and admins join its shared
frames, classes_app.grid) and a student's lab logs, merged (containers_app.merged_logs).

Thin: check the user may see what they ask for (anyone else is told it does not
exist), then join the shared producer or follow the logs.
"""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from classes_app import courses, grid, shoulder
from containers_app.consumers import CLOSE_BAD_REQUEST, CLOSE_LOGIN, CLOSE_TOO_MANY, query_of
from containers_app.logs import TooManyStreams, parse_options
from containers_app.merged_logs import MergedFrame, MergedLogs, Source, SourceEnd
from dashboard.refusals import NotVisible, Refusal


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
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=CLOSE_LOGIN)
            return
        kwargs = self.scope["url_route"]["kwargs"]
        try:
            sources = await database_sync_to_async(_sources)(
                user, kwargs["slug"], kwargs["username"]
            )
        except Refusal as exc:
            await self.close(code=exc.close_code)
            return
        await self.accept()
        try:
            options = parse_options(query_of(self.scope))
        except ValueError as exc:
            await self._fail(str(exc), CLOSE_BAD_REQUEST)
            return
        names = [{"name": s.name} for s in sources]
        await self.send(text_data=json.dumps({"type": "containers", "containers": names}))
        self.merged = MergedLogs(sources, options, send=self._send_frame, user=user)
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
