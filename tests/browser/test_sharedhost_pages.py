"""In Chromium: an instructor creates students from a pasted list, a new student logs in with
the password shown once and reads their usage, and the instructor finds both in the audit log."""

from __future__ import annotations

from typing import Any

import pytest

from tests import rig
from tests.conftest import login
from tests.rig import RUN_ID

pytestmark = pytest.mark.browser


def test_an_instructor_creates_students_who_log_in_and_everything_is_audited(
    chromium: Any, browser_page: Any, live_server_proc: rig.LiveServer
) -> None:
    base = live_server_proc.url
    live_server_proc.add_user(f"ivy{RUN_ID}", "instructor", "instructor-pass-1")
    page = browser_page
    login(page, base, f"ivy{RUN_ID}", "instructor-pass-1")
    page.click("nav.mainnav >> text=Users")
    names = [f"s{RUN_ID}a", f"s{RUN_ID}b"]
    page.fill("textarea[name=usernames]", f"{names[0]}\n{names[1]}\n{names[0]}")
    page.click("text=Create all")
    rows = page.locator("[data-created] tbody tr")
    assert rows.count() == 2
    first = rows.nth(0).locator("td")
    assert first.nth(0).inner_text() == names[0]
    password = first.nth(2).inner_text().strip()
    assert len(password) >= 12
    assert "only now" in page.locator(".banner").inner_text()

    student = chromium.new_context(viewport={"width": 1200, "height": 800}).new_page()
    try:
        login(student, base, names[0], password)
        nav = student.locator("nav.mainnav").inner_text()
        assert "Audit" not in nav and "Users" not in nav
        student.click(".usermenu a.who")
        assert student.locator("h1").inner_text().startswith("My usage")
        running = student.locator('[data-usage] tr[data-quota="max_running"]')
        assert running.locator("[data-used]").inner_text() == "0"
        assert running.locator("[data-limit]").inner_text() == "3"
        denied = student.goto(base + "/audit/")
        assert denied is not None and denied.status == 403
    finally:
        student.context.close()

    page.click("nav.mainnav >> text=Audit")
    page.fill("input[name=user]", names[0])
    page.click("text=Filter")
    actions = page.locator("tbody tr[data-action]")
    assert [actions.nth(i).get_attribute("data-action") for i in range(actions.count())] == [
        "login"
    ]
    page.goto(base + f"/audit/?action=user.create&target={names[1]}")
    row = page.locator("tbody tr[data-action]")
    assert row.count() == 1 and f"ivy{RUN_ID}" in row.inner_text()
