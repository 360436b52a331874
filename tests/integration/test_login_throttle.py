"""Login throttling (django-axes): a name+address is locked after the configured number of
failures, the person is told for how long, one audit row records the lockout, guessing
unknown names does not flood the audit log, an admin unlocks, and token API calls go on."""

from __future__ import annotations

import io
import re
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from dashboard import api_tokens
from dashboard.models import AuditEntry
from tests import rig

pytestmark = pytest.mark.django_db
PASSWORD = "right-password-1"


def login(client: Any, username: str, password: str, addr: str = "10.1.2.3") -> Any:
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=addr)


def test_the_settings_lock_per_name_and_address_with_axes_first() -> None:
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60


def test_fifty_wrong_passwords_lock_the_account_and_then_the_right_one_is_refused(
    client: Any, make_user: Any
) -> None:
    make_user("ann", "student", PASSWORD)
    statuses = [login(client, "ann", f"guess-{i}").status_code for i in range(50)]
    assert statuses[:4] == [200] * 4  # the form again, "do not match"
    assert set(statuses[4:]) == {429}
    right = login(client, "ann", PASSWORD)
    assert right.status_code == 429
    body = right.content.decode()
    assert "_auth_user_id" not in client.session
    message = re.search(r'id="login-locked">([^<]+)<', body)
    assert message, body[:2000]
    text = message.group(1)
    assert "locked for 15 minutes" in text and "ann" in text
    assert "Traceback" not in body and 'id="id_username"' in body  # the login page, not an error
    rows = AuditEntry.objects.filter(action="login.locked")
    assert rows.count() == 1
    row = rows.get()
    assert (row.target_name, row.client_addr, row.result) == ("ann", "10.1.2.3", "error")
    assert "locked for 15 minutes after 5 failed logins" in row.error
    # The four failures before the lockout are audited, the 46 tries during it are not.
    assert AuditEntry.objects.filter(action="login_failed").count() == 4
    assert not AuditEntry.objects.filter(action="login").exists()


def test_the_lock_is_per_address_another_address_still_logs_in(client: Any, make_user: Any) -> None:
    make_user("ann", "student", PASSWORD)
    for i in range(5):
        login(client, "ann", f"guess-{i}", addr="10.1.2.3")
    assert login(client, "ann", PASSWORD, addr="10.1.2.3").status_code == 429
    assert login(Client(), "ann", PASSWORD, addr="10.9.9.9").status_code == 302


def test_a_forwarded_for_header_does_not_reset_the_count(client: Any, make_user: Any) -> None:
    make_user("ann", "student", PASSWORD)
    for i in range(6):
        client.post(
            "/login/",
            {"username": "ann", "password": f"guess-{i}"},
            REMOTE_ADDR="10.1.2.3",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{i}",
        )
    assert login(client, "ann", PASSWORD, addr="10.1.2.3").status_code == 429


def test_guessing_unknown_names_leaves_one_audit_row_per_address(client: Any) -> None:
    for i in range(50):
        login(client, "mallory", f"guess-{i}")
    for i in range(50):
        login(client, f"nobody{i}", "guess")
    rows = AuditEntry.objects.filter(action__in=["login_failed", "login.locked"])
    assert rows.count() == 1
    row = rows.get()
    assert row.target_name == "mallory" and row.error.startswith("no such account")
    assert "guess" not in str(row.params) + row.error
    # Another address gets its own (single) row.
    login(client, "mallory", "guess", addr="10.7.7.7")
    assert rows.count() == 2


def test_the_lock_lifts_by_itself_after_the_cool_off(client: Any, make_user: Any) -> None:
    from datetime import timedelta

    from axes.models import AccessAttempt

    make_user("ann", "student", PASSWORD)
    for i in range(5):
        login(client, "ann", f"guess-{i}")
    assert login(client, "ann", PASSWORD).status_code == 429
    earlier = AccessAttempt.objects.get(username="ann").attempt_time - timedelta(minutes=16)
    AccessAttempt.objects.filter(username="ann").update(attempt_time=earlier)
    assert login(client, "ann", PASSWORD).status_code == 302


