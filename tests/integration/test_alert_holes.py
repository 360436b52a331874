"""Alerts as a student, an instructor and a webhook would attack them, through a real daphne
server with the alert engine on and the real engine.

- A student writes another class's slug in their container's `dockdash.class` label (the
  policy lets anyone write it): the alert must not reach that class's addresses.
- An instructor's webhook at a host they may use (here one an admin allowed) answers with a
  redirect to loopback: it is not followed, as a webhook there would be refused: the
  dashboard never asks, nor echoes, what an internal address answers.
- An address the notifier cannot send to (a port that is a word) must not keep the alert
  from the other addresses; malformed addresses are refused with words, never a 500.
- An instructor taken off a class (by an admin, or by the directory's staff group) stops
  seeing its students' alerts: the class's addresses they added stop hearing of them too.
- Instructors read the whole audit log: the webhook URLs it keeps must be cut to their
  host as the alerts page cuts them (the URL is often the secret).

Each alert comes from a container that exits with an error code: it fires two seconds
after the exit, so the module runs in seconds.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests import rig
from tests.integration.live_helpers import login_cookie
from tests.rig import LABELS, MAKE_CLASS, RUN_ID, docker_cli, wait_for

pytestmark = [pytest.mark.engine]

PASSWORD = "alert-holes-pass-1"
SLUG_A, SLUG_B, SLUG_C = f"ha{RUN_ID}", f"hb{RUN_ID}", f"hc{RUN_ID}"
TA, TB, TC = f"hta{RUN_ID}", f"htb{RUN_ID}", f"htc{RUN_ID}"
S1, S2, S3 = f"hs1{RUN_ID}", f"hs2{RUN_ID}", f"hs3{RUN_ID}"
SECRET = "T00HOLES/B00HOLES/xoxSecretPart42"
LONG_LABEL = "a" * 64  # one DNS label longer than the 63 characters DNS allows: no name


class Recorder(BaseHTTPRequestHandler):
    """Records each request (method, path, JSON body); /redirect sends it on to `onward`."""

    onward = ""

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, json.loads(body) if body else None))  # type: ignore[attr-defined]
        if self.path == "/redirect" and self.onward:
            self.send_response(302)
            self.send_header("Location", self.onward)
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _record  # noqa: N815 - http.server's names

    def log_message(self, *args: Any) -> None:
        pass


def _serve(address: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((address, 0), Recorder)
    server.seen = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def host_address_on_the_bridge() -> str:
    """This host's address on Docker's bridge network: where the host answers its
    containers, and no loopback or link-local address."""
    subnet = docker_cli("network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}")
    network = ipaddress.ip_network(json.loads(subnet)[0]["Subnet"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((str(network[2]), 9))  # UDP: nothing is sent, a route is chosen
        return str(probe.getsockname()[0])


@pytest.fixture(scope="module")
def hooks() -> Iterator[dict[str, Any]]:
    """`hooks`: a receiver on loopback (the admin's addresses); `internal`: a service on
    loopback nobody but an admin may make the dashboard call; `outside`: a receiver on this
    host's address on the Docker bridge (a private address the server's settings let
    instructors' webhooks use, as a school's own receiver would be) whose /redirect sends
    the dashboard on to `internal`."""
    hooks, internal, outside = _serve("127.0.0.1"), _serve("127.0.0.1"), _serve("0.0.0.0")  # noqa: S104
    gateway = host_address_on_the_bridge()
    Recorder.onward = f"http://127.0.0.1:{internal.server_address[1]}/secret"
    yield {
        "hooks": hooks,
        "hooks_url": f"http://127.0.0.1:{hooks.server_address[1]}",
        "internal": internal,
        "outside": outside,
        "outside_host": gateway,
        "outside_url": f"http://{gateway}:{outside.server_address[1]}",
    }
    for server in (hooks, internal, outside):
        server.shutdown()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, hooks: dict[str, Any]
) -> Iterator[rig.LiveServer]:
    workdir = tmp_path_factory.mktemp("alert-holes")
    env = {
        "DOCKDASH_ALERTS": "1",
        # The outside receiver's host: a private address instructors' webhooks may use.
        "DOCKDASH_ALERT_WEBHOOK_PRIVATE_HOSTS": hooks["outside_host"],
        "DOCKDASH_LOCK_DIR": str(workdir / "locks"),  # its own alert lock
        "DOCKDASH_ALERT_RETRY_SECONDS": "0.1",
        "DOCKDASH_ALERT_NOTIFY_TRIES": "1",
    }
    with rig.live_server_with_users(workdir, {"admin": "admin"}, PASSWORD, extra_env=env) as live:
        live.manage_each(
            *(
                ("shell", "-c", MAKE_CLASS.format(**made, password=PASSWORD, labs=[]))
                for made in (
                    {"slug": SLUG_A, "teacher": TA, "students": [S1]},
                    {"slug": SLUG_B, "teacher": TB, "students": [S2]},
                    {"slug": SLUG_C, "teacher": TC, "students": [S3]},
                )
            )
        )
        yield live


@pytest.fixture(scope="module")
def cookies(server: rig.LiveServer) -> dict[str, str]:
    return {name: login_cookie(server.url, name, PASSWORD) for name in ("admin", TA, TB, S2, S3)}


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None  # the caller follows, with the cookies the answer set


_opener = urllib.request.build_opener(_Stay)


def send(
    server: rig.LiveServer,
    cookie: str,
    path: str,
    *,
    form: Any = None,
    body: Any = None,
    method: str | None = None,
) -> tuple[int, str]:
    """GET `path`; or POST a page's `form`, or a JSON `body`, with the session's CSRF token,
    and follow a redirect as a browser does (with the cookies it set: a page's messages)."""
    headers = {"Cookie": cookie, "Referer": server.url + "/"}
    data = None
    if form is not None or body is not None:
        token = re.search(r"csrftoken=([^;]+)", cookie)
        assert token, "no CSRF cookie"
        headers["X-CSRFToken"] = token.group(1)
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        else:
            data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(server.url + path, data, headers, method=method)
    try:
        with _opener.open(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        if exc.code == 302:
            set_now = [c.split(";", 1)[0] for c in exc.headers.get_all("Set-Cookie") or []]
            return send(server, "; ".join([cookie, *set_now]), exc.headers["Location"])
        return exc.code, exc.read().decode()


def add_address(
    server: rig.LiveServer, cookie: str, address: str, course: str = "", channel: str = "webhook"
) -> tuple[int, str]:
    """The alerts page's form adding `address`: the status and the page it lands on."""
    form = {"channel": channel, "address": address, "course": course}
    return send(server, cookie, "/alerts/targets/", form=form)


def listed_addresses(page: str) -> list[str]:
    """The addresses in the alerts page's Notifications table."""
    table = page.partition('id="targets-head"')[2].partition("</table>")[0]
    return re.findall(r"<td><code>([^<]*)</code></td>", table)


def error_message(page: str) -> str:
    found = re.search(r'<li class="msg error">([^<]+)</li>', page)
    return found.group(1) if found else ""


def alerts_of(server: rig.LiveServer, cookie: str) -> list[dict[str, Any]]:
    status, body = send(server, cookie, "/api/v1/alerts/?state=all")
    assert status == 200, body
    return list(json.loads(body))


def exit_with_error(
    server: rig.LiveServer, cookie: str, name: str, image: str, **labels: str
) -> str:
    """A container that exits with code 3 at once, made through the API as `cookie`'s user."""
    body = {
        "image": image,
        "name": name,
        "command": ["sh", "-c", "exit 3"],
        "labels": {**LABELS, **labels},
    }
    status, answer = send(server, cookie, "/api/v1/containers/", body=body)
    assert status == 201, answer
    return str(json.loads(answer)["id"])


def posts_about(recorder: ThreadingHTTPServer, path: str, container: str) -> list[Any]:
    seen = recorder.seen  # type: ignore[attr-defined]
    return [
        b for m, p, b in seen if m == "POST" and p == path and b["alert"]["container"] == container
    ]


@pytest.fixture(scope="module")
def troubled(
    server: rig.LiveServer, cookies: dict[str, str], hooks: dict[str, Any], test_image: str
) -> Iterator[dict[str, str]]:
    """The addresses (and an instructor who leaves their class), then the containers that
    exit with an error, made together."""
    admin, url = cookies["admin"], hooks["hooks_url"]
    for address, course in ((f"{url}/admin", ""), (f"{url}/class-a", SLUG_A)):
        status, page = add_address(server, admin, address, course)
        assert status == 200 and "Alerts will be sent to" in page, page
    status, page = add_address(server, cookies[TA], f"{hooks['outside_url']}/redirect")
    assert status == 200 and "Alerts will be sent to" in page, page
    # An admin's typo, taken today (an admin's webhook host is not looked up); a fixed
    # dashboard may refuse it instead.
    add_address(server, admin, "http://hooks.example.test:8o8o/hook", SLUG_C)
    status, page = add_address(server, cookies[TB], f"{hooks['outside_url']}/class-b", SLUG_B)
    assert status == 200 and "Alerts will be sent to" in page, page
    gone = {"instructors": []}  # an admin takes TB off the class (as a directory group may)
    status, answer = send(server, admin, f"/api/v1/classes/{SLUG_B}/", body=gone, method="PATCH")
    assert status == 200, answer
    names = {key: f"hole-{key}-{RUN_ID}" for key in ("spoof", "redirect", "broken", "left")}
    ids = {
        "spoof": exit_with_error(
            server, cookies[S2], names["spoof"], test_image, **{"dockdash.class": SLUG_A}
        ),
        "redirect": exit_with_error(server, cookies[TA], names["redirect"], test_image),
        "broken": exit_with_error(
            server, cookies[S3], names["broken"], test_image, **{"dockdash.class": SLUG_C}
        ),
        "left": exit_with_error(
            server, cookies[S2], names["left"], test_image, **{"dockdash.class": SLUG_B}
        ),
    }
    yield ids
    docker_cli("rm", "-f", *names.values())


def heard_by_admin(hooks: dict[str, Any], container: str) -> Any:
    """The admin hears of every alert, after the class's addresses (each alert's addresses
    are told in turn, the class's first): once the admin has, they have been told too."""
    return wait_for(
        lambda: posts_about(hooks["hooks"], "/admin", container),
        timeout=20,
        interval=0.1,
        what=f"the admin's webhook hearing of {container[:12]}",
    )


def test_a_students_label_sends_no_alert_to_a_class_they_are_not_in(
    server: rig.LiveServer,
    cookies: dict[str, str],
    hooks: dict[str, Any],
    troubled: dict[str, str],
) -> None:
    spoof = troubled["spoof"]
    heard_by_admin(hooks, spoof)
    assert posts_about(hooks["hooks"], "/class-a", spoof) == [], "class A heard of an outsider"
    mine = [a for a in alerts_of(server, cookies[S2]) if a["container"] == spoof]
    assert mine and all(a["class"] != SLUG_A for a in mine), mine


def test_a_webhook_redirect_is_not_followed_to_this_host(
    server: rig.LiveServer,
    cookies: dict[str, str],
    hooks: dict[str, Any],
    troubled: dict[str, str],
) -> None:
    ours = troubled["redirect"]
    outside = hooks["outside_url"].rpartition(":")[0]  # as the page shows it: its host
    heard_by_admin(hooks, ours)
    wait_for(
        lambda: posts_about(hooks["outside"], "/redirect", ours),
        timeout=20,
        what="the instructor's webhook being called",
    )

    def delivered() -> list[dict[str, Any]]:
        rows = [a for a in alerts_of(server, cookies[TA]) if a["container"] == ours]
        told = [n for a in rows for n in a.get("notifications", []) if n["state"] != "pending"]
        return [n for n in told if n["address"].startswith(outside)]

    wait_for(delivered, timeout=20, what="the deliveries done")
    assert hooks["internal"].seen == [], "the dashboard followed a redirect to loopback"


@pytest.mark.parametrize(
    ("channel", "address"),
    [
        ("webhook", "http://[::1/hook"),
        ("webhook", "http://hooks.example.test:abc/hook"),
        ("webhook", "http://hooks.example.test:99999/hook"),
        ("webhook", "http://hooks example.test/hook"),
        ("webhook", f"http://{LONG_LABEL}.example/hook"),
        ("webhook", "https://hooks.example.test/" + "x" * 600),  # more than the 500 kept
        ("email", "ann@school.test,ben@school.test"),  # the mailer refuses it, a ValueError
    ],
    ids=["bracket", "port-word", "port-range", "space", "long-label", "long", "two-emails"],
)
def test_a_malformed_address_is_refused_in_words(
    server: rig.LiveServer, cookies: dict[str, str], channel: str, address: str
) -> None:
    # As the admin: an admin's webhook host is not looked up, so only the checks of its
    # form stand between it and the notifier.
    status, page = add_address(server, cookies["admin"], address, channel=channel)
    assert status == 200, page[-3000:]  # the alerts page, saying why; never a 500
    assert "Alerts will be sent to" not in page
    assert error_message(page), "no words saying what is wrong"


def test_a_broken_class_address_keeps_no_one_else_from_hearing(
    hooks: dict[str, Any], troubled: dict[str, str]
) -> None:
    heard_by_admin(hooks, troubled["broken"])


def test_an_instructor_taken_off_a_class_hears_no_more_of_its_alerts(
    hooks: dict[str, Any], troubled: dict[str, str]
) -> None:
    left = troubled["left"]
    heard_by_admin(hooks, left)
    assert posts_about(hooks["outside"], "/class-b", left) == [], "the address of one gone"


def test_the_audit_log_keeps_no_webhook_secret_for_instructors_to_read(
    server: rig.LiveServer, cookies: dict[str, str]
) -> None:
    status, page = add_address(server, cookies["admin"], f"https://hooks.example.test/{SECRET}")
    assert status == 200 and "Alerts will be sent to" in page, page
    status, body = send(server, cookies[TA], "/api/v1/audit/?action=alert_target.add")
    assert status == 200, body
    assert "hooks.example.test" in body  # the row is there
    assert SECRET not in body and "xoxSecretPart42" not in body
