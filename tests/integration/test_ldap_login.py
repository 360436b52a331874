"""Signing in against a real LDAP directory (slapd, tests/ldap_server.py) through the login
form: accounts made without a local password, role and classes from the person's groups
at each sign-in, a directory that is down or hung said on the login page within the
timeout while local accounts still sign in, and the same throttling as local logins."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from dashboard.models import AuditEntry, Course, User
from tests import ldap_server as tree
from tests import rig

pytestmark = pytest.mark.django_db
ADDR = "10.1.2.3"


def login(client: Any, username: str, password: str = tree.PASSWORD) -> Any:
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ADDR)


def signed_in(client: Any) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def os101(db: Any) -> Course:
    return Course.objects.create(
        name="OS 101",
        slug="os101",
        directory_group="os101-students",
        directory_staff_group="os101-staff",
    )


def test_a_student_signs_in_with_the_directory_password_and_has_no_local_one(
    client: Client, ldap_signin: Any, os101: Course
) -> None:
    response = login(client, "Ann")
    assert response.status_code == 302 and signed_in(client)
    ann = User.objects.get(username="ann")
    assert not ann.has_usable_password()
    assert (ann.first_name, ann.last_name, ann.email) == ("Ann", "Archer", "ann@school.test")
    assert (ann.role, ann.directory_role) == ("student", True)
    assert list(ann.courses.all()) == [os101]
    made = AuditEntry.objects.get(action="user.create", target_name="ann")
    assert (made.username, made.params) == ("dockdash", {"role": "student", "source": "directory"})
    assert AuditEntry.objects.filter(action="login", username="ann").exists()
    assert login(Client(), "ann").status_code == 302
    assert AuditEntry.objects.filter(action="user.create").count() == 1  # made once


def test_an_instructor_gets_the_role_and_teaches_the_class_of_their_staff_group(
    client: Client, ldap_signin: Any, os101: Course
) -> None:
    login(Client(), "ann")
    assert login(client, "ivy").status_code == 302
    ivy = User.objects.get(username="ivy")
    assert ivy.role == "instructor"
    assert list(ivy.courses_taught.all()) == [os101] and not ivy.courses.exists()
    page = client.get(f"/classes/{os101.slug}/")
    assert page.status_code == 200 and 'data-student="ann"' in page.content.decode()
    users = client.get("/users/").content.decode()
    assert "data-directory-role" in users


def test_a_group_membership_removed_in_the_directory_removes_the_class_at_next_sign_in(
    client: Client, ldap_signin: Any, ldap_server: tree.LdapServer, os101: Course
) -> None:
    login(client, "ann")
    assert os101.students.filter(username="ann").exists()
    ldap_server.leave("ann", "os101-students")
    client.post("/logout/")
    assert login(client, "ann").status_code == 302
    assert not os101.students.filter(username="ann").exists()
    row = AuditEntry.objects.get(action="class.roster.remove", target_name="ann")
    assert (row.username, row.params) == ("dockdash", {"class": "os101", "source": "directory"})


def test_posix_groups_give_the_same_classes(
    client: Client, ldap_signin: Callable[..., None], os101: Course
) -> None:
    ldap_signin(DOCKDASH_LDAP_GROUP_TYPE="posixGroup", DOCKDASH_LDAP_GROUP_SEARCH=tree.POSIX_GROUPS)
    assert login(client, "ben").status_code == 302
    assert list(User.objects.get(username="ben").courses.all()) == [os101]
    assert login(Client(), "ivy").status_code == 302
    assert list(User.objects.get(username="ivy").courses_taught.all()) == [os101]


def test_a_wrong_directory_password_is_refused(client: Client, ldap_signin: Any) -> None:
    response = login(client, "ann", "not-it")
    assert response.status_code == 200 and not signed_in(client)
    assert "do not match" in response.content.decode()
    assert not User.objects.filter(username="ann").exists()


def test_a_directory_person_cannot_take_a_local_account_of_the_same_name(
    client: Client, ldap_signin: Any, make_user: Callable[..., Any]
) -> None:
    make_user("admin", "admin", "local-admin-pass")
    assert login(client, "admin", tree.PASSWORD).status_code == 200 and not signed_in(client)
    admin = User.objects.get(username="admin")
    assert (admin.role, admin.is_superuser, admin.directory_role) == ("admin", True, False)
    assert login(client, "admin", "local-admin-pass").status_code == 302


def test_a_stopped_directory_is_said_on_the_login_page_and_local_accounts_sign_in(
    client: Client, ldap_signin: Any, ldap_server: tree.LdapServer, make_user: Callable[..., Any]
) -> None:
    make_user("admin", "admin", "local-admin-pass")
    with ldap_server.stopped():
        started = time.monotonic()
        response = login(client, "ann")
        assert time.monotonic() - started < 5
        body = response.content.decode()
        assert response.status_code == 200 and not signed_in(client)
        assert 'id="login-directory"' in body and "the directory does not answer" in body
        assert "Traceback" not in body and 'id="id_username"' in body
        assert login(client, "admin", "local-admin-pass").status_code == 302
    row = AuditEntry.objects.get(action="login_failed")
    assert "wrong username or password (the directory does not answer)" in row.error


def test_a_hung_directory_answers_within_the_timeout(
    client: Client, ldap_signin: Callable[..., None], ldap_server: tree.LdapServer
) -> None:
    ldap_signin(DOCKDASH_LDAP_TIMEOUT="1")
    with ldap_server.frozen():
        started = time.monotonic()
        response = login(client, "ann")
        took = time.monotonic() - started
    assert took < 4, f"the login waited {took:.1f} s on a directory that does not answer"
    assert "the directory does not answer" in response.content.decode()
    assert login(client, "ann").status_code == 302  # and it answers again once it is back


def test_directory_sign_ins_are_throttled_like_local_ones(client: Client, ldap_signin: Any) -> None:
    assert login(Client(), "ann").status_code == 302  # her account exists from then on
    for i in range(5):
        login(client, "ann", f"guess-{i}")
    locked = login(client, "ann")
    assert locked.status_code == 429 and not signed_in(client)
    assert 'id="login-locked"' in locked.content.decode()
    assert AuditEntry.objects.filter(action="login.locked", target_name="ann").count() == 1
    assert login(Client(), "ben").status_code == 302  # another name still signs in


def test_the_environment_puts_the_directory_after_local_accounts_and_a_bad_value_stops_it() -> None:
    env = {
        "SECRET_KEY": "x" * 50,
        "DOCKDASH_LDAP_URI": "ldap://127.0.0.1:1",
        "DOCKDASH_LDAP_USER_SEARCH": tree.PEOPLE,
    }
    shown = rig.load_settings(
        "from django.conf import settings; print(*settings.AUTHENTICATION_BACKENDS)", **env
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == [
        "axes.backends.AxesStandaloneBackend",  # throttles every backend after it
        "django.contrib.auth.backends.ModelBackend",
        "dashboard.ldap_directory.DirectoryBackend",
    ]
    refused = rig.load_settings(**env, DOCKDASH_LDAP_GROUP_TYPE="groupOfUniqueNames")
    assert refused.returncode != 0
    assert "ImproperlyConfigured: DOCKDASH_LDAP_GROUP_TYPE must be one of" in refused.stderr
