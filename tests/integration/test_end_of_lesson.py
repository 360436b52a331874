"""End of a lesson, on the real engine: idle lab containers culled, the end time, extensions,
and the lesson report, judged by the Docker CLI and the kernel's own CPU counters.

The culler runs as a server runs it (`culling.Loop`, the thread dashboard.asgi starts),
with the idle window and the check interval made seconds by settings.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from classes_app import culling
from classes_app.models import LabWatch
from dashboard.asgi import application
from dashboard.models import AuditEntry, Lab
from tests import rig
from tests.integration.live_helpers import session_headers
from tests.rig import LABELS, RUN_ID, docker_cli, logged_in, post_json

pytestmark = [pytest.mark.engine, pytest.mark.django_db(transaction=True)]

INTERVAL = 0.5  # seconds between the culler's checks
IDLE = 2.0  # seconds of quiet that make a lab container idle
# Processes that end on SIGTERM at once, so a stop takes no 10 s grace.
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
BURNER = ["sh", "-c", "trap 'exit 0' TERM; while :; do :; done"]
HOG = ["tail", "/dev/zero"]  # holds one endless line in memory: the OOM killer ends it
CPUACCT = Path("/sys/fs/cgroup/cpuacct/docker")  # this host: cgroup v1, cgroupfs


def _class(
    make_user: Callable[..., Any], teach: Callable[..., Any], tag: str, *students: str
) -> tuple[str, Any, Client]:
    """A class `tag`+run id taught by a new instructor: its slug, the course, their client."""
    teacher = make_user(f"t{tag}{RUN_ID}", "instructor")
    slug = f"{tag}{RUN_ID}"
    return slug, teach(teacher, *students, slug=slug), logged_in(teacher)


def _provisioned(client: Client, slug: str, lab: dict[str, Any]) -> dict[str, Any]:
    """Make the lab and every student's copy of it; answers the lab as the API gave it back."""
    made = post_json(client, f"/api/v1/classes/{slug}/labs/", {**lab, "labels": LABELS})
    assert made.status_code == 201, made.content
    answer = post_json(client, f"/api/v1/classes/{slug}/labs/{lab['slug']}/provision/", {})
    assert answer.status_code == 202, answer.content

    def finished() -> dict[str, Any] | None:
        job = client.get(f"/api/v1/jobs/{answer.json()['job']}/").json()
        return job if job["state"] != "running" else None

    job = rig.wait_for(finished, timeout=120, interval=0.3, what="the provision job")
    assert job["state"] == "succeeded", job["error"]
    return dict(made.json())


def _shell_lab(name: str, slug: str, image: str) -> dict[str, Any]:
    """A lab of one container, "shell", that sleeps (and stops at once when told to)."""
    shell = {"name": "shell", "image": image, "command": SLEEPER}
    return {"name": name, "slug": slug, "containers": [shell], "network": False}


def _state(name: str) -> dict[str, Any]:
    return json.loads(docker_cli("inspect", "--format", "{{json .State}}", name))


def _running(name: str) -> bool:
    return bool(_state(name)["Running"])


def _cpu_ns(name: str) -> int:
    """The kernel's CPU count of a running container (cpuacct.usage), the judge of the report."""
    cid = docker_cli("inspect", "--format", "{{.Id}}", name).strip()
    return int((CPUACCT / cid / "cpuacct.usage").read_text())


@contextmanager
def _culler(tmp_path: Path, **settings: Any) -> Iterator[None]:
    with override_settings(
        CULL_INTERVAL=INTERVAL, CULL_IDLE_SECONDS=IDLE, LOCK_DIR=tmp_path, **settings
    ):
        loop = culling.Loop().start()
        try:
            yield
        finally:
            loop.stop()


def _checked_after(name: str, moment: Any) -> bool:
    """The culler looked at container `name` after `moment` (its watch was written since)."""
    return LabWatch.objects.filter(name=name, last_seen__gt=moment).exists()


