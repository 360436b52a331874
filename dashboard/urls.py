from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from dashboard import api, audit_views, oidc_views, token_views, user_views, views
from dashboard.endpoints import routes

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Signing in through an OpenID Connect provider (404 unless DOCKDASH_OIDC_ISSUER is set);
    # the names are those mozilla-django-oidc reverses.
    path(
        "oidc/authenticate/",
        login_not_required(oidc_views.SignInStart.as_view()),
        name="oidc_authentication_init",
    ),
    path(
        "oidc/callback/",
        login_not_required(oidc_views.SignInCallback.as_view()),
        name="oidc_authentication_callback",
    ),
    path("admin/", admin.site.urls),
    path("api/v1/engine/", api.engine_detail, name="api-engine"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("", include("classes_app.urls")),
    # Registry routes first: /api/v1/images/pull/ and /push/ must win over image refs.
    path("", include("registry_app.urls")),
    path("", include("containers_app.urls")),
    # shared host: the audit log, users and quotas
    path("audit/", audit_views.audit_log, name="audit"),
    path("audit/export.csv", audit_views.audit_csv, name="audit-csv"),
    path("api/v1/audit/", audit_views.audit_api, name="api-audit"),
    path("users/", user_views.user_list, name="users"),
    path("users/create/", user_views.user_create, name="user-create"),
    path("users/bulk/", user_views.user_bulk_create, name="user-bulk-create"),
    path("users/quotas/", user_views.role_quotas, name="role-quotas"),
    path("users/me/", user_views.my_usage, name="my-usage"),
    path("users/me/tokens/", token_views.my_tokens, name="api-tokens"),
    path("users/tokens/<int:pk>/revoke/", token_views.token_revoke, name="api-token-revoke"),
    path("users/<int:pk>/", user_views.user_detail, name="user-detail"),
    path("users/<int:pk>/role/", user_views.user_role, name="user-role"),
    path("users/<int:pk>/quota/", user_views.user_quota, name="user-quota"),
    path("users/<int:pk>/password/", user_views.user_password, name="user-password"),
    path("users/<int:pk>/active/", user_views.user_active, name="user-active"),
    path("users/<int:pk>/unlock/", user_views.user_unlock, name="user-unlock"),
    *routes(token_views.ENDPOINTS),
]
