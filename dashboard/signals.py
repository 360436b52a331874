"""Audit rows for logins: success with the user, failure with the name that was tried (and
why the directory could not be asked, if it could not), and a lockout once when django-axes
locks a name for an address.

Guessing must not flood the log: a locked name's further tries write nothing (axes
keeps counting them in its own table), and tries of names that are not accounts
write at most one row per client address per cool-off window, whatever the names.
"""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.utils import timezone

from dashboard import audit, directory, login_throttle
from dashboard.models import AuditEntry

UNKNOWN_NAME = "no such account"


@receiver(user_logged_in, dispatch_uid="dockdash-audit-login")
def record_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit.record(request, "login", user=user, target_kind="user", target_name=user.get_username())


def _is_account(username: str) -> bool:
    return get_user_model().objects.filter(username=username).exists()


def _unknown_names_recorded_lately(request: Any) -> bool:
    """Has a try of a name that is not an account, from this address, been recorded lately?"""
    since = timezone.now() - login_throttle.cool_off()
    return AuditEntry.objects.filter(
        action__in=["login_failed", "login.locked"],
        client_addr=login_throttle.client_address(request),
        error__startswith=UNKNOWN_NAME,
        time__gte=since,
    ).exists()


@receiver(user_login_failed, dispatch_uid="dockdash-audit-login-failed")
def record_login_failure(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    if getattr(request, "axes_locked_out", False):
        return  # the lockout itself is recorded once, by record_lockout
    # Django has already masked the password in `credentials`; only the name is kept.
    minutes = login_throttle.minutes_text(login_throttle.cool_off())
    problem = getattr(request, directory.PROBLEM_ATTR, "")
    _record_refused_login(
        request,
        "login_failed",
        str(credentials.get("username", "")),
        "wrong username or password" + (f" ({problem})" if problem else ""),
        unknown_suffix=f" (further unknown names from this address are not recorded for {minutes})",
    )


@receiver(user_locked_out, dispatch_uid="dockdash-audit-login-locked")
def record_lockout(sender: Any, request: Any, username: str, **kwargs: Any) -> None:
    # axes signals a lockout on every refused try as well; only the try that was counted
    # (and so reached the limit) has its failure count set.
    if getattr(request, "axes_failures_since_start", None) is None:
        return
    minutes = login_throttle.minutes_text(login_throttle.cool_off())
    _record_refused_login(
        request,
        "login.locked",
        str(username or ""),
        f"locked for {minutes} after {request.axes_failures_since_start} failed logins",
    )


def _record_refused_login(
    request: Any, action: str, username: str, error: str, *, unknown_suffix: str = ""
) -> None:
    """One audit row for a refused login; a name that is not an account is recorded at
    most once per address and cool-off window."""
    tried = username[:150]
    if not _is_account(tried):
        if _unknown_names_recorded_lately(request):
            return
        error = f"{UNKNOWN_NAME}: {error}{unknown_suffix}"
    audit.record(
        request,
        action,
        target_kind="user",
        target_name=tried,
        params={"username": tried},
        error=error,
    )