class _Terminal:
    """A terminal a student keeps open in a container: /ws/containers/{id}/exec/."""

    def __init__(self, user: Any, container: str):
        self.user, self.container = user, container
        self.opened, self.closing = threading.Event(), threading.Event()
        self.error = ""
        self.thread = threading.Thread(target=lambda: asyncio.run(self._hold()), daemon=True)

    async def _hold(self) -> None:
        path = f"/ws/containers/{self.container}/exec/"
        socket = WebsocketCommunicator(application, path, headers=await session_headers(self.user))
        connected, _ = await socket.connect(timeout=15)
        if not connected:
            self.error = "the terminal did not open"
        self.opened.set()
        while connected and not self.closing.is_set():
            await asyncio.sleep(0.05)
        await socket.disconnect()

    def __enter__(self) -> _Terminal:
        self.thread.start()
        assert self.opened.wait(20) and not self.error, self.error
        return self

    def __exit__(self, *exc: Any) -> None:
        self.closing.set()
        self.thread.join(20)


def _report(client: Client, slug: str) -> dict[str, dict[str, str]]:
    answer = client.get(f"/classes/{slug}/report/csv/")
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("text/csv")
    return {row["username"]: row for row in csv.DictReader(io.StringIO(answer.content.decode()))}


def test_culling_stops_an_idle_lab_container_not_a_busy_one_nor_one_with_a_terminal_open(
    make_user: Callable[..., Any], teach: Callable[..., Any], test_image: str, tmp_path: Path
) -> None:
    idle, watched = f"sa{RUN_ID}", f"sb{RUN_ID}"
    outsider = make_user(f"so{RUN_ID}", "student")
    slug, course, client = _class(make_user, teach, "cull", idle, watched)
    lab = {
        "name": "Lab 1",
        "slug": "lab1",
        "containers": [
            {"name": "idle", "image": test_image, "command": SLEEPER, "memory": "32m"},
            {"name": "burn", "image": test_image, "command": BURNER, "memory": "32m", "cpus": 0.5},
            {"name": "hog", "image": test_image, "command": HOG, "memory": "16m"},
        ],
        "network": False,
        "idle_minutes": 20,
    }
    _provisioned(client, slug, lab)
    name = {
        (who, c): f"{slug}-lab1-{who}-{c}"
        for who in (idle, watched)
        for c in ("idle", "burn", "hog")
    }
    # Each student's hog dies of the OOM killer before the culler starts (so it never runs
    # while watched): one OOM kill each in the report.
    for who in (idle, watched):
        rig.wait_for(
            lambda who=who: _state(name[who, "hog"])["OOMKilled"], timeout=30, what="an OOM kill"
        )
    # One refusal by the first student (another's container is not theirs to stop), and one
    # by someone outside the class, which the class's audit filter leaves out.
    students = {u.username: u for u in course.students.all()}
    refused = logged_in(students[idle]).post(f"/api/v1/containers/{name[watched, 'idle']}/stop/")
    assert refused.status_code == 404
    assert (
        logged_in(outsider).post(f"/api/v1/containers/{name[idle, 'idle']}/stop/").status_code
        == 404
    )

    with _Terminal(students[watched], name[watched, "idle"]):
        cpu_before = {who: _cpu_ns(name[who, "burn"]) for who in (idle, watched)}
        with _culler(tmp_path):
            rig.wait_for(
                lambda: not _running(name[idle, "idle"]), timeout=30, what="the idle one culled"
            )
            culled_at = timezone.now()
            # Well past the idle window, checked again: the others still run.
            later = culled_at + timedelta(seconds=IDLE + 2 * INTERVAL)
            rig.wait_for(
                lambda: all(
                    _checked_after(name[who, c], later)
                    for who, c in ((idle, "burn"), (watched, "idle"), (watched, "burn"))
                ),
                timeout=30,
                what="checks after the idle window",
            )
            for who, c in ((idle, "burn"), (watched, "idle"), (watched, "burn")):
                assert _running(name[who, c]), f"{name[who, c]} was stopped"
        cpu_used = {
            who: (_cpu_ns(name[who, "burn"]) - cpu_before[who]) / 1e9 for who in (idle, watched)
        }

    [cull] = AuditEntry.objects.filter(action="lab.cull")
    assert cull.target_name == name[idle, "idle"]
    assert (cull.username, cull.role, cull.user, cull.result) == ("dockdash", "system", None, "ok")
    assert cull.params == {"reason": "idle 2 s"}

    report = _report(client, slug)
    assert set(report) == {idle, watched}
    for who in (idle, watched):
        row = report[who]
        assert row["containers"] == "2"  # idle and burn; the hog never ran while watched
        # The burner's CPU between the culler's first and last check: the kernel's count
        # over the culler's whole run, less at most one interval at half a CPU.
        assert (
            cpu_used[who] - 0.5 * INTERVAL - 0.3 <= float(row["cpu_seconds"]) <= cpu_used[who] + 0.2
        )
        assert float(row["cpu_seconds"]) >= 0.1  # it burned for seconds (less on a busy host)
        assert 0 < int(row["peak_memory"]) <= 32 * 1024 * 1024
        assert row["oom_kills"] == "1"
    assert (report[idle]["refusals"], report[watched]["refusals"]) == ("1", "0")
    assert (report[idle]["terminal_sessions"], report[watched]["terminal_sessions"]) == ("0", "1")
    page = client.get(f"/classes/{slug}/report/")
    assert page.status_code == 200 and f'data-student="{watched}"' in page.content.decode()

    # The audit log filtered to the class: its students' rows and the cull, not the outsider's.
    rows = client.get("/api/v1/audit/", {"course": slug, "limit": 1000}).json()
    teacher = course.instructors.get().username
    assert {r["username"] for r in rows} >= {idle, watched, "dockdash", teacher}
    assert outsider.username not in {r["username"] for r in rows}
    assert client.get("/api/v1/audit/", {"course": "no-such-class"}).status_code == 400


