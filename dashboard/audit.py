"""Writing audit rows: every mutating action goes through `record`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
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


Row = dict[str, Any]  # an audit row's fields but its outcome, JSON as they are


def row_of(
    request: Any,
    action: str,
    *,
    user: Any = None,
    target_kind: str = "",
    target_id: str = "",
    target_name: str = "",
    params: Mapping[str, Any] | None = None,
) -> Row:
    """The row of `action`; `request` may be an HttpRequest or a websocket consumer."""
    user = user if user is not None else getattr(request, "user", None)
    if user is None and hasattr(request, "scope"):
        user = request.scope.get("user")
    authenticated = bool(user is not None and user.is_authenticated)
    return {
        # The system has no account row.
        "user_id": user.pk if authenticated and user.pk is not None else None,
        "username": user.get_username() if authenticated else (params or {}).get("username", ""),
        "role": user.effective_role if authenticated else "",
        "client_addr": _client_addr(request),
        "action": action,
        "target_kind": target_kind,
        "target_id": target_id[:128],
        "target_name": target_name[:255],
        "params": _scrub(params or {}),
    }


def write(row: Mapping[str, Any], error: str = "") -> AuditEntry:
    """Write `row` with its outcome: ok, or `error`."""
    return AuditEntry.objects.create(**row, result="error" if error else "ok", error=error)


def record(request: Any, action: str, *, error: str = "", **target: Any) -> AuditEntry:
    """Write one audit row (`target`: the keywords of `row_of`)."""
    return write(row_of(request, action, **target), error)


class _Later:
    """A row written once both are known, whichever comes last: its fields (the block ended
    well) and the outcome of the work the block handed on."""

    def __init__(self, keep: Callable[[Row], object] | None) -> None:
        self._lock = threading.Lock()
        self._keep = keep
        self._row: Row | None = None
        self._error: str | None = None

    def block_ended(self, row: Row) -> None:
        with self._lock:
            self._row = row
            error = self._error
        if error is not None:
            write(row, error)
        elif self._keep is not None:
            self._keep(row)

    def work_ended(self, error: str = "") -> None:
        with self._lock:
            self._error = error
            row = self._row
        if row is not None:
            write(row, error)


_LATER = "_written_when_work_ends"


def written_when_done(
    extra: dict[str, Any], keep: Callable[[Row], object] | None = None
) -> Callable[[str], None]:
    """Hand the row of the `audited` block that yielded `extra` to work that goes on after it
    (a job); call the answer once, when that work ends, with its error ("" when it went well).

    The row is then written once, with that outcome, when both the block and the work have
    ended. The log is append-only, so the row waits for the outcome rather than being
    corrected afterwards. A block that fails writes its row at once, and the answer nothing.
    Work that may outlive its process (a job, cut short by a restart) gets the row from
    `keep` when the block ends before it, to store, so whoever finds the work cut short can
    `write` it with the reason.
    """
    later = _Later(keep)
    extra[_LATER] = later
    return later.work_ended


@contextmanager
def audited(request: Any, action: str, **target: Any) -> Iterator[dict[str, Any]]:
    """Record `action` when the block ends: ok, or the error that ended it (re-raised).

    The block may fill the yielded dict (e.g. with the id of what it created), or hand
    the row to work that ends later (`written_when_done`).
    """
    extra: dict[str, Any] = {}
    try:
        yield extra
    except Exception as exc:
        extra.pop(_LATER, None)
        record(request, action, error=str(exc) or type(exc).__name__, **{**target, **extra})
        raise
    later = extra.pop(_LATER, None)
    if later is None:
        record(request, action, **{**target, **extra})
    else:
        later.block_ended(row_of(request, action, **{**target, **extra}))
