"""A class's roster from a directory group (a real slapd, tests/ldap_server.py), by the API
and the class page: accounts made without a password, members enrolled, students not in the
group taken out, each audited; a clear answer when the directory is off or down."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from dashboard.models import AuditEntry, Course, User
from tests import ldap_server as tree

pytestmark = pytest.mark.django_db
SYNC = "/api/v1/classes/os101/roster/directory/"


@pytest.fixture
def os101(make_user: Callable[..., Any], teach: Callable[..., Any]) -> Course:
    """os101, taught by the local instructor teacher, with a student the group lacks."""
    teacher = make_user("teacher", "instructor")
    course = teach(teacher, "old", slug="os101")
    return course


@pytest.fixture
def teacher_api(api_client: Any, os101: Course) -> Any:
    api_client.force_authenticate(User.objects.get(username="teacher"))
    return api_client


def students(course: Course) -> list[str]:
    return sorted(course.students.values_list("username", flat=True))


def test_sync_makes_the_members_accounts_enrols_them_and_takes_out_the_others(
    teacher_api: Any, ldap_signin: Any, os101: Course
) -> None:
    response = teacher_api.post(SYNC, {"group": "os101-students"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert [(s["username"], s["created"]) for s in body["students"]] == [
        ("ann", True),
        ("ben", True),
    ]
    assert not any("password" in s for s in body["students"])
    assert [r["username"] for r in body["removed"]] == ["old"]
    assert students(os101) == ["ann", "ben"]
    ann = User.objects.get(username="ann")
    assert not ann.has_usable_password() and ann.get_full_name() == "Ann Archer"
    assert User.objects.filter(username="old").exists()  # out of the class, not gone
    rows = AuditEntry.objects.order_by("id")
    assert [(r.action, r.target_name, r.result) for r in rows] == [
        ("class.roster.sync", "os101", "ok"),
        ("class.roster.add", "ann", "ok"),
        ("class.roster.add", "ben", "ok"),
        ("class.roster.remove", "old", "ok"),
    ]
    assert rows[0].params == {"group": "os101-students", "members": 2}
    # The account the sync made signs in with the directory password.
    client = Client()
    assert client.post("/login/", {"username": "ann", "password": tree.PASSWORD}).status_code == 302


def test_sync_follows_the_group_as_it_changes_and_posix_groups_too(
    teacher_api: Any, ldap_signin: Callable[..., None], ldap_server: tree.LdapServer, os101: Course
) -> None:
    ldap_signin(DOCKDASH_LDAP_GROUP_TYPE="posixGroup", DOCKDASH_LDAP_GROUP_SEARCH=tree.POSIX_GROUPS)
    teacher_api.post(SYNC, {"group": "os101-students"}, format="json")
    assert students(os101) == ["ann", "ben"]
    ldap_server.leave("ben", "os101-students")
    response = teacher_api.post(SYNC, {"group": "os101-students"}, format="json")
    assert [r["username"] for r in response.json()["removed"]] == ["ben"]
    assert students(os101) == ["ann"]


def test_sync_takes_the_classs_directory_group_when_none_is_named(
    teacher_api: Any, ldap_signin: Any, os101: Course
) -> None:
    Course.objects.filter(pk=os101.pk).update(directory_group="os101-students")
    assert teacher_api.post(SYNC, {}, format="json").status_code == 200
    assert students(os101) == ["ann", "ben"]


def test_an_unknown_group_is_refused_by_name(
    teacher_api: Any, ldap_signin: Any, os101: Course
) -> None:
    response = teacher_api.post(SYNC, {"group": "nobody-here"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "error": f"The directory has no group named 'nobody-here' under {tree.GROUPS}.",
        "field": "group",
    }
    assert students(os101) == ["old"]


def test_a_stopped_directory_answers_503_and_changes_nothing(
    teacher_api: Any, ldap_signin: Any, ldap_server: tree.LdapServer, os101: Course
) -> None:
    with ldap_server.stopped():
        response = teacher_api.post(SYNC, {"group": "os101-students"}, format="json")
    assert response.status_code == 503
    assert "the directory does not answer" in response.json()["error"]
    assert students(os101) == ["old"]
    row = AuditEntry.objects.get(action="class.roster.sync")
    assert row.result == "error" and "does not answer" in row.error


def test_without_a_directory_the_sync_says_it_is_not_configured(
    teacher_api: Any, os101: Course
) -> None:
    response = teacher_api.post(SYNC, {"group": "os101-students"}, format="json")
    assert response.status_code == 503
    assert "not configured" in response.json()["error"]
    assert "DOCKDASH_LDAP_URI" in response.json()["error"]


def test_the_class_page_syncs_and_says_what_it_did(
    client: Client, ldap_signin: Any, ldap_server: tree.LdapServer, os101: Course
) -> None:
    client.force_login(User.objects.get(username="teacher"))
    page = client.get("/classes/os101/").content.decode()
    assert "data-directory-sync" in page
    url = "/classes/os101/roster/directory/"
    response = client.post(url, {"group": "os101-students"}, follow=True)
    text = response.content.decode()
    assert "From directory group os101-students: added or kept ann, ben; taken out old." in text
    assert 'data-student="ann"' in text and 'data-student="old"' not in text
    with ldap_server.stopped():
        down = client.post(url, {"group": "os101-students"})
    assert down.status_code == 503
    assert 'data-field="sync-error"' in down.content.decode()
    assert "does not answer" in down.content.decode()


def test_only_admins_tie_a_class_to_directory_groups(
    teacher_api: Any, admin_user: Any, os101: Course
) -> None:
    body = {"directory_group": "os101-students", "directory_staff_group": "os101-staff"}
    refused = teacher_api.patch("/api/v1/classes/os101/", body, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"] == "Only admins may tie a class to directory groups."
    assert Course.objects.get(pk=os101.pk).directory_group == ""
    admin_api = APIClient()
    admin_api.force_authenticate(admin_user)
    done = admin_api.patch("/api/v1/classes/os101/", body, format="json")
    assert done.status_code == 200
    assert (done.json()["directory_group"], done.json()["directory_staff_group"]) == (
        "os101-students",
        "os101-staff",
    )
