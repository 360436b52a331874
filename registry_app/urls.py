"""Pages and API routes of the registry app."""

from __future__ import annotations

from django.urls import URLPattern, path

from dashboard.endpoints import routes
from registry_app import api, views

urlpatterns: list[URLPattern] = [
    path("registries/", views.registry_list, name="registries"),
    path("registries/new/", views.registry_create, name="registry-create"),
    path("registries/pull/", views.pull, name="registry-pull"),
    path("registries/push/", views.push, name="registry-push"),
    path("registries/build/", views.build, name="registry-build"),
    path("registries/search/", views.hub_search, name="hub-search"),
    path("registries/<int:pk>/edit/", views.registry_edit, name="registry-edit"),
    path("registries/<int:pk>/delete/", views.registry_delete, name="registry-delete"),
    path("registries/<int:pk>/test/", views.registry_test, name="registry-test"),
    path("registries/<int:pk>/credentials/", views.my_credentials, name="registry-credentials"),
    path("registries/<int:pk>/catalog/", views.registry_catalog, name="registry-catalog"),
    path(
        "registries/<int:pk>/repositories/<path:repository>/tags/<str:tag>/delete/",
        views.registry_tag_delete,
        name="registry-tag-delete",
    ),
    path(
        "registries/<int:pk>/repositories/<path:repository>/",
        views.registry_tags,
        name="registry-tags",
    ),
    path("registries/jobs/", views.job_list, name="jobs"),
    path("registries/jobs/<int:pk>/", views.job_detail, name="job-detail"),
    *routes(api.ENDPOINTS),  # the JSON API (DESIGN.md)
]
