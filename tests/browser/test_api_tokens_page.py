"""In Chromium, at a laptop's 1440x900 and a projector's 1024x768: a person makes an API token
on their own page, reads its key once with a Copy button that copies it, the key opens the
API, and the page, opened again, lists the token (scope, expiry, last use) but not its key.
Screenshots in test-artifacts/."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests import rig
from tests.browser.conftest import PROJECTOR
from tests.conftest import screenshot
from tests.rig import RUN_ID

pytestmark = pytest.mark.browser


def fits_across(page: Any) -> bool:
    """Nothing scrolls sideways: neither the page nor the table of tokens."""
    return bool(
        page.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth && "
            "[...document.querySelectorAll('.table-scroll')]"
            ".every((box) => box.scrollWidth <= box.clientWidth)"
        )
    )


def test_a_new_token_is_shown_once_copied_and_then_only_listed(
    admin_page: Any, live_server_proc: rig.LiveServer
) -> None:
    base, page, name = live_server_proc.url, admin_page, f"deploy-{RUN_ID}"
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(base + "/")
    page.click(".usermenu >> text=API tokens")
    page.fill("input[name=name]", name)
    page.select_option("select[name=scope]", "read-write")
    page.fill("input[name=days]", "30")
    page.click("text=Create token")

    key = page.locator("#new-token-key").inner_text().strip()
    assert key.startswith("dd_")
    assert "only this once" in page.locator("#new-token .banner").inner_text()
    page.click("#new-token .copy-button")
    page.wait_for_selector("#new-token .copy-button:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == key
    assert fits_across(page)
    screenshot(page, "api-tokens-created-1440x900")
    page.set_viewport_size(PROJECTOR)
    assert fits_across(page)
    screenshot(page, "api-tokens-created-1024x768")

    request = urllib.request.Request(
        base + "/api/v1/tokens/", headers={"Authorization": f"Token {key}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the test server
        assert name in [t["name"] for t in json.load(answer)]

    page.goto(base + "/users/me/tokens/")
    assert page.locator("#new-token-key").count() == 0 and key not in page.content()
    row = page.locator("[data-tokens] tbody tr", has_text=name).inner_text()
    assert "read-write" in row and "from 127.0.0.1" in row and "active" in row
    assert fits_across(page)
    screenshot(page, "api-tokens-list-1024x768", full_page=True)
