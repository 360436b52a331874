"""The access policy: the one place that answers "may this user do this to that?".

Every view, API call and websocket consumer asks here. Objects on the engine are
identified for the policy by their owner (the `dockdash.owner` label; objects
without it belong to admins) and whether they are shared with everyone (images,
the predefined networks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from dashboard.models import Role
from dashboard.records import OWNER_LABEL, owner_of
from dashboard.refusals import Forbidden, NotVisible

T = TypeVar("T")


class Perm(StrEnum):
    VIEW = "view"  # see it, its details, logs and stats
    CONTROL = "control"  # start, stop, restart, pause, unpause, kill, rename, connect
    REMOVE = "remove"
    EXEC = "exec"  # a shell inside a container
    CREATE = "create"  # create new objects (owned by the creator)
    VIEW_AUDIT = "view_audit"
    MANAGE_USERS = "manage_users"  # accounts: an instructor, only their students'
    MANAGE_REGISTRIES = "manage_registries"
    MANAGE_QUOTAS = "manage_quotas"  # role defaults: admins; a student's: their instructors too
    PRUNE = "prune"  # remove every unused object of every owner: admins only


_OWN = {Perm.VIEW, Perm.CONTROL, Perm.REMOVE, Perm.EXEC}
# What an instructor may do to their students (accounts too) besides their objects.
_FOR_STUDENTS = _OWN | {Perm.MANAGE_USERS, Perm.MANAGE_QUOTAS}
_INSTRUCTOR_GLOBAL = {Perm.CREATE, Perm.VIEW_AUDIT, Perm.MANAGE_USERS}


SYSTEM_ROLE = "system"


class SystemUser:
    """The dashboard itself acting on a timer (culling idle labs): no account, no login.

    Its audit rows read username "dockdash", role "system"; it may see and control
    (stop) every container, nothing else.
    """

    username = "dockdash"
    pk = None
    is_authenticated = True
    effective_role = SYSTEM_ROLE
    taught: frozenset[str] = frozenset()
    allowed_images = None

    @property
    def user(self) -> SystemUser:  # the gate and the audit log ask an actor for its user
        return self

    def get_username(self) -> str:
        return self.username


SYSTEM = SystemUser()


def role_of(user: Any) -> str:
    if user is None or not user.is_authenticated:
        return ""
    return str(user.effective_role)


def taught_by(user: Any) -> frozenset[str]:
    """The students of `user`'s classes: a fact loaded with the user (dashboard.models.User)."""
    return frozenset(getattr(user, "taught", frozenset()))


def can(user: Any, perm: Perm, owner: str | None = None, *, shared: bool = False) -> bool:
    """May `user` do `perm` to an object owned by `owner` (None: an admin's object)?

    With `owner` left out for CREATE and the global permissions, the question is
    about the user alone. An instructor sees and controls their own objects and
    those of the students of their classes, and manages those students' accounts;
    nobody else's.
    """
    role = role_of(user)
    if role == Role.ADMIN:
        return True
    if role == Role.VIEWER:
        return perm == Perm.VIEW
    if role == SYSTEM_ROLE:
        return perm in (Perm.VIEW, Perm.CONTROL)
    if role not in (Role.INSTRUCTOR, Role.STUDENT):
        return False
    if perm == Perm.CREATE or (perm == Perm.VIEW and shared):
        return True
    mine = owner is not None and owner == user.get_username()
    if role == Role.STUDENT:
        return perm in _OWN and mine
    if owner is None and not shared:
        return perm in _INSTRUCTOR_GLOBAL
    if perm in _OWN and mine:
        return True
    return perm in _FOR_STUDENTS and owner in taught_by(user)


def require(
    user: Any,
    perm: Perm,
    owner: str | None = None,
    *,
    shared: bool = False,
    what: str = "object",
    ref: str = "",
) -> None:
    """Refuse what the user may not see as missing (NotVisible, the same words as for
    an object that does not exist), and what they may see but not do (Forbidden)."""
    if not can(user, Perm.VIEW, owner, shared=shared):
        raise not_found(what, ref)
    if perm != Perm.VIEW and not can(user, perm, owner, shared=shared):
        raise Forbidden(f"Your role ({role_of(user)}) may not {perm} this {what}.")


def not_found(what: str, ref: str = "") -> NotVisible:
    """The one answer for a missing object and for one the user may not see."""
    return NotVisible(f"No such {what}: {ref}" if ref else f"No such {what}.")


def require_global(user: Any, perm: Perm) -> None:
    if not can(user, perm):
        raise Forbidden(f"Your role ({role_of(user)}) may not {perm.replace('_', ' ')}.")


def visible(
    user: Any,
    items: Iterable[T],
    labels_of: Callable[[T], Mapping[str, str] | None],
    *,
    shared: Callable[[T], bool] = lambda item: False,
) -> list[T]:
    """The items the user may see, in their order."""
    return [
        item
        for item in items
        if can(user, Perm.VIEW, owner_of(labels_of(item)), shared=shared(item))
    ]


def owner_labels(user: Any) -> dict[str, str]:
    """The labels that mark a new object as the user's."""
    return {OWNER_LABEL: user.get_username()}


# ---------------------------------------------------------------- shared host: users and roles


# The accounts an instructor manages, and the roles they may give: nothing above a student's
# powers but a viewer's read-only one.
_INSTRUCTOR_GIVES = (str(Role.STUDENT), str(Role.VIEWER))


def may_set_role(actor: Any, target: Any, new_role: str) -> str:
    """Why `actor` may not give `target` the role `new_role` ("" when they may).

    Admins set any role; instructors manage only student and viewer accounts and give
    only those two roles (making an instructor or an admin is an admin's power);
    nobody changes their own role here, so the last admin cannot lock everyone out
    by accident.
    """
    role = role_of(actor)
    if not can(actor, Perm.MANAGE_USERS):
        return f"Your role ({role}) may not change roles."
    if actor.pk == target.pk:
        return "You cannot change your own role."
    if role == Role.ADMIN:
        return ""
    if role_of(target) == Role.ADMIN:
        return "Only admins may change the role of an admin."
    if role_of(target) == Role.INSTRUCTOR:
        return "Only admins may change the role of an instructor."
    if new_role == Role.ADMIN:
        return "Only admins may make admins."
    if new_role not in _INSTRUCTOR_GIVES:
        return f"Only admins may make {new_role}s."
    return ""


def may_enrol(actor: Any, student: str, *, in_a_class: bool) -> str:
    """Why `actor` may not put the existing account `student` in a class ("" when they may).

    Being in an instructor's class gives that instructor sight and control of the
    student's containers and account. So an instructor adds only a student in no class
    yet or already in one of theirs (`in_a_class`: whether the student is in any class);
    taking a student from another instructor's class is an admin's to do.
    """
    if role_of(actor) == Role.ADMIN or not in_a_class or student in taught_by(actor):
        return ""
    return f"{student} is in a class you do not teach; an admin can add them."


def roles_creatable_by(actor: Any) -> list[str]:
    """The roles of the accounts `actor` may create: admins any, instructors student, viewer."""
    role = role_of(actor)
    if role == Role.ADMIN:
        return list(Role.values)
    if role == Role.INSTRUCTOR:
        return list(_INSTRUCTOR_GIVES)
    return []
