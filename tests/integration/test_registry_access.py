"""Who may reach which registry, with whose login, and what a refusal tells them.

A live dashboard, the real engine, and real registries: a TLS docker-registry on
a non-loopback address of this host (the only kind a student may use), fake
HTTP servers on loopback, the Docker CLI and the registries' own logs as judges.
"""

from __future__ import annotations

import http.server
import json
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.registry_helpers import (
    Dashboard,
    TlsRegistry,
    csrf_of,
    local_address,
    self_signed,
    start_dashboard,
    start_tls_registry,
    trust_for_engine,
)
from tests.rig import RUN_ID, docker_cli

pytestmark = [pytest.mark.engine, pytest.mark.registry]

USERS = {
    "admin": ("admin", "admin-pass-for-tests"),
    "alice": ("student", "alice-pass-for-tests"),
    "bob": ("student", "bob-pass-for-tests"),
}
TEACHER, TEACHER_PASS = "teacher", f"teacher-secret-{RUN_ID}"
ALICE_LOGIN, ALICE_PASS = "alice-login", f"alice-secret-{RUN_ID}"
MARKER = f"PLANTED-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Iterator[Dashboard]:
    dashboard = start_dashboard(tmp_path_factory.mktemp("accessdash"), USERS)
    yield dashboard
    dashboard.server.stop()


