"""Every route of classes, pages and JSON API, each declared a read or a change.

Each change finds its class for the user and writes one audit row, refusals included
(classes_app.courses.finding); tests/integration/test_gate_coverage.py tries every
change and every read from this declaration. The API's rows are classes_app.api's table.
"""

from __future__ import annotations

from django.urls import URLPattern

from classes_app import api, grid_views, shoulder, views
from classes_app.api import ACTION, SLUG
from dashboard.endpoints import CHANGE, READ, Page, pages, route_kinds, routes

LAB = SLUG.replace("slug", "lab")

# route, view, name, and whether it changes something ("^": a regular expression)
PAGES: list[Page] = [
    ("classes/", views.class_list, "classes", CHANGE),  # its form creates a class
    ("labs/", views.my_labs, "my-labs", READ),
    ("labs/stops/", views.lab_stops, "lab-stops", READ),
    ("classes/<slug:slug>/", views.class_detail, "class-detail", READ),
    ("classes/<slug:slug>/roster/", views.roster_import, "class-roster", CHANGE),
    (
        "classes/<slug:slug>/roster/directory/",
        views.roster_from_directory,
        "class-roster-directory",
        CHANGE,
    ),
    ("classes/<slug:slug>/grid/", grid_views.class_grid, "class-grid", READ),
    ("classes/<slug:slug>/labs/", views.lab_create, "class-lab-create", CHANGE),
    ("classes/<slug:slug>/labs/compose/", views.lab_compose_create, "class-lab-compose", CHANGE),
    ("classes/<slug:slug>/labs/<slug:lab>/edit/", views.lab_edit, "class-lab-edit", CHANGE),
    ("classes/<slug:slug>/labs/<slug:lab>/remove/", views.lab_remove, "class-lab-remove", CHANGE),
    (
        rf"^classes/{SLUG}/labs/{LAB}/(?P<what>provision|reset)/$",
        views.lab_job,
        "class-lab-job",
        CHANGE,
    ),
    ("classes/<slug:slug>/jobs/<int:pk>/", views.class_job, "class-job", READ),
    ("classes/<slug:slug>/report/", views.lesson_report_page, "class-report", READ),
    ("classes/<slug:slug>/report/csv/", views.lesson_report_csv, "class-report-csv", READ),
    ("classes/<slug:slug>/labs/<slug:lab>/extend/", views.lab_extend, "lab-extend", CHANGE),
    (rf"^classes/{SLUG}/{ACTION}/$", views.class_action, "class-action", CHANGE),
    (
        "classes/<slug:slug>/students/<str:username>/",
        shoulder.student_page,
        "class-student-shoulder",
        READ,
    ),
    ("sessions/<str:key>/watch/", shoulder.session_page, "session-watch", READ),
]

urlpatterns: list[URLPattern] = [*pages(PAGES), *routes(api.ENDPOINTS)]

ROUTE_KINDS = route_kinds(PAGES, api.ENDPOINTS)
