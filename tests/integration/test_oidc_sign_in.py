"""Signing in through an OpenID Connect provider, without a browser: the dashboard (Django's
test client) against a real provider (django-oauth-toolkit on loopback, tests/oidc_provider),
the person's side at the provider played with HTTP requests. The groups claim gives the role
and the classes at each sign-in; a locked name stays locked; and every failure (refused at
the provider, a stale state, the provider down) ends on the login page saying what happened."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from django.test import Client

from dashboard import accounts, oidc
from dashboard.envconf import env_oidc
from dashboard.models import AuditEntry, Course, Role, User
from tests import rig
from tests.oidc_provider import OidcProvider, start_provider

pytestmark = pytest.mark.django_db
NAME = "School account"
PEOPLE = [
    {
        "username": "alice",
        "password": "alice-at-school-1",
        "email": "alice@school.test",
        "groups": ["os101-students"],
    },
    {
        "username": "bob",
        "password": "bob-at-school-1",
        "email": "bob@school.test",
        "groups": ["dockdash-teachers", "os101-staff"],
    },
]
PASSWORDS = {person["username"]: person["password"] for person in PEOPLE}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    server = start_provider(tmp_path_factory.mktemp("oidc-provider"), PEOPLE)
    yield server
    server.stop()


def configure(settings: Any, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """The dashboard's settings as DOCKDASH_OIDC_* `env` makes them (see dashboard/settings.py)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key, value in env_oidc(tuple(Role.values)).items():
        setattr(settings, key, value)
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "dashboard.oidc.ProviderBackend",
    ]


@pytest.fixture
def signed_in_with(
    settings: Any, monkeypatch: pytest.MonkeyPatch, provider: OidcProvider
) -> OidcProvider:
    configure(
        settings,
        monkeypatch,
        {
            **provider.dashboard_env(NAME),
            "DOCKDASH_OIDC_ROLE_GROUPS": "instructor=dockdash-teachers",
        },
    )
    return provider


@pytest.fixture
def browser() -> Client:
    """The dashboard as a browser on 127.0.0.1 reaches it (the redirect URI the provider has)."""
    return Client(HTTP_HOST="127.0.0.1")


def start(browser: Client, next_url: str = "") -> str:
    """Click "Sign in with ...": the provider's authorization URL the dashboard sends us to."""
    answer = browser.get("/oidc/authenticate/", {"next": next_url} if next_url else {})
    assert answer.status_code == 302, answer.content[:500]
    return str(answer["Location"])


def sign_in_at_provider(authorize_url: str, username: str) -> str:
    """What the person does at the provider: its login form, then back; the dashboard URL the
    provider sends the browser back to."""
    with requests.Session() as at_provider:
        form = at_provider.get(authorize_url, timeout=10)
        assert "/login/" in form.url, form.url
        sent = at_provider.post(
            form.url,
            data={
                "csrfmiddlewaretoken": at_provider.cookies["provider_csrf"],
                "username": username,
                "password": PASSWORDS[username],
                "next": parse_qs(urlsplit(form.url).query)["next"][0],
            },
            allow_redirects=False,
            timeout=10,
        )
        assert sent.status_code == 302, sent.text[:500]
        back = at_provider.get(urljoin(form.url, sent.headers["Location"]), allow_redirects=False)
        assert back.status_code == 302, back.text[:500]
        return str(back.headers["Location"])


def come_back(browser: Client, callback_url: str) -> Any:
    parts = urlsplit(callback_url)
    assert parts.path == "/oidc/callback/", callback_url
    return browser.get(f"{parts.path}?{parts.query}")


def login_page_message(browser: Client, answer: Any) -> str:
    """Follow a redirect to the login page; the message it shows."""
    assert answer.status_code == 302 and answer["Location"].startswith("/login/"), answer
    page = browser.get(answer["Location"])
    assert page.status_code == 200
    body = page.content.decode()
    found = re.search(r'data-field="login-message">([^<]+)<', body)
    assert found, body[:3000]
    assert 'id="sign-in-with"' in body and 'id="id_username"' in body  # the login page
    return unescape(found.group(1))


