"""The job runner: pull, push and build jobs off the event loop, with live progress.

A job's blocking work (docker-py streams) runs on a small bounded thread pool
and hands each engine message to a coroutine on the server's event loop through
`call_soon_threadsafe`. That coroutine folds the messages into per-layer
progress, publishes throttled frames to the channel-layer group `job-<id>` (any
number of viewers) and saves the state to the Job row now and then, so a page
closed and reopened finds the job where it is.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from asgiref.sync import SyncToAsync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from containers_app.engine import client as engine_client
from containers_app.engine.errors import EngineError
from dashboard import access
from dashboard.access import Perm
from registry_app.models import Job

log = logging.getLogger(__name__)

RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"  # Job.State values
MAX_WORKERS = 4
FRAME_INTERVAL = 0.15  # seconds between frames to viewers
SAVE_INTERVAL = 1.0  # seconds between saves of a running job's row
MAX_LOG_LINES = 5000

_executor = concurrent.futures.ThreadPoolExecutor(
    max_workers=MAX_WORKERS, thread_name_prefix="dockdash-job"
)
_running: set[asyncio.Task[None]] = set()
# The newest frame of each job running in this process, for viewers who join late.
_live: dict[int, JobFrame] = {}


class LayerRow(TypedDict):
    id: str
    status: str  # the engine's words: "Downloading", "Layer already exists", ...
    phase: str  # waiting, downloading, downloaded, extracting, pushing, done, exists
    current: int
    total: int
    size: int  # bytes to transfer for this layer, once known


class JobFrame(TypedDict):
    type: Literal["job"]
    id: int
    kind: str
    state: str
    seq: int
    layers: list[LayerRow]
    bytes_done: int
    bytes_total: int
    digest: str
    image_id: str
    error: str
    log_from: int  # index of the first of `lines` in the job's whole log
    lines: list[str]
    items: dict[str, Any]  # jobs over many things (a class's students): a result per item


_QUIET: dict[str, Any] = {}  # no message came while a frame or a save was due


class JobFailed(Exception):
    """The engine reported an error inside the stream (it does not raise for those)."""


def group_name(job_id: int) -> str:
    return f"job-{job_id}"


_PHASES = {
    "pulling fs layer": "waiting",
    "waiting": "waiting",
    "preparing": "waiting",
    "downloading": "downloading",
    "verifying checksum": "downloaded",
    "download complete": "downloaded",
    "extracting": "extracting",
    "pull complete": "done",
    "already exists": "exists",
    "pushing": "pushing",
    "pushed": "done",
    "layer already exists": "exists",
}
_DONE = {"done", "exists"}
_DIGEST_RE = re.compile(r"(sha256:[0-9a-f]{64})")


def _phase_of(status: str) -> str:
    lowered = status.lower()
    if lowered.startswith("mounted from"):
        return "exists"
    return _PHASES.get(lowered, "")


@dataclass
class Progress:
    """What a job has done so far, folded from the engine's messages."""

    kind: str
    layers: dict[str, LayerRow] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    digest: str = ""
    image_id: str = ""
    error: str = ""
    dropped_lines: int = 0
    items: dict[str, Any] = field(default_factory=dict)

    def add_line(self, text: str) -> None:
        if len(self.lines) >= MAX_LOG_LINES:
            self.dropped_lines += 1
            return
        self.lines.append(text)

    def feed(self, msg: dict[str, Any]) -> None:
        if "item" in msg:  # {"item": key, "result": {...}, "line": words for the log, if any}
            self.items[str(msg["item"])] = msg.get("result")
            if "line" in msg:
                self.add_line(f"{msg['item']}: {msg['line']}")
            return
        if "error" in msg:
            detail = msg.get("errorDetail") or {}
            self.error = str(detail.get("message") or msg["error"]).strip()
            self.add_line(f"ERROR: {self.error}")
            return
        aux = msg.get("aux")
        if isinstance(aux, dict):
            self.digest = str(aux.get("Digest") or self.digest)
            self.image_id = str(aux.get("ID") or self.image_id)
        if "stream" in msg:  # build output
            for line in str(msg["stream"]).splitlines():
                if line.strip():
                    self.add_line(line)
            return
        status = str(msg.get("status") or "")
        if not status:
            return
        layer_id = str(msg.get("id") or "")
        phase = _phase_of(status) if layer_id else ""
        if phase:
            self._layer(layer_id, status, phase, msg.get("progressDetail") or {})
            return
        found = _DIGEST_RE.search(status)
        if found and ("digest" in status.lower()):
            self.digest = found.group(1)
        self.add_line(f"{layer_id}: {status}" if layer_id else status)

    def _layer(self, layer_id: str, status: str, phase: str, detail: dict[str, Any]) -> None:
        row = self.layers.get(layer_id)
        if row is None:
            row = LayerRow(id=layer_id, status="", phase="", current=0, total=0, size=0)
            self.layers[layer_id] = row
        if row["status"] != status:
            self.add_line(f"{layer_id}: {status}")
        row["status"], row["phase"] = status, phase
        current, total = int(detail.get("current") or 0), int(detail.get("total") or 0)
        if total:
            # Push counts compressed bytes against the layer's size and can overshoot it.
            current = min(current, total)
        if phase in {"downloading", "pushing"}:
            row["current"], row["total"] = current, total
            row["size"] = max(row["size"], total)
        elif phase == "extracting":
            row["current"], row["total"] = current, total
        elif phase in _DONE or phase == "downloaded":
            row["current"] = row["total"] = row["size"]

    def transferred(self) -> tuple[int, int]:
        done = total = 0
        for row in self.layers.values():
            total += row["size"]
            if row["phase"] in {"downloading", "pushing"}:
                done += row["current"]
            elif row["phase"] != "waiting":
                done += row["size"]
        return done, total

    def frame(self, job: Job, state: str, seq: int, log_from: int) -> JobFrame:
        done, total = self.transferred()
        return JobFrame(
            type="job",
            id=job.pk,
            kind=job.kind,
            state=state,
            seq=seq,
            layers=[dict(row) for row in self.layers.values()],  # type: ignore[misc]
            bytes_done=done,
            bytes_total=total,
            digest=self.digest,
            image_id=self.image_id,
            error=self.error,
            log_from=log_from,
            lines=self.lines[log_from:],
            items=dict(self.items),
        )

    def stored(self) -> dict[str, Any]:
        done, total = self.transferred()
        return {
            "layers": list(self.layers.values()),
            "bytes_done": done,
            "bytes_total": total,
            "dropped_lines": self.dropped_lines,
            "items": self.items,
        }


