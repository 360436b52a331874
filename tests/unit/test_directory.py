"""The directory's groups give an account its role and its classes (dashboard.directory)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dashboard.directory import apply_groups, role_for
from dashboard.models import AuditEntry, Course

ROLES = {"admin": "it-staff", "instructor": "Teachers", "viewer": "guests"}


@pytest.fixture
def os101(db: Any) -> Course:
    return Course.objects.create(
        name="OS 101",
        slug="os101",
        directory_group="os101-students",
        directory_staff_group="os101-staff",
    )


def test_the_most_powerful_role_group_wins_and_no_group_means_student() -> None:
    assert role_for(["teachers", "it-staff"], ROLES) == "admin"
    assert role_for(["TEACHERS"], ROLES) == "instructor"
    assert role_for(["guests"], ROLES) == "viewer"
    assert role_for(["os101-students"], ROLES) == "student"
    assert role_for([], ROLES) == "student"


def test_without_a_role_mapping_the_role_is_not_the_directorys() -> None:
    assert role_for(["it-staff"], {}) is None


def test_a_mapping_naming_no_role_is_refused() -> None:
    with pytest.raises(ValueError, match="no role 'teacher'"):
        role_for([], {"teacher": "staff"})


def test_students_join_their_groups_classes_and_leave_them_when_out(
    os101: Course, make_user: Callable[..., Any]
) -> None:
    other = Course.objects.create(name="Net", slug="net", directory_group="net-students")
    manual = Course.objects.create(name="Manual", slug="manual")
    ann = make_user("ann")
    manual.students.add(ann)

    apply_groups(ann, ["OS101-Students", "net-students"], ROLES)
    assert set(ann.courses.values_list("slug", flat=True)) == {"os101", "net", "manual"}

    apply_groups(ann, ["net-students"], ROLES)
    assert set(ann.courses.values_list("slug", flat=True)) == {"net", "manual"}
    assert other.students.filter(pk=ann.pk).exists()
    rows = AuditEntry.objects.filter(target_name="ann").order_by("id")
    assert [(r.action, r.params["class"], r.username, r.role) for r in rows] == [
        ("class.roster.add", "net", "dockdash", "system"),
        ("class.roster.add", "os101", "dockdash", "system"),
        ("class.roster.remove", "os101", "dockdash", "system"),
    ]
    assert all(r.params["source"] == "directory" for r in rows)


def test_nothing_is_written_when_nothing_changes(
    os101: Course, make_user: Callable[..., Any]
) -> None:
    ann = make_user("ann")
    apply_groups(ann, ["os101-students"], ROLES)
    written = AuditEntry.objects.count()
    apply_groups(ann, ["os101-students"], ROLES)
    assert AuditEntry.objects.count() == written


def test_an_instructor_teaches_the_classes_of_their_staff_group_and_is_no_student(
    os101: Course, make_user: Callable[..., Any]
) -> None:
    ivy = make_user("ivy")
    apply_groups(ivy, ["teachers", "os101-staff", "os101-students"], ROLES)
    ivy.refresh_from_db()
    assert ivy.role == "instructor" and ivy.directory_role
    assert list(ivy.courses_taught.all()) == [os101]
    assert not ivy.courses.exists()
    role_row = AuditEntry.objects.get(action="user.role", target_name="ivy")
    assert role_row.params == {"from": "student", "to": "instructor", "source": "directory"}


def test_an_instructor_taken_off_the_role_group_stops_teaching_and_becomes_a_student(
    os101: Course, make_user: Callable[..., Any]
) -> None:
    ivy = make_user("ivy", "instructor")
    apply_groups(ivy, ["teachers", "os101-staff"], ROLES)
    assert ivy.taught == frozenset()  # the fact is read again, after the change

    apply_groups(ivy, ["os101-staff", "os101-students"], ROLES)
    ivy.refresh_from_db()
    assert ivy.role == "student"
    assert not ivy.courses_taught.exists()
    assert list(ivy.courses.all()) == [os101]
    assert AuditEntry.objects.filter(action="class.instructor.remove", target_name="ivy").exists()


def test_an_instructor_sees_the_students_the_directory_put_in_their_class(
    os101: Course, make_user: Callable[..., Any]
) -> None:
    ivy, ann = make_user("ivy"), make_user("ann")
    apply_groups(ivy, ["teachers", "os101-staff"], ROLES)
    apply_groups(ann, ["os101-students"], ROLES)
    ivy.__dict__.pop("taught", None)
    assert ivy.taught == frozenset({"ann"})


def test_an_admin_group_gives_the_admin_flags(make_user: Callable[..., Any]) -> None:
    bob = make_user("bob")
    apply_groups(bob, ["it-staff"], ROLES)
    bob.refresh_from_db()
    assert (bob.role, bob.is_staff, bob.is_superuser) == ("admin", True, True)
    apply_groups(bob, [], ROLES)
    bob.refresh_from_db()
    assert (bob.role, bob.is_staff, bob.is_superuser) == ("student", False, False)


def test_without_a_mapping_the_role_stays_and_classes_still_follow(
    os101: Course, make_user: Callable[..., Any]
) -> None:
    ivy = make_user("ivy", "instructor")
    apply_groups(ivy, ["os101-staff", "it-staff"], {})
    ivy.refresh_from_db()
    assert ivy.role == "instructor" and not ivy.directory_role
    assert list(ivy.courses_taught.all()) == [os101]
    assert not AuditEntry.objects.filter(action="user.role").exists()
