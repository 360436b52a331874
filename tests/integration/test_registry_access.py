"""Who may reach which registry, with whose login, and what a refusal tells them.

A live dashboard, the real engine, and real registries: a TLS docker-registry on
a non-loopback address of this host (the only kind a student may use), fake
HTTP servers on loopback, the Docker CLI and the registries' own logs as judges.
"""

from __future__ import annotations

import http.server
import json
import re
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.registry_helpers import (
    BUILD_CALL,
    IMAGE_CALL,
    TEST_ADDRESS,
    Dashboard,
    EngineRequests,
    TlsRegistry,
    engine_requests,
    image_exists,
    live_dashboard,
    local_address,
    self_signed,
    start_tls_registry,
    trust_for_engine,
)
from tests.rig import RUN_ID, docker_cli, docker_run_labelled, free_port, wait_for

pytestmark = [pytest.mark.engine, pytest.mark.registry]

TEACHER, TEACHER_PASS = "teacher", f"teacher-secret-{RUN_ID}"
ALICE_LOGIN, ALICE_PASS = "alice-login", f"alice-secret-{RUN_ID}"
MARKER = f"PLANTED-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def engine() -> Iterator[EngineRequests]:
    """The engine socket the dashboard talks to, noting what it is asked."""
    with engine_requests() as proxy:
        yield proxy


@pytest.fixture(scope="module")
def dash(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, engine: EngineRequests
) -> Iterator[Dashboard]:
    with live_dashboard(tmp_path_factory.mktemp("accessdash"), engine.url) as dashboard:
        yield dashboard


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


def refused_in_one_row(
    dash: Dashboard,
    engine: EngineRequests,
    action: str,
    send: Callable[[], requests.Response],
    words: str,
    never_asked: re.Pattern[str] = IMAGE_CALL,
) -> requests.Response:
    """`send()` is refused (403) with `words`, in one audit row, before any job or engine call
    matching `never_asked` (by default: any about an image)."""
    rows, jobs, asked = len(dash.audit_rows(action)), dash.job_count(), len(engine.paths)
    answer = send()
    assert answer.status_code == 403, answer.text[-1500:]
    assert words in answer.text, answer.text[-1500:]
    new_rows = dash.audit_rows(action)[rows:]
    assert len(new_rows) == 1 and new_rows[0][1] == "error" and words in new_rows[0][2], new_rows
    assert dash.job_count() == jobs, "a refused request started a job"
    assert engine.asked_since(asked, never_asked) == [], "a refused request reached the engine"
    return answer


def test_student_pull_of_a_loopback_registry_is_refused_before_the_engine(
    dash: Dashboard, engine: EngineRequests
) -> None:
    target = Recorder(lambda path, _: (404, {}, MARKER.encode()))
    try:
        registered = add_registry(
            dash, "loop", f"http://127.0.0.1:{target.port}", allow_non_admins=True
        )
        for image, registry in (
            (f"127.0.0.1:{target.port}/x:latest", None),  # not registered
            (f"localhost:{target.port}/x:latest", None),
            ("169.254.169.254/latest/meta-data:latest", None),  # link-local: metadata
            ("x:latest", registered),  # registered, marked usable, but loopback
        ):
            answer = refused_in_one_row(
                dash,
                engine,
                "image.pull",
                partial(
                    dash.api,
                    "alice",
                    "POST",
                    "/api/v1/images/pull/",
                    json={"image": image, "registry": registry},
                ),
                "only admins use it",
            )
            assert answer.json()["field"] == "image", answer.json()

        refused_in_one_row(
            dash,
            engine,
            "image.pull",
            partial(
                dash.post_form,
                "alice",
                "/registries/pull/",
                {"image": f"127.0.0.1:{target.port}/x:latest"},
            ),
            "only admins use it",
        )
        assert target.paths == [], "the refused pull reached the target"
        assert not image_exists(f"127.0.0.1:{target.port}/x:latest")
        listed = docker_cli("image", "ls", "--format", "{{.Repository}}")
        assert f"127.0.0.1:{target.port}/x" not in listed
    finally:
        target.shutdown()


