"""In Chromium: the over-the-shoulder page lists the student's terminals live. The instructor
keeps the page open, unreloaded; the terminal the student opens appears on it within 2 s,
its Watch link opens the mirror of that terminal, and its row goes when the student closes
the tab. The class grid beside it marks the student's tile while the terminal is open."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests import rig
from tests.browser.class_grid import tiles_shown
from tests.browser.xterm import TERM_HAS, type_line
from tests.conftest import screenshot, send_login, signed_in
from tests.rig import RUN_ID

pytestmark = [pytest.mark.browser, pytest.mark.engine]

PASSWORD = "shoulder-live-pass-1"
MAKE_CLASS = """\
from dashboard.accounts import create_user
from dashboard.models import Course
course = Course.objects.create(name="Live shoulder", slug={slug!r})
course.instructors.add(create_user({teacher!r}, "instructor", {password!r})[0])
course.students.add(create_user({student!r}, "student", {password!r})[0])
"""
LIST_LIVE = "() => document.querySelector('#open-terminals [data-status]').dataset.state === 'live'"
ROWS = "#open-terminals tr[data-session]"
NO_ROWS = f"() => !document.querySelector('{ROWS}')"
CONNECTED = "() => document.querySelector('[data-status]').textContent.startsWith('Connected')"


def tile_mark(student: str) -> str:
    """The class grid's "terminal open" mark on `student`'s tile."""
    return f"[data-tiles] > li[data-student='{student}'] [data-terminals]"


def test_a_terminal_the_student_opens_appears_on_the_open_shoulder_page_and_goes_when_closed(
    projector_tabs: Callable[[], Any],
    live_server_proc: rig.LiveServer,
    make_container: Callable[..., Any],
) -> None:
    base, slug = live_server_proc.url, f"sl{RUN_ID}"
    teacher, student = f"slt{RUN_ID}", f"sls{RUN_ID}"
    made = MAKE_CLASS.format(slug=slug, teacher=teacher, student=student, password=PASSWORD)
    live_server_proc.manage("shell", "-c", made)
    box = make_container(labels={"dockdash.owner": student}, name=f"{student}-box")
    shoulder, desk = projector_tabs(), projector_tabs()
    send_login(shoulder, base, teacher, PASSWORD)
    send_login(desk, base, student, PASSWORD)
    signed_in(shoulder)
    signed_in(desk)

    shoulder.goto(f"{base}/classes/{slug}/students/{student}/")
    shoulder.wait_for_function(LIST_LIVE)
    assert "No terminal open" in shoulder.locator("#open-terminals").inner_text()
    shoulder.evaluate("() => { window.notReloaded = true; }")
    grid = shoulder.context.new_page()
    grid.goto(f"{base}/classes/{slug}/grid/")
    grid.wait_for_function(tiles_shown(1))
    assert grid.locator(tile_mark(student)).count() == 0

    desk.goto(f"{base}/containers/{box.id}/terminal/")
    desk.wait_for_function(CONNECTED)
    connected = time.monotonic()
    row = shoulder.locator(ROWS)
    row.wait_for(timeout=5_000)
    elapsed = time.monotonic() - connected
    assert elapsed <= 2.0, f"the terminal took {elapsed:.2f} s to be listed"
    assert row.count() == 1
    assert f"{student}-box" in row.inner_text() and student in row.inner_text()
    screenshot(shoulder, "shoulder-live-terminal-listed")
    assert grid.locator(tile_mark(student)).inner_text(timeout=5_000) == "terminal open"
    screenshot(grid, "shoulder-live-grid-mark")

    # Its Watch link, opened in a tab of its own, mirrors that terminal.
    type_line(desk, "echo wat''ched-$((6*7))")
    with shoulder.context.expect_page() as opened:
        row.locator("[data-watch]").click(modifiers=["ControlOrMeta"])
    mirror = opened.value
    mirror.wait_for_url("**/sessions/*/watch/")
    mirror.wait_for_function(TERM_HAS, arg="watched-42")

    # The student closes the tab: the row goes, and the page was never reloaded.
    desk.close()
    shoulder.wait_for_function(NO_ROWS, timeout=5_000)
    assert "No terminal open" in shoulder.locator("#open-terminals").inner_text()
    assert shoulder.evaluate("() => window.notReloaded") is True
    grid.locator(tile_mark(student)).wait_for(state="detached", timeout=5_000)
