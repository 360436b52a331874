"""Jobs cut short: a job left running by a process that is gone is failed, and audited.

A job's row names the process running it (`runner`, registry_app.processes) and
when that process last said so (`heartbeat`: the runner saves it at least every
JOB_HEARTBEAT seconds). Every server process starts `start()` (dashboard.asgi): at
once, then every JOB_HEARTBEAT seconds, it fails the running jobs of processes that
are gone. A process whose pid it can see (the same kernel and pid namespace) is gone
when no process of that pid and start time runs; one it cannot see (another host,
another container) when its heartbeat is STALE_BEATS beats old. So a job running in
another live process is never failed, however many processes share the database.

Failing is a conditional update (running -> failed): of the processes that find the
same job, one wins, and only it writes the audit row the job's action would have
written (kept on the job, dashboard.audit.written_when_done), with the reason.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from dashboard import audit
from registry_app import jobs, processes
from registry_app.models import Job

log = logging.getLogger(__name__)

INTERRUPTED = "Interrupted: the server restarted (or stopped) while this job ran. Start it again."
STALE_BEATS = 6  # heartbeats missed before a process this one cannot see counts as gone


def gone(runner: str, heartbeat: datetime | None, now: datetime) -> bool:
    """Whether the process named `runner`, last heard of at `heartbeat`, no longer runs."""
    process = processes.Process.parse(runner)
    if process is not None:
        if process == processes.current():
            return False
        runs = processes.runs(process)
        if runs is not None:
            return not runs
    stale = timedelta(seconds=settings.JOB_HEARTBEAT * STALE_BEATS)
    return heartbeat is None or heartbeat < now - stale


def fail(job: Job) -> bool:
    """Fail `job` as interrupted, and write its action's row; False if it had ended."""
    now = timezone.now()
    won = Job.objects.filter(pk=job.pk, state=jobs.RUNNING).update(
        state=jobs.FAILED, error=INTERRUPTED, finished=now
    )
    if not won:
        return False
    if job.audit_row:
        # The row's actor is the job's user (None once that account is gone).
        audit.write({**job.audit_row, "user_id": job.user_id}, INTERRUPTED)
    return True


def sweep() -> list[int]:
    """Fail the running jobs of processes that are gone; the ids of those this one failed."""
    now = timezone.now()
    found = Job.objects.filter(state=jobs.RUNNING).exclude(runner=processes.this_process())
    return [job.pk for job in found if gone(job.runner, job.heartbeat, now) and fail(job)]


class Loop:
    """This process's sweeps: one at once, then one every JOB_HEARTBEAT seconds."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._first = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dockdash-job-sweep", daemon=True)

    def start(self) -> Loop:
        self._thread.start()
        # The first sweep ends before the server answers: no page shows what it fails.
        self._first.wait(timeout=settings.DOCKER_TIMEOUT)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=settings.JOB_HEARTBEAT + 5)

    def _run(self) -> None:
        self._sweep()
        self._first.set()
        while not self._stop.wait(settings.JOB_HEARTBEAT):
            self._sweep()

    def _sweep(self) -> None:
        try:
            failed = sweep()
        except Exception:  # a broken sweep must not end the loop (nor the server): log it
            log.exception("looking for interrupted jobs failed")
        else:
            if failed:
                log.warning("jobs %s: their process is gone; marked failed", failed)
        finally:
            connection.close()


def start() -> Loop | None:
    """This process's sweeps, unless DOCKDASH_JOB_RECOVERY=0 (a server calls it once)."""
    return Loop().start() if settings.JOB_RECOVERY else None