def test_student_push_to_a_registry_they_may_not_use_is_refused_before_the_engine(
    dash: Dashboard, engine: EngineRequests, test_image: str
) -> None:
    loopback = add_registry(dash, "loop-push", "http://127.0.0.1:9", allow_non_admins=True)
    closed = add_registry(dash, "closed-push", f"https://{TEST_ADDRESS}:9")  # not allowed
    push = {"image": test_image, "repository": "alice/app", "tag": RUN_ID}
    for registry, words in (
        (loopback, "only admins use it"),
        (closed, "is not a registry an admin allowed for you"),
    ):
        answer = refused_in_one_row(
            dash,
            engine,
            "image.push",
            partial(
                dash.api,
                "alice",
                "POST",
                "/api/v1/images/push/",
                json={**push, "registry": registry},
            ),
            words,
        )
        assert answer.json()["field"] == "registry", answer.json()
    refused_in_one_row(
        dash,
        engine,
        "image.push",
        partial(dash.post_form, "alice", "/registries/push/", {**push, "registry": loopback}),
        "only admins use it",
    )
    for host in ("127.0.0.1:9", f"{TEST_ADDRESS}:9"):
        assert not image_exists(f"{host}/alice/app:{RUN_ID}"), "a refused push tagged the image"


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

    before = dash.job_count()
    push = {"image": test_image, "registry": registry, "repository": "alice/app", "tag": RUN_ID}
    refused = dash.api("alice", "POST", "/api/v1/images/push/", json=push)
    assert refused.status_code == 403, refused.text
    assert refused.json()["field"] == "registry"
    assert "No credentials of yours for this registry" in refused.json()["error"]
    assert dash.job_count() == before

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


def _build(
    dash: Dashboard, user: str, tag: str, dockerfile: str, build_args: str = ""
) -> requests.Response:
    return dash.post_form(
        user,
        "/registries/build/",
        {"tag": tag, "build_args": build_args},
        files={"dockerfile_file": ("Dockerfile", dockerfile.encode())},
    )


def _job_of(answer: requests.Response) -> int:
    assert "/jobs/" in answer.url, answer.text[-1500:]
    return int(answer.url.rstrip("/").rsplit("/", 1)[1])


@pytest.mark.parametrize(
    ("dockerfile", "build_args", "line", "fetched", "words"),
    [
        ("FROM 127.0.0.1:5000/x\n", "", 1, "127.0.0.1:5000/x:latest", "only admins use it"),
        (
            "FROM {base} AS first\nRUN true\n\nFROM 169.254.169.254/meta:v1\n",
            "",
            4,
            "169.254.169.254/meta:v1",
            "only admins use it",
        ),
        (
            "FROM --platform=linux/amd64 localhost:5000/x AS b\n",
            "",
            1,
            "localhost:5000/x:latest",
            "only admins use it",
        ),
        (
            "ARG BASE=127.0.0.1:5000/x\nFROM ${BASE}\n",
            "",
            2,
            "127.0.0.1:5000/x:latest",
            "only admins use it",
        ),
        (
            "ARG BASE={base}\nFROM $BASE AS a\n",
            "BASE=127.0.0.1:5000/y:2",
            2,
            "127.0.0.1:5000/y:2",
            "only admins use it",
        ),
        (
            "# a base on two lines\nFROM \\\n  127.0.0.1:5000/z \\\n  AS z\n",
            "",
            2,
            "127.0.0.1:5000/z:latest",
            "only admins use it",
        ),
        (
            "FROM {base} AS later\nFROM later\nFROM scratch\nCOPY --from="
            + TEST_ADDRESS
            + ":9/x /x /x\n",
            "",
            4,
            TEST_ADDRESS + ":9/x:latest",
            "is not a registry an admin allowed for you",
        ),
    ],
    ids=[
        "loopback",
        "link-local-in-a-later-stage",
        "platform-flag",
        "arg-default",
        "build-argument",
        "continued-lines",
        "copy-from-unregistered",
    ],
)
def test_student_build_fetching_from_where_a_pull_is_refused_is_refused_by_line(
    dash: Dashboard,
    engine: EngineRequests,
    test_image: str,
    dockerfile: str,
    build_args: str,
    line: int,
    fetched: str,
    words: str,
) -> None:
    text = dockerfile.replace("{base}", test_image)
    tag = f"dockdash-test-refused-{uuid.uuid4().hex[:8]}:{RUN_ID}"
    answer = refused_in_one_row(
        dash,
        engine,
        "image.build",
        partial(_build, dash, "alice", tag, text, build_args),
        words,
    )
    assert f"Line {line} (" in answer.text and f"fetches {fetched}:" in answer.text, answer.text
    assert not image_exists(tag)