def test_the_unlock_command_lets_the_user_log_in(client: Any, make_user: Any) -> None:
    make_user("ann", "student", PASSWORD)
    for i in range(50):
        login(client, "ann", f"guess-{i}")
    assert login(client, "ann", PASSWORD).status_code == 429
    call_command("axes_reset_username", "ann", stdout=io.StringIO())
    right = login(client, "ann", PASSWORD)
    assert right.status_code == 302 and right["Location"] == "/"


def test_an_admin_unlocks_on_the_users_page_audited(
    client: Any, make_user: Any, admin_user: Any
) -> None:
    ann = make_user("ann", "student", PASSWORD)
    for i in range(50):
        login(client, "ann", f"guess-{i}")
    admin = Client()
    admin.force_login(admin_user)
    page = admin.get(f"/users/{ann.pk}/").content.decode()
    assert "Locked out" in page and "10.1.2.3" in page
    listing = admin.get("/users/").content.decode()
    badge = r'</a> <span class="badge warn"[^>]*>locked</span>'
    assert re.search(r">ann" + badge, listing) and not re.search(r">admin1" + badge, listing)
    response = admin.post(f"/users/{ann.pk}/unlock/")
    assert response.status_code == 302
    assert "Locked out" not in admin.get(f"/users/{ann.pk}/").content.decode()
    row = AuditEntry.objects.get(action="user.unlock")
    assert (row.username, row.target_name, row.result) == ("admin1", "ann", "ok")
    assert login(client, "ann", PASSWORD).status_code == 302


def test_an_instructor_may_not_unlock(client: Any, make_user: Any, teach: Any) -> None:
    ann = make_user("ann", "student", PASSWORD)
    for i in range(5):
        login(client, "ann", f"guess-{i}")
    ivy = Client()
    ivy.force_login(teach(make_user("ivy", "instructor"), ann).instructors.get())
    assert ivy.post(f"/users/{ann.pk}/unlock/").status_code == 403
    assert login(client, "ann", PASSWORD).status_code == 429
    assert AuditEntry.objects.get(action="user.unlock").result == "error"


@pytest.mark.engine
def test_a_locked_out_user_still_reaches_the_api_with_a_token(
    client: Any, api_client: Any, make_user: Any, docker_client: Any
) -> None:
    ann = make_user("ann", "student", PASSWORD)
    for i in range(5):
        login(client, "ann", f"guess-{i}", addr="127.0.0.1")
    assert login(client, "ann", PASSWORD, addr="127.0.0.1").status_code == 429
    _, key = api_tokens.issue(ann, "script", "read-only", 1)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = api_client.get("/api/v1/engine/")
    assert response.status_code == 200 and "engine" in response.json()


@pytest.mark.engine
def test_the_running_server_locks_after_the_limit(tmp_path: Path) -> None:
    server = rig.start_live_server(
        tmp_path / "live",
        extra_env={"DOCKDASH_LOGIN_FAILURES": "3"},
        users={"ann": ("student", PASSWORD)},
    )
    try:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

        def post_login(password: str) -> tuple[int, str]:
            with opener.open(server.url + "/login/", timeout=10) as page:
                form = page.read().decode()
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
            assert token
            data = urllib.parse.urlencode(
                {"username": "ann", "password": password, "csrfmiddlewaretoken": token.group(1)}
            ).encode()
            try:
                with opener.open(server.url + "/login/", data=data, timeout=10) as answer:
                    return answer.status, answer.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()

        for i in range(3):
            post_login(f"guess-{i}")
        status, body = post_login(PASSWORD)
        assert status == 429 and "locked for 15 minutes" in body
        server.manage("axes_reset_username", "ann")
        status, body = post_login(PASSWORD)
        assert status == 200 and "Log out" in body  # followed the redirect to the engine page
    finally:
        server.stop()
