"""Pull, push and build through a live dashboard against a real registry and the real engine.

The Docker CLI and direct Registry API calls judge each step; the dashboard's own
answers are only what is being tested.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import requests

from tests import rig
from tests.integration.registry_helpers import (
    BLOB_BYTES,
    Dashboard,
    build_unique_image,
    image_exists,
    live_dashboard,
    repo_name,
)
from tests.rig import RUN_ID, docker_cli

pytestmark = [pytest.mark.engine, pytest.mark.registry]

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Iterator[Dashboard]:
    with live_dashboard(tmp_path_factory.mktemp("regdash")) as dashboard:
        yield dashboard


@pytest.fixture(scope="module")
def registry_id(dash: Dashboard, registry_server: rig.RegistryServer) -> int:
    answer = dash.api(
        "admin",
        "POST",
        "/api/v1/registries/",
        json={
            "name": "class registry",
            "url": registry_server.url,
            "username": registry_server.username,
            "password": registry_server.password,
        },
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


@pytest.fixture
def unique_image(docker_client: Any, test_image: str) -> Iterator[str]:
    tag = f"dockdash-test-blob:{RUN_ID}-{time.monotonic_ns()}"
    build_unique_image(docker_client, test_image, tag)
    yield tag
    docker_cli("rmi", "--force", tag, check=False)


def registry_digest(server: rig.RegistryServer, repo: str, tag: str) -> str:
    answer = requests.get(
        f"{server.url}/v2/{repo}/manifests/{tag}",
        headers={"Accept": MANIFEST_V2},
        auth=(server.username, server.password),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.headers["Docker-Content-Digest"]


def test_push_browse_delete_pull_back_and_run(
    dash: Dashboard, registry_id: int, registry_server: rig.RegistryServer, unique_image: str
) -> None:
    repo = repo_name("class")
    target = f"{registry_server.host}/{repo}:v1"
    image_id = docker_cli("image", "inspect", "--format", "{{.Id}}", unique_image).strip()

    job = dash.push("admin", unique_image, registry_id, repo)
    assert job["state"] == "succeeded", job["error"]
    assert job["digest"] == registry_digest(registry_server, repo, "v1")
    assert any(layer["status"] == "Pushed" for layer in job["progress"]["layers"])

    catalog = dash.api("admin", "GET", f"/api/v1/registries/{registry_id}/repositories/").json()
    assert repo in catalog["repositories"]
    tags = dash.api("admin", "GET", f"/api/v1/registries/{registry_id}/repositories/{repo}/tags/")
    (row,) = tags.json()["tags"]
    arch = docker_cli("image", "inspect", "--format", "{{.Architecture}}", unique_image).strip()
    assert (row["tag"], row["digest"], row["architecture"]) == ("v1", job["digest"], arch)
    assert row["size"] > BLOB_BYTES
    assert len(row["layers"]) == 3  # busybox, its applet links, the random blob

    docker_cli("rmi", target, unique_image)
    assert not image_exists(target) and not image_exists(image_id)

    pulled = dash.api(
        "admin",
        "POST",
        "/api/v1/images/pull/",
        json={"image": f"{repo}:v1", "registry": registry_id},
    )
    assert pulled.status_code == 202, pulled.text
    job = dash.wait_job("admin", pulled.json()["job"])
    assert job["state"] == "succeeded", job["error"]
    assert job["digest"] == row["digest"]
    downloaded = [layer for layer in job["progress"]["layers"] if layer["phase"] == "done"]
    assert downloaded and job["progress"]["bytes_total"] >= BLOB_BYTES * 0.9
    assert f"{registry_server.host}/{repo}@{row['digest']}" in docker_cli(
        "image", "inspect", "--format", "{{json .RepoDigests}}", target
    )
    out = docker_cli(
        "run", "--rm", "--label", f"dockdash.test={RUN_ID}", target, "sh", "-c", "wc -c < /blob"
    )
    assert out.strip() == str(BLOB_BYTES)
    owners = dash.db_rows(
        "SELECT username, ref FROM registry_app_imageownership WHERE image_id = ?", image_id
    )
    assert ("admin", target) in owners
    docker_cli("rmi", target)

    deleted = dash.api(
        "admin", "DELETE", f"/api/v1/registries/{registry_id}/repositories/{repo}/tags/v1/"
    )
    assert deleted.status_code == 200 and deleted.json()["digest"] == row["digest"]
    gone = requests.get(
        f"{registry_server.url}/v2/{repo}/manifests/v1",
        headers={"Accept": MANIFEST_V2},
        auth=(registry_server.username, registry_server.password),
        timeout=10,
    )
    assert gone.status_code == 404


def test_wrong_password_is_said_in_words_and_never_stored_in_the_clear(
    dash: Dashboard, registry_server: rig.RegistryServer
) -> None:
    wrong = f"wrong-{RUN_ID}-pass"
    created = dash.api(
        "admin",
        "POST",
        "/api/v1/registries/",
        json={"name": "typo", "url": registry_server.url, "username": "student", "password": wrong},
    )
    assert created.status_code == 201
    body = created.json()
    assert "password" not in body and body["has_password"] is True
    pk = body["id"]
    started = time.monotonic()
    tested = dash.api("admin", "POST", f"/api/v1/registries/{pk}/test/").json()
    assert tested == {
        "ok": False,
        "message": f"Wrong username or password: {registry_server.host} refused the login "
        "(401 Unauthorized).",
    }
    assert time.monotonic() - started < 10

    pulled = dash.api(
        "admin", "POST", "/api/v1/images/pull/", json={"image": "x/y:1", "registry": pk}
    )
    job = dash.wait_job("admin", pulled.json()["job"])
    assert job["state"] == "failed" and "unauthorized" in job["error"].lower()

    assert dash.api(
        "admin", "PATCH", f"/api/v1/registries/{pk}/", json={"password": registry_server.password}
    ).ok
    assert dash.api("admin", "POST", f"/api/v1/registries/{pk}/test/").json()["ok"] is True
    assert "password" not in dash.api("admin", "GET", f"/api/v1/registries/{pk}/").json()

    raw = dash.db_bytes()
    for secret in (wrong, registry_server.password):
        assert secret.encode() not in raw, (
            "a registry password is in the database file in the clear"
        )
        assert secret not in dash.server.log()
    (stored,) = dash.db_rows(
        "SELECT password_encrypted FROM registry_app_credential WHERE registry_id = ?", pk
    )
    assert stored[0].startswith("gAAAA")  # a Fernet token
    audit = dash.db_rows(
        "SELECT action, params FROM dashboard_auditentry WHERE target_id = ?", str(pk)
    )
    assert {a for a, _ in audit} >= {"registry.create", "registry.update", "registry.test"}
    assert all(registry_server.password not in p and wrong not in p for _, p in audit)


def bad_push(user: str, field: str, words: str, **changed: Any) -> tuple[Any, ...]:
    """A push request (of the test image to the test registry) with `changed` made bad."""
    payload = {"image": "REG", "registry": "R", "repository": "ok/repo", "tag": "t", **changed}
    return (user, "push", payload, field, words)


@pytest.mark.parametrize(
    ("user", "path", "payload", "field", "words"),
    [
        ("admin", "pull", {"image": "UPPER/case"}, "image", "must be lowercase"),
        ("admin", "pull", {"image": "a::b"}, "image", "only one ':'"),
        ("admin", "pull", {"image": "busybox:"}, "image", "empty tag"),
        ("admin", "pull", {"image": "busybox", "registry": 99999}, "registry", "Unknown registry"),
        bad_push("admin", "registry", "Unknown registry", registry=99999),
        bad_push("admin", "repository", "lowercase", repository="Bad/Repo"),
        bad_push("admin", "tag", "tag is empty", tag=""),
        bad_push("admin", "image", "Pick a local image", image=""),
        bad_push("admin", "image", "no local image", image="no-such-image:never"),
        bad_push("alice", "repository", "only to repositories under alice/", repository="bob/app"),
    ],
)
def test_bad_requests_answer_400_in_words_and_start_nothing(
    dash: Dashboard,
    registry_id: int,
    test_image: str,
    user: str,
    path: str,
    payload: dict[str, Any],
    field: str,
    words: str,
) -> None:
    payload = {
        k: {"REG": test_image, "R": registry_id}.get(v, v) if isinstance(v, str) else v
        for k, v in payload.items()
    }
    before = dash.job_count()
    answer = dash.api(user, "POST", f"/api/v1/images/{path}/", json=payload)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["field"] == field and words in body["error"], body
    assert dash.job_count() == before


def test_failed_pushes_and_pulls_end_in_words_and_leave_no_tag(
    dash: Dashboard, registry_id: int, registry_server: rig.RegistryServer, test_image: str
) -> None:
    bad = dash.api(
        "admin",
        "POST",
        "/api/v1/registries/",
        json={
            "name": "bad login",
            "url": registry_server.url,
            "username": "student",
            "password": "nope",
        },
    ).json()["id"]
    down_port = rig.free_port()
    down = dash.api(
        "admin",
        "POST",
        "/api/v1/registries/",
        json={"name": "down", "url": f"http://127.0.0.1:{down_port}"},
    ).json()["id"]
    repo = repo_name("class")

    job = dash.push("admin", test_image, bad, repo)
    assert job["state"] == "failed"
    assert "unauthorized" in job["error"].lower() or "authentication required" in job["error"]
    assert not image_exists(f"{registry_server.host}/{repo}:v1"), "the failed push left its tag"

    job = dash.run_job(
        "admin", "/api/v1/images/pull/", {"image": f"{repo}:nope", "registry": registry_id}
    )
    assert job["state"] == "failed" and ("not found" in job["error"] or "unknown" in job["error"])

    unreachable = dash.api(
        "admin", "POST", "/api/v1/images/pull/", json={"image": "a/b:1", "registry": down}
    )
    job = dash.wait_job("admin", unreachable.json()["job"])
    assert job["state"] == "failed" and "connection refused" in job["error"]
    tested = dash.api("admin", "POST", f"/api/v1/registries/{down}/test/").json()
    assert tested["ok"] is False and tested["message"].startswith("Unreachable")


def _context(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_build_form_streams_output_refuses_bad_contexts_and_reports_failed_run(
    dash: Dashboard, test_image: str
) -> None:
    tag = f"dockdash-test-built:{RUN_ID}"

    def post(files: dict[str, tuple[str, bytes]], **data: str) -> requests.Response:
        return dash.post_form("alice", "/registries/build/", {"tag": tag, **data}, files)

    escaping = post(
        {"context": ("ctx.tar.gz", _context({"Dockerfile": b"FROM scratch", "../x": b"x"}))}
    )
    assert escaping.status_code == 200 and "escaping the context" in escaping.text
    not_archive = post({"context": ("ctx.tar", b"just some text, not an archive")})
    assert "not a tar, tar.gz or zip archive" in not_archive.text
    assert dash.job_count("build") == 0

    dockerfile = (
        f"FROM {test_image}\nARG GREETING\nCOPY hello.txt /hello.txt\n"
        'RUN echo "$GREETING from the build" > /greeting\n'
    ).encode()
    ok = post(
        {"context": ("ctx.tar.gz", _context({"Dockerfile": dockerfile, "hello.txt": b"hi\n"}))},
        build_args="GREETING=bonjour",
    )
    assert "/jobs/" in ok.url, ok.text[-2000:]
    job_id = int(ok.url.rstrip("/").rsplit("/", 1)[1])
    job = dash.wait_job("alice", job_id)
    assert job["state"] == "succeeded", job["log"]
    assert ": COPY hello.txt /hello.txt" in job["log"]
    assert (
        docker_cli(
            "run", "--rm", "--label", f"dockdash.test={RUN_ID}", tag, "cat", "/greeting"
        ).strip()
        == "bonjour from the build"
    )
    labels = json.loads(docker_cli("image", "inspect", "--format", "{{json .Config.Labels}}", tag))
    assert labels["dockdash.owner"] == "alice"
    built_id = docker_cli("image", "inspect", "--format", "{{.Id}}", tag).strip()
    assert dash.db_rows(
        "SELECT username FROM registry_app_imageownership WHERE image_id = ? AND ref = ?",
        built_id,
        tag,
    ) == [("alice",)]

    failing = post({"dockerfile_file": ("Dockerfile", f"FROM {test_image}\nRUN exit 3\n".encode())})
    job = dash.wait_job("alice", int(failing.url.rstrip("/").rsplit("/", 1)[1]))
    assert job["state"] == "failed"
    assert "returned a non-zero code: 3" in job["error"]
    docker_cli("rmi", tag)


def test_docker_hub_search_says_no_internet_within_seconds(dash: Dashboard) -> None:
    session = dash.session("alice")
    started = time.monotonic()
    page = session.get(dash.url + "/registries/search/", params={"q": "busybox"}, timeout=15)
    elapsed = time.monotonic() - started
    assert page.status_code == 200
    assert "this host has no internet access" in page.text.lower()
    assert elapsed < 7, f"the search took {elapsed:.1f} s"


def test_a_pull_is_audited_once_with_how_its_job_ended(
    dash: Dashboard, registry_id: int, registry_server: rig.RegistryServer, unique_image: str
) -> None:
    repo = repo_name("audit")
    pushed = dash.push("admin", unique_image, registry_id, repo)
    assert pushed["state"] == "succeeded"

    def audited(job_id: int, action: str) -> list[dict[str, Any]] | None:
        rows = dash.api("admin", "GET", f"/api/v1/audit/?action={action}&limit=500").json()
        mine = [r for r in rows if r["target_id"] == f"job {job_id}"]
        return mine or None

    for tag, state in (("nope", "failed"), ("v1", "succeeded")):
        body = {"image": f"{repo}:{tag}", "registry": registry_id}
        job = dash.run_job("admin", "/api/v1/images/pull/", body)
        assert job["state"] == state, job["error"]
        rows = rig.wait_for(partial(audited, job["id"], "image.pull"), what="its audit row")
        (row,) = rows
        if state == "failed":
            assert row["result"] == "error" and row["error"] == job["error"] != "", row
        else:
            assert row["result"] == "ok" and row["error"] == "", row
    docker_cli("rmi", f"{registry_server.host}/{repo}:v1", check=False)
