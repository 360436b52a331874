"""Whether the process running a job is gone: by its pid where this process can see it
(the real /proc of this host), by its heartbeat where it cannot."""

from __future__ import annotations

import dataclasses
import os
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from registry_app import processes
from registry_app.recovery import STALE_BEATS, gone

NOW = timezone.now()
STALE = NOW - timedelta(seconds=settings.JOB_HEARTBEAT * STALE_BEATS + 1)
FRESH = NOW - timedelta(seconds=settings.JOB_HEARTBEAT)


def _parent() -> processes.Process:
    ppid = os.getppid()
    started = processes.start_time(ppid)
    assert started is not None
    return dataclasses.replace(processes.current(), pid=ppid, started=started)


def test_a_process_of_this_host_that_runs_is_not_gone_however_old_its_heartbeat() -> None:
    assert not gone(str(_parent()), STALE, NOW)
    assert not gone(processes.this_process(), None, NOW)


def test_a_process_of_this_host_that_ended_is_gone_however_fresh_its_heartbeat() -> None:
    parent = _parent()
    reused = dataclasses.replace(parent, started=parent.started + 1)  # its pid, another life
    assert gone(str(reused), FRESH, NOW)
    assert processes.runs(reused) is False and processes.runs(parent) is True


def test_a_process_this_one_cannot_see_is_gone_once_its_heartbeat_is_stale() -> None:
    elsewhere = dataclasses.replace(_parent(), boot="another-kernel")
    assert processes.runs(elsewhere) is None
    assert not gone(str(elsewhere), FRESH, NOW)
    assert gone(str(elsewhere), STALE, NOW)
    assert gone(str(elsewhere), None, NOW)
    assert gone("", STALE, NOW) and not gone("", FRESH, NOW)  # a name of no known form


def test_a_process_name_reads_back_as_that_process() -> None:
    me = processes.current()
    assert processes.Process.parse(str(me)) == me
    assert me.pid == os.getpid() and me.started == processes.start_time(os.getpid())
    assert processes.Process.parse("a/b/c/d/e") is None
