"""Signing in through an OpenID Connect provider (Keycloak, Google Workspace, Microsoft Entra).

mozilla-django-oidc runs the authorization code flow (with PKCE and a nonce); this module
owns what it leaves to the project: the provider's endpoints, read from its discovery
document when a sign-in first needs them; the checks of the ID token it skips (issuer,
audience); which account the claims name; the login throttle; and the groups claim, handed
to dashboard.directory for the role and classes at each sign-in.

django-axes guards the password form before any backend runs, from the username the form
sent. A provider's callback carries no username (only a code), so axes' backend lets it by;
the name is known once the provider's answer is read, and `ProviderBackend` then asks axes
itself whether that name may sign in from the client's address: a name locked after wrong
passwords stays locked, whichever way its owner comes. Nothing here counts as a failed
login for axes: no password is tried at the dashboard (the provider throttles its own).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation, ValidationError
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from dashboard import accounts, audit, directory, login_throttle
from dashboard.access import SYSTEM
from dashboard.models import Role, User

log = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"
SOURCE = "openid connect"  # the audit rows' "source" of what a sign-in changed


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER)


def provider_name() -> str:
    """What the sign-in button calls the provider ("School account")."""
    return str(settings.OIDC_NAME or urlsplit(settings.OIDC_ISSUER).hostname or "")


class SignInFailed(Exception):
    """A sign-in through the provider that cannot go on: `message` is for the person."""

    def __init__(self, message: str, *, username: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.username = username  # the account the provider named, when it got that far


class ProviderUnavailable(SignInFailed):
    """The provider did not answer, or not as OpenID Connect says it must."""


@dataclass(frozen=True)
class Provider:
    """The endpoints of the provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str  # "" when the provider has none: the ID token's claims are all


# One discovery per issuer and process; a failed one is tried again at the next sign-in.
_discovered: dict[str, Provider] = {}


def provider() -> Provider:
    """The configured provider's endpoints (ProviderUnavailable when it cannot say them)."""
    issuer = settings.OIDC_ISSUER
    found = _discovered.get(issuer)
    if found is None:
        found = _discovered[issuer] = _discover(issuer)
    return found


