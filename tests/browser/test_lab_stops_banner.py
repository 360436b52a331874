"""In Chromium, on a dashboard whose culler runs: a student working in their lab container's
terminal sees the banner of the lab's end come without a reload, counting down, and
extends from it, back on the terminal page with the banner gone and the extension in
the audit log; their instructor, on the same page, sees no banner."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests import rig
from tests.conftest import login
from tests.rig import RUN_ID

pytestmark = [pytest.mark.browser, pytest.mark.engine]

PASSWORD = "lab-stops-pass-1"
STUDENT, TEACHER = f"bls{RUN_ID}", f"blt{RUN_ID}"
SLUG = f"bl{RUN_ID}"
CONNECTED = "() => document.querySelector('[data-status]').textContent.startsWith('Connected')"
BANNER = "#lab-stops [data-field='cull-warning']"


@pytest.fixture(scope="module")
def culling_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rig.LiveServer]:
    """A dashboard that culls (every 0.5 s), warns a minute ahead and polls the banner each
    second; the student's class and lab made in its database."""
    workdir = tmp_path_factory.mktemp("lab-stops")
    env = {
        "DOCKDASH_CULL": "1",
        "DOCKDASH_CULL_INTERVAL": "0.5",
        "DOCKDASH_CULL_WARN_MINUTES": "1",
        "DOCKDASH_CULL_WARN_POLL": "1",
        "DOCKDASH_LOCK_DIR": str(workdir / "locks"),
    }
    lab = {"slug": "lab1", "name": "Lab 1", "containers": []}
    seat = (
        "from classes_app.models import LabSeat; from dashboard.models import Lab, User; "
        f"LabSeat.objects.create(lab=Lab.objects.get(course__slug='{SLUG}'), "
        f"student=User.objects.get(username='{STUDENT}'))"
    )
    commands = [
        rig.make_class_command(SLUG, TEACHER, PASSWORD, [STUDENT], [lab]),
        ["shell", "-c", seat],
    ]
    with rig.live_server_with_users(workdir, {}, PASSWORD, extra_env=env, commands=commands) as s:
        yield s


def _in_db(server: rig.LiveServer, code: str) -> str:
    """Run `code` in the server's database; answers the last line it printed."""
    lines = server.manage("shell", "-c", code).strip().splitlines()
    return lines[-1] if lines else ""


def _shot(page: Any, name: str) -> None:
    rig.ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(rig.ARTIFACTS / f"{name}.png"))


def test_a_student_sees_the_end_coming_on_the_terminal_page_and_extends_from_it(
    browser_page: Any, chromium: Any, culling_server: rig.LiveServer, make_container: Any
) -> None:
    base, student = culling_server.url, browser_page
    labels = {"dockdash.owner": STUDENT, "dockdash.class": SLUG, "dockdash.lab": "lab1"}
    shell = make_container(labels=labels, name=f"{SLUG}-lab1-{STUDENT}-shell")
    terminal = f"{base}/containers/{shell.id}/terminal/"

    login(student, base, STUDENT, PASSWORD)
    student.goto(terminal)
    student.wait_for_function(CONNECTED)
    assert student.locator("#lab-stops").is_hidden()  # no stop ahead yet
    student.evaluate("() => { window.loadedOnce = true; }")

    # The lab now ends in 65 s, within the warning's minute in 5: the banner comes by itself.
    _in_db(
        culling_server,
        "import datetime; from django.utils import timezone; from dashboard.models import Lab; "
        f"Lab.objects.filter(course__slug='{SLUG}')"
        ".update(ends_at=timezone.now() + datetime.timedelta(seconds=65))",
    )
    banner = student.locator(BANNER)
    banner.wait_for(state="visible", timeout=30_000)
    assert student.evaluate("() => window.loadedOnce === true"), "the page was reloaded"
    assert "This lab ends" in banner.inner_text() and "Lab 1" in banner.inner_text()
    countdown = banner.locator("time[data-countdown]")
    first = countdown.inner_text()
    minutes, seconds = (int(part) for part in first.split(":"))
    assert 0 < minutes * 60 + seconds <= 60, first
    student.wait_for_function(
        "(first) => document.querySelector('#lab-stops time').textContent !== first", arg=first
    )
    student.wait_for_function(CONNECTED)  # the terminal stayed open meanwhile
    _shot(student, "lab-stops-banner-terminal")

    # The instructor, on the same page at the same time: no banner of any kind.
    instructor = chromium.new_context()
    try:
        teacher = instructor.new_page()
        login(teacher, base, TEACHER, PASSWORD)
        teacher.goto(terminal)
        teacher.wait_for_function(CONNECTED)
        assert teacher.locator("#lab-stops").count() == 0
        assert teacher.locator("[data-field='cull-warning']").count() == 0
    finally:
        instructor.close()

    banner.locator("[data-action='extend']").click()
    student.wait_for_url(terminal)
    student.locator(".msg.success", has_text="Lab 1: 15 more minutes.").wait_for()
    assert student.locator("#lab-stops").is_hidden()
    assert student.locator(BANNER).count() == 0
    student.wait_for_function(CONNECTED)

    rows = _in_db(
        culling_server,
        "from dashboard.models import AuditEntry; "
        "print([(e.result, e.params) for e in AuditEntry.objects.filter(action='lab.extend')])",
    )
    assert rows == f"[('ok', {{'minutes': 15, 'student': '{STUDENT}'}})]"
