from __future__ import annotations

from django.urls import path, re_path

from classes_app import api, grid_views, shoulder, views

SLUG = r"(?P<slug>[a-z0-9][a-z0-9-]*)"
LAB = r"(?P<lab>[a-z0-9][a-z0-9-]*)"
ACTION = r"(?P<action>stop|start|remove)"

urlpatterns = [
    path("classes/", views.class_list, name="classes"),
    path("labs/", views.my_labs, name="my-labs"),
    path("classes/<slug:slug>/", views.class_detail, name="class-detail"),
    path("classes/<slug:slug>/roster/", views.roster_import, name="class-roster"),
    path("classes/<slug:slug>/grid/", grid_views.class_grid, name="class-grid"),
    path("classes/<slug:slug>/labs/", views.lab_create, name="class-lab-create"),
    re_path(
        rf"^classes/{SLUG}/labs/{LAB}/(?P<what>provision|reset)/$",
        views.lab_job,
        name="class-lab-job",
    ),
    path("classes/<slug:slug>/jobs/<int:pk>/", views.class_job, name="class-job"),
    path("classes/<slug:slug>/report/", views.lesson_report_page, name="class-report"),
    path("classes/<slug:slug>/report/csv/", views.lesson_report_csv, name="class-report-csv"),
    path("classes/<slug:slug>/labs/<slug:lab>/extend/", views.lab_extend, name="lab-extend"),
    re_path(rf"^classes/{SLUG}/{ACTION}/$", views.class_action, name="class-action"),
    path(
        "classes/<slug:slug>/students/<str:username>/",
        shoulder.student_page,
        name="class-student-shoulder",
    ),
    path("sessions/<str:key>/watch/", shoulder.session_page, name="session-watch"),
    path("api/v1/classes/", api.class_list, name="api-classes"),
    path("api/v1/classes/<slug:slug>/", api.class_detail, name="api-class"),
    path("api/v1/classes/<slug:slug>/roster/", api.roster, name="api-class-roster"),
    path("api/v1/classes/<slug:slug>/labs/", api.lab_list, name="api-class-labs"),
    path(
        "api/v1/classes/<slug:slug>/labs/<slug:lab>/provision/",
        api.provision,
        name="api-lab-provision",
    ),
    path("api/v1/classes/<slug:slug>/labs/<slug:lab>/reset/", api.reset, name="api-lab-reset"),
    re_path(rf"^api/v1/classes/{SLUG}/{ACTION}/$", api.class_action, name="api-class-action"),
]
