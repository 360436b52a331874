"""Signing in with the school's account in Chromium: the login page's button, the real
provider's own login form (django-oauth-toolkit on loopback), and back on the dashboard
signed in, a student of the class whose directory group the groups claim names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import rig
from tests.browser.conftest import PROJECTOR
from tests.conftest import screenshot
from tests.oidc_provider import OidcProvider, launch_provider

pytestmark = pytest.mark.browser
NAME = "School account"
ALICE = {
    "username": "alice",
    "password": "alice-at-school-1",
    "email": "alice@school.test",
    "groups": ["os101-students", "sports-club"],
}
MAKE_CLASS = """\
from dashboard.models import Course
course = Course.objects.create(name="OS 101", slug="os101", directory_group="os101-students")
course.labs.create(name="Shell basics", slug="shell")
"""


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    server = launch_provider(tmp_path_factory.mktemp("oidc-provider"), [ALICE])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory, provider: OidcProvider) -> Iterator[Any]:
    """The dashboard, started while the provider migrates (it asks the provider nothing
    before a sign-in)."""
    server = rig.start_live_server(
        Path(tmp_path_factory.mktemp("oidc-live")),
        extra_env={**provider.dashboard_env(NAME), "DOCKDASH_OIDC_ROLE_GROUPS": "admin=it-staff"},
        commands=[["shell", "-c", MAKE_CLASS]],
    )
    try:
        provider.wait_until_answering()
        yield server
    finally:
        server.stop()


def test_sign_in_with_the_school_account_lands_signed_in_as_a_student_of_the_class(
    browser_page: Any, dashboard: Any, provider: OidcProvider
) -> None:
    page = browser_page
    page.goto(dashboard.url + "/oidc/callback/?code=stale&state=stale")
    page.wait_for_url("**/login/")
    message = page.locator('[data-field="login-message"]')
    assert "has expired, was used already" in message.inner_text()
    page.set_viewport_size(PROJECTOR)
    screenshot(page, "oidc-login-error-1024x768")

    page.goto(dashboard.url + "/login/?next=/labs/")
    button = page.locator("#sign-in-with")
    assert button.inner_text() == f"Sign in with {NAME}"
    assert page.locator('[data-field="login-message"]').count() == 0  # shown once only
    screenshot(page, "oidc-login-1024x768")
    page.set_viewport_size({"width": 1440, "height": 900})
    screenshot(page, "oidc-login-1440x900")

    button.click()
    page.wait_for_url(provider.issuer.rsplit("/", 1)[0] + "/login/**")
    page.fill("#id_username", ALICE["username"])
    page.fill("#id_password", ALICE["password"])
    page.click("button[type=submit]")
    page.wait_for_url(dashboard.url + "/labs/")
    assert page.locator(".usermenu .who").text_content().split() == ["alice", "student"]
    lab = page.locator('[data-lab="os101/shell"] h2')
    assert lab.inner_text() == "Shell basics · OS 101"
