"""The class grid's websocket: instructors of the class and admins join its shared frames.

Thin: check the user may manage the class (anyone else is told it does not
exist), join the ClassGrid's group (classes_app.grid), forward its text.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from classes_app import courses, grid
from containers_app.consumers import CLOSE_LOGIN
from dashboard.refusals import NotVisible


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
