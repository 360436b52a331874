"""Pages of classes: the class list, a class (roster, import, labs, class jobs), and "My labs".

Jobs started here answer with the job's page under its class, which follows its
progress live (registry_app's job runner and socket), a row per student.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from classes_app import class_jobs, compose, courses, culling, labs, lesson_report, rosters
from classes_app.models import LabSeat
from dashboard import access
from dashboard.access import OWNER_LABEL
from dashboard.models import Course
from dashboard.refusals import Invalid, Refusal
from registry_app import jobs
from registry_app.models import Job

UPLOAD_MAX = 1_000_000  # bytes of an uploaded roster or Compose file
RECENT_JOBS = 8  # shown on the class's page


def _to_job(slug: str, job: Job) -> HttpResponse:
    return redirect("class-job", slug=slug, pk=job.pk)


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


def _uploaded_text(upload: Any, what: str, hint: str = "") -> str:
    if upload.size is not None and upload.size > UPLOAD_MAX:
        raise Invalid(f"A {what} is at most {UPLOAD_MAX // 1000} kB.", "file")
    try:
        return str(upload.read().decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise Invalid(f"The {what} is not UTF-8 text{hint}.", "file") from None


class ComposeLabForm(forms.Form):
    """A lab from a Compose file, pasted or uploaded; courses.create_lab judges the values."""

    data: Any  # the posted fields; an uploaded file's text is put back in them (see clean)

    name = forms.CharField(max_length=200, required=False, label="Name")
    slug = forms.CharField(
        max_length=50, required=False, label="Slug", help_text="lower-case letters, digits, -"
    )
    idle_minutes = forms.IntegerField(
        required=False, label="Idle minutes", help_text="stop an idle container (empty: never)"
    )
    compose = forms.CharField(
        required=False,
        strip=False,
        label="Compose file",
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
        help_text=f"honoured per service: {', '.join(compose.SERVICE)}; "
        "any other key is refused by its name",
    )
    file = forms.FileField(required=False, label="or upload it (.yaml, .yml)")
    runs_as = forms.ChoiceField(
        choices=[
            ("containers", "containers on this engine"),
            ("services", "Swarm services, spread over the swarm's nodes"),
        ],
        initial="containers",
        required=False,
        label="Run each student's containers as",
        help_text="services: the engine must be a Swarm manager",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("file")
        if upload is not None:
            try:
                data["compose"] = _uploaded_text(upload, "Compose file")
            except Invalid as exc:
                self.add_error("file", exc.message)
                return data
            # Shown again in the text box if the lab is refused, to be mended there.
            self.data = self.data.copy()
            self.data["compose"] = data["compose"]
        elif not data.get("compose", "").strip():
            self.add_error("compose", "Paste a Compose file or upload one.")
        return data

    def lab_body(self) -> dict[str, Any]:
        keys = ("name", "slug", "idle_minutes", "compose", "runs_as")
        return {key: self.cleaned_data[key] for key in keys}


def _detail(
    request: HttpRequest, course: Course, *, refused: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """The class page's context; `refused`: a lab's edit or removal refused, shown in its row
    (its `slug`, `error`, and for an edit the `text` posted, `editing`: the form open)."""
    rows = labs.class_containers(course)
    by_student: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_student.setdefault(row["labels"].get(OWNER_LABEL, ""), []).append(row)
    students = [
        {"user": s, "containers": by_student.get(s.username, [])}
        for s in course.students.order_by("username")
    ]
    lab_rows = []
    for lab in course.labs.all():
        row = {
            "lab": lab,
            "text": json.dumps(labs.as_written(lab), indent=2),
            "containers": sum(r["labels"].get(labs.LAB_LABEL) == lab.slug for r in rows),
        }
        if refused is not None and refused["slug"] == lab.slug:
            row.update(refused)
        lab_rows.append(row)
    return {
        "course": course,
        "students": students,
        "labs": course.labs.all(),
        "lab_rows": lab_rows,
        "running": sum(r["state"] == "running" for r in rows),
        "total": len(rows),
        "compose_form": ComposeLabForm(),
        "jobs": [
            (job, class_jobs.what_of(job))
            for job in jobs.visible_to(request.user, class_jobs.of_course(course))[:RECENT_JOBS]
        ],
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
    return _uploaded_text(upload, "roster file", " (save it as CSV UTF-8)")


@require_POST
def roster_import(request: HttpRequest, slug: str) -> HttpResponse:
    course = courses.course_to_change(request, "class.roster.add", slug)
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


def _names(answers: list[dict[str, Any]]) -> str:
    return ", ".join(a["username"] for a in answers) or "none"


@require_POST
def roster_from_directory(request: HttpRequest, slug: str) -> HttpResponse:
    course = courses.course_to_change(request, "class.roster.sync", slug)
    group = request.POST.get("group", "")
    try:
        done = rosters.sync_with_group(request, course, group)
    except Refusal as exc:
        context = _detail(request, course, sync_error=exc.message, sync_group=group)
        return render(request, "classes_app/class_detail.html", context, status=exc.status)
    added = [a for a in done["students"] if not a.get("error")]
    messages.success(
        request,
        f"From directory group {done['group']}: added or kept {_names(added)}; "
        f"taken out {_names(done['removed'])}.",
    )
    for refused in (a for a in done["students"] if a.get("error")):
        messages.error(request, f"{refused['username']}: {refused['error']}")
    return redirect("class-detail", slug=course.slug)


def _posted_lab(request: HttpRequest) -> dict[str, Any]:
    """The lab's JSON of the form, as an object (Invalid naming the line if it is not)."""
    try:
        data = json.loads(request.POST.get("lab", ""))
    except json.JSONDecodeError as exc:
        raise Invalid(f"The lab is not JSON: {exc.msg} (line {exc.lineno}).", "lab") from None
    if not isinstance(data, dict):
        raise Invalid("The lab is a JSON object.", "lab")
    return data


