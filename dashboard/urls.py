from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from dashboard import api, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/engine/", api.engine_detail, name="api-engine"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Registry routes first: /api/v1/images/pull/ and /push/ must win over image refs.
    path("", include("registry_app.urls")),
    path("", include("containers_app.urls")),
]
