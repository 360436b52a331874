"""The access rules take the facts they judge by: who the user is, and for an instructor the
students of their classes (`taught`, handed in with the user; no database here)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from dashboard.access import Perm, can, may_set_role


def person(name: str, role: str, taught: frozenset[str] = frozenset(), pk: int = 1) -> Any:
    return SimpleNamespace(
        pk=pk,
        is_authenticated=True,
        effective_role=role,
        taught=taught,
        get_username=lambda: name,
    )


IVY = person("ivy", "instructor", frozenset({"ann"}))


@pytest.mark.parametrize("perm", [Perm.VIEW, Perm.CONTROL, Perm.REMOVE, Perm.EXEC])
def test_an_instructor_reaches_the_objects_of_their_students_and_their_own_only(perm: Perm) -> None:
    assert can(IVY, perm, "ann")
    assert can(IVY, perm, "ivy")
    assert not can(IVY, perm, "bob")
    assert not can(IVY, perm, None)  # an admin's object


def test_an_instructor_manages_the_accounts_and_quotas_of_their_students_only() -> None:
    assert can(IVY, Perm.MANAGE_USERS)  # the users page: their students there
    assert can(IVY, Perm.MANAGE_USERS, "ann") and can(IVY, Perm.MANAGE_QUOTAS, "ann")
    assert not can(IVY, Perm.MANAGE_USERS, "bob") and not can(IVY, Perm.MANAGE_QUOTAS, "bob")
    assert not can(IVY, Perm.MANAGE_QUOTAS)  # the role defaults: admins'
    assert not can(IVY, Perm.PRUNE)


def test_shared_objects_are_seen_by_everyone_but_removed_only_by_whom_they_concern() -> None:
    assert can(IVY, Perm.VIEW, None, shared=True)
    assert not can(IVY, Perm.REMOVE, None, shared=True)
    assert can(IVY, Perm.REMOVE, "ann", shared=True)


def test_a_student_gets_nothing_from_being_in_a_class() -> None:
    ann = person("ann", "student", frozenset({"bob"}))
    assert not can(ann, Perm.VIEW, "bob")
    assert not can(ann, Perm.MANAGE_QUOTAS, "bob")


def test_the_role_rules_still_hold_for_any_account_an_instructor_reaches() -> None:
    admin = person("root", "admin", pk=2)
    other = person("oscar", "instructor", pk=3)
    assert may_set_role(IVY, admin, "student") == "Only admins may change the role of an admin."
    assert "of an instructor" in may_set_role(IVY, other, "student")
    assert may_set_role(IVY, person("ann", "student", pk=4), "instructor") == (
        "Only admins may make instructors."
    )
