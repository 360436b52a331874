"""JSON API of classes (DESIGN.md): classes, rosters, labs and class jobs.

The routes are one table (dashboard.endpoints) at the end; each function below
answers one method. Refusals (dashboard.refusals) raised here are answered by
the API's one handler as `{"error", "field"}` with their status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.types import OpenApiTypes
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from classes_app import class_jobs, courses, labs, rosters
from containers_app.validation import parse_bool
from dashboard.endpoints import Endpoint, Op
from dashboard.refusals import Invalid
from registry_app.models import Job

CREATED = status.HTTP_201_CREATED
ACCEPTED = status.HTTP_202_ACCEPTED
NO_CONTENT = status.HTTP_204_NO_CONTENT
BODY = OpenApiTypes.OBJECT  # bodies are checked by classes_app.courses, labs and rosters
SLUG = r"(?P<slug>[a-z0-9][a-z0-9-]*)"  # as the pages route them too (classes_app.urls)
ACTION = r"(?P<action>stop|start|remove)"


def _body(request: Request) -> Mapping[str, Any]:
    if not isinstance(request.data, Mapping):
        raise Invalid("The body is a JSON object.")
    return request.data


def _job(job: Job) -> dict[str, int]:
    return {"job": job.pk}


# ---------------------------------------------------------------- classes


def _list_classes(request: Request) -> list[dict[str, Any]]:
    return [courses.course_dict(c, request.user) for c in courses.visible_courses(request.user)]


def _create_class(request: Request) -> dict[str, Any]:
    return courses.course_dict(courses.create_course(request, _body(request)), request.user)


def _class(request: Request, slug: str) -> dict[str, Any]:
    return courses.course_dict(courses.course_for(request.user, slug, manage=False), request.user)


def _update_class(request: Request, slug: str) -> dict[str, Any]:
    course = courses.course_to_change(request, "class.update", slug)
    return courses.course_dict(courses.update_course(request, course, _body(request)), request.user)


def _delete_class(request: Request, slug: str) -> None:
    courses.delete_course(request, courses.course_to_change(request, "class.delete", slug))


def _roster(request: Request, slug: str) -> Response:
    course = courses.course_to_change(request, "class.roster.add", slug)
    answers = rosters.import_roster(request, course, rosters.parse_body(_body(request)))
    response = Response({"students": answers})
    response["Cache-Control"] = "no-store, private"  # the passwords are in this answer only
    return response


def _roster_from_directory(request: Request, slug: str) -> dict[str, Any]:
    course = courses.course_to_change(request, "class.roster.sync", slug)
    group = _body(request).get("group", course.directory_group)
    return rosters.sync_with_group(request, course, str(group or ""))


# ---------------------------------------------------------------- labs


def _list_labs(request: Request, slug: str) -> list[dict[str, Any]]:
    course = courses.course_for(request.user, slug, manage=False)
    return [labs.lab_dict(lab) for lab in course.labs.all()]


def _create_lab(request: Request, slug: str) -> dict[str, Any]:
    course = courses.course_to_change(request, "lab.create", slug)
    return labs.lab_dict(courses.create_lab(request, course, _body(request)))


def _lab(request: Request, slug: str, lab: str) -> dict[str, Any]:
    return labs.lab_dict(courses.lab_of(courses.course_for(request.user, slug, manage=False), lab))


def _update_lab(request: Request, slug: str, lab: str) -> dict[str, Any]:
    found = courses.lab_to_change(request, "lab.update", slug, lab)
    return labs.lab_dict(courses.update_lab(request, found, _body(request)))


def _delete_lab(request: Request, slug: str, lab: str) -> None:
    courses.delete_lab(request, courses.lab_to_change(request, "lab.delete", slug, lab))


# ---------------------------------------------------------------- class jobs


def _reset(request: Request, slug: str, lab: str) -> dict[str, int]:
    data = _body(request)
    try:
        wipe = parse_bool(data.get("wipe", False))
    except ValueError as exc:
        raise Invalid(str(exc), "wipe") from None
    student = str(data.get("student") or "")
    return _job(class_jobs.reset(request, slug, lab, student, wipe=wipe))


def _class_action(request: Request, slug: str, action: str) -> dict[str, int]:
    data = _body(request)
    student, lab = str(data.get("student") or ""), str(data.get("lab") or "")
    return _job(class_jobs.act(request, slug, action, student, lab))


LAB = "api/v1/classes/<slug:slug>/labs/<slug:lab>/"

ENDPOINTS = [
    Endpoint(
        "api/v1/classes/",
        "api-classes",
        get=Op(
            "Classes: those you teach (all, for admins) or are in",
            _list_classes,
            operation_id="classes_list",
        ),
        post=Op(
            "Create a class (an instructor teaches the classes they create)",
            _create_class,
            request=BODY,
            status=CREATED,
            operation_id="classes_create",
        ),
    ),
    Endpoint(
        "api/v1/classes/<slug:slug>/",
        "api-class",
        get=Op("A class: its instructors, students and labs", _class, operation_id="class_read"),
        patch=Op(
            "Change a class: name, slug, instructors, students (given keys only)",
            _update_class,
            request=BODY,
            operation_id="class_update",
        ),
        delete=Op(
            "Remove a class, its roster and its labs (their containers stay the students')",
            _delete_class,
            status=NO_CONTENT,
            operation_id="class_remove",
        ),
    ),
    Endpoint(
        "api/v1/classes/<slug:slug>/roster/",
        "api-class-roster",
        post=Op(
            "Import students: their accounts made or found; passwords answered once",
            _roster,
            request=BODY,
            operation_id="class_roster_import",
        ),
    ),
    Endpoint(
        "api/v1/classes/<slug:slug>/roster/directory/",
        "api-class-roster-directory",
        post=Op(
            'The students from a directory group, {"group": name} (default: the class\'s '
            "directory_group): accounts made without password, members added, others removed",
            _roster_from_directory,
            request=BODY,
            operation_id="class_roster_directory_sync",
        ),
    ),
    Endpoint(
        "api/v1/classes/<slug:slug>/labs/",
        "api-class-labs",
        get=Op("The labs of a class", _list_labs, operation_id="class_labs_list"),
        post=Op(
            "Create a lab of a class",
            _create_lab,
            request=BODY,
            status=CREATED,
            operation_id="class_labs_create",
        ),
    ),
    Endpoint(
        LAB,
        "api-class-lab",
        get=Op("A lab of a class", _lab, operation_id="class_lab_read"),
        patch=Op(
            "Change a lab: the keys given replace the stored ones; the whole lab is checked "
            "again; students' copies follow at their next provision or reset",
            _update_lab,
            request=BODY,
            operation_id="class_lab_update",
        ),
        delete=Op(
            "Remove a lab and its seats; 409 while its students' containers exist "
            '(POST .../remove/ {"lab": ...} removes them)',
            _delete_lab,
            status=NO_CONTENT,
            operation_id="class_lab_remove",
        ),
    ),
    Endpoint(
        f"{LAB}provision/",
        "api-lab-provision",
        post=Op(
            "Create and start every student's copy of a lab, as a job",
            lambda request, slug, lab: _job(class_jobs.provision(request, slug, lab)),
            status=ACCEPTED,
            operation_id="class_lab_provision",
        ),
    ),
    Endpoint(
        f"{LAB}reset/",
        "api-lab-reset",
        post=Op(
            "Reset a student's lab to its template, as a job",
            _reset,
            request=BODY,
            status=ACCEPTED,
            operation_id="class_lab_reset",
        ),
    ),
    Endpoint(
        rf"^api/v1/classes/{SLUG}/{ACTION}/$",
        "api-class-action",
        post=Op(
            "Stop, start or remove a class's containers (or one student's, one lab's), as a job",
            _class_action,
            request=BODY,
            status=ACCEPTED,
            operation_id="class_action",
        ),
    ),
]
