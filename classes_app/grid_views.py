"""The class grid page: the instructor's screen of a class, filled by its websocket."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from classes_app import courses
from dashboard.access import OWNER_LABEL


@require_GET
def class_grid(request: HttpRequest, slug: str) -> HttpResponse:
    course = courses.course_for(request.user, slug)
    return render(
        request,
        "classes_app/class_grid.html",
        {"course": course, "owner_label": OWNER_LABEL},
    )
