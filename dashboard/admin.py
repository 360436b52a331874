"""The Django admin: users with their role and quota, role defaults, and the audit log read-only.

Role and quota changes made here are audited like those made in the dashboard.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from dashboard import accounts, audit
from dashboard.models import AuditEntry, Quota, RoleQuota, User


def _limits(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.LIMIT_FIELDS}


class QuotaInline(admin.StackedInline):
    model = Quota
    can_delete = True
    extra = 0
    max_num = 1
    verbose_name = "own quota (empty fields: the role's default)"


@admin.register(User)
class DockdashUserAdmin(UserAdmin):
    list_display = ("username", "role", "is_active", "last_login", "date_joined")
    list_filter = ("role", "is_active")
    fieldsets = (
        *UserAdmin.fieldsets,  # type: ignore[misc]
        ("dockdash", {"fields": ("role",)}),
    )
    add_fieldsets = (
        *UserAdmin.add_fieldsets,
        ("dockdash", {"fields": ("role",)}),
    )
    inlines = [QuotaInline]

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        before = User.objects.filter(pk=obj.pk).values_list("role", flat=True).first()
        super().save_model(request, obj, form, change)
        if before != obj.role:
            # The role decides the admin-site flags, as everywhere else.
            accounts.set_role(obj, obj.role)
            audit.record(
                request,
                "user.role",
                target_kind="user",
                target_id=str(obj.pk),
                target_name=obj.username,
                params={"from": before or "", "to": obj.role, "via": "admin site"},
            )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        if formset.model is Quota and formset.has_changed():
            quota = Quota.objects.filter(user=form.instance).first()
            audit.record(
                request,
                "user.quota",
                target_kind="user",
                target_id=str(form.instance.pk),
                target_name=form.instance.username,
                params={**(_limits(quota) if quota else {"quota": "removed"}), "via": "admin site"},
            )


@admin.register(RoleQuota)
class RoleQuotaAdmin(admin.ModelAdmin):
    list_display = ("role", *RoleQuota.LIMIT_FIELDS)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A role without its row would have no limits at all; empty the fields instead.
        return False

    def save_model(self, request: HttpRequest, obj: RoleQuota, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        audit.record(
            request,
            "role.quota",
            target_kind="role",
            target_name=obj.role,
            params={**_limits(obj), "via": "admin site"},
        )


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: no add, change or delete, not even for superusers."""

    list_display = ("time", "username", "role", "client_addr", "action", "target_name", "result")
    list_filter = ("action", "result", "role")
    search_fields = ("username", "action", "target_name", "target_id")
    date_hierarchy = "time"
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