def frame_from_row(job: Job, seq: int = 0) -> JobFrame:
    """A full frame rebuilt from the database row (for a job not running in this process)."""
    progress = job.progress or {}
    lines = job.log.splitlines() if job.log else []
    return JobFrame(
        type="job",
        id=job.pk,
        kind=job.kind,
        state=job.state,
        seq=seq,
        layers=list(progress.get("layers") or []),
        bytes_done=int(progress.get("bytes_done") or 0),
        bytes_total=int(progress.get("bytes_total") or 0),
        digest=job.digest,
        image_id=job.image_id,
        error=job.error,
        log_from=0,
        lines=lines,
        items=dict(progress.get("items") or {}),
    )


def current_frame(job: Job) -> JobFrame:
    """The newest full frame of a job: live state if it runs here, else its row."""
    live = _live.get(job.pk)
    if live is not None:
        return live
    return frame_from_row(job)


# The blocking part of a job: it gets `emit` for each engine message and returns
# what the job produced (digest, image id) once the stream ended well.
JobBody = Callable[[Callable[[dict[str, Any]], None]], dict[str, str]]
# Runs (in the pool) after the job ended: success or failure, to leave nothing half-done.
JobFinally = Callable[[Job, bool], None]
# Told how the job ended, last: "" or the error (the action's audit row waits for it).
JobEnded = Callable[[str], None]


def drain(stream: Iterator[dict[str, Any]], emit: Callable[[dict[str, Any]], None]) -> None:
    """Hand every message of an engine stream on, and fail on the first error message."""
    for msg in stream:
        emit(msg)
        if "error" in msg:
            detail = msg.get("errorDetail") or {}
            raise JobFailed(str(detail.get("message") or msg["error"]).strip())


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop serving websockets, seen from async code or a sync view under ASGI."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    pid = getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None)
    if loop is not None and pid == os.getpid() and loop.is_running():
        return loop
    return None


_fallback: asyncio.AbstractEventLoop | None = None
_fallback_lock = threading.Lock()


def _fallback_loop() -> asyncio.AbstractEventLoop:
    """A loop of our own for jobs started outside a server (management commands, WSGI)."""
    global _fallback
    with _fallback_lock:
        if _fallback is None:
            _fallback = asyncio.new_event_loop()
            threading.Thread(
                target=_fallback.run_forever, name="dockdash-jobs-loop", daemon=True
            ).start()
        return _fallback


def start(
    job: Job, body: JobBody, cleanup: JobFinally | None = None, ended: JobEnded | None = None
) -> None:
    """Run `body` for the saved `job` in the background; returns at once."""
    # Live before it is scheduled: a viewer who comes at once gets its frame, not its row.
    _live[job.pk] = Progress(job.kind).frame(job, RUNNING, 0, 0)
    loop = _server_loop() or _fallback_loop()
    # The engine of the request that started it, wherever its body and cleanup run.
    body = engine_client.carrying(body)
    cleanup = engine_client.carrying(cleanup) if cleanup is not None else None
    # A fresh context: the job outlives the request, and must not inherit asgiref's
    # per-request executor (it is gone once the response is sent).
    loop.call_soon_threadsafe(_spawn, job, body, cleanup, ended, context=contextvars.Context())


