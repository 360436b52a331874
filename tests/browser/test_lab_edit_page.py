"""In Chromium: an instructor edits a lab on the class page, is asked before removing it,
is told its containers must go first, removes them with the button the refusal offers,
and then removes the lab."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests import rig
from tests.conftest import field, login
from tests.rig import RUN_ID, docker_cli

pytestmark = pytest.mark.browser

PASSWORD = "lab-edit-pass-1"


def test_an_instructor_edits_a_lab_then_removes_it_once_its_containers_are_gone(
    browser_page: Any,
    live_server_proc: rig.LiveServer,
    make_container: Callable[..., Any],
    test_image: str,
) -> None:
    base, slug = live_server_proc.url, f"e{RUN_ID}"
    teacher, student = f"et{RUN_ID}", f"es{RUN_ID}"
    containers = [{"name": "box", "image": test_image, "command": ["sleep", "3600"]}]
    lab = {"name": "First lab", "slug": "lab1", "containers": containers}
    live_server_proc.make_class(slug, teacher, PASSWORD, [student], [lab])
    box = make_container(
        name=f"{slug}-lab1-{student}-box",
        labels={"dockdash.owner": student, "dockdash.class": slug, "dockdash.lab": "lab1"},
    )

    page = browser_page
    login(page, base, teacher, PASSWORD)
    page.goto(f"{base}/classes/{slug}/")
    row = page.locator('[data-lab-edit="lab1"]')
    row.locator("summary").click()
    shown = json.loads(row.locator("textarea").input_value())
    assert shown["name"] == "First lab" and shown["containers"] == containers
    row.locator("textarea").fill(json.dumps({**shown, "name": "First lab, edited"}))
    row.get_by_role("button", name="Save lab").click()
    page.wait_for_url(f"{base}/classes/{slug}/")
    assert "Lab lab1 saved." in page.locator(".messages").inner_text()
    assert "First lab, edited" in page.locator('[data-lab="lab1"]').inner_text()

    # Asked first: dismissed, nothing is sent.
    questions: list[str] = []
    page.once("dialog", lambda d: (questions.append(d.message), d.dismiss()))
    page.click("[data-remove-lab]")
    assert questions and "Remove lab lab1" in questions[0]
    assert page.locator('[data-lab="lab1"]').count() == 1

    # Accepted: refused while its container exists, with the way out next to it.
    page.once("dialog", lambda d: d.accept())
    page.click("[data-remove-lab]")
    page.wait_for_selector('[data-field="lab-row-error"]')
    assert "still has 1 container of 1 student" in field(page, "lab-row-error")
    page.once("dialog", lambda d: d.accept())
    page.click("[data-remove-lab-containers]")
    page.wait_for_url("**/jobs/*/")
    rig.wait_for(
        lambda: docker_cli("ps", "-aq", "--filter", f"id={box.id}") == "",
        timeout=60,
        what="the lab's container removed",
    )

    page.goto(f"{base}/classes/{slug}/")
    page.once("dialog", lambda d: d.accept())
    page.click("[data-remove-lab]")
    page.wait_for_selector("text=Lab lab1 removed.")
    assert page.locator("[data-lab]").count() == 0
    assert "No labs yet." in page.locator("[data-labs]").inner_text()