@pytest.mark.parametrize(
    "dockerfile",
    ["FROM ${BASE?set it}\n", "FROM " + "${A:-" * 500 + "busybox" + "}" * 500 + "\n"],
    ids=["unknown-substitution", "nested-too-deep"],
)
def test_student_build_whose_image_cannot_be_told_is_refused(
    dash: Dashboard, engine: EngineRequests, dockerfile: str
) -> None:
    tag = f"dockdash-test-unreadable-{uuid.uuid4().hex[:8]}:{RUN_ID}"
    answer = refused_in_one_row(
        dash,
        engine,
        "image.build",
        partial(_build, dash, "alice", tag, dockerfile),
        "cannot tell which image it fetches",
    )
    assert "Line 1 (FROM ${" in answer.text, answer.text[-1500:]


@pytest.mark.parametrize(
    ("dockerfile", "line", "words"),
    [
        ("FROM {base}\nADD http://127.0.0.1:9/secret /s\n", 2, "would download"),
        ("FROM {base}\nADD --chmod=644 https://169.254.169.254/x /x\n", 2, "would download"),
        ('FROM {base}\nADD ["http://127.0.0.1:9/a", "/a"]\n', 2, "would download"),
        ("FROM {base}\nONBUILD ADD http://127.0.0.1:9/later /l\n", 2, "would download"),
        ("FROM {base}\nARG U=http://127.0.0.1:9/x\nADD $U /x\n", 3, "a variable names it"),
    ],
    ids=["url", "flag-and-link-local", "json-form", "onbuild-trigger", "variable"],
)
def test_student_build_whose_add_the_engine_would_download_is_refused_by_line(
    dash: Dashboard,
    engine: EngineRequests,
    test_image: str,
    dockerfile: str,
    line: int,
    words: str,
) -> None:
    tag = f"dockdash-test-add-{uuid.uuid4().hex[:8]}:{RUN_ID}"
    answer = refused_in_one_row(
        dash,
        engine,
        "image.build",
        partial(_build, dash, "alice", tag, dockerfile.replace("{base}", test_image)),
        words,
    )
    assert f"Line {line} (" in answer.text, answer.text[-1500:]
    assert not image_exists(tag)


def test_student_builds_from_stages_scratch_and_allowed_images(
    dash: Dashboard, test_image: str
) -> None:
    arch = docker_cli("version", "--format", "{{.Server.Arch}}").strip()
    dockerfile = (
        f"ARG BASE={test_image}\n"
        f"FROM --platform=linux/{arch} ${{BASE}} AS first\n"
        "RUN echo one > /one\n"
        "FROM scratch AS files\n"
        "COPY --from=first /one /one\n"
        "FROM first\n"
        "COPY --from=files /one /two\n"
    )
    tag = f"dockdash-test-stages:{RUN_ID}"
    try:
        job = dash.wait_job("alice", _job_of(_build(dash, "alice", tag, dockerfile)))
        assert job["state"] == "succeeded", job["log"]
        run = ("run", "--rm", "--label", f"dockdash.test={RUN_ID}", tag, "cat", "/one", "/two")
        assert docker_cli(*run).split() == ["one", "one"]
    finally:
        docker_cli("rmi", tag, check=False)


@pytest.mark.parametrize(
    "label",
    [
        "dockdash.owner=bob",
        '"dockdash.owner"="bob" course=os',
        "dockdash.owner bob",  # the old form: one key, the rest its value
        "dock\\dash.class=os101",  # an escape the builder reads away
        "${WHO:-dockdash.owner}=bob",  # a variable names the key: cannot be told
    ],
)
def test_student_build_may_not_label_its_run_steps_as_someone_elses(
    dash: Dashboard, engine: EngineRequests, test_image: str, label: str
) -> None:
    # Each RUN step runs in a container carrying the labels of the image built so far, and
    # the dashboard takes a container's dockdash.owner for its owner: bob would see it, it
    # would count against his quotas and its alerts would be his and his class's.
    dockerfile = f"FROM {test_image}\nLABEL {label}\nRUN sleep 3\n"
    tag = f"dockdash-test-labelled-{uuid.uuid4().hex[:8]}:{RUN_ID}"
    send = partial(_build, dash, "alice", tag, dockerfile)
    answer = refused_in_one_row(dash, engine, "image.build", send, "(dockdash.*)")
    assert "Line 2 (LABEL " in answer.text, answer.text
    assert docker_cli("ps", "-aq", "--filter", "label=dockdash.owner=bob") == ""