@require_POST
def lab_create(request: HttpRequest, slug: str) -> HttpResponse:
    course = courses.course_to_change(request, "lab.create", slug)
    try:
        courses.create_lab(request, course, _posted_lab(request))
    except Invalid as exc:
        context = _detail(
            request, course, lab_error=exc.message, lab_text=request.POST.get("lab", "")
        )
        return render(request, "classes_app/class_detail.html", context, status=400)
    return redirect("class-detail", slug=course.slug)


@require_POST
def lab_edit(request: HttpRequest, slug: str, lab: str) -> HttpResponse:
    """Change a lab from its JSON as the form shows it (keys left out keep their values)."""
    found = courses.lab_to_change(request, "lab.update", slug, lab)
    try:
        courses.update_lab(request, found, _posted_lab(request))
    except Refusal as exc:
        text = request.POST.get("lab", "")
        refused = {"slug": lab, "error": exc.message, "text": text, "editing": True}
        context = _detail(request, found.course, refused=refused)
        return render(request, "classes_app/class_detail.html", context, status=exc.status)
    messages.success(request, f"Lab {found.slug} saved.")
    return redirect("class-detail", slug=slug)


@require_POST
def lab_remove(request: HttpRequest, slug: str, lab: str) -> HttpResponse:
    """Remove a lab; while its containers exist, the class page says so in its row."""
    found = courses.lab_to_change(request, "lab.delete", slug, lab)
    try:
        courses.delete_lab(request, found)
    except Refusal as exc:
        context = _detail(request, found.course, refused={"slug": lab, "error": exc.message})
        return render(request, "classes_app/class_detail.html", context, status=exc.status)
    messages.success(request, f"Lab {lab} removed.")
    return redirect("class-detail", slug=slug)


@require_POST
def lab_compose_create(request: HttpRequest, slug: str) -> HttpResponse:
    course = courses.course_to_change(request, "lab.create", slug)
    form = ComposeLabForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            courses.create_lab(request, course, form.lab_body())
        except Invalid as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return redirect("class-detail", slug=course.slug)
    context = _detail(request, course, compose_form=form)
    return render(request, "classes_app/class_detail.html", context, status=400)


@require_POST
def lab_job(request: HttpRequest, slug: str, lab: str, what: str) -> HttpResponse:
    """Provision a lab for the class, or reset one student's (a student: their own)."""
    if what == "provision":
        return _to_job(slug, class_jobs.provision(request, slug, lab))
    student, wipe = request.POST.get("student", ""), request.POST.get("wipe") == "1"
    return _to_job(slug, class_jobs.reset(request, slug, lab, student, wipe=wipe))


