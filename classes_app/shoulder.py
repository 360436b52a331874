"""Over a student's shoulder: their open terminal sessions (listed live) and their lab's
merged logs, for whoever teaches them (and admins).

The student comes through their class: an instructor of another class gets the
same 404 as for a student who does not exist. Watching and taking over a
session are the gate's exec.watch / exec.takeover (containers_app.consumers).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from classes_app import courses, labs
from containers_app import gate, sessions
from containers_app.merged_logs import Source
from dashboard.models import Course, User


def student_for_watcher(user: Any, slug: str, username: str) -> tuple[Course, User]:
    """The class `slug` and its student `username`, if `user` teaches that class."""
    course = courses.course_for(user, slug)
    return course, courses.student_of(user, course, username)


class OpenTerminals(TypedDict):
    """The page's table of the student's open terminals (sent again when one opens or closes)."""

    type: Literal["sessions"]
    rows: str  # the table's body, as the page renders it


def open_terminals(user: Any, student: User) -> OpenTerminals:
    """The rows of the student's open terminal sessions `user` may watch (no engine call)."""
    found = sessions.watchable_by(user, owner=student.get_username())
    rows = render_to_string(
        "classes_app/_open_terminals.html", {"sessions": found, "student": student}
    )
    return {"type": "sessions", "rows": rows}


def lab_sources(user: Any, course: Course, student: User) -> list[Source]:
    """The student's lab containers of `course` that `user` may see, by name."""
    found = []
    for row in labs.class_containers(course, owner=student.get_username()):
        if row["kind"] != "container":
            continue  # a service's task may run on another node: not followed here
        target = gate.visible(user, "container", row["id"])
        found.append(Source(target.id, target.name, target.record.tty))
    return found


@require_GET
def student_page(request: HttpRequest, slug: str, username: str) -> HttpResponse:
    """A student's open terminals (Watch, Take over) and their lab's logs merged."""
    course, student = student_for_watcher(request.user, slug, username)
    return render(
        request,
        "classes_app/student_shoulder.html",
        {
            "course": course,
            "student": student,
            "terminals": open_terminals(request.user, student),
            "containers": lab_sources(request.user, course, student),
        },
    )


@require_GET
def session_page(request: HttpRequest, key: str) -> HttpResponse:
    """The read-only mirror of one terminal session (opening its socket is audited)."""
    change = gate.check(request.user, "exec.watch", key)
    session = sessions.get(key)
    return render(
        request,
        "classes_app/session_watch.html",
        {"session": session, "container": change.target, "takeover": "takeover" in request.GET},
    )