@pytest.fixture(scope="module")
def class_registry(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any
) -> Iterator[TlsRegistry]:
    server = start_tls_registry(
        tmp_path_factory.mktemp("tlsreg"),
        local_address(docker_client),
        {TEACHER: TEACHER_PASS, ALICE_LOGIN: ALICE_PASS},
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def course_image(class_registry: TlsRegistry, docker_client: Any, test_image: str) -> str:
    """`camp/base:v1` on the class registry, pushed by the teacher; not on this host."""
    ref = f"{class_registry.host}/camp/base-{RUN_ID}"
    docker_cli("tag", test_image, f"{ref}:v1")
    out = docker_client.api.push(
        ref, "v1", auth_config={"username": TEACHER, "password": TEACHER_PASS}, decode=True
    )
    assert not [m for m in out if "error" in m]
    docker_cli("rmi", f"{ref}:v1")
    return f"camp/base-{RUN_ID}:v1"


def add_registry(dash: Dashboard, name: str, url: str, **extra: Any) -> int:
    body = {"name": f"{name}-{uuid.uuid4().hex[:6]}", "url": url, **extra}
    answer = dash.api("admin", "POST", "/api/v1/registries/", json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def job_count(dash: Dashboard) -> int:
    return int(dash.db_rows("SELECT COUNT(*) FROM registry_app_job")[0][0])


def image_exists(ref: str) -> bool:
    found = subprocess.run(["docker", "image", "inspect", ref], capture_output=True, check=False)
    return found.returncode == 0


class Recorder(http.server.ThreadingHTTPServer):
    """A loopback HTTP server that records each request and answers as `answer` says."""

    def __init__(self, answer: Any, tls: tuple[Path, Path] | None = None, address: str = ""):
        recorder = self
        self.paths: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                recorder.paths.append(self.path)
                status, headers, body = answer(self.path, recorder)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__((address or "127.0.0.1", 0), Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


# ---------------------------------------------------------------- hole 5: where pulls may go


def test_student_pull_of_a_loopback_registry_is_refused_before_the_engine(dash: Dashboard) -> None:
    target = Recorder(lambda path, _: (404, {}, MARKER.encode()))
    try:
        registered = add_registry(
            dash, "loop", f"http://127.0.0.1:{target.port}", allow_non_admins=True
        )
        before = job_count(dash)
        for image, registry in (
            (f"127.0.0.1:{target.port}/x:latest", None),  # not registered
            (f"localhost:{target.port}/x:latest", None),
            ("169.254.169.254/latest/meta-data:latest", None),  # link-local: metadata
            ("x:latest", registered),  # registered, marked usable, but loopback
        ):
            answer = dash.api(
                "alice", "POST", "/api/v1/images/pull/", json={"image": image, "registry": registry}
            )
            assert answer.status_code == 403, (image, answer.text)
            body = answer.json()
            assert body["field"] == "image" and "only admins use it" in body["error"], body

        session = dash.session("alice", USERS["alice"][1])
        page = session.get(dash.url + "/registries/pull/")
        form = session.post(
            dash.url + "/registries/pull/",
            data={
                "csrfmiddlewaretoken": csrf_of(session, page.text),
                "image": f"127.0.0.1:{target.port}/x:latest",
            },
            headers={"Referer": dash.url + "/registries/pull/"},
            timeout=30,
        )
        assert form.status_code == 403 and "only admins use it" in form.text
        assert job_count(dash) == before, "a refused pull started a job"
        assert target.paths == [], "the refused pull reached the target"
        assert not image_exists(f"127.0.0.1:{target.port}/x:latest")
        listed = docker_cli("image", "ls", "--format", "{{.Repository}}")
        assert f"127.0.0.1:{target.port}/x" not in listed
    finally:
        target.shutdown()


def test_student_job_error_never_echoes_what_the_target_answered(
    dash: Dashboard, docker_client: Any, tmp_path: Path
) -> None:
    address = local_address(docker_client)
    tls = self_signed(tmp_path, address)
    body = (f"<html>{MARKER} internal admin page " + "x" * 1000 + "</html>").encode()
    target = Recorder(lambda path, _: (404, {"Content-Type": "text/html"}, body), tls, address)
    host = f"{address}:{target.port}"
    trust_for_engine(host, tls[0])
    try:
        registry = add_registry(dash, "odd", f"https://{host}", allow_non_admins=True)
        for user in ("alice", "admin"):
            answer = dash.api(
                user, "POST", "/api/v1/images/pull/", json={"image": "x:1", "registry": registry}
            )
            assert answer.status_code == 202, answer.text
            job = dash.wait_job(user, answer.json()["job"])
            assert job["state"] == "failed"
            assert target.paths, "the engine did not reach the target"
            if user == "alice":
                assert MARKER not in job["error"] and MARKER not in job["log"], job
                assert "xxxxxxxx" not in job["error"] + job["log"]
                assert host in job["error"] and len(job["error"]) < 200, job["error"]
            else:  # admins see the engine's words after the summary, bounded
                assert len(job["error"]) < 500, job["error"]
    finally:
        target.shutdown()
        rig_certs = Path("/etc/docker/certs.d") / host
        for child in rig_certs.glob("*"):
            child.unlink()
        rig_certs.rmdir()


def test_catalog_browser_follows_redirects_only_within_the_registry(dash: Dashboard) -> None:
    elsewhere = Recorder(lambda path, _: (200, {}, b'{"repositories": ["stolen/secret"]}'))

    def answer(path: str, server: Recorder) -> tuple[int, dict[str, str], bytes]:
        if path.startswith("/v2/_catalog") and server.paths.count(path) == 1 and "away" in path:
            return 302, {"Location": f"http://127.0.0.1:{elsewhere.port}/v2/_catalog"}, b""
        if path.startswith("/v2/_catalog"):
            return 302, {"Location": "/v2/moved"}, b""
        if path == "/v2/moved":
            return 200, {"Content-Type": "application/json"}, b'{"repositories": ["kept/here"]}'
        return 200, {}, b"{}"

    redirector = Recorder(answer)
    try:
        registry = add_registry(dash, "redir", f"http://127.0.0.1:{redirector.port}")
        same = dash.api("admin", "GET", f"/api/v1/registries/{registry}/repositories/")
        assert same.status_code == 200 and same.json()["repositories"] == ["kept/here"]
        away = dash.api("admin", "GET", f"/api/v1/registries/{registry}/repositories/?last=away")
        assert away.status_code == 502, away.text
        assert "redirected to another host" in away.json()["error"]
        assert elsewhere.paths == [], "the catalog browser followed the redirect"
    finally:
        redirector.shutdown()
        elsewhere.shutdown()


def test_student_pulls_through_a_registry_an_admin_allowed(
    dash: Dashboard, class_registry: TlsRegistry, course_image: str
) -> None:
    registry = add_registry(
        dash,
        "class",
        class_registry.url,
        username=TEACHER,
        password=TEACHER_PASS,
        credentials_scope="shared-pull",
    )
    body = {"image": course_image, "registry": registry}
    refused = dash.api("alice", "POST", "/api/v1/images/pull/", json=body)
    assert refused.status_code == 403 and refused.json()["field"] == "image", refused.text
    listed = dash.api("alice", "GET", "/api/v1/registries/").json()
    assert [r["allow_non_admins"] for r in listed if r["id"] == registry] == [False]

    assert dash.api(
        "admin", "PATCH", f"/api/v1/registries/{registry}/", json={"allow_non_admins": True}
    ).ok
    pulled = dash.api("alice", "POST", "/api/v1/images/pull/", json=body)
    assert pulled.status_code == 202, pulled.text
    job = dash.wait_job("alice", pulled.json()["job"])
    assert job["state"] == "succeeded", job["error"]
    ref = f"{class_registry.host}/{course_image}"
    assert image_exists(ref)
    docker_cli("rmi", ref)


# ---------------------------------------------------------------- hole 6: whose login is sent


def _auth_users(log: str) -> set[str]:
    """The login names the registry saw authenticated in these log lines."""
    found = set()
    for line in log.splitlines():
        if 'auth.user.name="' in line:
            found.add(line.split('auth.user.name="', 1)[1].split('"', 1)[0])
        elif "auth.user.name=" in line:
            found.add(line.split("auth.user.name=", 1)[1].split()[0])
    return found


def test_students_never_use_an_admins_personal_login(
    dash: Dashboard,
    class_registry: TlsRegistry,
    course_image: str,
    test_image: str,
) -> None:
    registry = add_registry(
        dash,
        "personal",
        class_registry.url,
        username=TEACHER,
        password=TEACHER_PASS,
        allow_non_admins=True,
    )
    ref = f"{class_registry.host}/{course_image}"
    start = len(class_registry.log())

    pulled = dash.api(
        "bob", "POST", "/api/v1/images/pull/", json={"image": course_image, "registry": registry}
    )
    job = dash.wait_job("bob", pulled.json()["job"])
    assert job["state"] == "failed" and "refused the pull (401)" in job["error"], job
    assert not image_exists(ref)

    before = job_count(dash)
    push = {"image": test_image, "registry": registry, "repository": "alice/app", "tag": RUN_ID}
    refused = dash.api("alice", "POST", "/api/v1/images/push/", json=push)
    assert refused.status_code == 403, refused.text
    assert refused.json()["field"] == "registry"
    assert "No credentials of yours for this registry" in refused.json()["error"]
    assert job_count(dash) == before

    stored = dash.api(
        "alice",
        "POST",
        f"/api/v1/registries/{registry}/credentials/",
        json={"username": ALICE_LOGIN, "password": ALICE_PASS},
    )
    assert stored.status_code == 201, stored.text
    assert stored.json()["scope"] == "personal" and "password" not in stored.json()
    assert ALICE_PASS.encode() not in dash.db_bytes()
    mine = dash.api("alice", "GET", f"/api/v1/registries/{registry}/credentials/").json()
    assert [c["username"] for c in mine] == [ALICE_LOGIN]
    assert dash.api("bob", "GET", f"/api/v1/registries/{registry}/credentials/").json() == []

    pushed = dash.api("alice", "POST", "/api/v1/images/push/", json=push)
    assert pushed.status_code == 202, pushed.text
    job = dash.wait_job("alice", pushed.json()["job"])
    assert job["state"] == "succeeded", job["error"]
    seen = requests.get(
        f"{class_registry.url}/v2/alice/app/tags/list",
        auth=(TEACHER, TEACHER_PASS),
        verify=str(class_registry.workdir / "cert.pem"),
        timeout=10,
    ).json()
    assert RUN_ID in seen["tags"]

    # Bob has no login of his own; alice's is personal: his push is refused, not sent as hers.
    bob_push = {**push, "repository": "bob/app"}
    assert dash.api("bob", "POST", "/api/v1/images/push/", json=bob_push).status_code == 403

    users = _auth_users(class_registry.log()[start:])
    assert ALICE_LOGIN in users, class_registry.log()[start:][-2000:]
    assert TEACHER not in users, "a student's pull or push sent the admin's login"

    # Shared for pulls: now bob pulls with the teacher's login (and still may not push with it).
    assert dash.api(
        "admin",
        "PATCH",
        f"/api/v1/registries/{registry}/",
        json={"credentials_scope": "shared-pull"},
    ).ok
    pulled = dash.api(
        "bob", "POST", "/api/v1/images/pull/", json={"image": course_image, "registry": registry}
    )
    job = dash.wait_job("bob", pulled.json()["job"])
    assert job["state"] == "succeeded", job["error"]
    assert image_exists(ref)
    assert dash.api("bob", "POST", "/api/v1/images/push/", json=bob_push).status_code == 403
    docker_cli("rmi", ref)
    docker_cli("rmi", f"{class_registry.host}/alice/app:{RUN_ID}", check=False)


# ---------------------------------------------------------------- holes 3 and 4: builds


def _build(dash: Dashboard, user: str, tag: str, dockerfile: str) -> requests.Response:
    session = dash.session(user, USERS[user][1])
    page = session.get(dash.url + "/registries/build/")
    return session.post(
        dash.url + "/registries/build/",
        data={"csrfmiddlewaretoken": csrf_of(session, page.text), "tag": tag},
        files={"dockerfile_file": ("Dockerfile", dockerfile.encode())},
        headers={"Referer": dash.url + "/registries/build/"},
        timeout=30,
    )


def test_student_build_cannot_move_a_shared_tag(dash: Dashboard, test_image: str) -> None:
    shared = f"camp/shared-{RUN_ID}:latest"
    docker_cli("tag", test_image, shared)  # an admin's image others run
    try:
        before_id = docker_cli("image", "inspect", "--format", "{{.Id}}", shared).strip()
        jobs_before = job_count(dash)
        answer = _build(dash, "alice", shared, f"FROM {test_image}\nRUN echo mine > /mine\n")
        assert answer.status_code == 403, answer.text[-1500:]
        assert "already names another image" in answer.text
        assert job_count(dash) == jobs_before
        assert docker_cli("image", "inspect", "--format", "{{.Id}}", shared).strip() == before_id
    finally:
        docker_cli("rmi", shared, check=False)


def test_build_run_steps_get_the_students_limits(dash: Dashboard, test_image: str) -> None:
    probe = (
        f"FROM {test_image}\n"
        f'RUN echo "probe {uuid.uuid4().hex}" && '
        "echo mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) && "
        "echo cpuset=$(cat /sys/fs/cgroup/cpuset/cpuset.cpus)\n"
    )
    seen = {}
    for user in ("alice", "admin"):
        tag = f"dockdash-test-limits-{user}:{RUN_ID}"
        answer = _build(dash, user, tag, probe)
        assert "/jobs/" in answer.url, answer.text[-1500:]
        job = dash.wait_job(user, int(answer.url.rstrip("/").rsplit("/", 1)[1]))
        assert job["state"] == "succeeded", job["log"]
        line = [ln for ln in job["log"].splitlines() if ln.startswith("mem=")]
        seen[user] = int(line[0].removeprefix("mem="))
        if user == "alice":
            cpus = json.loads(dash.api("admin", "GET", "/api/v1/engine/").text).get("cpus", 0)
            if cpus > 1:
                assert "cpuset=0" in job["log"], job["log"]
        docker_cli("rmi", tag, check=False)
    assert seen["alice"] == 256 * 1024 * 1024  # the student role's memory per container
    assert seen["admin"] > 2**40  # admins: unlimited
