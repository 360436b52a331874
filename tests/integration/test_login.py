from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from dashboard import api_tokens
from dashboard.models import User

pytestmark = pytest.mark.django_db


def test_pages_require_login(client: Any) -> None:
    for path in ["/", "/admin/"]:
        response = client.get(path)
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_api_requires_authentication_and_answers_json(client: Any) -> None:
    response = client.get("/api/v1/engine/")
    assert response.status_code == 401
    assert response.json() == {"error": "Authentication credentials were not provided."}


def test_healthz_is_open_and_reports_the_engine(client: Any, docker_client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["engine"]["reachable"] is True
    assert body["engine"]["version"] == docker_client.version()["Version"]


def test_login_page_logs_in_and_rejects_a_wrong_password(client: Any, make_user: Any) -> None:
    make_user("ann", "student", "right-password-1")
    wrong = client.post("/login/", {"username": "ann", "password": "nope"})
    assert wrong.status_code == 200
    assert "do not match" in wrong.content.decode()
    right = client.post("/login/", {"username": "ann", "password": "right-password-1"})
    assert right.status_code == 302 and right["Location"] == "/"


def test_token_authenticates_api_calls(api_client: Any, admin_user: Any, docker_client: Any):
    _, key = api_tokens.issue(admin_user, "script", "read-only", 1)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = api_client.get("/api/v1/engine/")
    assert response.status_code == 200
    assert response.json()["engine"]["version"] == docker_client.version()["Version"]
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert api_client.get("/api/v1/engine/").status_code == 401


def test_openapi_schema_lists_the_engine_endpoint(admin_client: Any) -> None:
    response = admin_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert "/api/v1/engine/" in response.content.decode()


def test_openapi_schema_needs_a_signed_in_user(client: Any, make_user: Any) -> None:
    anonymous = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert anonymous.status_code == 401
    assert anonymous.json() == {"error": "Authentication credentials were not provided."}
    assert "/api/v1/engine/" not in anonymous.content.decode()
    client.force_login(make_user("ann", "student"))
    signed_in = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert signed_in.status_code == 200 and "/api/v1/engine/" in signed_in.content.decode()


def test_adduser_command_generates_or_reads_a_password(tmp_path: Any, capsys: Any) -> None:
    call_command("adduser", "bob", "--role", "instructor")
    out = capsys.readouterr().out
    password = out.split("password: ")[1].strip()
    bob = User.objects.get(username="bob")
    assert bob.role == "instructor" and bob.check_password(password)
    pw_file = tmp_path / "pw"
    pw_file.write_text("from-a-file-123\n")
    call_command("adduser", "carol", "--role", "viewer", "--password-file", str(pw_file))
    assert "password:" not in capsys.readouterr().out
    assert User.objects.get(username="carol").check_password("from-a-file-123")


def test_adduser_refuses_a_duplicate_name() -> None:
    from django.core.management.base import CommandError

    call_command("adduser", "dave", "--role", "student")
    with pytest.raises(CommandError, match="already exists"):
        call_command("adduser", "dave", "--role", "student")


def test_ensure_admin_creates_one_admin_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKDASH_ADMIN_PASSWORD", "chosen-admin-pw")
    call_command("ensure_admin")
    call_command("ensure_admin")
    admins = User.objects.filter(is_superuser=True)
    assert admins.count() == 1
    assert admins.get().check_password("chosen-admin-pw")
