"""Audit rows for logins: success with the user, failure with the name that was tried."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from dashboard import audit


@receiver(user_logged_in, dispatch_uid="dockdash-audit-login")
def record_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit.record(request, "login", user=user, target_kind="user", target_name=user.get_username())


@receiver(user_login_failed, dispatch_uid="dockdash-audit-login-failed")
def record_login_failure(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    # Django has already masked the password in `credentials`; only the name is kept.
    tried = str(credentials.get("username", ""))[:150]
    audit.record(
        request,
        "login_failed",
        target_kind="user",
        target_name=tried,
        params={"username": tried},
        error="wrong username or password",
    )
