"""The audit log: logins recorded, the page's filters, pagination and CSV export, the API,
and rows that nothing can change or remove (page, API, admin site, model)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from dashboard.audit import record
from dashboard.models import AuditEntry, AuditLogIsAppendOnly

pytestmark = pytest.mark.django_db


@pytest.fixture
def instructor(make_user: Any) -> Any:
    return make_user("ivy", "instructor")


@pytest.fixture
def rows(instructor: Any, make_user: Any) -> list[AuditEntry]:
    ann = make_user("ann", "student")
    made = [
        record(
            None,
            "container.create",
            user=ann,
            target_kind="container",
            target_id="a" * 64,
            target_name="web1",
            params={"image": "busybox"},
        ),
        record(
            None,
            "container.stop",
            user=ann,
            target_kind="container",
            target_id="b" * 64,
            target_name="db",
            error="No such container",
        ),
        record(
            None,
            "image.pull",
            user=instructor,
            target_kind="image",
            target_name="=HYPERLINK(1)",
            params={"image": "busybox:latest", "password": "hunter2"},
        ),
    ]
    old = made[0]
    AuditEntry.objects.filter(pk=old.pk).update(time=timezone.now() - timedelta(days=3))
    return made


def test_a_login_is_recorded_with_user_role_and_client_address(client: Any, make_user: Any) -> None:
    make_user("ann", "student", "right-password-1")
    client.post(
        "/login/", {"username": "ann", "password": "right-password-1"}, REMOTE_ADDR="10.9.8.7"
    )
    row = AuditEntry.objects.get(action="login")
    assert (row.username, row.role, row.client_addr, row.result) == (
        "ann",
        "student",
        "10.9.8.7",
        "ok",
    )
    assert row.user is not None and row.user.username == "ann"


def test_a_failed_login_records_the_tried_name_and_never_the_password(client: Any) -> None:
    client.post("/login/", {"username": "mallory", "password": "guess-123"}, REMOTE_ADDR="10.0.0.5")
    row = AuditEntry.objects.get(action="login_failed")
    assert row.username == "mallory" and row.user is None
    assert row.client_addr == "10.0.0.5"
    assert row.result == "error" and "wrong username or password" in row.error
    assert "guess-123" not in str(row.params) + row.error


def test_secrets_in_parameters_are_masked(rows: list[AuditEntry]) -> None:
    assert AuditEntry.objects.get(action="image.pull").params["password"] == "***"


def page_actions(response: Any) -> list[str]:
    import re

    return re.findall(r'data-action="([^"]+)"', response.content.decode())


def test_the_page_lists_rows_newest_first_and_filters_them(
    client: Any, instructor: Any, rows: list[AuditEntry]
) -> None:
    client.force_login(instructor)
    everything = page_actions(client.get("/audit/"))
    assert everything[:3] == ["login", "image.pull", "container.stop"]
    assert everything[-1] == "container.create"  # three days old
    assert page_actions(client.get("/audit/?user=ANN")) == ["container.stop", "container.create"]
    assert page_actions(client.get("/audit/?action=image.pull")) == ["image.pull"]
    assert page_actions(client.get("/audit/?target=web")) == ["container.create"]
    assert page_actions(client.get("/audit/?target=" + "b" * 12)) == ["container.stop"]
    assert page_actions(client.get("/audit/?target=image")) == ["image.pull"]
    assert page_actions(client.get("/audit/?result=error")) == ["container.stop"]
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert "container.create" not in page_actions(client.get(f"/audit/?since={since}"))
    until = (timezone.now() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    assert page_actions(client.get(f"/audit/?until={until}")) == ["container.create"]


def test_a_bad_filter_says_what_is_wrong_and_shows_nothing(client: Any, instructor: Any) -> None:
    client.force_login(instructor)
    response = client.get("/audit/?since=yesterday&until=2020-01-01")
    assert response.status_code == 200
    assert "Enter a valid date/time" in response.content.decode()
    assert page_actions(response) == []


def test_docker_side_strings_are_escaped_on_the_page(client: Any, instructor: Any) -> None:
    record(None, "container.create", user=instructor, target_name="<script>alert(1)</script>")
    client.force_login(instructor)
    body = client.get("/audit/").content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_the_page_is_paginated_keeping_the_filters(client: Any, instructor: Any) -> None:
    for i in range(120):
        record(None, "volume.create", user=instructor, target_name=f"v{i}")
    client.force_login(instructor)
    first = client.get("/audit/?action=volume.create")
    body = first.content.decode()
    assert len(page_actions(first)) == 50
    assert "page 1 of 3" in body
    assert "?action=volume.create&page=2" in body
    last = client.get("/audit/?action=volume.create&page=3")
    assert len(page_actions(last)) == 20
    assert "v0<" in last.content.decode()


def test_csv_export_streams_the_filtered_rows_with_formulas_defused(
    client: Any, instructor: Any, rows: list[AuditEntry]
) -> None:
    client.force_login(instructor)
    response = client.get("/audit/export.csv?user=ivy&action=image.pull")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(table) == 1
    assert table[0]["action"] == "image.pull" and table[0]["username"] == "ivy"
    assert table[0]["target_name"] == "'=HYPERLINK(1)"
    assert '"password": "***"' in table[0]["params"]


def test_the_api_answers_rows_newest_first_with_filters(
    api_client: Any, instructor: Any, rows: list[AuditEntry]
) -> None:
    api_client.force_authenticate(instructor)
    body = api_client.get("/api/v1/audit/").json()
    assert [r["action"] for r in body][:2] == ["image.pull", "container.stop"]
    assert [r["action"] for r in api_client.get("/api/v1/audit/?user=ann").json()] == [
        "container.stop",
        "container.create",
    ]
    assert [r["target_name"] for r in api_client.get("/api/v1/audit/?target=web1").json()] == [
        "web1"
    ]
    only = api_client.get("/api/v1/audit/?action=container.stop").json()
    assert only[0]["result"] == "error" and only[0]["error"] == "No such container"
    assert len(api_client.get("/api/v1/audit/?limit=1").json()) == 1
    bad = api_client.get("/api/v1/audit/?limit=0")
    assert bad.status_code == 400 and bad.json()["field"] == "limit"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_api_cannot_write_or_delete_rows(
    api_client: Any, admin_user: Any, rows: list[AuditEntry], method: str
) -> None:
    api_client.force_authenticate(admin_user)
    response = getattr(api_client, method)("/api/v1/audit/", {"action": "x"}, format="json")
    assert response.status_code == 405
    assert AuditEntry.objects.count() == 3


def test_rows_cannot_be_changed_or_deleted_through_the_model(rows: list[AuditEntry]) -> None:
    row = AuditEntry.objects.get(action="image.pull")
    row.action = "nothing"
    with pytest.raises(AuditLogIsAppendOnly):
        row.save()
    with pytest.raises(AuditLogIsAppendOnly):
        row.delete()
    assert AuditEntry.objects.filter(action="image.pull").exists()


def test_the_admin_site_shows_rows_read_only_even_to_superusers(
    admin_client: Any, rows: list[AuditEntry]
) -> None:
    row = rows[2]
    listing = admin_client.get("/admin/dashboard/auditentry/")
    assert listing.status_code == 200
    assert 'name="action"' not in listing.content.decode()  # no bulk delete action
    assert admin_client.get("/admin/dashboard/auditentry/add/").status_code == 403
    detail = admin_client.get(f"/admin/dashboard/auditentry/{row.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()  # shown, not editable
    deleted = admin_client.post(f"/admin/dashboard/auditentry/{row.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 403
    assert AuditEntry.objects.filter(pk=row.pk).exists()