def test_sign_in_makes_the_account_with_the_role_and_class_its_groups_say(
    signed_in_with: OidcProvider, browser: Client
) -> None:
    os101 = Course.objects.create(
        name="OS 101",
        slug="os101",
        directory_group="os101-students",
        directory_staff_group="os101-staff",
    )
    answer = come_back(browser, sign_in_at_provider(start(browser, "/containers/"), "alice"))
    assert (answer.status_code, answer["Location"]) == (302, "/containers/")
    alice = User.objects.get(username="alice")
    assert browser.session["_auth_user_id"] == str(alice.pk)
    assert (alice.role, alice.email, alice.has_usable_password()) == (
        Role.STUDENT,
        "alice@school.test",
        False,
    )
    assert list(os101.students.all()) == [alice]
    assert browser.get("/containers/").status_code == 200
    User.objects.filter(pk=alice.pk).update(is_active=False)  # an admin disables the account
    assert browser.get("/containers/")["Location"] == "/login/?next=/containers/"
    assert AuditEntry.objects.filter(action="login", username="alice").count() == 1
    made = AuditEntry.objects.get(action="user.create", target_name="alice")
    assert (made.username, made.params["source"]) == ("dockdash", "openid connect")

    teacher = Client(HTTP_HOST="127.0.0.1")
    come_back(teacher, sign_in_at_provider(start(teacher), "bob"))
    bob = User.objects.get(username="bob")
    assert bob.role == Role.INSTRUCTOR
    assert list(os101.instructors.all()) == [bob] and not os101.students.filter(pk=bob.pk)


def test_each_sign_in_sets_the_role_and_classes_again(
    signed_in_with: OidcProvider, browser: Client
) -> None:
    # Made by an earlier sign-in (no local password), by a name in other letters' case;
    # an admin has made it an instructor since.
    alice = accounts.create_user("Alice", "instructor", directory=True)[0]
    old = Course.objects.create(name="Old", slug="old", directory_group="old-students")
    hand_made = Course.objects.create(name="Hand made", slug="hand")
    hand_made.students.add(alice)  # a roster made by hand: not the directory's to change
    os101 = Course.objects.create(name="OS 101", slug="os101", directory_group="os101-students")
    old.students.add(alice)

    come_back(browser, sign_in_at_provider(start(browser), "alice"))
    assert browser.session["_auth_user_id"] == str(alice.pk)
    alice.refresh_from_db()
    assert alice.role == Role.STUDENT  # in none of the role groups
    assert list(alice.courses.order_by("slug")) == [hand_made, os101]
    assert AuditEntry.objects.filter(action="user.create").count() == 0


def test_a_name_locked_after_wrong_passwords_cannot_sign_in_through_the_provider(
    signed_in_with: OidcProvider, browser: Client
) -> None:
    for attempt in range(5):
        browser.post("/login/", {"username": "alice", "password": f"guess-{attempt}"})
    answer = come_back(browser, sign_in_at_provider(start(browser), "alice"))
    message = login_page_message(browser, answer)
    assert "Too many failed logins for alice" in message and "locked for 15 minutes" in message
    assert "_auth_user_id" not in browser.session
    refused = AuditEntry.objects.get(action="login_failed", params__source="openid connect")
    assert (refused.target_name, refused.result) == ("alice", "error")
    # Another name from the same address is not locked.
    other = come_back(browser, sign_in_at_provider(start(browser), "bob"))
    assert other.status_code == 302 and other["Location"] == "/"


