"""Alerts through a real daphne server and the real engine: a container that runs out of
memory, one in a restart loop and a CPU burner held at its limit each raise their alert;
each reaches the class's webhook (a server on loopback) once, however many ticks it fires,
and the instructor's mailbox (a real SMTP server) once; a webhook that answers 500 is
tried three times and its failure shows on the alerts page; the causes ending resolves
them; a student at their quota is told; a student sees only their own alerts; students may
not acknowledge, instructors do.

Windows are short (3 s of CPU, an OOM alert clears 4 s after the kill) so the module runs
in seconds.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests import rig
from tests.integration.live_helpers import login_cookie
from tests.rig import LABELS, RUN_ID, docker_cli, wait_for

pytestmark = [pytest.mark.engine]

PASSWORD = "alerts-pass-1"
QUOTA_OF_ONE = """\
from dashboard.models import Quota, User
Quota.objects.create(user=User.objects.get(username={!r}), max_running=1)
"""
SLUG = f"al{RUN_ID}"
TEACHER, S1, S2 = f"alt{RUN_ID}", f"al1{RUN_ID}", f"al2{RUN_ID}"


class Hooks(BaseHTTPRequestHandler):
    """Records each POST; /broken answers 500."""

    received: list[tuple[str, dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.path, json.loads(body)))
        self.send_response(500 if self.path == "/broken" else 200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture(scope="module")
def hooks() -> Iterator[str]:
    Hooks.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=rig.free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, mailbox: tuple[Mailbox, int]
) -> Iterator[rig.LiveServer]:
    workdir = tmp_path_factory.mktemp("alerts")
    env = {
        "DOCKDASH_ALERTS": "1",
        "DOCKDASH_LOCK_DIR": str(workdir / "locks"),  # its own alert lock
        "DOCKDASH_ALERT_CPU_SECONDS": "3",
        "DOCKDASH_ALERT_OOM_CLEAR_SECONDS": "4",
        "DOCKDASH_ALERT_RETRY_SECONDS": "0.2",
        "DOCKDASH_EMAIL_HOST": "127.0.0.1",
        "DOCKDASH_ALERT_WEBHOOK_PRIVATE_HOSTS": "127.0.0.1",  # the webhooks on loopback
        "DOCKDASH_EMAIL_PORT": str(mailbox[1]),
    }
    with rig.live_server_with_users(workdir, {"admin": "admin"}, PASSWORD, extra_env=env) as live:
        live.make_class(SLUG, TEACHER, PASSWORD, students=[S1, S2])
        live.manage("shell", "-c", QUOTA_OF_ONE.format(S2))
        yield live


@pytest.fixture(scope="module")
def cookies(server: rig.LiveServer) -> dict[str, str]:
    return {name: login_cookie(server.url, name, PASSWORD) for name in (TEACHER, S1, S2)}


def call(
    server: rig.LiveServer, cookie: str, path: str, form: dict[str, str] | None = None
) -> tuple[int, str]:
    """GET `path`, or POST `form` to it as a page's form does (with the CSRF token)."""
    headers = {"Cookie": cookie, "Referer": server.url + "/"}
    data = None
    if form is not None:
        token = re.search(r"csrftoken=([^;]+)", cookie)
        assert token, "no CSRF cookie"
        headers["X-CSRFToken"] = token.group(1)
        data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(server.url + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def alerts_of(server: rig.LiveServer, cookie: str, query: str = "state=all") -> list[dict]:
    status, body = call(server, cookie, f"/api/v1/alerts/?{query}")
    assert status == 200, body
    return json.loads(body)


def run(name: str, owner: str, *args: str) -> str:
    labels = [f"--label={k}={v}" for k, v in LABELS.items()]
    labels += [f"--label=dockdash.owner={owner}", f"--label=dockdash.class={SLUG}"]
    return docker_cli("run", "-d", "--name", name, *labels, *args).strip()


@pytest.fixture(scope="module")
def troubled(
    server: rig.LiveServer, cookies: dict[str, str], hooks: str, test_image: str
) -> Iterator[dict[str, str]]:
    """The notification addresses, then three containers in trouble, started together."""
    teacher = cookies[TEACHER]
    for form in (
        {"channel": "webhook", "address": f"{hooks}/class", "course": SLUG},
        {"channel": "webhook", "address": f"{hooks}/broken"},
        {"channel": "email", "address": "teacher@school.test"},
    ):
        status, _ = call(server, teacher, "/alerts/targets/", form)
        assert status == 200  # back on the alerts page
    names = {k: f"al-{k}-{RUN_ID}" for k in ("oom", "loop", "cpu")}
    started = time.time()
    ids = {
        "oom": run(
            names["oom"],
            S1,
            "-m",
            "16m",
            "--memory-swap",
            "16m",
            "--stop-signal",
            "KILL",
            test_image,
            "sh",
            "-c",
            "sleep 1; head -c 64m /dev/zero | tail; exec sleep 600",
        ),
        "loop": run(names["loop"], S2, "--restart", "always", test_image, "sh", "-c", "exit 3"),
        "cpu": run(
            names["cpu"],
            S1,
            "--cpus",
            "0.2",
            "--stop-signal",
            "KILL",
            test_image,
            "sh",
            "-c",
            "while :; do :; done",
        ),
    }
    yield {**ids, "started": str(started)}
    docker_cli("rm", "-f", *names.values())


def until(check: Any, what: str, timeout: float = 20) -> Any:
    return wait_for(check, timeout=timeout, interval=0.25, what=what)


def firing(server: rig.LiveServer, cookie: str, kind: str, container: str) -> dict | None:
    for a in alerts_of(server, cookie):
        if a["kind"] == kind and a["container"] == container:
            return a
    return None


def test_each_trouble_raises_its_alert_notified_once(
    server: rig.LiveServer,
    cookies: dict[str, str],
    troubled: dict[str, str],
    mailbox: tuple[Mailbox, int],
) -> None:
    teacher = cookies[TEACHER]
    found = {}
    for kind, key in (("oom", "oom"), ("restart_loop", "loop"), ("cpu_pinned", "cpu")):
        found[key] = until(
            lambda kind=kind, key=key: firing(server, teacher, kind, troubled[key]),
            f"a {kind} alert",
        )
        assert found[key]["class"] == SLUG
    # The OOM kill happens a second after the start: its alert within 3 s of it.
    oom_kill = float(troubled["started"]) + 1
    assert found["oom"]["started"] - oom_kill < 3, found["oom"]
    assert found["oom"]["owner"] == S1 and found["loop"]["owner"] == S2

    ids = {a["id"] for a in found.values()}
    # Once each to the class's webhook, and in the teacher's mailbox; not once per tick.
    until(lambda: ids <= {b["alert"]["id"] for p, b in Hooks.received if p == "/class"}, "webhooks")
    until(lambda: len(mailbox[0].messages) >= 3, "three emails")
    time.sleep(2)  # more ticks: they fire on, and nothing is sent again
    # (The OOM container may also have been near its memory limit, or exited: alerts too.)
    to_class = [b["alert"]["id"] for p, b in Hooks.received if p == "/class"]
    assert ids <= set(to_class) and len(to_class) == len(set(to_class)), to_class
    subjects = [m["Subject"] for m in mailbox[0].messages]
    assert len(subjects) == len(set(subjects)), subjects
    for title, name in (("Out of memory", "oom"), ("Restart loop", "loop"), ("CPU pinned", "cpu")):
        assert any(s.startswith(f"dockdash: {title}") and name in s for s in subjects), subjects
    slack = next(b for p, b in Hooks.received if p == "/class")
    assert slack["text"].startswith("*dockdash: ")  # what Slack's incoming webhooks show

    # The broken webhook: three tries, and the page says so.
    until(lambda: sum(p == "/broken" for p, _ in Hooks.received) >= 9, "retries")
    _, page = call(server, teacher, "/alerts/")
    assert "failed after 3 tries" in page and "HTTP 500" in page


def test_a_student_sees_only_their_own_and_may_not_acknowledge(
    server: rig.LiveServer, cookies: dict[str, str], troubled: dict[str, str]
) -> None:
    until(lambda: firing(server, cookies[S2], "restart_loop", troubled["loop"]), "loop")
    # Its one running container (a restarting one holds its memory: it counts) fills S2's
    # quota of one.
    quota = until(
        lambda: [a for a in alerts_of(server, cookies[S2]) if a["kind"] == "quota"], "quota"
    )
    assert quota[0]["summary"] == "Running containers: 1 of 1." and quota[0]["container"] == ""
    mine = alerts_of(server, cookies[S2])
    assert {a["owner"] for a in mine} == {S2}
    assert all("notifications" not in a for a in mine)  # the teacher's addresses stay hers
    theirs = {a["owner"] for a in alerts_of(server, cookies[S1])}
    assert theirs == {S1}
    loop = firing(server, cookies[S2], "restart_loop", troubled["loop"])
    assert loop is not None
    status, body = call(server, cookies[S2], f"/api/v1/alerts/{loop['id']}/ack/", {})
    assert status == 403 and "may not acknowledge" in body
    other = firing(server, cookies[TEACHER], "oom", troubled["oom"])
    assert other is not None
    status, _ = call(server, cookies[S2], f"/api/v1/alerts/{other['id']}/ack/", {})
    assert status == 404  # not theirs: not there


def test_the_instructor_acknowledges(
    server: rig.LiveServer, cookies: dict[str, str], troubled: dict[str, str]
) -> None:
    teacher = cookies[TEACHER]
    loop = until(lambda: firing(server, teacher, "restart_loop", troubled["loop"]), "loop")
    status, body = call(server, teacher, f"/api/v1/alerts/{loop['id']}/ack/", {})
    assert status == 200 and json.loads(body)["state"] == "acknowledged", body
    still = [a["id"] for a in alerts_of(server, teacher, "state=firing")]
    assert loop["id"] not in still
    assert firing(server, teacher, "restart_loop", troubled["loop"])["acknowledged_by"] == TEACHER
    status, body = call(server, teacher, "/api/v1/alerts/?state=bogus")
    assert status == 400 and "state must be one of" in body


def test_the_causes_ending_resolve_them(
    server: rig.LiveServer, cookies: dict[str, str], troubled: dict[str, str]
) -> None:
    teacher = cookies[TEACHER]
    for kind, key in (("oom", "oom"), ("cpu_pinned", "cpu"), ("restart_loop", "loop")):
        until(lambda kind=kind, key=key: firing(server, teacher, kind, troubled[key]), kind)
    docker_cli("stop", troubled["cpu"])  # its stop signal is KILL: at once
    docker_cli("rm", "-f", troubled["loop"])

    def states() -> dict[str, str]:
        return {
            key: (firing(server, teacher, kind, troubled[key]) or {}).get("state", "")
            for kind, key in (("oom", "oom"), ("cpu_pinned", "cpu"), ("restart_loop", "loop"))
        }

    # No kill since: the OOM alert clears after 4 s; the others as their cause goes.
    until(lambda: set(states().values()) == {"resolved"}, "all resolved")
    exits = [a for a in alerts_of(server, teacher) if a["kind"] == "exited"]
    assert troubled["cpu"] not in {a["container"] for a in exits}, "a requested stop is no error"
