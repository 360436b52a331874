"""Fixtures of the browser tests that several modules share."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests import rig
from tests.conftest import (
    ADMIN_PASSWORD,
    load_again_if_cut,
    login,
    record_script_errors,
    screenshot_on_failure,
)

PROJECTOR = {"width": 1024, "height": 768}


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    """One Chromium for the browser tests, which run one after the other (on one worker when
    the suite runs in parallel), stopped after the last: Playwright's sync API holds an
    event loop on the main thread, where the other tests run theirs."""
    path = os.environ.get("DOCKDASH_CHROMIUM", "/usr/bin/chromium")
    if not shutil.which(path):
        rig.missing(f"{path} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=path,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_page(request: pytest.FixtureRequest, chromium: Any) -> Iterator[Any]:
    """A fresh browser tab with no session; screenshot saved if the test fails."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    record_script_errors(page)
    load_again_if_cut(page)
    yield page
    screenshot_on_failure(request, page)
    context.close()


@pytest.fixture(scope="package")
def admin_session(chromium: Any, live_server_proc: rig.LiveServer) -> list[dict[str, Any]]:
    """The cookies of one admin login on the live dashboard, through the real login form
    (a login costs seconds here: the password hash, then the landing page)."""
    context = chromium.new_context()
    login(context.new_page(), live_server_proc.url, "admin", ADMIN_PASSWORD)
    cookies: list[dict[str, Any]] = context.cookies()
    context.close()
    return cookies


@pytest.fixture
def admin_page(browser_page: Any, admin_session: list[dict[str, Any]]) -> Any:
    """A fresh tab (blank, its own storage) with the admin's session on the live dashboard."""
    browser_page.context.add_cookies(admin_session)
    return browser_page


@pytest.fixture
def projector_tabs(request: pytest.FixtureRequest, chromium: Any) -> Iterator[Callable[[], Any]]:
    """Opens a tab for one more person: a browser context of their own (a separate session)
    at a projector's 1024x768. Each tab saves a screenshot if the test fails."""
    pages: list[Any] = []

    def open_tab() -> Any:
        context = chromium.new_context(viewport=PROJECTOR)
        context.set_default_timeout(15_000)
        pages.append(context.new_page())
        record_script_errors(pages[-1])
        load_again_if_cut(pages[-1])
        return pages[-1]

    yield open_tab
    for number, page in enumerate(pages, 1):
        screenshot_on_failure(request, page, f"-tab{number}")
        page.context.close()
