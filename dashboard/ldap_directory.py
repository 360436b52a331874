"""The school's LDAP directory: signing people in against it, and reading a group's members.

The only module that talks LDAP (python-ldap, through django-auth-ldap). Its settings
come from the DOCKDASH_LDAP_* variables (dashboard.envconf.env_ldap); its backend sits
after the model backend in settings.AUTHENTICATION_BACKENDS, so local accounts sign in
whether the directory answers or not, and after django-axes' backend, so directory
sign-ins are throttled as local ones are.

A sign-in finds the person with the user search, binds as them with the password
given, makes or updates their account (no usable local password; names and email from
the directory) and hands the names (cn) of their groups to dashboard.directory, which
sets their role and classes. An account that has a local password is not the
directory's to sign in to: a directory person of the same name cannot take it.

When the directory cannot be asked, the sign-in fails within DOCKDASH_LDAP_TIMEOUT and
the request carries why (`PROBLEM_ATTR`), for the login page to say so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import ldap
import ldap.filter
from django.conf import settings
from django.core.exceptions import ValidationError
from django.dispatch import receiver
from django_auth_ldap.backend import LDAPBackend, ldap_error
from django_auth_ldap.config import LDAPSearch

from dashboard import accounts, audit, directory
from dashboard.access import SYSTEM
from dashboard.directory import PROBLEM_ATTR, DirectoryUnavailable, require_ldap
from dashboard.models import User
from dashboard.refusals import Invalid

log = logging.getLogger(__name__)

# Errors that say the directory is out of reach, rather than that it refused something.
OUTAGES = (
    ldap.SERVER_DOWN,
    ldap.TIMEOUT,
    ldap.CONNECT_ERROR,
    ldap.UNAVAILABLE,
    ldap.BUSY,
    ldap.TIMELIMIT_EXCEEDED,
)


def problem_of(exc: ldap.LDAPError) -> str:
    """What went wrong asking the directory, in words."""
    if isinstance(exc, OUTAGES):
        return "the directory does not answer"
    details = exc.args[0] if exc.args and isinstance(exc.args[0], Mapping) else {}
    desc = str(details.get("desc") or type(exc).__name__)
    return f"the directory refused the dashboard's search ({desc})"


@receiver(ldap_error, dispatch_uid="dockdash-ldap-error")
def _note_problem(sender: Any, request: Any = None, **kwargs: Any) -> None:
    """django-auth-ldap could not ask the directory (it logs why): the request says so."""
    if request is not None:
        setattr(request, PROBLEM_ATTR, problem_of(kwargs["exception"]))


def _attrs(attrs: Mapping[str, Any]) -> dict[str, list[str]]:
    return {str(k).lower(): list(v) for k, v in attrs.items()}


def _first(attrs: Mapping[str, list[str]], name: str) -> str:
    values = attrs.get(name.lower()) or [""]
    return str(values[0]).strip()


def username_of(attrs: Mapping[str, Any]) -> str:
    """The account name of a directory person: the attribute they sign in with, lower case."""
    return _first(_attrs(attrs), settings.LDAP_USERNAME_ATTR).lower()


_MADE = "_made_by_directory_sign_in"  # on an account this sign-in makes


class DirectoryBackend(LDAPBackend):
    """django-auth-ldap's backend, with dockdash's accounts, groups and outage message."""

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kw: Any
    ) -> User | None:
        user: User | None = super().authenticate(request, username, password, **kw)
        if user is None or not user.is_active:
            return None
        if getattr(user, _MADE, False):
            audit.record(
                request,
                "user.create",
                user=SYSTEM,
                target_kind="user",
                target_id=str(user.pk),
                target_name=user.username,
                params={"role": user.role, "source": directory.SOURCE},
            )
        if settings.LDAP_GROUP_BASE:
            try:
                groups = user.ldap_user.group_names  # type: ignore[attr-defined]
            except ldap.LDAPError as exc:
                log.warning("LDAP groups of %s could not be read: %s", user.username, exc)
                _note_problem(type(self), request, exception=exc)
                return None
            directory.apply_groups(user, groups, settings.LDAP_ROLE_GROUPS, request=request)
        return user

    def get_or_build_user(self, username: str, ldap_user: Any) -> tuple[User, bool]:
        name = username_of(ldap_user.attrs) or username.lower()
        user = User.objects.filter(username__iexact=name).first()
        if user is None:
            try:
                accounts.check_username(name)
            except ValidationError as exc:
                raise ldap_user.AuthenticationFailed("; ".join(exc.messages)) from None
            made = User(username=name)
            setattr(made, _MADE, True)
            return made, True
        if user.has_usable_password():
            raise ldap_user.AuthenticationFailed(f"{name} is a local account (it has a password)")
        return user, False


# ---------------------------------------------------------------- a group's members


@dataclass(frozen=True)
class Person:
    username: str
    full_name: str = ""
    email: str = ""


def _person(attrs: Mapping[str, Any]) -> Person | None:
    found = _attrs(attrs)
    username = username_of(found)
    if not username:
        return None
    given, family = _first(found, "givenName"), _first(found, "sn")
    full_name = f"{given} {family}".strip() if given else _first(found, "cn") or family
    return Person(username, full_name, _first(found, "mail"))


def _require_groups() -> None:
    require_ldap()
    if not settings.LDAP_GROUP_BASE:
        raise DirectoryUnavailable(
            "The directory's groups are not configured (DOCKDASH_LDAP_GROUP_SEARCH is unset)."
        )


@contextmanager
def _connection() -> Iterator[Any]:
    conn = ldap.initialize(settings.AUTH_LDAP_SERVER_URI, bytes_mode=False)
    try:
        for option, value in settings.AUTH_LDAP_CONNECTION_OPTIONS.items():
            conn.set_option(option, value)
        conn.simple_bind_s(settings.AUTH_LDAP_BIND_DN, settings.AUTH_LDAP_BIND_PASSWORD)
        yield conn
    finally:
        with suppress(ldap.LDAPError):  # a connection that never opened has nothing to close
            conn.unbind_s()


def _anyone_filter() -> str:
    """The user search's filter matching anyone it could find (its name a wildcard)."""
    return str(settings.AUTH_LDAP_USER_SEARCH.filterstr % {"user": "*"})


