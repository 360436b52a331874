"""The audit log, read-only: a filtered, paginated page, a CSV export and GET /api/v1/audit/.

Instructors and admins read it; nothing here (nor in the admin site or the model)
changes or removes a row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from dashboard import access
from dashboard.access import Perm
from dashboard.audit import csv_cell
from dashboard.models import AuditEntry, Course

PAGE_SIZE = 50
API_LIMIT_DEFAULT = 100
API_LIMIT_MAX = 1000
CSV_COLUMNS = [
    "time",
    "username",
    "role",
    "client_addr",
    "action",
    "target_kind",
    "target_id",
    "target_name",
    "params",
    "result",
    "error",
]
DATETIME_INPUT = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


_TIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class AuditFilter(forms.Form):
    user = forms.CharField(
        required=False, max_length=150, label="User", widget=forms.TextInput({"list": "usernames"})
    )
    action = forms.CharField(
        required=False, max_length=64, label="Action", widget=forms.TextInput({"list": "actions"})
    )
    target = forms.CharField(required=False, max_length=255, label="Target")
    result = forms.ChoiceField(
        required=False, choices=[("", "any"), ("ok", "ok"), ("error", "error")], label="Result"
    )
    course = forms.SlugField(required=False, max_length=50, label="Class")
    since = forms.DateTimeField(
        required=False, input_formats=DATETIME_INPUT, label="From", widget=_TIME_WIDGET
    )
    until = forms.DateTimeField(
        required=False, input_formats=DATETIME_INPUT, label="To", widget=_TIME_WIDGET
    )

    def clean_course(self) -> Course | None:
        slug = self.cleaned_data.get("course")
        if not slug:
            return None
        found = Course.objects.filter(slug=slug).first()
        if found is None:
            raise forms.ValidationError(f"No such class: {slug}")
        return found

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("'From' is after 'To'.")
        return data


def filtered(filters: dict[str, Any]) -> QuerySet[AuditEntry]:
    """The rows matching cleaned filters, newest first."""
    rows = AuditEntry.objects.all()
    if filters.get("user"):
        rows = rows.filter(username__iexact=filters["user"])
    if filters.get("action"):
        rows = rows.filter(action__iexact=filters["action"])
    if filters.get("target"):
        text = filters["target"]
        rows = rows.filter(
            Q(target_name__icontains=text)
            | Q(target_id__istartswith=text)
            | Q(target_kind__iexact=text)
        )
    if filters.get("result"):
        rows = rows.filter(result=filters["result"])
    if filters.get("course"):
        rows = rows.filter(class_rows(filters["course"]))
    if filters.get("since"):
        rows = rows.filter(time__gte=filters["since"])
    if filters.get("until"):
        rows = rows.filter(time__lte=filters["until"])
    return rows.order_by("-time", "-id")


def class_rows(course: Course) -> Q:
    """Rows of a class: its students' own, and anyone's (its instructors', the culler's)
    on the class itself, its roster, its labs (`<class>/<lab>`, removed ones too) or what
    its labs made (named after the class)."""
    students = list(course.students.values_list("username", flat=True))
    rows = (
        Q(username__in=students)
        | Q(action__startswith="class.", target_name__in=[course.slug, *students])
        | Q(action__startswith="lab.", target_name__startswith=f"{course.slug}/")
    )
    for lab in course.labs.values_list("slug", flat=True):
        rows |= Q(target_name__startswith=f"{course.slug}-{lab}-")
    return rows


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    access.require_global(request.user, Perm.VIEW_AUDIT)
    form = AuditFilter(request.GET or None)
    valid = form.is_valid() if request.GET else True
    rows = filtered(form.cleaned_data if request.GET and valid else {})
    if not valid:
        rows = AuditEntry.objects.none()
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "dashboard/audit.html",
        {
            "form": form,
            "page": page,
            "query": _query_without_page(request),
            "actions": AuditEntry.objects.order_by("action")
            .values_list("action", flat=True)
            .distinct(),
            "usernames": AuditEntry.objects.order_by("username")
            .values_list("username", flat=True)
            .distinct()[:500],
        },
    )


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def _csv_value(row: AuditEntry, name: str) -> str:
    if name == "time":
        return row.time.isoformat()
    if name == "params":
        return csv_cell(json.dumps(row.params, sort_keys=True))
    return csv_cell(getattr(row, name))


def _csv_lines(rows: QuerySet[AuditEntry]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for row in rows.iterator(chunk_size=500):
        yield writer.writerow([_csv_value(row, name) for name in CSV_COLUMNS])


@require_GET
def audit_csv(request: HttpRequest) -> HttpResponse:
    access.require_global(request.user, Perm.VIEW_AUDIT)
    form = AuditFilter(request.GET)
    if not form.is_valid():
        return HttpResponse(
            "Bad filter: " + "; ".join(m for ms in form.errors.values() for m in ms),
            status=400,
            content_type="text/plain",
        )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(
        _csv_lines(filtered(form.cleaned_data)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="dockdash-audit-{stamp}.csv"'
    return response


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = ["id", *CSV_COLUMNS]
        read_only_fields = fields


@extend_schema(
    summary="Audit rows, newest first (instructors and admins)",
    parameters=[
        OpenApiParameter("user", str, description="username (exact, any case)"),
        OpenApiParameter("action", str, description="action, e.g. login_failed"),
        OpenApiParameter("target", str, description="part of the target's name or id, or its kind"),
        OpenApiParameter("result", str, enum=["ok", "error"]),
        OpenApiParameter(
            "course", str, description="a class's slug: its students' rows and its own"
        ),
        OpenApiParameter("since", str, description="ISO time, e.g. 2026-11-27T10:00"),
        OpenApiParameter("until", str),
        OpenApiParameter("limit", int, description=f"rows (default 100, at most {API_LIMIT_MAX})"),
        OpenApiParameter("offset", int),
    ],
    responses={200: AuditEntrySerializer(many=True)},
)
@api_view(["GET"])
def audit_api(request: Request) -> Response:
    access.require_global(request.user, Perm.VIEW_AUDIT)
    form = AuditFilter(request.query_params)
    if not form.is_valid():
        field, messages = next(iter(form.errors.items()))
        raise ValidationError({field if field != "__all__" else "since": messages})
    limit = _int_param(request, "limit", API_LIMIT_DEFAULT, 1, API_LIMIT_MAX)
    offset = _int_param(request, "offset", 0, 0, None)
    rows = filtered(form.cleaned_data)[offset : offset + limit]
    return Response(AuditEntrySerializer(rows, many=True).data)


def _int_param(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw in {None, ""}:
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise ValidationError({name: ["must be a whole number"]}) from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValidationError({name: [f"must be {bound}"]})
    return value
