"""In Chromium, at 1024x768 and 1440x900: an instructor stops a class from its page and
watches the job's page under the class fill in live, a row per student, as each student's
containers stop; the navigation says Classes and the page leads back to the class and grid."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests import rig
from tests.conftest import login
from tests.rig import RUN_ID

pytestmark = pytest.mark.browser

PASSWORD = "job-page-pass-1"
QUICK = ("sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait")  # stops at once
SLOW_GRACE = 5  # seconds a slow container takes to end once told to stop
SLOW = ("sh", "-c", f"trap 'sleep {SLOW_GRACE}; exit 0' TERM; sleep 3600 & wait")
ROW = "#job-items tbody tr[data-item={name!r}]"
MIXED = """() => {{
  const state = (name) =>
    document.querySelector(`#job-items tr[data-item="${{name}}"]`)?.dataset.state;
  return state({quick!r}) === 'ok' && {slow!r}.every((name) => state(name) === 'working');
}}"""
DONE = "() => document.getElementById('job-state').dataset.state === 'succeeded'"
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


def test_a_class_job_fills_in_live_on_its_page_under_the_class(
    browser_page: Any, live_server_proc: rig.LiveServer, make_container: Callable[..., Any]
) -> None:
    base, slug, teacher = live_server_proc.url, f"k{RUN_ID}", f"kt{RUN_ID}"
    students = [f"k{c}{RUN_ID}" for c in "abc"]
    live_server_proc.make_class(slug, teacher, PASSWORD, students)
    boxes = {}
    for name in students:
        labels = {"dockdash.owner": name, "dockdash.class": slug, "dockdash.lab": "lab1"}
        boxes[name] = make_container(
            QUICK if name == students[0] else SLOW, name=f"{slug}-lab1-{name}-box", labels=labels
        ).name

    page = browser_page
    page.set_viewport_size({"width": 1024, "height": 768})
    login(page, base, teacher, PASSWORD)
    page.goto(f"{base}/classes/{slug}/")
    with page.expect_navigation():
        page.click('section[aria-label="class actions"] button:text("Stop all")')
    assert f"/classes/{slug}/jobs/" in page.url
    assert page.locator(".mainnav a.active").inner_text() == "Classes"

    # One student's container stops at once, the others take longer: the page
    # shows both at the same time, without a reload.
    page.wait_for_function(
        MIXED.format(quick=students[0], slow=students[1:]), timeout=SLOW_GRACE * 1000
    )
    assert page.locator("#job-state").inner_text() == "running"
    assert page.locator("#overall-text").inner_text() == "1 of 3 done"
    assert page.locator(ROW.format(name=students[0]) + " td:nth-child(3)").inner_text() == (
        f"stopped {boxes[students[0]]}"
    )
    assert page.evaluate(OVERFLOW) <= 0
    rig.ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(rig.ARTIFACTS / "class-job-1024x768.png"), full_page=True)

    page.wait_for_function(DONE, timeout=30_000)
    page.set_viewport_size({"width": 1440, "height": 900})
    assert page.locator("#overall-text").inner_text() == "3 of 3 done"
    for name in students:
        row = page.locator(ROW.format(name=name))
        assert row.locator("td:nth-child(2)").inner_text() == "done"
        assert row.locator("td:nth-child(3)").inner_text() == f"stopped {boxes[name]}"
        assert rig.docker_inspect(boxes[name])["State"]["Status"] == "exited"
    assert page.evaluate(OVERFLOW) <= 0
    page.screenshot(path=str(rig.ARTIFACTS / "class-job-1440x900.png"), full_page=True)

    assert page.locator("[data-class-link]").get_attribute("href") == f"/classes/{slug}/"
    page.click("[data-grid-link]")
    page.wait_for_url(f"**/classes/{slug}/grid/")
