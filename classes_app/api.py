"""JSON API of classes (DESIGN.md): classes, rosters, labs and class jobs.

Refusals (dashboard.refusals) raised here are answered by the API's one
handler as `{"error", "field"}` with their status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from classes_app import class_jobs, courses, labs, rosters
from containers_app.validation import parse_bool
from dashboard.refusals import Invalid
from registry_app.models import Job


def _body(request: Request) -> Mapping[str, Any]:
    if not isinstance(request.data, Mapping):
        raise Invalid("The body is a JSON object.")
    return request.data


def _job(job: Job) -> Response:
    return Response({"job": job.pk}, status=status.HTTP_202_ACCEPTED)


@extend_schema(summary="Classes: list (those you teach or are in) and create", responses=dict)
@api_view(["GET", "POST"])
def class_list(request: Request) -> Response:
    if request.method == "POST":
        course = courses.create_course(request, _body(request))
        return Response(courses.course_dict(course, request.user), status=status.HTTP_201_CREATED)
    found = courses.visible_courses(request.user)
    return Response([courses.course_dict(c, request.user) for c in found])


@extend_schema(summary="A class: read, change (name, slug, instructors, students), remove")
@api_view(["GET", "PATCH", "DELETE"])
def class_detail(request: Request, slug: str) -> Response:
    if request.method == "GET":
        course = courses.course_for(request.user, slug, manage=False)
        return Response(courses.course_dict(course, request.user))
    course = courses.course_for(request.user, slug)
    if request.method == "DELETE":
        courses.delete_course(request, course)
        return Response(status=status.HTTP_204_NO_CONTENT)
    course = courses.update_course(request, course, _body(request))
    return Response(courses.course_dict(course, request.user))


@extend_schema(summary="Import students: their accounts made or found; passwords answered once")
@api_view(["POST"])
def roster(request: Request, slug: str) -> Response:
    course = courses.course_for(request.user, slug)
    entries = rosters.parse_body(_body(request))
    answers = rosters.import_roster(request, course, entries)
    response = Response({"students": answers})
    response["Cache-Control"] = "no-store, private"
    return response


@extend_schema(summary="Create a lab of a class", responses=dict)
@api_view(["POST"])
def lab_list(request: Request, slug: str) -> Response:
    course = courses.course_for(request.user, slug)
    lab = courses.create_lab(request, course, _body(request))
    return Response(labs.lab_dict(lab), status=status.HTTP_201_CREATED)


@extend_schema(summary="Create and start every student's copy of a lab, as a job")
@api_view(["POST"])
def provision(request: Request, slug: str, lab: str) -> Response:
    course = courses.course_for(request.user, slug)
    found = courses.lab_of(course, lab)
    return _job(class_jobs.provision(request, found, list(course.students.order_by("username"))))


@extend_schema(summary="Reset a student's lab to its template, as a job")
@api_view(["POST"])
def reset(request: Request, slug: str, lab: str) -> Response:
    course = courses.course_for(request.user, slug, manage=False)
    found = courses.lab_of(course, lab)
    data = _body(request)
    student = courses.student_of(
        request.user, course, data.get("student") or request.user.get_username()
    )
    try:
        wipe = parse_bool(data.get("wipe", False))
    except ValueError as exc:
        raise Invalid(str(exc), "wipe") from None
    return _job(class_jobs.reset(request, found, student, wipe=wipe))


@extend_schema(summary="Stop, start or remove a class's (or one student's) containers, as a job")
@api_view(["POST"])
def class_action(request: Request, slug: str, action: str) -> Response:
    course = courses.course_for(request.user, slug)
    data = _body(request)
    student = (
        courses.student_of(request.user, course, data["student"]) if data.get("student") else None
    )
    return _job(class_jobs.act(request, course, action, student))