def test_the_end_time_stops_the_lab_and_an_extension_postpones_it_within_the_maximum(
    make_user: Callable[..., Any], teach: Callable[..., Any], test_image: str, tmp_path: Path
) -> None:
    stays, leaves = f"sc{RUN_ID}", f"sd{RUN_ID}"
    slug, course, client = _class(make_user, teach, "end", stays, leaves)
    _provisioned(client, slug, _shell_lab("Lab 2", "lab2", test_image))
    ends_at = timezone.now() + timedelta(seconds=3)
    Lab.objects.filter(course=course).update(ends_at=ends_at)
    student = logged_in(course.students.get(username=stays))

    with override_settings(LAB_EXTEND_MAX_MINUTES=15):
        page = student.get("/labs/").content.decode()
        assert 'data-field="cull-warning"' in page and "This lab ends" in page
        assert student.post(f"/classes/{slug}/labs/lab2/extend/").status_code == 302
        again = student.post(f"/classes/{slug}/labs/lab2/extend/", follow=True).content.decode()
        assert "at most 15 min in all" in again
    extends = AuditEntry.objects.filter(action="lab.extend", username=stays).order_by("id")
    assert [(e.result, e.params["minutes"]) for e in extends] == [("ok", 15), ("error", 15)]
    # Extended past the warning's 5 minutes: no warning any more.
    assert "cull-warning" not in student.get("/labs/").content.decode()

    shell = {who: f"{slug}-lab2-{who}-shell" for who in (stays, leaves)}
    with _culler(tmp_path):
        rig.wait_for(lambda: not _running(shell[leaves]), timeout=30, what="the lab's end")
        after = timezone.now() + timedelta(seconds=2 * INTERVAL)
        rig.wait_for(lambda: _checked_after(shell[stays], after), timeout=30, what="a later check")
        assert _running(shell[stays]), "the extended lab was stopped"

    [cull] = AuditEntry.objects.filter(action="lab.cull")
    assert (cull.target_name, cull.username, cull.params) == (
        shell[leaves],
        "dockdash",
        {"reason": "lab ended"},
    )


