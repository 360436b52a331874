"""`/ws/jobs/<id>/`: the live progress of one job, for every viewer allowed to see it."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from containers_app.push_sockets import PushOnlyConsumer
from dashboard import access
from dashboard.access import Perm
from registry_app import jobs
from registry_app.models import Job


@database_sync_to_async
def _visible_job(user: Any, pk: int) -> Job | None:
    job = Job.objects.filter(pk=pk).first()
    if job is None or not access.can(user, Perm.VIEW, job.username):
        return None
    return job


class JobConsumer(PushOnlyConsumer):
    group = ""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        pk = int(self.scope["url_route"]["kwargs"]["pk"])
        job = await _visible_job(user, pk)
        if job is None:
            await self.close(code=4404)
            return
        self.group = jobs.group_name(pk)
        # Join first, then send the state: a frame published in between arrives twice
        # at worst, and the page drops what it already has (by seq and log index).
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        fresh = await _visible_job(user, pk)
        await self.send_json(jobs.current_frame(fresh or job))

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def job_frame(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])
