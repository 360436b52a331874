"""Accounts on a shared host: instructors create students (one or a pasted list, passwords shown
once), roles and quotas change only within the rules, each change is audited, and a user's
usage page reads the real engine."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dashboard import quotas
from dashboard.models import AuditEntry, Quota, RoleQuota, User
from tests.rig import RUN_ID

pytestmark = pytest.mark.django_db
MIB = 2**20


@pytest.fixture
def instructor(make_user: Any) -> Any:
    return make_user("ivy", "instructor")


def logs_in(username: str, password: str) -> bool:
    """Through the real login form: the throttling backend needs the request (no Client.login)."""
    from django.test import Client

    answer = Client().post("/login/", {"username": username, "password": password})
    return answer.status_code == 302


def passwords(response: Any) -> dict[str, str]:
    body = response.content.decode()
    return dict(
        re.findall(
            r"<tr><td>([^<]+)</td><td>[^<]+</td><td><span class=\"secret\">([^<]+)</span>", body
        )
    )


def test_an_instructor_creates_a_student_whose_shown_password_works(
    client: Any, instructor: Any
) -> None:
    client.force_login(instructor)
    response = client.post("/users/create/", {"username": "newbie", "role": "student"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    password = passwords(response)["newbie"]
    assert User.objects.get(username="newbie").role == "student"
    assert logs_in("newbie", password)
    row = AuditEntry.objects.get(action="user.create")
    assert (row.username, row.target_name, row.params, row.result) == (
        "ivy",
        "newbie",
        {"role": "student"},
        "ok",
    )


def test_an_instructor_cannot_create_an_admin_or_an_instructor(
    client: Any, instructor: Any
) -> None:
    client.force_login(instructor)
    for role in ("admin", "instructor"):
        response = client.post("/users/create/", {"username": f"x{role}", "role": role})
        assert response.status_code == 400
        assert "Select a valid choice" in response.content.decode()
    assert not User.objects.filter(username__in=["xadmin", "xinstructor"]).exists()


def test_an_admin_may_create_any_role(admin_client: Any) -> None:
    response = admin_client.post("/users/create/", {"username": "boss2", "role": "admin"})
    assert response.status_code == 200
    created = User.objects.get(username="boss2")
    assert created.effective_role == "admin" and created.is_superuser


def test_a_pasted_list_creates_each_new_name_once_and_says_why_others_failed(
    client: Any, instructor: Any, make_user: Any
) -> None:
    make_user("taken", "student")
    client.force_login(instructor)
    response = client.post(
        "/users/bulk/", {"usernames": "s1\ns2, s2\n\n  s3;taken\nbad!name", "role": "student"}
    )
    assert response.status_code == 200
    shown = passwords(response)
    assert sorted(shown) == ["s1", "s2", "s3"]
    assert len(set(shown.values())) == 3
    body = response.content.decode()
    assert "a user named &#x27;taken&#x27; already exists" in body
    assert "bad!name" in body and "Enter a valid username" in body
    for name, password in shown.items():
        assert logs_in(name, password)
    assert AuditEntry.objects.filter(action="user.create", result="ok").count() == 3
    failed = AuditEntry.objects.filter(action="user.create", result="error")
    assert sorted(r.error for r in failed) == [
        "Enter a valid username. This value may contain only letters, numbers, and "
        "@/./+/-/_ characters.",
        "a user named 'taken' already exists",
    ]


def test_an_empty_or_huge_list_is_refused_with_a_message(client: Any, instructor: Any) -> None:
    client.force_login(instructor)
    empty = client.post("/users/bulk/", {"usernames": "  \n ", "role": "student"})
    assert empty.status_code == 400
    huge = client.post(
        "/users/bulk/", {"usernames": " ".join(f"u{i}" for i in range(501)), "role": "student"}
    )
    assert huge.status_code == 400 and "At most 500 names" in huge.content.decode()
    assert not User.objects.filter(username__startswith="u").exists()


def test_an_instructor_changes_a_students_role_but_never_an_admins_nor_to_admin(
    client: Any, instructor: Any, make_user: Any, admin_user: Any, teach: Any
) -> None:
    ann = make_user("ann", "student")
    teach(instructor, ann)
    client.force_login(instructor)
    assert client.post(f"/users/{ann.pk}/role/", {"role": "viewer"}).status_code == 302
    ann.refresh_from_db()
    assert ann.role == "viewer"
    refused = client.post(f"/users/{ann.pk}/role/", {"role": "admin"})
    assert refused.status_code == 403 and "Only admins may make admins" in refused.content.decode()
    # An admin is no student of the instructor's: their account is not there to change.
    refused = client.post(f"/users/{admin_user.pk}/role/", {"role": "student"})
    assert refused.status_code == 404
    admin_user.refresh_from_db()
    ann.refresh_from_db()
    assert admin_user.effective_role == "admin" and ann.role == "viewer"
    rows = AuditEntry.objects.filter(action="user.role").order_by("id")
    assert [(r.target_name, r.params["to"], r.result) for r in rows] == [
        ("ann", "viewer", "ok"),
        ("ann", "admin", "error"),
    ]
    assert client.get(f"/users/{admin_user.pk}/").status_code == 404


def test_an_instructor_cannot_make_a_student_an_instructor(
    client: Any, instructor: Any, make_user: Any, teach: Any
) -> None:
    ann = make_user("ann", "student")
    teach(instructor, ann)
    client.force_login(instructor)
    page = client.get(f"/users/{ann.pk}/").content.decode()
    offered = re.findall(r'<option value="([a-z]+)"', page)
    assert sorted(offered) == ["student", "viewer"]
    refused = client.post(f"/users/{ann.pk}/role/", {"role": "instructor"})
    assert refused.status_code == 403
    assert "Only admins may make instructors" in refused.content.decode()
    ann.refresh_from_db()
    assert ann.role == "student"
    row = AuditEntry.objects.get(action="user.role")
    assert (row.target_name, row.params["to"], row.result) == ("ann", "instructor", "error")


def test_an_instructor_can_neither_see_nor_change_another_instructors_account(
    client: Any, instructor: Any, make_user: Any
) -> None:
    other = make_user("oscar", "instructor")
    client.force_login(instructor)
    refused = client.post(f"/users/{other.pk}/role/", {"role": "student"})
    assert refused.status_code == 404
    other.refresh_from_db()
    assert other.role == "instructor"
    assert client.get(f"/users/{other.pk}/").status_code == 404
    assert "oscar" not in client.get("/users/").content.decode()


def test_an_instructor_creates_viewers_but_an_admin_makes_instructors(
    client: Any, instructor: Any, admin_client: Any, make_user: Any
) -> None:
    ann = make_user("ann", "student")
    assert admin_client.post(f"/users/{ann.pk}/role/", {"role": "instructor"}).status_code == 302
    ann.refresh_from_db()
    assert ann.role == "instructor"
    client.force_login(instructor)
    assert client.post("/users/create/", {"username": "v1", "role": "viewer"}).status_code == 200
    assert User.objects.get(username="v1").role == "viewer"


def test_nobody_changes_their_own_role(admin_client: Any, admin_user: Any) -> None:
    response = admin_client.post(f"/users/{admin_user.pk}/role/", {"role": "student"})
    assert response.status_code == 403
    admin_user.refresh_from_db()
    assert admin_user.is_superuser


def test_an_admin_makes_and_unmakes_an_admin_with_the_admin_site_flags(
    admin_client: Any, make_user: Any
) -> None:
    ann = make_user("ann", "student")
    admin_client.post(f"/users/{ann.pk}/role/", {"role": "admin"})
    ann.refresh_from_db()
    assert (ann.role, ann.is_staff, ann.is_superuser) == ("admin", True, True)
    admin_client.post(f"/users/{ann.pk}/role/", {"role": "student"})
    ann.refresh_from_db()
    assert (ann.effective_role, ann.is_staff, ann.is_superuser) == ("student", False, False)


def test_an_admin_sets_and_clears_a_users_quota_audited(admin_client: Any, make_user: Any) -> None:
    ann = make_user("ann", "student")
    response = admin_client.post(
        f"/users/{ann.pk}/quota/", {"max_running": "5", "memory_per_container": "512"}
    )
    assert response.status_code == 302
    limits = quotas.limits_for(ann)
    assert limits.max_running == 5 and limits.memory_per_container == 512 * MIB
    assert limits.max_containers == RoleQuota.objects.get(role="student").max_containers
    admin_client.post(f"/users/{ann.pk}/quota/", {})
    assert not Quota.objects.filter(user=ann).exists()
    rows = AuditEntry.objects.filter(action="user.quota").order_by("id")
    assert [r.params["max_running"] for r in rows] == [5, None]


def test_a_bad_quota_value_is_refused_and_changes_nothing(
    admin_client: Any, make_user: Any
) -> None:
    ann = make_user("ann", "student")
    response = admin_client.post(
        f"/users/{ann.pk}/quota/", {"cpus_total": "-1", "max_running": "x"}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "greater than or equal to 0.01" in body and "Enter a whole number" in body
    assert not Quota.objects.filter(user=ann).exists()


def test_an_admin_edits_the_default_quota_of_a_role(admin_client: Any) -> None:
    response = admin_client.post(
        "/users/quotas/", {"role": "student", "student-max_running": "4", "student-cpus_total": "1"}
    )
    assert response.status_code == 302
    defaults = RoleQuota.objects.get(role="student")
    assert defaults.max_running == 4 and defaults.cpus_total == 1.0
    assert defaults.memory_total is None  # left empty: no limit
    row = AuditEntry.objects.get(action="role.quota")
    assert row.target_name == "student" and row.params["max_running"] == 4


def test_role_changes_in_the_admin_site_sync_flags_and_are_audited(
    admin_client: Any, make_user: Any
) -> None:
    ann = make_user("ann", "student")
    form = admin_client.get(f"/admin/dashboard/user/{ann.pk}/change/")
    assert form.status_code == 200
    data = {
        "username": "ann",
        "role": "instructor",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "quota-TOTAL_FORMS": "1",
        "quota-INITIAL_FORMS": "0",
        "quota-MIN_NUM_FORMS": "0",
        "quota-MAX_NUM_FORMS": "1",
        "quota-0-max_running": "2",
        "quota-0-user": str(ann.pk),
    }
    response = admin_client.post(f"/admin/dashboard/user/{ann.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    ann.refresh_from_db()
    assert ann.role == "instructor" and not ann.is_superuser
    assert Quota.objects.get(user=ann).max_running == 2
    assert AuditEntry.objects.get(action="user.role").params == {
        "from": "student",
        "to": "instructor",
        "via": "admin site",
    }
    assert AuditEntry.objects.get(action="user.quota").params["max_running"] == 2


@pytest.mark.engine
def test_my_usage_shows_the_engines_numbers_against_the_quota(
    client: Any, make_user: Any, make_container: Any
) -> None:
    name = f"u{RUN_ID}"
    me = make_user(name, "student")
    Quota.objects.create(user=me, max_running=3, max_containers=5)
    make_container(labels={"dockdash.owner": name}, mem_limit=64 * MIB)
    make_container(start=False, labels={"dockdash.owner": name}, mem_limit=64 * MIB)
    client.force_login(me)
    body = client.get("/users/me/").content.decode()
    cells = re.findall(
        r"<td>([^<]+)</td>\s*<td class=\"r\" data-used>([^<]+)</td>\s*"
        r"<td class=\"r\" data-limit>([^<]+)</td>",
        body,
    )
    table = {label: (used, limit) for label, used, limit in cells}
    assert table["Containers (running or stopped)"] == ("2", "5")
    assert table["Running containers"] == ("1", "3")
    assert table["Memory of running containers"] == ("64 MiB", "768 MiB")
    assert table["Memory per container"] == ("—", "256 MiB")


def test_role_defaults_cannot_be_deleted_in_the_admin_site(admin_client: Any) -> None:
    row = RoleQuota.objects.get(role="student")
    response = admin_client.post(f"/admin/dashboard/rolequota/{row.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert RoleQuota.objects.filter(role="student").exists()


def test_an_unknown_role_is_refused_with_a_message(admin_client: Any, make_user: Any) -> None:
    ann = make_user("ann", "student")
    response = admin_client.post(f"/users/{ann.pk}/role/", {"role": "overlord"})
    assert response.status_code == 400
    assert "Select a valid choice. overlord is not one of" in response.content.decode()
    ann.refresh_from_db()
    assert ann.role == "student"