def test_accounts_the_dashboard_refuses_are_told_why(
    signed_in_with: OidcProvider, browser: Client, settings: Any, make_user: Any
) -> None:
    def refusal(username: str) -> str:
        answer = come_back(browser, sign_in_at_provider(start(browser), username))
        return login_page_message(browser, answer)

    User.objects.filter(pk=accounts.create_user("alice", "student", directory=True)[0].pk).update(
        is_active=False
    )
    assert refusal("alice") == "The account alice is disabled; an admin can enable it."
    local = make_user("bob", "admin", "local-password-1")
    assert refusal("bob") == "bob is a local account: log in with its dockdash password."
    local.delete()
    settings.OIDC_CREATE_USER = False
    assert refusal("bob") == "bob has no dockdash account; an admin can make one."
    assert not User.objects.filter(username="bob").exists()
    settings.OIDC_USERNAME_CLAIM = "upn"
    assert refusal("bob").startswith(f"{NAME} did not say your username (no 'upn' claim)")
    assert "_auth_user_id" not in browser.session
    refused = AuditEntry.objects.filter(action="login_failed").order_by("pk")
    assert [row.target_name for row in refused] == ["alice", "bob", "bob"]


def test_a_refusal_at_the_provider_is_told_on_the_login_page(
    signed_in_with: OidcProvider, browser: Client
) -> None:
    state = parse_qs(urlsplit(start(browser, "/images/")).query)["state"][0]
    answer = browser.get(
        "/oidc/callback/",
        {"error": "access_denied", "error_description": "The person said no", "state": state},
    )
    assert answer["Location"] == "/login/?next=%2Fimages%2F"
    assert login_page_message(browser, answer) == f"{NAME} did not sign you in: The person said no"
    assert "_auth_user_id" not in browser.session


def test_a_stale_or_forged_state_is_refused_with_a_message(
    signed_in_with: OidcProvider, browser: Client
) -> None:
    callback = sign_in_at_provider(start(browser), "alice")
    forged = callback.replace("state=", "state=x")
    message = login_page_message(browser, come_back(browser, forged))
    assert "has expired, was used already or began in another browser" in message
    used_once = come_back(browser, callback)
    assert used_once["Location"] == "/"
    browser.logout()
    again = login_page_message(browser, come_back(browser, callback))
    assert "has expired, was used already" in again
    assert not User.objects.filter(username="alice", is_active=False).exists()


def test_a_provider_that_does_not_answer_is_told_on_the_login_page(
    settings: Any, monkeypatch: pytest.MonkeyPatch, browser: Client
) -> None:
    closed = f"http://127.0.0.1:{rig.free_port()}/realms/school"
    configure(
        settings,
        monkeypatch,
        {
            "DOCKDASH_OIDC_ISSUER": closed,
            "DOCKDASH_OIDC_CLIENT_ID": "dockdash",
            "DOCKDASH_OIDC_CLIENT_SECRET": "s",
            "DOCKDASH_OIDC_NAME": NAME,
        },
    )
    answer = browser.get("/oidc/authenticate/", {"next": "/volumes/"})
    assert answer["Location"] == "/login/?next=%2Fvolumes%2F"
    message = login_page_message(browser, answer)
    assert message.startswith(f"{NAME} cannot be reached ({closed})."), message
    assert message.endswith("Try again in a while, or log in with a password.")


def test_a_provider_that_stops_answering_during_a_sign_in_is_told_on_the_login_page(
    signed_in_with: OidcProvider, browser: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    callback = sign_in_at_provider(start(browser), "alice")
    # Its token endpoint goes away between the person's sign-in there and the code's exchange.
    found = oidc.provider()
    gone = f"http://127.0.0.1:{rig.free_port()}/o/token/"
    monkeypatch.setitem(oidc._discovered, found.issuer, replace(found, token_endpoint=gone))
    message = login_page_message(browser, come_back(browser, callback))
    assert message.startswith(f"{NAME} cannot be reached ({found.issuer})."), message
    assert not User.objects.filter(username="alice").exists()


def test_without_an_issuer_there_is_no_button_and_no_provider_pages(browser: Client) -> None:
    page = browser.get("/login/").content.decode()
    assert 'id="id_username"' in page and "Sign in with" not in page
    assert browser.get("/oidc/authenticate/").status_code == 404
    assert browser.get("/oidc/callback/?code=x&state=y").status_code == 404
