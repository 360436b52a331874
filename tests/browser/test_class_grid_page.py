"""In Chromium at a projector's 1024x768: an instructor watches the class grid sorted by load,
a student starts a burner capped at 0.5 CPU, and that student's tile rises to the top within
2 s; a click on the tile opens the student's containers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests import rig
from tests.browser.class_grid import on_top, tiles_shown
from tests.conftest import login, screenshot
from tests.rig import RUN_ID

pytestmark = pytest.mark.browser

PASSWORD = "grid-pass-1"
BURN = ("sh", "-c", "while :; do :; done")
MEASURE = """() => ({
  over: document.documentElement.scrollWidth - window.innerWidth,
  tilesOver: [...document.querySelectorAll('.grid-tile, .grid-meter')]
    .filter((el) => el.scrollWidth > el.clientWidth + 1).length,
  // A meter's bar ends before its figure begins (overlapped, a high figure is unreadable).
  barsOver: [...document.querySelectorAll('.grid-meter')].filter((m) =>
    m.querySelector('.bar').getBoundingClientRect().right
      > m.querySelector('.val').getBoundingClientRect().left).length,
  perRow: new Set([...document.querySelectorAll('.grid-tile')].map((el) => el.offsetTop)).size,
  order: [...document.querySelectorAll('[data-tiles] > li')].map((li) => li.dataset.student),
})"""


def test_a_burner_started_by_a_student_rises_to_the_top_of_the_grid_within_2s(
    projector_tabs: Callable[[], Any],
    live_server_proc: rig.LiveServer,
    make_container: Callable[..., Any],
) -> None:
    base, slug, teacher = live_server_proc.url, f"v{RUN_ID}", f"gv{RUN_ID}"
    students = [f"gv{c}{RUN_ID}" for c in "abcd"]
    live_server_proc.make_class(slug, teacher, PASSWORD, students)

    def lab_container(owner: str, name: str, *command: str, **kwargs: Any) -> Any:
        labels = {"dockdash.owner": owner, "dockdash.class": slug, "dockdash.lab": "lab1"}
        return make_container(
            command or ("sleep", "3600"),
            name=f"{slug}-lab1-{owner}-{name}",
            labels=labels,
            mem_limit="32m",
            pids_limit=100,  # a student's quotas ask for both limits
            **kwargs,
        )

    for name in students:
        lab_container(name, "shell")
    hot = students[2]
    burner = lab_container(hot, "burn", *BURN, start=False, nano_cpus=500_000_000)

    page = projector_tabs()
    login(page, base, teacher, PASSWORD)
    page.goto(f"{base}/classes/{slug}/")
    page.click("[data-grid-link]")
    page.wait_for_url(f"**/classes/{slug}/grid/")
    page.click('[data-sort="load"]')
    page.wait_for_function(tiles_shown(len(students)))
    # All idle (once the shells' start-up is behind them): in the order of their names.
    page.wait_for_function(on_top(students[0], -1))

    student = projector_tabs()
    login(student, base, hot, PASSWORD)
    student.goto(f"{base}/containers/{burner.id}/")
    with student.expect_navigation():
        student.click('button[data-action="start"]')
    answer = student.locator("main").inner_text()[:300]
    assert rig.docker_inspect(burner.id)["State"]["Running"] is True, answer
    started = time.monotonic()
    page.wait_for_function(on_top(hot, 20), timeout=10_000, polling=50)
    elapsed = time.monotonic() - started
    assert elapsed <= 2.0, f"the burner's tile took {elapsed:.2f} s to reach the top"

    tile = page.locator(f'[data-tiles] > li[data-student="{hot}"]')
    burn = tile.locator('[data-container="burn"]')
    assert burn.get_attribute("data-state") == "running"
    assert burn.locator("[data-cpu-limit]").inner_text() == "0.5 CPU"
    measured = page.evaluate(MEASURE)
    assert measured["over"] <= 0 and measured["tilesOver"] == 0, measured
    assert measured["barsOver"] == 0, measured
    assert measured["perRow"] == 1, measured  # four students: one row of four tiles
    assert sorted(measured["order"]) == students
    screenshot(page, "class-grid-1024x768")

    tile.locator("a").click()
    page.wait_for_url("**/containers/?*")
    listed = page.locator("tbody").inner_text()
    assert f"{slug}-lab1-{hot}-burn" in listed and f"{slug}-lab1-{students[0]}-shell" not in listed
