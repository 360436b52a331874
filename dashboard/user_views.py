"""Accounts on a shared host: instructors create students (one, or many from a pasted list),
admins set roles and quotas, instructors the quotas, passwords and activity of their
classes' students (an instructor sees no other account), and everyone sees their own usage
against their quotas.

Generated passwords are shown once, in the answer to the POST that made them,
and kept nowhere else.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from containers_app import gate
from dashboard import access, accounts, api_tokens, login_throttle, quotas
from dashboard.access import Perm
from dashboard.audit import audited
from dashboard.models import Quota, QuotaLimits, Role, RoleQuota, User

MIB = 2**20
BULK_MAX = 500


# ---------------------------------------------------------------- forms


class CreateUserForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.STUDENT)

    def __init__(self, *args: Any, roles: list[str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(r, r) for r in roles]  # type: ignore[attr-defined]


class BulkCreateForm(CreateUserForm):
    username = None  # type: ignore[assignment]
    usernames = forms.CharField(
        widget=forms.Textarea({"placeholder": "one username per line (or separated by spaces)"}),
        help_text=f"Up to {BULK_MAX} names; a password is generated for each.",
    )

    def clean_usernames(self) -> list[str]:
        names = [n for n in re.split(r"[\s,;]+", self.cleaned_data["usernames"]) if n]
        unique = list(dict.fromkeys(names))
        if not unique:
            raise ValidationError("Paste at least one username.")
        if len(unique) > BULK_MAX:
            raise ValidationError(f"At most {BULK_MAX} names at once, not {len(unique)}.")
        return unique


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class QuotaForm(forms.Form):
    """Limits in the units people think in (MiB, CPUs); empty fields fall back or mean none."""

    max_containers = forms.IntegerField(required=False, min_value=0, label="Containers in total")
    max_running = forms.IntegerField(required=False, min_value=0, label="Running containers")
    memory_per_container = forms.IntegerField(
        required=False, min_value=6, label="Memory per container (MiB)"
    )
    memory_total = forms.IntegerField(
        required=False, min_value=6, label="Memory of running containers (MiB)"
    )
    cpus_per_container = forms.FloatField(
        required=False, min_value=0.01, max_value=1024, label="CPUs per container"
    )
    cpus_total = forms.FloatField(
        required=False, min_value=0.01, max_value=1024, label="CPUs of running containers"
    )
    pids_per_container = forms.IntegerField(required=False, min_value=1, label="Pids per container")

    MIB_FIELDS = ("memory_per_container", "memory_total")

    def __init__(self, *args: Any, fallback: QuotaLimits | None, **kwargs: Any):
        """`fallback`: the role defaults an empty field falls back to (None: no limit)."""
        super().__init__(*args, **kwargs)
        shown = self.initial_from(fallback) if fallback is not None else {}
        for name, formfield in self.fields.items():
            value = shown.get(name)
            formfield.widget.attrs["placeholder"] = (
                f"default: {value}" if value is not None else "no limit"
            )

    @classmethod
    def initial_from(cls, limits: QuotaLimits | None) -> dict[str, Any]:
        if limits is None:
            return {}
        values = {name: getattr(limits, name) for name in QuotaLimits.LIMIT_FIELDS}
        for name in cls.MIB_FIELDS:
            if values[name] is not None:
                values[name] = values[name] // MIB
        return values

    def limits(self) -> dict[str, Any]:
        values = {name: self.cleaned_data.get(name) for name in QuotaLimits.LIMIT_FIELDS}
        for name in self.MIB_FIELDS:
            if values[name] is not None:
                values[name] = values[name] * MIB
        return values


# ---------------------------------------------------------------- helpers


def _require_admin(user: Any) -> None:
    access.require_global(user, Perm.MANAGE_QUOTAS)


def _managed_user(request: HttpRequest, pk: int, perm: Perm = Perm.MANAGE_USERS) -> User:
    """Account `pk`, if the user may manage it (`perm`): else 404, or 403 for a visible one."""
    access.require_global(request.user, Perm.MANAGE_USERS)
    target = get_object_or_404(get_user_model(), pk=pk)
    if target.pk != request.user.pk:
        access.require(request.user, perm, target.username, what="user", ref=str(pk))
    return target


def _managed_users(user: Any) -> Any:
    users = get_user_model().objects.order_by("role", "username")
    if access.can(user, Perm.MANAGE_QUOTAS):
        return users  # admins: every account
    return users.filter(username__in=access.taught_by(user)) | users.filter(pk=user.pk)


def _audited_on(request: HttpRequest, action: str, target: User, **params: Any) -> Any:
    """The audit row of an action on account `target` (see dashboard.audit.audited)."""
    return audited(
        request,
        action,
        target_kind="user",
        target_id=str(target.pk),
        target_name=target.username,
        **({"params": params} if params else {}),
    )


def _list_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    roles = access.roles_creatable_by(request.user)
    return {
        "users": _managed_users(request.user),
        "create_form": CreateUserForm(roles=roles),
        "bulk_form": BulkCreateForm(roles=roles),
        "may_manage_quotas": access.can(request.user, Perm.MANAGE_QUOTAS),
        "locked": login_throttle.locked_usernames(),
        **extra,
    }


def _usage_context(user: Any) -> dict[str, Any]:
    limits = quotas.limits_for(user)
    usage = gate.usage_of(user.get_username())
    return {"limits": limits, "usage": usage, "rows": quotas.usage_rows(limits, usage)}


# ---------------------------------------------------------------- pages


@require_GET
def user_list(request: HttpRequest) -> HttpResponse:
    access.require_global(request.user, Perm.MANAGE_USERS)
    return render(request, "dashboard/users.html", _list_context(request))


def _create(request: HttpRequest, username: str, role: str) -> tuple[str, str]:
    """Create one account, audited; returns (password, "") or ("", the reason it failed)."""
    try:
        with audited(request, "user.create", target_kind="user", target_name=username) as row:
            row["params"] = {"role": role}
            try:
                user, password = accounts.create_user(username, role)
            except ValidationError as exc:
                # Recorded and shown in words, not as the repr of a message list.
                raise _Refused("; ".join(exc.messages)) from None
            row["target_id"] = str(user.pk)
    except _Refused as exc:
        return "", str(exc)
    return password, ""


class _Refused(Exception):
    pass


def _account_form(request: HttpRequest, form_class: Any) -> Any:
    """The posted form of new accounts, offering the roles this user may give (or refused)."""
    access.require_global(request.user, Perm.MANAGE_USERS)
    return form_class(request.POST, roles=access.roles_creatable_by(request.user))


def _users_page_refused(request: HttpRequest, **forms: Any) -> HttpResponse:
    """The users page again (400), with the form that was refused and its errors."""
    return render(request, "dashboard/users.html", _list_context(request, **forms), status=400)


@require_POST
def user_create(request: HttpRequest) -> HttpResponse:
    form = _account_form(request, CreateUserForm)
    if not form.is_valid():
        return _users_page_refused(request, create_form=form)
    username, role = form.cleaned_data["username"], form.cleaned_data["role"]
    password, error = _create(request, username, role)
    if error:
        form.add_error("username", error)
        return _users_page_refused(request, create_form=form)
    created = [{"username": username, "role": role, "password": password}]
    return _passwords_page(request, created, [])


@require_POST
def user_bulk_create(request: HttpRequest) -> HttpResponse:
    form = _account_form(request, BulkCreateForm)
    if not form.is_valid():
        return _users_page_refused(request, bulk_form=form)
    role = form.cleaned_data["role"]
    created, failed = [], []
    for username in form.cleaned_data["usernames"]:
        password, error = _create(request, username, role)
        if error:
            failed.append({"username": username, "error": error})
        else:
            created.append({"username": username, "role": role, "password": password})
    return _passwords_page(request, created, failed)


def _passwords_page(
    request: HttpRequest, created: list[dict[str, str]], failed: list[dict[str, str]]
) -> HttpResponse:
    response = render(
        request,
        "dashboard/users_created.html",
        {"created": created, "failed": failed},
        status=200 if created else 400,
    )
    # The passwords are in this answer only: no cache may keep a copy.
    patch_cache_control(response, no_store=True, private=True)
    return response


@require_GET
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    target = _managed_user(request, pk)
    return render(request, "dashboard/user_detail.html", _detail_context(request, target))


def _detail_context(request: HttpRequest, target: User, **extra: Any) -> dict[str, Any]:
    own = Quota.objects.filter(user=target).first()
    defaults = RoleQuota.objects.filter(role=target.effective_role).first()
    role_choices = [r for r in Role.values if not access.may_set_role(request.user, target, r)]
    role_form = RoleForm(initial={"role": target.effective_role})
    role_form.fields["role"].choices = [(r, r) for r in role_choices]  # type: ignore[attr-defined]
    return {
        "target": target,
        "locked_from": login_throttle.locked_addresses(target.username),
        "locked_until": login_throttle.locked_until(target.username),
        "may_unlock": access.can(request.user, Perm.MANAGE_QUOTAS),
        # Admins see and revoke anyone's API tokens; an instructor, no student's.
        "tokens": api_tokens.tokens_of(target)
        if access.can(request.user, Perm.MANAGE_QUOTAS)
        else None,
        "role_form": role_form if role_choices else None,
        "role_refusal": access.may_set_role(request.user, target, target.effective_role),
        "quota_form": QuotaForm(initial=QuotaForm.initial_from(own), fallback=defaults),
        "may_manage_quotas": access.can(request.user, Perm.MANAGE_QUOTAS, target.username),
        "may_manage_account": target.pk != request.user.pk
        and access.can(request.user, Perm.MANAGE_USERS, target.username),
        "role_defaults": defaults,
        **_usage_context(target),
        **extra,
    }


@require_POST
def user_role(request: HttpRequest, pk: int) -> HttpResponse:
    target = _managed_user(request, pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Role: " + " ".join(form.errors.get("role", [])))
        return render(
            request, "dashboard/user_detail.html", _detail_context(request, target), status=400
        )
    new_role = form.cleaned_data["role"]
    before = target.effective_role
    with _audited_on(request, "user.role", target, **{"from": before, "to": new_role}):
        refusal = access.may_set_role(request.user, target, new_role)
        if refusal:
            raise PermissionDenied(refusal)
        accounts.set_role(target, new_role)
    return redirect("user-detail", pk=target.pk)


@require_POST
def user_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    """Lift a login lockout (django-axes) of one account, from every address: admins only."""
    target = _managed_user(request, pk)
    with _audited_on(request, "user.unlock", target) as row:
        _require_admin(request.user)
        row["params"] = {"addresses": login_throttle.locked_addresses(target.username)}
        login_throttle.unlock(target.username)
    messages.success(request, f"{target.username} may log in again.")
    return redirect("user-detail", pk=target.pk)


@require_POST
def user_password(request: HttpRequest, pk: int) -> HttpResponse:
    """Give the account a new generated password, shown once (its sessions end with it)."""
    target = _managed_user(request, pk)
    with _audited_on(request, "user.password", target):
        if target.pk == request.user.pk:
            raise PermissionDenied("Change your own password in the admin pages, not here.")
        password = accounts.generate_password()
        target.set_password(password)
        target.save(update_fields=["password"])
    created = [{"username": target.username, "role": target.effective_role, "password": password}]
    return _passwords_page(request, created, [])


@require_POST
def user_active(request: HttpRequest, pk: int) -> HttpResponse:
    """Deactivate an account (it can no longer log in), or activate it again."""
    target = _managed_user(request, pk)
    active = request.POST.get("active") == "1"
    with _audited_on(request, "user.active", target, active=active):
        if target.pk == request.user.pk:
            raise PermissionDenied("You cannot deactivate your own account.")
        target.is_active = active
        target.save(update_fields=["is_active"])
    messages.success(request, f"{target.username} is {'active' if active else 'deactivated'}.")
    return redirect("user-detail", pk=target.pk)


@require_POST
def user_quota(request: HttpRequest, pk: int) -> HttpResponse:
    target = _managed_user(request, pk, Perm.MANAGE_QUOTAS)
    form = QuotaForm(
        request.POST, fallback=RoleQuota.objects.filter(role=target.effective_role).first()
    )
    if not form.is_valid():
        return render(
            request,
            "dashboard/user_detail.html",
            _detail_context(request, target, quota_form=form),
            status=400,
        )
    limits = form.limits()
    with (
        _audited_on(request, "user.quota", target, **limits),
        transaction.atomic(),
    ):
        if all(value is None for value in limits.values()):
            Quota.objects.filter(user=target).delete()
        else:
            Quota.objects.update_or_create(user=target, defaults=limits)
    return redirect("user-detail", pk=target.pk)


@require_http_methods(["GET", "POST"])
def role_quotas(request: HttpRequest) -> HttpResponse:
    _require_admin(request.user)
    roles = [Role.STUDENT, Role.INSTRUCTOR]  # viewers create nothing, admins are exempt
    forms_by_role = {
        role: QuotaForm(
            prefix=role,
            initial=QuotaForm.initial_from(RoleQuota.objects.filter(role=role).first()),
            fallback=None,
        )
        for role in roles
    }
    status = 200
    if request.method == "POST":
        role = request.POST.get("role", "")
        if role not in roles:
            return HttpResponse("Unknown role.", status=400, content_type="text/plain")
        form = QuotaForm(request.POST, prefix=role, fallback=None)
        if form.is_valid():
            with audited(
                request, "role.quota", target_kind="role", target_name=role, params=form.limits()
            ):
                RoleQuota.objects.update_or_create(role=role, defaults=form.limits())
            return redirect("role-quotas")
        forms_by_role[role] = form
        status = 400
    return render(
        request,
        "dashboard/role_quotas.html",
        {"forms": list(forms_by_role.items())},
        status=status,
    )


@require_GET
def my_usage(request: HttpRequest) -> HttpResponse:
    return render(
        request, "dashboard/my_usage.html", {"target": request.user, **_usage_context(request.user)}
    )
