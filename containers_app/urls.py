from __future__ import annotations

from django.urls import URLPattern, path

urlpatterns: list[URLPattern] = []

# ---------------------------------------------------------------- containers, images, networks,
# volumes: pages (containers feature)
from containers_app import views  # noqa: E402

urlpatterns += [
    path("containers/", views.container_list, name="containers"),
    path("containers/create/", views.container_create, name="container-create"),
    path(
        "containers/create/preview/",
        views.container_create_preview,
        name="container-create-preview",
    ),
    path("containers/bulk/", views.container_bulk, name="container-bulk"),
    path("containers/<str:ref>/", views.container_detail, name="container-detail"),
    path(
        "containers/<str:ref>/action/<str:action>/",
        views.container_action,
        name="container-action",
    ),
    path("containers/<str:ref>/rename/", views.container_rename, name="container-rename"),
    path("containers/<str:ref>/remove/", views.container_remove, name="container-remove"),
    path("images/", views.image_list, name="images"),
    path("images/prune/", views.image_prune, name="image-prune"),
    path("images/<path:ref>/tag/", views.image_tag, name="image-tag"),
    path("images/<path:ref>/remove/", views.image_remove, name="image-remove"),
    path("images/<path:ref>/", views.image_detail, name="image-detail"),
    path("networks/", views.network_list, name="networks"),
    path("networks/prune/", views.network_prune, name="network-prune"),
    path("networks/<str:ref>/", views.network_detail, name="network-detail"),
    path("networks/<str:ref>/remove/", views.network_remove, name="network-remove"),
    path("networks/<str:ref>/connect/", views.network_connect, name="network-connect"),
    path("networks/<str:ref>/disconnect/", views.network_disconnect, name="network-disconnect"),
    path("volumes/", views.volume_list, name="volumes"),
    path("volumes/prune/", views.volume_prune, name="volume-prune"),
    path("volumes/<str:name>/", views.volume_detail, name="volume-detail"),
    path("volumes/<str:name>/remove/", views.volume_remove, name="volume-remove"),
]
