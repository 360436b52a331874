from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []

# ---------------------------------------------------------------- under the hood (issue 7)
from django.urls import path  # noqa: E402 - imports of an appended section

from containers_app import internals_views  # noqa: E402

urlpatterns += [
    path(
        "containers/<str:container_id>/internals/",
        internals_views.container_internals,
        name="container-internals",
    ),
    path(
        "api/v1/containers/<str:container_id>/namespaces/",
        internals_views.api_container_namespaces,
        name="api-container-namespaces",
    ),
    path(
        "api/v1/containers/<str:container_id>/cgroups/",
        internals_views.api_container_cgroups,
        name="api-container-cgroups",
    ),
    path("engine/architecture/", internals_views.engine_architecture, name="architecture"),
]