def test_student_build_may_not_leave_an_onbuild_label_of_the_dashboards(
    dash: Dashboard, engine: EngineRequests, test_image: str
) -> None:
    dockerfile = f"FROM {test_image}\nONBUILD LABEL dockdash.owner=bob\n"
    tag = f"dockdash-test-onbuild-{uuid.uuid4().hex[:8]}:{RUN_ID}"
    send = partial(_build, dash, "alice", tag, dockerfile)
    answer = refused_in_one_row(dash, engine, "image.build", send, "(dockdash.*)")
    assert "Line 2 (ONBUILD LABEL " in answer.text, answer.text


def test_admins_build_from_any_registry(dash: Dashboard) -> None:
    closed = f"127.0.0.1:{free_port()}/x:1"
    job = dash.wait_job("admin", _job_of(_build(dash, "admin", f"x-{RUN_ID}:b", f"FROM {closed}")))
    assert job["state"] == "failed" and "127.0.0.1" in job["error"], job


def test_student_build_cannot_move_a_shared_tag(dash: Dashboard, test_image: str) -> None:
    shared = f"camp/shared-{RUN_ID}:latest"
    docker_cli("tag", test_image, shared)  # an admin's image others run
    try:
        before_id = docker_cli("image", "inspect", "--format", "{{.Id}}", shared).strip()
        jobs_before = dash.job_count()
        answer = _build(dash, "alice", shared, f"FROM {test_image}\nRUN echo mine > /mine\n")
        assert answer.status_code == 403, answer.text[-1500:]
        assert "already names another image" in answer.text
        assert dash.job_count() == jobs_before
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
        job = dash.wait_job(user, _job_of(_build(dash, user, tag, probe)))
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


def _running_commands() -> dict[str, str]:
    """Every running container on the engine: id -> its command (the CLI judges)."""
    listed = docker_cli("ps", "--no-trunc", "--format", "{{.ID}} {{.Command}}")
    return dict(line.split(" ", 1) for line in listed.splitlines() if " " in line)


def _set_quota(dash: Dashboard, user: str, **limits: Any) -> None:
    """Set `user`'s own limits as an admin does, on the user's page (none: the role's)."""
    (pk,) = dash.db_rows("SELECT id FROM dashboard_user WHERE username = ?", user)[0]
    answer = dash.post_form("admin", f"/users/{pk}/quota/", limits, form_page=f"/users/{pk}/")
    assert answer.status_code == 200 and answer.url.endswith(f"/users/{pk}/"), answer.text[-1500:]


def test_second_build_over_the_running_quota_is_refused_while_the_first_runs(
    dash: Dashboard, engine: EngineRequests, test_image: str
) -> None:
    first, second = (f"build-{n}-{uuid.uuid4().hex}" for n in ("first", "second"))
    holder = f"dockdash-test-holder-{RUN_ID}"
    _set_quota(dash, "alice", max_running=2)
    try:
        docker_run_labelled(holder, test_image, "sleep", "600", owner="alice")  # 1 of 2
        started = _build(
            dash,
            "alice",
            f"x-{RUN_ID}:first",
            f"FROM {test_image}\nRUN echo {first} && sleep 600\n",
        )
        job = _job_of(started)
        step = wait_for(
            lambda: next((i for i, c in _running_commands().items() if first in c), None),
            timeout=60,
            what="the first build's RUN step to run",
        )
        refused_in_one_row(
            dash,
            engine,
            "image.build",
            partial(
                _build,
                dash,
                "alice",
                f"x-{RUN_ID}:second",
                f"FROM {test_image}\nRUN echo {second}\n",
            ),
            "You use 2 of 2 running containers",
            never_asked=BUILD_CALL,  # the quota step comes after the policy's look at the tag
        )
        assert dash.api("alice", "GET", f"/api/v1/jobs/{job}/").json()["state"] == "running"
        assert step in _running_commands(), "the first build ended before the second was asked"
        listed = docker_cli("ps", "--all", "--no-trunc", "--format", "{{.Command}}")
        assert second not in listed, "the engine ran a step of the refused build"
        assert not image_exists(f"x-{RUN_ID}:second")
        docker_cli("kill", step)
        assert dash.wait_job("alice", job)["state"] == "failed"
    finally:
        docker_cli("rm", "--force", holder, check=False)
        _set_quota(dash, "alice")