def _discover(issuer: str) -> Provider:
    url = issuer.rstrip("/") + DISCOVERY_PATH
    try:
        answer = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        answer.raise_for_status()
        document = answer.json()
    except requests.RequestException as exc:
        raise unavailable(exc, "its discovery document") from exc
    except ValueError as exc:
        log.warning("OpenID discovery at %s: not JSON: %s", url, exc)
        raise ProviderUnavailable(f"{_unusable()}: its discovery document is not JSON.") from exc
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"{_unusable()}: its discovery document is not an object.")
    # OpenID Connect Discovery 1.0, section 4.3: the issuer named must be the one asked.
    if str(document.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        log.warning("OpenID discovery at %s names issuer %r", url, document.get("issuer"))
        raise ProviderUnavailable(
            f"{_unusable()}: its discovery document names another issuer "
            f"({str(document.get('issuer'))[:200]!r}); check DOCKDASH_OIDC_ISSUER."
        )
    endpoints = {}
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
        value = document.get(key, "")
        if not isinstance(value, str) or (not value and key != "userinfo_endpoint"):
            raise ProviderUnavailable(f"{_unusable()}: its discovery document has no {key}.")
        endpoints[key] = value
    return Provider(issuer=str(document["issuer"]), **endpoints)


def _unusable() -> str:
    return f"Signing in with {provider_name()} does not work now"


def unavailable(exc: requests.RequestException, asked: str) -> ProviderUnavailable:
    """What the person is told when the provider did not answer `asked` (logged in full)."""
    log.warning("OpenID provider %s, %s: %s", settings.OIDC_ISSUER, asked, exc)
    name = provider_name()
    if isinstance(exc, requests.Timeout):
        why = f"{name} did not answer within {settings.OIDC_TIMEOUT:g} s"
    elif isinstance(exc, requests.ConnectionError):
        why = f"{name} cannot be reached ({settings.OIDC_ISSUER})"
    elif isinstance(exc, requests.HTTPError) and exc.response is not None:
        why = f"{name} answered {exc.response.status_code} for {asked}"
    else:
        why = f"{name} did not answer as expected"
    return ProviderUnavailable(f"{why}. Try again in a while, or log in with a password.")


def _text_claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def claimed_groups(claims: dict[str, Any]) -> list[str]:
    """The group names of the groups claim: a list of names, or one name; none if absent."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM) if settings.OIDC_GROUPS_CLAIM else None
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(group, str) for group in value):
        return list(value)
    raise SignInFailed(
        f"{provider_name()} sent a {settings.OIDC_GROUPS_CLAIM!r} claim that is not a list "
        "of group names; an admin can check DOCKDASH_OIDC_GROUPS_CLAIM."
    )


class ProviderBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, with the provider discovered and the account named by
    the username claim (never matched by e-mail address: anyone may set theirs), compared
    without regard to case; an account with a local password is not the provider's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Loading a session's backend runs this on every request: no endpoint is read here,
        # only when a sign-in needs it.
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.UserModel = User

    def get_user(self, user_id: Any) -> Any:
        # The model backend's, not the library's: a disabled account's sessions end too.
        return ModelBackend.get_user(self, user_id)

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:  # noqa: N802 - the name mozilla-django-oidc reads
        return provider().token_endpoint

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:  # noqa: N802
        return provider().userinfo_endpoint

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:  # noqa: N802
        return provider().jwks_uri

    def authenticate(self, request: Any, **kwargs: Any) -> User | None:
        # Only the callback's own call carries the nonce it kept; a password login (this
        # backend comes after the model backend) must not start a code exchange.
        if not enabled() or kwargs.get("nonce") is None:
            return None
        try:
            user: User | None = super().authenticate(request, **kwargs)
        except requests.RequestException as exc:
            raise unavailable(exc, "the sign-in") from exc
        return user

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """The library checks the signature, expiry and nonce; OpenID Connect Core 3.1.3.7
        also asks for the issuer and the audience."""
        payload: dict[str, Any] = super().verify_token(token, **kwargs)
        if str(payload.get("iss", "")).rstrip("/") != provider().issuer.rstrip("/"):
            raise SuspiciousOperation("the ID token names another issuer")
        audience = payload.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience or []
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("the ID token is meant for another client")
        return payload

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        """The ID token's claims, and the userinfo endpoint's over them (a provider may put
        the groups in either)."""
        if not provider().userinfo_endpoint:
            return payload
        return {**payload, **super().get_userinfo(access_token, id_token, payload)}

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> User:
        """The account the claims name, refused while locked, disabled or a local one; its
        e-mail address, role and classes set again from the claims."""
        claims = self.get_userinfo(access_token, id_token, payload)
        claimed = self.claimed_username(claims)
        groups = claimed_groups(claims)
        user = self.UserModel.objects.filter(username__iexact=claimed).first()
        username = user.username if user is not None else claimed
        address = login_throttle.client_address(self.request)
        if not AxesProxyHandler.is_allowed(self.request, {"username": username}):
            raise SignInFailed(login_throttle.lockout_message(username, address), username=username)
        if user is None:
            if not settings.OIDC_CREATE_USER:
                raise SignInFailed(
                    f"{username} has no dockdash account; an admin can make one.",
                    username=username,
                )
            user = self.create_user(claims)
        elif user.has_usable_password():
            # As for directory sign-in: a provider's person of the same name does not take
            # over a local account (the admin `make run` made, say).
            raise SignInFailed(
                f"{username} is a local account: log in with its dockdash password.",
                username=username,
            )
        elif not user.is_active:
            raise SignInFailed(
                f"The account {username} is disabled; an admin can enable it.", username=username
            )
        email = _text_claim(claims, settings.OIDC_EMAIL_CLAIM)
        if email and email != user.email:
            user.email = email
            user.save(update_fields=["email"])
        directory.apply_groups(user, groups, settings.OIDC_ROLE_GROUPS, request=self.request)
        return user

    def claimed_username(self, claims: dict[str, Any]) -> str:
        """The username claim, in lower case (as directory sign-in makes names)."""
        username = _text_claim(claims, settings.OIDC_USERNAME_CLAIM).lower()
        if not username:
            raise SignInFailed(
                f"{provider_name()} did not say your username (no "
                f"{settings.OIDC_USERNAME_CLAIM!r} claim); an admin can check "
                "DOCKDASH_OIDC_USERNAME_CLAIM and DOCKDASH_OIDC_SCOPES."
            )
        try:
            accounts.check_username(username)
        except ValidationError as exc:
            raise SignInFailed(
                f"{provider_name()} names you {username[:150]!r}, which cannot be a dockdash "
                f"username: {' '.join(exc.messages)}."
            ) from exc
        return username

    def create_user(self, claims: dict[str, Any]) -> User:
        """A new account without a local password (so the provider's), a student until the
        groups say otherwise."""
        username = self.claimed_username(claims)
        user, _ = accounts.create_user(username, str(Role.STUDENT), directory=True)
        audit.record(
            self.request,
            "user.create",
            user=SYSTEM,
            target_kind="user",
            target_id=str(user.pk),
            target_name=user.username,
            params={"role": user.role, "source": SOURCE},
        )
        return user
