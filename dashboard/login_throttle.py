"""Login throttling: the glue between django-axes and dockdash.

django-axes counts failed logins per username + client address and refuses the
pair for a cool-off once `AXES_FAILURE_LIMIT` is reached (settings.py). This
module owns what axes leaves to the project: which address counts, what a
locked-out person sees, how long is left, and the admin's unlock.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Max, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def client_address(request: HttpRequest | None) -> str:
    """The peer address of the connection; headers a client can set are never trusted here."""
    return str(getattr(request, "META", {}).get("REMOTE_ADDR", ""))


def cool_off() -> timedelta:
    return get_cool_off() or timedelta(0)


def _locked_attempts(username: str, address: str | None = None) -> Any:
    since = timezone.now() - cool_off()
    attempts = AccessAttempt.objects.filter(username=username, attempt_time__gte=since)
    if address is not None:
        attempts = attempts.filter(ip_address=address)
    return attempts


def locked_until(username: str, address: str | None = None) -> datetime | None:
    """When the lock on `username` (from `address`, or from any address) ends; None: not locked.

    Tries during a lockout are not counted (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT
    is off), so the last counted failure is the one that locked it.
    """
    rows = _locked_attempts(username, address)
    by_address = rows.values("ip_address").annotate(
        failures=Sum("failures_since_start"), last=Max("attempt_time")
    )
    ends = [
        row["last"] + cool_off()
        for row in by_address
        if row["failures"] >= settings.AXES_FAILURE_LIMIT
    ]
    return max(ends) if ends else None


def locked_addresses(username: str) -> list[str]:
    """The addresses `username` is locked out from now."""
    rows = _locked_attempts(username).values("ip_address").annotate(f=Sum("failures_since_start"))
    return sorted(str(r["ip_address"]) for r in rows if r["f"] >= settings.AXES_FAILURE_LIMIT)


def locked_usernames() -> set[str]:
    """Every name locked out from at least one address now (one query, for the users list)."""
    since = timezone.now() - cool_off()
    rows = (
        AccessAttempt.objects.filter(attempt_time__gte=since)
        .values("username", "ip_address")
        .annotate(f=Sum("failures_since_start"))
    )
    return {str(r["username"]) for r in rows if r["f"] >= settings.AXES_FAILURE_LIMIT}


def minutes_text(delta: timedelta) -> str:
    minutes = max(1, math.ceil(delta.total_seconds() / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def lockout_message(username: str, address: str) -> str:
    until = locked_until(username, address)
    left = (until - timezone.now()) if until else cool_off()
    return (
        f"Too many failed logins for {username or 'this name'} from your address: "
        f"logging in is locked for {minutes_text(left)}. "
        "An admin can unlock it sooner on the Users page."
    )


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """The login page again, saying the login is locked and for how long (axes' lockout hook)."""
    username = str((credentials or {}).get("username") or request.POST.get("username", ""))[:150]
    form = AuthenticationForm(request, initial={"username": username})
    return render(
        request,
        "registration/login.html",
        {
            "form": form,
            "lockout": lockout_message(username, client_address(request)),
            "next": request.POST.get("next", ""),
        },
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )


def unlock(username: str) -> int:
    """Forget the failed logins of `username` from every address; the number of records removed."""
    return int(reset(username=username))
