"""A lesson's report: per student of a class, what their labs ran and used in a time window.

Where each figure comes from, and how exact it is:

- containers: the student's lab containers the culler saw running in the window
  (`LabWatch`, one row per container id, so a reset's new copies count again);
- CPU-seconds: the culler's sum of each check's mean CPU over the interval
  before it (cgroup counters: exact between checks; the interval before a
  container's first check and after its last are missed, so it reads low by
  at most one interval per run), summed over the containers' whole lives;
- peak memory: the highest memory use seen at a check (a sample: a spike
  between two checks is missed);
- OOM kills: the student's class containers whose last run ended in the OOM
  killer, as the engine says now (exact for containers that still exist; an
  earlier kill of a restarted container is not counted);
- refusals and terminal sessions: the audit log in the window (exact): the
  student's refused actions, and the terminals they opened in their lab
  containers.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import astuple, dataclass, fields
from datetime import datetime

from django.db.models import Count, Max, Sum

from classes_app.labs import CLASS_LABEL
from classes_app.models import LabWatch
from containers_app import translate
from containers_app.engine.containers import inspect_labelled_containers
from dashboard.audit import csv_cell
from dashboard.models import AuditEntry, Course


@dataclass(frozen=True)
class StudentUse:
    username: str
    full_name: str
    containers: int
    cpu_seconds: float
    peak_memory: int  # bytes
    oom_kills: int
    refusals: int
    terminal_sessions: int


COLUMNS = [f.name for f in fields(StudentUse)]


def report(course: Course, since: datetime, until: datetime) -> list[StudentUse]:
    """A row per student of `course`, by username, for the window [since, until]."""
    students = list(course.students.order_by("username"))
    names = [s.username for s in students]
    used = {
        row["seat__student__username"]: row
        for row in LabWatch.objects.filter(
            seat__lab__course=course, last_seen__gte=since, first_seen__lte=until
        )
        .values("seat__student__username")
        .annotate(n=Count("id"), cpu=Sum("cpu_seconds"), peak=Max("peak_memory"))
    }
    rows = AuditEntry.objects.filter(time__gte=since, time__lte=until, username__in=names)
    refusals = Counter(rows.filter(result="error").values_list("username", flat=True))
    terminals = Counter(
        rows.filter(
            action="exec.start", result="ok", target_name__startswith=f"{course.slug}-"
        ).values_list("username", flat=True)
    )
    ooms = Counter(
        record.owner
        for record in map(
            translate.container_record,
            inspect_labelled_containers(f"{CLASS_LABEL}={course.slug}"),
        )
        if record.oom_killed
    )
    return [
        StudentUse(
            username=s.username,
            full_name=s.get_full_name(),
            containers=used.get(s.username, {}).get("n", 0),
            cpu_seconds=round(used.get(s.username, {}).get("cpu") or 0.0, 1),
            peak_memory=used.get(s.username, {}).get("peak") or 0,
            oom_kills=ooms[s.username],
            refusals=refusals[s.username],
            terminal_sessions=terminals[s.username],
        )
        for s in students
    ]


def as_csv(rows: list[StudentUse]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([csv_cell(v) if isinstance(v, str) else v for v in astuple(row)])
    return out.getvalue()