def _spawn(job: Job, body: JobBody, cleanup: JobFinally | None, ended: JobEnded | None) -> None:
    task = asyncio.get_running_loop().create_task(run(job, body, cleanup, ended))
    _running.add(task)
    task.add_done_callback(_finished)


def _finished(task: asyncio.Task[None]) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("job runner crashed", exc_info=task.exception())


async def run(
    job: Job, body: JobBody, cleanup: JobFinally | None = None, ended: JobEnded | None = None
) -> None:
    """Drive one job to its end; never raises (the outcome is in the row and the frames)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    progress = Progress(job.kind)
    layer = get_channel_layer()
    seq = 0
    sent_lines = 0
    last_frame, last_save = 0.0, time.monotonic()  # the row was saved as it was made

    def emit(msg: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, msg)

    def work() -> dict[str, str]:
        try:
            return body(emit)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    async def publish(state: str) -> None:
        nonlocal seq, sent_lines
        seq += 1
        frame = progress.frame(job, state, seq, sent_lines)
        sent_lines = len(progress.lines)
        _live[job.pk] = progress.frame(job, state, seq, 0)
        if layer is not None:
            await layer.group_send(group_name(job.pk), {"type": "job.frame", "frame": frame})

    if len(_running) > MAX_WORKERS:
        progress.add_line(f"Waiting for a free worker ({MAX_WORKERS} jobs run at a time)…")
        await publish(RUNNING)
    pending = loop.run_in_executor(_executor, work)
    unsent = unsaved = False  # what came in since the last frame, the last save
    while True:
        # A change the throttles held back goes out once they allow, not with the next
        # message: a job whose messages are rare (a class job's results) shows each soon.
        # And a quiet job's row is saved at least every JOB_HEARTBEAT seconds: its heartbeat
        # tells other processes this one still runs it (registry_app.recovery).
        since_save = time.monotonic() - last_save
        wait = max(0.0, (SAVE_INTERVAL if unsaved else settings.JOB_HEARTBEAT) - since_save)
        if unsent:
            wait = min(wait, FRAME_INTERVAL)
        try:
            msg = await asyncio.wait_for(queue.get(), wait)
        except TimeoutError:
            msg = _QUIET
        if msg is None:
            break
        if msg is not _QUIET:
            progress.feed(msg)
            unsent = unsaved = True
        now = time.monotonic()
        if unsent and now - last_frame >= FRAME_INTERVAL:
            last_frame, unsent = now, False
            await publish(RUNNING)
        if now - last_save >= (SAVE_INTERVAL if unsaved else settings.JOB_HEARTBEAT):
            last_save, unsaved = now, False
            await _save(job, progress)
    try:
        result = await pending
    except (EngineError, JobFailed) as exc:
        failed: str | None = getattr(exc, "message", None) or str(exc)
        result = {}
    except Exception as exc:  # noqa: BLE001 - a job must end, and say why, whatever happened
        log.exception("job %s crashed", job.pk)
        failed, result = f"{type(exc).__name__}: {exc}", {}
    else:
        failed = None
    if cleanup is not None:
        try:
            await loop.run_in_executor(_executor, cleanup, job, failed is None)
        except Exception as exc:  # noqa: BLE001 - report it, the job still ends
            progress.add_line(f"Clean-up failed: {getattr(exc, 'message', exc)}")
    if failed:
        progress.error = progress.error or failed
        if not progress.lines or not progress.lines[-1].startswith("ERROR"):
            progress.add_line(f"ERROR: {progress.error}")
    progress.digest = result.get("digest") or progress.digest
    progress.image_id = result.get("image_id") or progress.image_id
    state = FAILED if failed else SUCCEEDED
    await _save(job, progress, final_state=state)
    await publish(state)
    _live.pop(job.pk, None)
    if ended is not None:
        try:
            await database_sync_to_async(ended)(progress.error if failed else "")
        except Exception:  # noqa: BLE001 - the job has ended; say what went wrong after
            log.exception("job %s: telling how it ended failed", job.pk)


@database_sync_to_async
def _save(job: Job, progress: Progress, final_state: str | None = None) -> None:
    fields = {
        "log": "\n".join(progress.lines),
        "progress": progress.stored(),
        "digest": progress.digest,
        "image_id": progress.image_id,
        "heartbeat": timezone.now(),
    }
    if final_state is not None:
        fields.update(state=final_state, error=progress.error, finished=timezone.now())
    Job.objects.filter(pk=job.pk).update(**fields)


def visible_to(user: Any, found: QuerySet[Job]) -> QuerySet[Job]:
    """The jobs of `found` that `user` may see: their own (an instructor's students' too)."""
    owners = found.order_by().values_list("username", flat=True).distinct()
    return found.filter(username__in=[o for o in owners if access.can(user, Perm.VIEW, o)])
