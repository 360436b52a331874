"""Writing audit rows: every mutating action goes through `record`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dashboard.models import AuditEntry

SECRET_KEYS = {"password", "token", "secret", "auth", "identitytoken", "registry_auth"}


def _client_addr(request: Any) -> str:
    if request is None:
        return ""
    meta = getattr(request, "META", None)
    if meta is not None:
        return str(meta.get("REMOTE_ADDR", ""))
    client = (getattr(request, "scope", None) or {}).get("client")  # a websocket scope
    return str(client[0]) if client else ""


def csv_cell(value: object) -> str:
    """`value` as a CSV cell a spreadsheet will not read as a formula (names, errors and
    Docker's strings come from people)."""
    text = str(value)
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def _scrub(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k.lower() in SECRET_KEYS else v) for k, v in params.items()}


def record(
    request: Any,
    action: str,
    *,
    user: Any = None,
    target_kind: str = "",
    target_id: str = "",
    target_name: str = "",
    params: Mapping[str, Any] | None = None,
    error: str = "",
) -> AuditEntry:
    """Write one audit row. `request` may be an HttpRequest or a websocket consumer."""
    user = user if user is not None else getattr(request, "user", None)
    if user is None and hasattr(request, "scope"):
        user = request.scope.get("user")
    authenticated = bool(user is not None and user.is_authenticated)
    return AuditEntry.objects.create(
        user=user if authenticated and user.pk is not None else None,  # the system has no row
        username=user.get_username() if authenticated else (params or {}).get("username", ""),
        role=user.effective_role if authenticated else "",
        client_addr=_client_addr(request),
        action=action,
        target_kind=target_kind,
        target_id=target_id[:128],
        target_name=target_name[:255],
        params=_scrub(params or {}),
        result="error" if error else "ok",
        error=error,
    )


@contextmanager
def audited(request: Any, action: str, **target: Any) -> Iterator[dict[str, Any]]:
    """Record `action` when the block ends: ok, or the error that ended it (re-raised).

    The block may fill the yielded dict (e.g. with the id of what it created).
    """
    extra: dict[str, Any] = {}
    try:
        yield extra
    except Exception as exc:
        record(request, action, error=str(exc) or type(exc).__name__, **{**target, **extra})
        raise
    record(request, action, **{**target, **extra})
