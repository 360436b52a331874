"""In Chromium, an instructor and a student at once: the instructor's read-only mirror shows
what the student types, the student sees they are watched, the instructor cannot type
until taking over (and then the student sees who types); the student's lab logs merged.
Screenshots at 1024x768 in test-artifacts/."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests import rig
from tests.browser.xterm import TERM_HAS, type_line
from tests.conftest import login, screenshot
from tests.rig import RUN_ID, docker_cli

pytestmark = [pytest.mark.browser, pytest.mark.engine]

PASSWORD = "shoulder-pass-1"


def test_an_instructor_watches_a_students_terminal_and_takes_over(
    projector_tabs: Callable[[], Any],
    live_server_proc: rig.LiveServer,
    make_container: Any,
) -> None:
    base = live_server_proc.url
    teacher, student = f"bwi{RUN_ID}", f"bws{RUN_ID}"
    slug = f"bw{RUN_ID}"
    live_server_proc.make_class(slug, teacher, PASSWORD, [student])
    labels = {"dockdash.owner": student, "dockdash.class": slug, "dockdash.lab": "lab1"}
    shell = make_container(labels=labels, name=f"{student}-shell")
    ticker = "i=0; while true; do i=$((i+1)); echo web tick $i; sleep 1; done"
    make_container(["sh", "-c", ticker], labels=labels, name=f"{student}-web")
    student_page, teacher_page = projector_tabs(), projector_tabs()

    login(student_page, base, student, PASSWORD)
    student_page.goto(f"{base}/containers/{shell.id}/terminal/")
    student_page.wait_for_function(
        "() => document.querySelector('[data-status]').textContent.startsWith('Connected')"
    )
    type_line(student_page, "echo before-anyone-watched")
    student_page.wait_for_function(TERM_HAS, arg="before-anyone-watched")

    login(teacher_page, base, teacher, PASSWORD)
    teacher_page.goto(f"{base}/classes/{slug}/")
    teacher_page.click(f"tr[data-student='{student}'] [data-shoulder]")
    teacher_page.wait_for_function(
        "() => Number(document.getElementById('merged-logs').dataset.lines) >= 2"
    )
    screenshot(teacher_page, "shoulder-student-page")
    teacher_page.click("[data-sessions] [data-watch]")
    teacher_page.wait_for_url(lambda url: "/sessions/" in url)
    teacher_page.wait_for_function(TERM_HAS, arg="before-anyone-watched")

    # The student is told, live, who watches.
    banner = student_page.locator("[data-watched]")
    banner.wait_for(state="visible")
    assert teacher in banner.inner_text()
    type_line(student_page, "echo typed-while-watched")
    teacher_page.wait_for_function(TERM_HAS, arg="typed-while-watched")
    screenshot(student_page, "shoulder-student-watched")

    # Read only: the instructor's keys are refused, and reach neither shell nor screen.
    type_line(teacher_page, "touch /by-the-teacher")
    teacher_page.wait_for_function(
        "() => document.querySelector('[data-typist]').textContent.includes('take over')"
    )
    screenshot(teacher_page, "shoulder-mirror-read-only")
    type_line(student_page, "ls /")
    student_page.wait_for_function(TERM_HAS, arg="proc")
    assert "by-the-teacher" not in student_page.locator(".xterm-rows").inner_text()
    assert docker_cli("exec", shell.id, "ls", "/").split().count("by-the-teacher") == 0

    # Taking over: the student sees who types; the instructor's keys go in.
    teacher_page.click("[data-take]")
    student_page.wait_for_function(
        "(who) => document.querySelector('[data-watched]').textContent"
        ".includes(who + ' is typing')",
        arg=teacher,
    )
    teacher_page.locator("[data-release]").wait_for(state="visible")
    type_line(teacher_page, "touch /by-the-teacher; echo teacher-was-here")
    student_page.wait_for_function(TERM_HAS, arg="teacher-was-here")
    assert "by-the-teacher" in docker_cli("exec", shell.id, "ls", "/").split()
    screenshot(student_page, "shoulder-student-taken-over")
    screenshot(teacher_page, "shoulder-mirror-typing")

    # Released, then gone: the banner leaves with the instructor.
    teacher_page.click("[data-release]")
    teacher_page.locator("[data-take]").wait_for(state="visible")
    teacher_page.goto(f"{base}/classes/{slug}/")
    banner.wait_for(state="hidden")
