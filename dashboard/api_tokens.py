"""API tokens: making and revoking them, and the DRF authentication that reads
`Authorization: Token <key>`.

A key reads `dd_<prefix>_<secret>`. The prefix, public (lists show it), finds the
row; only the SHA-256 of the whole key is stored, and compared in constant time. The
secret is 256 random bits, which nobody can guess, so a fast hash is enough: a copy
of the table gives nothing to try keys against. Every token expires; a read-only
token may only read. A token's last use is kept cheaply (a write when its address
changes or a minute has passed), and its first use from each address is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.permissions import SAFE_METHODS

from dashboard import access, audit
from dashboard.access import Perm
from dashboard.login_throttle import client_address
from dashboard.models import ApiToken, ApiTokenAddress

KEY_START = "dd_"
# Time between two saves of a token's last use from the same address.
LAST_USED_EVERY = timedelta(minutes=1)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def lifetime_error(days: int) -> str:
    """Why a new token may not last `days` days ("" when it may)."""
    longest = settings.API_TOKEN_MAX_DAYS
    if not 1 <= days <= longest:
        return f"A token lasts from 1 to {longest} days, not {days}."
    return ""


def issue(
    owner: Any, name: str, scope: str, days: int, *, not_after: Any = None
) -> tuple[ApiToken, str]:
    """A new token of `owner` lasting `days` days (to `not_after` at the latest); returns it
    and its key, which is shown once and kept nowhere."""
    expires = timezone.now() + timedelta(days=days)
    if not_after is not None:
        expires = min(expires, not_after)
    prefix = secrets.token_hex(6)
    key = f"{KEY_START}{prefix}_{secrets.token_urlsafe(32)}"
    made = {"prefix": prefix, "secret_hash": _digest(key)}
    token = ApiToken.objects.create(owner=owner, name=name, scope=scope, expires=expires, **made)
    return token, key


def described(token: ApiToken) -> dict[str, str]:
    """What an audit row keeps of a token (never its key or hash)."""
    return {"prefix": token.prefix, "scope": token.scope, "expires": token.expires.isoformat()}


def revoke(token: ApiToken) -> None:
    """Revoke `token` from now on (a revoked one stays revoked, at its first time)."""
    if token.revoked is None:
        token.revoked = timezone.now()
        ApiToken.objects.filter(pk=token.pk, revoked__isnull=True).update(revoked=token.revoked)


def tokens_of(owner: Any) -> Any:
    """Every token of `owner`, newest first, revoked and expired ones too."""
    return ApiToken.objects.filter(owner=owner)


def token_for(user: Any, pk: int, *, anyones: bool = False) -> ApiToken:
    """Token `pk` if it is `user`'s (with `anyones`, an admin's look: anybody's); else 404."""
    found = ApiToken.objects.select_related("owner").filter(pk=pk).first()
    # Admins manage everyone's accounts: MANAGE_QUOTAS asked of no owner is theirs alone.
    mine = found is not None and found.owner_id == user.pk
    if found is None or not (mine or (anyones and access.can(user, Perm.MANAGE_QUOTAS))):
        raise access.not_found("token", str(pk))
    return found


def find(key: str) -> ApiToken | None:
    """The token whose key `key` is (revoked and expired ones too), else None."""
    start, _, rest = key.partition(KEY_START)
    prefix, _, secret = rest.partition("_")
    if start or not prefix or not secret:
        return None
    digest = _digest(key)
    # Prefixes are random and almost never shared; when two are, the hash tells them apart.
    for token in ApiToken.objects.select_related("owner").filter(prefix=prefix):
        if hmac.compare_digest(token.secret_hash, digest):
            return token
    return None


def _when(moment: Any) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


def refusal(token: ApiToken) -> str:
    """Why `token` may not be used now ("" when it may)."""
    if token.revoked is not None:
        return f"This token was revoked on {_when(token.revoked)}."
    if token.expires <= timezone.now():
        return f"This token expired on {_when(token.expires)}; make a new one under API tokens."
    if not token.owner.is_active:
        return "This token's account is deactivated."
    return ""


def note_use(request: Any, token: ApiToken, address: str) -> None:
    """Keep when and from where `token` was last used (a write only when the address changed
    or a minute passed), and audit its first use from an address, once per address."""
    now = timezone.now()
    moved = address != token.last_used_addr
    if moved:
        _, first = ApiTokenAddress.objects.get_or_create(token=token, address=address)
        if first:
            audit.record(
                request,
                "token.new_address",
                user=token.owner,
                target_kind="token",
                target_id=str(token.pk),
                target_name=token.name,
                params={"prefix": token.prefix, "address": address},
            )
    if moved or token.last_used is None or now - token.last_used >= LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now, last_used_addr=address)
        token.last_used, token.last_used_addr = now, address


class ApiTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>` (DRF reads the header): the token's owner, with the token
    as `request.auth`.

    Unknown, revoked and expired keys answer 401 saying which; a read-only token
    answers 403 to any method that changes something.
    """

    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        found = super().authenticate(request)
        if found is None:
            return None
        token: ApiToken = found[1]
        note_use(request, token, client_address(request))
        if token.scope == ApiToken.Scope.READ_ONLY and request.method not in SAFE_METHODS:
            raise PermissionDenied(
                f"This token is read-only: it may read (GET) but not {request.method}. "
                "Use a read-write token to change things."
            )
        return found

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        token = find(key)
        if token is None:
            if not key.startswith(KEY_START):
                raise AuthenticationFailed(
                    f"Invalid token: dockdash tokens start with {KEY_START} (make one under "
                    "API tokens; those made in the admin pages no longer work)."
                )
            raise AuthenticationFailed("Invalid token.")
        reason = refusal(token)
        if reason:
            raise AuthenticationFailed(reason)
        return token.owner, token
