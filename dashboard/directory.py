"""A directory's word on an account: its role and its classes, from the groups it is in.

Whatever signs people in against a directory (LDAP, OpenID Connect) turns what the
directory says into group names and calls `apply_groups` at each sign-in; nothing here
knows how the names were found. Names are compared without regard to case.

- Role: with a role mapping (role -> group name), the first of admin, instructor, student,
  viewer whose group the account is in; in none of them, student. Without a mapping the
  role is not the directory's: it stays as an admin set it.
- Classes: an account with a student's role (student, viewer) is a student of every class
  whose `directory_group` it is in, and of no other class that names a `directory_group`;
  an instructor teaches every class whose `directory_staff_group` it is in, and no other
  class that names one. Classes naming no group keep their rosters as people made them.

Each change is audited as done by the dashboard itself (dashboard.access.SYSTEM) on the
account, with `"source": "directory"`; nothing is written when nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import transaction

from dashboard import accounts
from dashboard.access import SYSTEM
from dashboard.audit import audited
from dashboard.models import TAUGHT_ROLES, Course, Role, User
from dashboard.refusals import Refusal

PROBLEM_ATTR = "directory_problem"  # set on a sign-in's request the directory did not answer


class DirectoryUnavailable(Refusal):
    """The directory is not configured, or could not be asked."""

    status = 503


def require_ldap() -> None:
    """DirectoryUnavailable unless sign-in against an LDAP directory is configured (only then
    is python-ldap, an optional extra, imported: dashboard.ldap_directory)."""
    if not settings.LDAP_ENABLED:
        raise DirectoryUnavailable(
            "Directory sign-in is not configured on this dashboard (DOCKDASH_LDAP_URI is unset)."
        )


# The order a person in several role groups is given a role in: the most powerful first
# (the order Role declares them in).
ROLE_ORDER: tuple[str, ...] = tuple(Role.values)
SOURCE = "directory"


def role_for(groups: Iterable[str], role_groups: Mapping[str, str]) -> str | None:
    """The role the groups give (None: `role_groups` is empty, the role is not the
    directory's). ValueError for a role `role_groups` names that does not exist."""
    unknown = sorted(set(role_groups) - set(ROLE_ORDER))
    if unknown:
        raise ValueError(f"no role {unknown[0]!r}; roles are {', '.join(ROLE_ORDER)}")
    if not role_groups:
        return None
    names = _folded(groups)
    for role in ROLE_ORDER:
        group = role_groups.get(role, "")
        if group and group.casefold() in names:
            return str(role)
    return str(Role.STUDENT)


def apply_groups(
    user: User,
    groups: Iterable[str],
    role_groups: Mapping[str, str],
    *,
    request: Any = None,
) -> None:
    """Give `user` the role and the classes the directory `groups` (names) they are in say.

    `role_groups` maps roles to group names (see the module's docstring); `request`, when
    given, is the sign-in's, for the client address of the audit rows.
    """
    names = _folded(groups)
    role = role_for(names, role_groups)
    with transaction.atomic():
        if role is not None and role != user.effective_role:
            with _audited(request, "user.role", user, **{"from": user.effective_role, "to": role}):
                accounts.set_role(user, role)
        if user.directory_role != (role is not None):
            user.directory_role = role is not None
            user.save(update_fields=["directory_role"])
        now = user.effective_role
        for course in Course.objects.exclude(directory_group=""):
            wanted = now in TAUGHT_ROLES and course.directory_group.casefold() in names
            _keep(request, user, course, "students", wanted)
        for course in Course.objects.exclude(directory_staff_group=""):
            wanted = now == Role.INSTRUCTOR and course.directory_staff_group.casefold() in names
            _keep(request, user, course, "instructors", wanted)
    for fact in ("taught", "allowed_images"):  # facts loaded with the user: load them again
        user.__dict__.pop(fact, None)


def _folded(groups: Iterable[str]) -> frozenset[str]:
    return frozenset(str(group).casefold() for group in groups)


_ACTIONS = {
    ("students", True): "class.roster.add",
    ("students", False): "class.roster.remove",
    ("instructors", True): "class.instructor.add",
    ("instructors", False): "class.instructor.remove",
}


def _keep(request: Any, user: User, course: Course, relation: str, wanted: bool) -> None:
    """Make `user` one of `course`'s `relation` (students, instructors) or not, as `wanted`."""
    members = getattr(course, relation)
    if members.filter(pk=user.pk).exists() == wanted:
        return
    with _audited(request, _ACTIONS[relation, wanted], user, **{"class": course.slug}):
        if wanted:
            members.add(user)
        else:
            members.remove(user)


def _audited(request: Any, action: str, user: User, **params: Any) -> Any:
    return audited(
        request,
        action,
        user=SYSTEM,
        target_kind="user",
        target_id=str(user.pk),
        target_name=user.username,
        params={**params, "source": SOURCE},
    )