def test_a_labs_own_extension_maximum_wins_and_a_refusal_over_it_says_what_is_left(
    make_user: Callable[..., Any], teach: Callable[..., Any], test_image: str
) -> None:
    who = f"se{RUN_ID}"
    slug, course, client = _class(make_user, teach, "max", who)
    body = _shell_lab("Lab 3", "lab3", test_image)
    for bad in (-1, "ten", True):
        refused = post_json(
            client, f"/api/v1/classes/{slug}/labs/", {**body, "extend_max_minutes": bad}
        )
        assert refused.status_code == 400, refused.content
        assert refused.json() == {
            "error": "extend_max_minutes is a whole number of minutes, at least 0.",
            "field": "extend_max_minutes",
        }
    assert not Lab.objects.filter(course=course).exists()
    made = _provisioned(client, slug, {**body, "extend_max_minutes": 20})
    assert made["extend_max_minutes"] == 20
    student = logged_in(course.students.get(username=who))

    # The setting allows more; the lab's own 20 minutes hold. Each extension is 15 (no idle
    # window), back to the page it was asked from when that is this site's.
    with override_settings(LAB_EXTEND_MAX_MINUTES=60):
        first = student.post(f"/classes/{slug}/labs/lab3/extend/", {"next": "/containers/?all=1"})
        assert (first.status_code, first["Location"]) == (302, "/containers/?all=1")
        second = student.post(
            f"/classes/{slug}/labs/lab3/extend/", {"next": "https://elsewhere.example/"}
        )
        assert (second.status_code, second["Location"]) == (302, "/labs/")
    page = student.get("/labs/").content.decode()
    assert (
        "This lab was already extended by 15 min; at most 20 min in all, so 5 min left "
        "(an extension is 15 min)." in page
    )
    extends = AuditEntry.objects.filter(action="lab.extend", username=who).order_by("id")
    assert [(e.result, e.params["minutes"]) for e in extends] == [("ok", 15), ("error", 15)]
    assert course.labs.get().seats.get(student__username=who).extended_minutes == 15


def _banner(client: Client, **headers: str) -> str:
    answer = client.get("/labs/stops/", headers=headers)
    assert answer.status_code == 200, answer.content
    return str(answer.content.decode())


def test_the_stops_banner_is_the_students_own_costs_two_queries_and_goes_with_the_container(
    make_user: Callable[..., Any], teach: Callable[..., Any], test_image: str, tmp_path: Path
) -> None:
    who = f"sf{RUN_ID}"
    slug, course, teacher = _class(make_user, teach, "warn", who)
    _provisioned(teacher, slug, _shell_lab("Lab 4", "lab4", test_image))
    shell = f"{slug}-lab4-{who}-shell"
    # Within the warning's 5 minutes, not so near that the culler stops it during the test.
    Lab.objects.filter(course=course).update(ends_at=timezone.now() + timedelta(minutes=3))
    student = logged_in(course.students.get(username=who))

    with _culler(tmp_path):
        started = timezone.now()
        rig.wait_for(lambda: _checked_after(shell, started), timeout=30, what="a check")
        terminal = f"http://testserver/containers/{shell}/terminal/"
        banner = _banner(student, HX_Current_URL=terminal)
        assert 'data-field="cull-warning"' in banner and "This lab ends" in banner
        assert f'name="next" value="{terminal}"' in banner
        # Every page has it for the student, none for the instructor.
        assert 'data-field="cull-warning"' in student.get("/containers/").content.decode()
        assert 'id="lab-stops"' not in teacher.get("/containers/").content.decode()
        assert "cull-warning" not in _banner(teacher)

        # Its cost: two queries more than the same answer to someone with no stops to read.
        with CaptureQueriesContext(connection) as for_student:
            _banner(student)
        with CaptureQueriesContext(connection) as for_teacher:
            _banner(teacher)
        assert len(for_student) - len(for_teacher) == 2, [q["sql"] for q in for_student]

        docker_cli("stop", "-t", "1", shell)
        rig.wait_for(
            lambda: "cull-warning" not in _banner(student),
            timeout=30,
            what="the banner gone with the container",
        )
    assert not _running(shell)
    assert not AuditEntry.objects.filter(action="lab.cull").exists()
