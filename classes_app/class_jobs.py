"""Class jobs: provision a lab, reset a student's lab, stop/start/remove a class's containers.

Each is a job of registry_app's runner (a Job row, progress on `/ws/jobs/<id>/`,
`GET /api/v1/jobs/<id>/`) whose body works through the students in parallel,
`PARALLEL` at a time, and reports a result per student as it comes (the
job's `items`). Every engine change inside goes through the gate, one audit
row each, with the user who started the job as the actor. A class, lab or
student the user may not see or act on is refused before any job starts, with
its one audit row (classes_app.courses.finding).
"""

from __future__ import annotations

import concurrent.futures
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from classes_app import courses, labs
from containers_app.engine import client as engine_client
from dashboard.models import Course
from dashboard.records import OWNER_LABEL
from dashboard.refusals import Refusal
from registry_app import jobs
from registry_app.jobs import JobFailed
from registry_app.models import Job

PARALLEL = 8  # students (or containers) worked on at once
KIND = "class"
WAITING, WORKING = "waiting", "working"  # an item's state before its result: "ok", "failed"

Emit = Callable[[dict[str, Any]], None]
Task = Callable[[], dict[str, Any]]


def _target(course: Course) -> str:
    """How a class job's `target` begins: the class it works on."""
    return f"{course.slug}: "


def of_course(course: Course) -> QuerySet[Job]:
    """The jobs of the class, newest first."""
    return Job.objects.filter(kind=KIND, target__startswith=_target(course))


def what_of(job: Job) -> str:
    """What a class job does ("provision lab1"), without the class it is of."""
    return job.target.split(": ", 1)[-1]


def _start(request: Any, course: Course, what: str, tasks: Callable[[], dict[str, Task]]) -> Job:
    """A job running `tasks()` (made in the job, off the request): {item: its work}."""
    user = request.user
    job = Job.objects.create(
        kind=KIND, user=user, username=user.get_username(), target=_target(course) + what
    )

    def body(emit: Emit) -> dict[str, str]:
        _run_all(tasks(), emit)
        return {}

    jobs.start(job, body)
    return job


def _run_all(tasks: dict[str, Task], emit: Emit) -> None:
    failed = 0
    for item in tasks:  # every student's row from the start, each waiting its turn
        emit({"item": item, "result": {"state": WAITING}})
    with concurrent.futures.ThreadPoolExecutor(PARALLEL, "dockdash-class") as pool:
        futures = {
            pool.submit(engine_client.carrying(_in_thread), item, task, emit): item
            for item, task in tasks.items()
        }
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            failed += result["state"] != "ok"
            emit({"item": futures[future], "result": result, "line": _summary(result)})
    if failed:
        raise JobFailed(f"{failed} of {len(tasks)} did not finish; see each one's result.")


def _in_thread(item: str, task: Task, emit: Emit) -> dict[str, Any]:
    emit({"item": item, "result": {"state": WORKING}})
    try:
        return {"state": "ok", **task()}
    except Refusal as exc:
        return {"state": "failed", "error": exc.message}
    finally:
        connection.close()  # this thread's own connection: the pool ends with the job


def _summary(result: dict[str, Any]) -> str:
    if result["state"] != "ok":
        return f"failed: {result['error']}"
    parts = [
        f"{key} {', '.join(result[key])}"
        for key in ("removed", "created", "started", "kept", "stopped")
        if result.get(key)
    ]
    return "ok" + (f" ({'; '.join(parts)})" if parts else ", nothing to do")


def _rows_by_name(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in rows}


def provision(request: Any, slug: str, lab: str) -> Job:
    """Create and start every student's copy of lab `lab` of class `slug`; again, it fills
    only the gaps."""
    found = courses.lab_to_change(request, "lab.provision", slug, lab)
    students = list(found.course.students.order_by("username"))

    def tasks() -> dict[str, Task]:
        existing = _rows_by_name(labs.class_containers(found.course, lab=found.slug))
        return {
            copy.student.username: _bind(labs.provision, request, copy, existing)
            for copy in labs.copies(found, students)
        }

    return _start(request, found.course, f"provision {found.slug}", tasks)


def reset(request: Any, slug: str, lab: str, student: str, *, wipe: bool) -> Job:
    """Recreate `student`'s copy of lab `lab` of class `slug` (the user's own when "": a
    student resets only theirs); the working volume kept, or wiped if asked."""
    with courses.finding(request, "lab.reset", "lab", f"{slug}/{lab}"):
        found = courses.lab_of(courses.course_for(request.user, slug, manage=False), lab)
        pupil = courses.student_of(
            request.user, found.course, student or request.user.get_username()
        )
        labs.check_wipe(found, wipe)

    def tasks() -> dict[str, Task]:
        [copy] = labs.copies(found, [pupil])
        rows = labs.class_containers(found.course, owner=pupil.username, lab=found.slug)
        return {pupil.username: lambda: labs.reset(request, copy, rows, wipe=wipe)}

    return _start(request, found.course, f"reset {found.slug} of {pupil.username}", tasks)


def act(request: Any, slug: str, action: str, student: str = "", lab: str = "") -> Job:
    """Stop, start or remove the containers of class `slug` (or of one student, or of one
    lab): a result per student."""
    with courses.finding(request, f"class.{action}", "class", slug):
        course = courses.course_for(request.user, slug)
        pupil = courses.student_of(request.user, course, student) if student else None
        found = courses.lab_of(course, lab) if lab else None
    whose = pupil.username if pupil else ""
    lab_slug = found.slug if found else ""

    def tasks() -> dict[str, Task]:
        by_owner: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in labs.class_containers(course, owner=whose, lab=lab_slug):
            by_owner[row["labels"].get(OWNER_LABEL, "")].append(row)
        return {
            owner: _bind(_act_on_all, request, action, rows) for owner, rows in by_owner.items()
        }

    what = ", ".join(part for part in (whose or "everyone", lab_slug) if part)
    return _start(request, course, f"{action} ({what})", tasks)


def _act_on_all(request: Any, action: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    done, failed = [], {}
    for row in rows:
        error = labs.act_on(request, action, row)
        if error:
            failed[row["name"]] = error
        else:
            done.append(row["name"])
    result: dict[str, Any] = {labs.DONE_WORDS[action]: done}
    if failed:
        result.update(state="failed", error="; ".join(f"{k}: {v}" for k, v in failed.items()))
    return result


def _bind(function: Callable[..., dict[str, Any]], *args: Any) -> Task:
    return lambda: function(*args)
