"""API tokens through their URLs: made on one's own page (the key shown once) or through the
API, used as `Authorization: Token <key>`, refused when expired, revoked or (read-only) asked
to change something, kept only as a hash, audited once per new address, and nobody's but
their owner's (admins revoke anyone's on the user's page)."""

from __future__ import annotations

import hashlib
import http.client
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from dashboard import api_tokens
from dashboard.models import ApiToken, AuditEntry
from tests import rig
from tests.integration.registry_helpers import Dashboard
from tests.rig import RUN_ID

pytestmark = pytest.mark.django_db
TOKENS = "/api/v1/tokens/"
SCRIPT, NIGHTLY = f"script-{RUN_ID}", f"nightly-{RUN_ID}"  # on a server other tests share
KEY = re.compile(r'<code class="secret" id="new-token-key">(dd_[^<]+)</code>')


@pytest.fixture
def ann(make_user: Any) -> Any:
    return make_user("ann", "student")


def page_of(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def with_key(key: str) -> APIClient:
    """An API client that sends `key` and nothing else (no session)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def token_row(html: str, token: ApiToken) -> str:
    found = re.search(rf'<tr data-token="{token.prefix}">(.*?)</tr>', html, re.S)
    assert found, f"no row of {token.prefix}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def test_a_token_made_on_the_page_is_shown_once_works_and_is_revoked(ann: Any) -> None:
    page = page_of(ann)
    made = page.post("/users/me/tokens/", {"name": "backup", "scope": "read-write", "days": "30"})
    assert made.status_code == 200 and "no-store" in made["Cache-Control"]
    key = KEY.findall(made.content.decode())
    assert len(key) == 1 and "shown <strong>only this once</strong>" in made.content.decode()
    token = ApiToken.objects.get(owner=ann)
    assert (token.name, token.scope) == ("backup", "read-write")
    assert timedelta(days=29, hours=23) < token.expires - timezone.now() <= timedelta(days=30)

    listed = page.get("/users/me/tokens/").content.decode()
    assert key[0] not in listed and "new-token-key" not in listed
    assert token_row(listed, token) == (
        f"backup made {timezone.localtime(token.created):%Y-%m-%d} dd_{token.prefix}_… read-write "
        f"{timezone.localtime(token.expires):%Y-%m-%d} never active Revoke"
    )

    answer = with_key(key[0]).get(TOKENS, REMOTE_ADDR="10.0.0.7")
    assert answer.status_code == 200 and [t["name"] for t in answer.json()] == ["backup"]
    assert "key" not in answer.json()[0] and "secret_hash" not in answer.json()[0]
    assert "from 10.0.0.7" in token_row(page.get("/users/me/tokens/").content.decode(), token)

    revoked = page.post(f"/users/tokens/{token.pk}/revoke/", follow=True)
    assert revoked.redirect_chain[-1][0] == "/users/me/tokens/"
    assert "revoked" in token_row(revoked.content.decode(), token)
    refused = with_key(key[0]).get(TOKENS)
    assert refused.status_code == 401
    assert refused.json()["error"].startswith("This token was revoked on ")
    assert refused["WWW-Authenticate"] == "Token"
    rows = AuditEntry.objects.filter(action__startswith="token.").order_by("id")
    assert [(r.action, r.username, r.target_name, r.result) for r in rows] == [
        ("token.create", "ann", "backup", "ok"),
        ("token.new_address", "ann", "backup", "ok"),
        ("token.revoke", "ann", "backup", "ok"),
    ]
    assert rows[0].params == api_tokens.described(token)
    assert key[0] not in str([r.params for r in rows])


def test_a_bad_lifetime_or_no_name_is_refused_in_words(ann: Any, settings: Any) -> None:
    settings.API_TOKEN_MAX_DAYS = 120
    page = page_of(ann).post(
        "/users/me/tokens/", {"name": "x", "scope": "read-only", "days": "121"}
    )
    assert page.status_code == 400
    assert "A token lasts from 1 to 120 days, not 121." in page.content.decode()
    api = APIClient()
    api.force_authenticate(ann)
    answer = api.post(TOKENS, {"name": "x", "days": 121}, format="json")
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "days: A token lasts from 1 to 120 days, not 121.",
        "field": "days",
    }
    assert api.post(TOKENS, {"days": 5}, format="json").json()["field"] == "name"
    assert not ApiToken.objects.exists()


def test_an_expired_token_is_refused_saying_so(ann: Any) -> None:
    token, key = api_tokens.issue(ann, "old", "read-only", 1)
    ApiToken.objects.filter(pk=token.pk).update(expires=timezone.now() - timedelta(seconds=1))
    answer = with_key(key).get("/api/v1/audit/")
    assert answer.status_code == 401
    assert "This token expired on " in answer.json()["error"]


def test_unknown_and_old_style_keys_and_deactivated_owners_are_refused(ann: Any) -> None:
    _, key = api_tokens.issue(ann, "k", "read-only", 1)
    assert with_key(key[:-1] + ("A" if key[-1] != "A" else "B")).get(TOKENS).json() == {
        "error": "Invalid token."
    }
    assert with_key("").get(TOKENS).status_code == 401  # "Token" and no key
    old_style = with_key("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b").get(TOKENS)
    assert old_style.status_code == 401 and "start with dd_" in old_style.json()["error"]
    ann.is_active = False
    ann.save()
    assert with_key(key).get(TOKENS).json() == {"error": "This token's account is deactivated."}


def test_a_read_only_token_reads_but_may_not_post_or_delete(ann: Any) -> None:
    token, key = api_tokens.issue(ann, "reader", "read-only", 10)
    client = with_key(key)
    assert client.get(TOKENS).status_code == 200
    refused = client.post(TOKENS, {"name": "more"}, format="json")
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "This token is read-only: it may read (GET) but not POST. "
        "Use a read-write token to change things."
    }
    assert client.delete(f"{TOKENS}{token.pk}/").status_code == 403
    assert list(ApiToken.objects.values_list("name", "revoked")) == [("reader", None)]


def test_a_read_write_token_makes_tokens_that_do_not_outlive_it(ann: Any) -> None:
    parent, key = api_tokens.issue(ann, "ci", "read-write", 7)
    made = with_key(key).post(TOKENS, {"name": "child", "scope": "read-write", "days": 90})
    assert made.status_code == 201 and "no-store" in made["Cache-Control"]
    body = made.json()
    child = ApiToken.objects.get(pk=body["id"])
    assert child.expires == parent.expires and body["state"] == "active"
    assert with_key(body["key"]).get(TOKENS).status_code == 200
    row = AuditEntry.objects.get(action="token.create")
    assert row.params["made_with"] == parent.prefix
    assert with_key(key).delete(f"{TOKENS}{child.pk}/").status_code == 204
    assert with_key(body["key"]).get(TOKENS).status_code == 401


def test_a_user_can_neither_list_nor_revoke_anothers_token(ann: Any, make_user: Any) -> None:
    bob = make_user("bob", "student")
    bobs, _ = api_tokens.issue(bob, "bobs", "read-write", 10)
    _, key = api_tokens.issue(ann, "anns", "read-write", 10)
    assert [t["name"] for t in with_key(key).get(TOKENS).json()] == ["anns"]
    deleted = with_key(key).delete(f"{TOKENS}{bobs.pk}/")
    assert deleted.status_code == 404 and deleted.json() == {"error": f"No such token: {bobs.pk}"}
    assert page_of(ann).post(f"/users/tokens/{bobs.pk}/revoke/").status_code == 404
    assert "bobs" not in page_of(ann).get("/users/me/tokens/").content.decode()
    assert ApiToken.objects.get(pk=bobs.pk).revoked is None
    refused = AuditEntry.objects.filter(action="token.revoke")
    assert [(r.username, r.result, r.target_id) for r in refused] == [
        ("ann", "error", str(bobs.pk))
    ] * 2


def test_an_admin_sees_and_revokes_a_users_tokens_on_their_page(
    admin_client: Any, ann: Any, make_user: Any, teach: Any
) -> None:
    token, _ = api_tokens.issue(ann, "anns laptop", "read-only", 10)
    shown = admin_client.get(f"/users/{ann.pk}/").content.decode()
    assert "anns laptop" in token_row(shown, token)
    revoked = admin_client.post(f"/users/tokens/{token.pk}/revoke/", follow=True)
    assert revoked.redirect_chain[-1][0] == f"/users/{ann.pk}/"
    assert "revoked" in token_row(revoked.content.decode(), token)
    row = AuditEntry.objects.get(action="token.revoke")
    assert (row.username, row.params["owner"], row.result) == ("admin1", "ann", "ok")
    # An instructor manages their students' accounts, but not their tokens.
    ivy = make_user("ivy", "instructor")
    teach(ivy, ann)
    again, _ = api_tokens.issue(ann, "anns desktop", "read-only", 10)
    assert "anns desktop" not in page_of(ivy).get(f"/users/{ann.pk}/").content.decode()
    assert page_of(ivy).post(f"/users/tokens/{again.pk}/revoke/").status_code == 404


def test_each_new_address_is_audited_once_and_last_use_is_saved_cheaply(ann: Any) -> None:
    token, key = api_tokens.issue(ann, "roaming", "read-only", 10)
    client = with_key(key)

    def use(addr: str) -> ApiToken:
        assert client.get(TOKENS, REMOTE_ADDR=addr).status_code == 200
        return ApiToken.objects.get(pk=token.pk)

    first = use("10.0.0.1")
    assert use("10.0.0.1").last_used == first.last_used  # within the minute: no write
    moved = use("10.0.0.2")
    assert (moved.last_used_addr, moved.last_used > first.last_used) == ("10.0.0.2", True)
    use("10.0.0.1")
    ApiToken.objects.filter(pk=token.pk).update(last_used=timezone.now() - timedelta(minutes=2))
    assert use("10.0.0.1").last_used > timezone.now() - timedelta(seconds=30)
    rows = AuditEntry.objects.filter(action="token.new_address").order_by("id")
    assert [(r.username, r.client_addr, r.params["address"]) for r in rows] == [
        ("ann", "10.0.0.1", "10.0.0.1"),
        ("ann", "10.0.0.2", "10.0.0.2"),
    ]


def test_the_session_still_opens_the_api_without_a_token(ann: Any) -> None:
    page = page_of(ann)
    made = page.post(TOKENS, {"name": "from the browser"}, content_type="application/json")
    assert made.status_code == 201 and made.json()["scope"] == "read-only"
    assert made.json()["expires"] and made.json()["key"].startswith("dd_")


def test_manage_token_create_prints_a_working_key(ann: Any, capsys: Any) -> None:
    from django.core.management import call_command

    call_command("token", "create", "ann", "--scope", "read-write", "--days", "2")
    key = capsys.readouterr().out.strip()
    assert with_key(key).post(TOKENS, {"name": "x"}, format="json").status_code == 201


# ---------------------------------------------------------------- a real server, over the wire


@pytest.fixture(scope="module")
def live(live_server_proc: rig.LiveServer) -> Dashboard:
    """The running dashboard, its admin holding a read-write token made by `manage.py token`."""
    made = live_server_proc.manage(
        "token", "create", "admin", "--name", SCRIPT, "--scope", "read-write"
    )
    return Dashboard(live_server_proc, {"admin": made.strip()}, {})


def over_the_wire(
    live: Dashboard, key: str, method: str, path: str, body: Any = None, source: str = "127.0.0.1"
) -> tuple[int, Any]:
    """`method path` to the live server with `key`, sent from the loopback address `source`."""
    host, port = live.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
    headers = {"Authorization": f"Token {key}", "Content-Type": "application/json"}
    try:
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read() or b"null")
    finally:
        conn.close()


def test_over_the_wire_keys_are_kept_only_as_hashes_and_each_address_audited_once(
    live: Dashboard,
) -> None:
    key = live.tokens["admin"]
    status, made = over_the_wire(live, key, "POST", TOKENS, {"name": NIGHTLY, "days": 3})
    assert status == 201, made
    for source in ("127.0.0.2", "127.0.0.2", "127.0.0.1", "127.0.0.2"):
        assert over_the_wire(live, made["key"], "GET", TOKENS, source=source)[0] == 200
    stored = live.db_bytes()
    for raw in (key, made["key"]):
        assert raw.encode() not in stored
        assert hashlib.sha256(raw.encode()).hexdigest().encode() in stored
    assert live.db_rows(
        "SELECT username, client_addr, target_name FROM dashboard_auditentry "
        "WHERE action = 'token.new_address' AND target_name IN (?, ?) ORDER BY id",
        SCRIPT,
        NIGHTLY,
    ) == [
        ("admin", "127.0.0.1", SCRIPT),
        ("admin", "127.0.0.2", NIGHTLY),
        ("admin", "127.0.0.1", NIGHTLY),
    ]
    status, refused = over_the_wire(live, made["key"], "DELETE", f"{TOKENS}{made['id']}/")
    assert status == 403 and "read-only" in refused["error"]  # made read-only by default
    assert over_the_wire(live, key, "DELETE", f"{TOKENS}{made['id']}/") == (204, None)
    status, refused = over_the_wire(live, made["key"], "GET", TOKENS)
    assert status == 401 and refused["error"].startswith("This token was revoked on ")
