"""Pages of classes: the class list, a class (roster, import, labs, class jobs), and "My labs".

Jobs started here answer with the job's page (registry_app's), which follows
its progress live, a line per student.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from classes_app import class_jobs, courses, labs, rosters
from dashboard.access import OWNER_LABEL
from dashboard.models import Course
from dashboard.refusals import Invalid
from registry_app.models import Job

UPLOAD_MAX = 1_000_000  # bytes of an uploaded roster


def _to_job(job: Job) -> HttpResponse:
    return redirect("job-detail", pk=job.pk)


@require_http_methods(["GET", "POST"])
def class_list(request: HttpRequest) -> HttpResponse:
    error = ""
    if request.method == "POST":
        data = {"name": request.POST.get("name", ""), "slug": request.POST.get("slug", "")}
        try:
            course = courses.create_course(request, data)
        except Invalid as exc:
            error = exc.message
        else:
            return redirect("class-detail", slug=course.slug)
    return render(
        request,
        "classes_app/class_list.html",
        {
            "courses": courses.visible_courses(request.user),
            "may_teach": courses.may_teach(request.user),
            "error": error,
        },
        status=400 if error else 200,
    )


def _detail(request: HttpRequest, course: Course, **extra: Any) -> dict[str, Any]:
    rows = labs.class_containers(course)
    by_student: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_student.setdefault(row["labels"].get(OWNER_LABEL, ""), []).append(row)
    students = [
        {"user": s, "containers": by_student.get(s.username, [])}
        for s in course.students.order_by("username")
    ]
    return {
        "course": course,
        "students": students,
        "labs": course.labs.all(),
        "running": sum(r["state"] == "running" for r in rows),
        "total": len(rows),
        **extra,
    }


@require_GET
def class_detail(request: HttpRequest, slug: str) -> HttpResponse:
    course = courses.course_for(request.user, slug)
    return render(request, "classes_app/class_detail.html", _detail(request, course))


def _roster_text(request: HttpRequest) -> str:
    upload = request.FILES.get("file")
    if upload is None:
        return request.POST.get("csv", "")
    if upload.size is not None and upload.size > UPLOAD_MAX:
        raise Invalid(f"A roster file is at most {UPLOAD_MAX // 1000} kB.", "file")
    try:
        return upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("The roster file is not UTF-8 text (save it as CSV UTF-8).", "file") from None


@require_POST
def roster_import(request: HttpRequest, slug: str) -> HttpResponse:
    course = courses.course_for(request.user, slug)
    try:
        entries = rosters.parse_csv(_roster_text(request))
    except Invalid as exc:
        context = _detail(
            request, course, roster_error=exc.message, csv=request.POST.get("csv", "")
        )
        return render(request, "classes_app/class_detail.html", context, status=400)
    answers = rosters.import_roster(request, course, entries)
    response = render(
        request,
        "classes_app/roster_passwords.html",
        {
            "course": course,
            "created": [a for a in answers if a.get("password")],
            "added": [a for a in answers if not a.get("password") and not a.get("error")],
            "failed": [a for a in answers if a.get("error")],
        },
    )
    # The passwords are in this answer only: no cache may keep a copy.
    patch_cache_control(response, no_store=True, private=True)
    return response


@require_POST
def lab_create(request: HttpRequest, slug: str) -> HttpResponse:
    course = courses.course_for(request.user, slug)
    text = request.POST.get("lab", "")
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise Invalid("The lab is a JSON object.", "lab")
        courses.create_lab(request, course, data)
    except json.JSONDecodeError as exc:
        error = f"The lab is not JSON: {exc.msg} (line {exc.lineno})."
    except Invalid as exc:
        error = exc.message
    else:
        return redirect("class-detail", slug=course.slug)
    context = _detail(request, course, lab_error=error, lab_text=text)
    return render(request, "classes_app/class_detail.html", context, status=400)


@require_POST
def lab_job(request: HttpRequest, slug: str, lab: str, what: str) -> HttpResponse:
    """Provision a lab for the class, or reset one student's (a student: their own)."""
    course = courses.course_for(request.user, slug, manage=what != "reset")
    found = courses.lab_of(course, lab)
    if what == "provision":
        return _to_job(
            class_jobs.provision(request, found, list(course.students.order_by("username")))
        )
    name = request.POST.get("student") or request.user.get_username()
    student = courses.student_of(request.user, course, name)
    wipe = request.POST.get("wipe") == "1"
    return _to_job(class_jobs.reset(request, found, student, wipe=wipe))


@require_POST
def class_action(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    course = courses.course_for(request.user, slug)
    name = request.POST.get("student", "")
    student = courses.student_of(request.user, course, name) if name else None
    return _to_job(class_jobs.act(request, course, action, student))


@require_GET
def my_labs(request: HttpRequest) -> HttpResponse:
    """A student's labs: their containers, ports, time left, and a reset of their own."""
    me = request.user.get_username()
    entries = []
    for course in courses.visible_courses(request.user).filter(students=request.user):
        rows = labs.class_containers(course, owner=me)
        for lab in course.labs.all():
            mine = [r for r in rows if r["labels"].get(labs.LAB_LABEL) == lab.slug]
            entries.append({"course": course, "lab": lab, "containers": mine, "left": _left(lab)})
    if not entries:
        messages.info(request, "You are in no class with a lab yet.")
    return render(request, "classes_app/my_labs.html", {"entries": entries})


def _left(lab: Any) -> str:
    if lab.ends_at is None:
        return ""
    seconds = int((lab.ends_at - timezone.now()).total_seconds())
    if seconds <= 0:
        return "ended"
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