def _people_of(conn: Any, group: tuple[str, dict[str, Any]]) -> list[Person]:
    """The people of `group` (dn, attributes) the user search finds, so who may sign in."""
    dn, attrs = group[0], _attrs(group[1])
    base = settings.AUTH_LDAP_USER_SEARCH.base_dn
    found: list[tuple[str, dict[str, Any]]] = []
    if settings.LDAP_GROUP_TYPE == "posixGroup":
        for uid in attrs.get("memberuid", []):
            found += settings.AUTH_LDAP_USER_SEARCH.execute(conn, {"user": uid})
        gid = _first(attrs, "gidNumber")
        if gid:  # those whose primary group it is, as a sign-in counts them
            primary = f"(&{_anyone_filter()}(gidNumber={ldap.filter.escape_filter_chars(gid)}))"
            found += LDAPSearch(base, ldap.SCOPE_SUBTREE, primary).execute(conn)
    else:
        for member in attrs.get("member", []):
            try:
                found += LDAPSearch(member, ldap.SCOPE_BASE, _anyone_filter()).execute(conn)
            except ldap.NO_SUCH_OBJECT:
                log.info("group %s lists %s, which does not exist", dn, member)
    people = {p.username: p for p in filter(None, (_person(a) for _, a in found))}
    return [people[name] for name in sorted(people)]


def group_members(name: str) -> list[Person]:
    """The people in the directory group named `name` (its cn) who may sign in, by username.

    DirectoryUnavailable when directory groups are not configured or the directory
    cannot be asked; Invalid when there is no such group.
    """
    _require_groups()
    term = ldap.filter.escape_filter_chars(name.strip())
    search = settings.AUTH_LDAP_GROUP_SEARCH.search_with_additional_term_string(f"(cn={term})")
    try:
        with _connection() as conn:
            groups = search.execute(conn)
            if not groups:
                raise Invalid(
                    f"The directory has no group named {name!r} under {settings.LDAP_GROUP_BASE}.",
                    "group",
                )
            return _people_of(conn, groups[0])
    except ldap.LDAPError as exc:
        raise DirectoryUnavailable(
            f"The directory group {name!r} could not be read: {problem_of(exc)} "
            f"({settings.AUTH_LDAP_SERVER_URI}). Try again when it is back."
        ) from None