@require_POST
def class_action(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    student, lab = request.POST.get("student", ""), request.POST.get("lab", "")
    return _to_job(slug, class_jobs.act(request, slug, action, student, lab))


@require_GET
def class_job(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """A class job as it runs: a row per student with its state and what was done."""
    course = courses.course_for(request.user, slug, manage=False)
    job = jobs.visible_to(request.user, class_jobs.of_course(course)).filter(pk=pk).first()
    if job is None:
        raise access.not_found("job", str(pk))
    return render(
        request,
        "classes_app/class_job.html",
        {
            "course": course,
            "job": job,
            "what": class_jobs.what_of(job),
            "frame": jobs.current_frame(job),
            "teaches": courses.may_teach(request.user),
        },
    )


@require_GET
def my_labs(request: HttpRequest) -> HttpResponse:
    """A student's labs: their containers, ports, time left, and a reset of their own."""
    me = request.user.get_username()
    entries, running = [], []
    for course in courses.visible_courses(request.user).filter(students=request.user):
        rows = labs.class_containers(course, owner=me)
        for lab in course.labs.all():
            mine = [r for r in rows if r["labels"].get(labs.LAB_LABEL) == lab.slug]
            entries.append(
                {
                    "course": course,
                    "lab": lab,
                    "containers": mine,
                    "left": _left(lab),
                }
            )
            if any(r["state"] == "running" for r in mine):
                running.append(lab.pk)
    if not entries:
        messages.info(request, "You are in no class with a lab yet.")
    # The banner of stops ahead (base.html), of the labs seen running here on the engine.
    context = {"entries": entries, "lab_stops": culling.upcoming_stops(request.user, running)}
    return render(request, "classes_app/my_labs.html", context)


def _left(lab: Any) -> str:
    if lab.ends_at is None:
        return ""
    seconds = int((lab.ends_at - timezone.now()).total_seconds())
    if seconds <= 0:
        return "ended"
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


@require_GET
def lab_stops(request: HttpRequest) -> HttpResponse:
    """The base layout's banner of the student's stops ahead, again: the page polls it.

    Its Extend buttons bring the student back to that page (htmx says which).
    """
    context = {
        "lab_stops": culling.upcoming_stops(request.user),
        "lab_stops_next": request.headers.get("HX-Current-URL", ""),
    }
    return render(request, "classes_app/_lab_stops.html", context)


def _back_to(request: HttpRequest) -> str:
    """The page the student extended from (`next`, when it is this site's), else My labs."""
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if safe else reverse("my-labs")


@require_POST
def lab_extend(request: HttpRequest, slug: str, lab: str) -> HttpResponse:
    """A student postpones the stop of their lab by one idle window (within the maximum)."""
    with courses.finding(request, "lab.extend", "lab", f"{slug}/{lab}"):
        found = courses.lab_of(courses.course_for(request.user, slug, manage=False), lab)
        seat = LabSeat.objects.filter(lab=found, student=request.user).first()
        if seat is None:
            raise access.not_found("lab of yours", f"{slug}/{lab}")
    try:
        minutes = culling.extend(request, found, seat)
    except Refusal as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{found.name}: {minutes} more minutes.")
    return redirect(_back_to(request))


_WHEN = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class ReportWindow(forms.Form):
    since = forms.DateTimeField(required=False, label="From", widget=_WHEN)
    until = forms.DateTimeField(required=False, label="To", widget=_WHEN)


def _report(request: HttpRequest, slug: str) -> tuple[Course, ReportWindow, dict[str, Any]]:
    course = courses.course_for(request.user, slug)
    form = ReportWindow(request.GET)
    window = form.cleaned_data if form.is_valid() else {}
    since = window.get("since") or course.created
    until = window.get("until") or timezone.now()
    return course, form, {"since": since, "until": until}


@require_GET
def lesson_report_page(request: HttpRequest, slug: str) -> HttpResponse:
    """Per student: containers run, CPU-seconds, peak memory, OOM kills, refusals, terminals."""
    course, form, window = _report(request, slug)
    audit_query = {"course": course.slug}
    audit_query.update({k: v.strftime("%Y-%m-%dT%H:%M") for k, v in window.items()})
    return render(
        request,
        "classes_app/lesson_report.html",
        {
            "course": course,
            "form": form,
            "rows": lesson_report.report(course, **window),
            "query": request.GET.urlencode(),
            "audit_url": f"{reverse('audit')}?{urlencode(audit_query)}",
            "interval": settings.CULL_INTERVAL,
            **window,
        },
    )


@require_GET
def lesson_report_csv(request: HttpRequest, slug: str) -> HttpResponse:
    course, _, window = _report(request, slug)
    response = HttpResponse(
        lesson_report.as_csv(lesson_report.report(course, **window)),
        content_type="text/csv; charset=utf-8",
    )
    stamp = window["until"].strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{course.slug}-report-{stamp}.csv"'
    return response
