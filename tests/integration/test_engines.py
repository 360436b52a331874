"""Several engines: the first (DOCKDASH_DOCKER_HOST's), a second real dockerd in a network
namespace of its own (tests.engines), and a third whose socket nobody listens on. Through
the URLs: the admins' API and page, `?engine=` on pages and the API, a 503 for the engine
that is down only, the header's switcher."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from containers_app import engines, stats
from containers_app.models import Engine
from dashboard.access import OWNER_LABEL
from dashboard.asgi import application
from dashboard.models import AuditEntry, Quota
from tests.engines import NetnsEngine, netns_engine
from tests.rig import LABELS, RUN_ID, wait_for

pytestmark = [pytest.mark.django_db, pytest.mark.engine]

PEM_KEY = "-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n"
PEM_CERT = "-----BEGIN CERTIFICATE-----\nnot-a-real-cert\n-----END CERTIFICATE-----\n"


@pytest.fixture(scope="module")
def second(test_image: str) -> Iterator[NetnsEngine]:
    with netns_engine(1, images=(test_image,), tls=True) as engine:
        yield engine


@pytest.fixture(scope="module")
def second_docker(second: NetnsEngine) -> Iterator[Any]:
    client = docker.DockerClient(base_url=second.url, version="auto", timeout=30)
    yield client
    client.close()


@pytest.fixture
def rows(db: Any, second: NetnsEngine, tmp_path: Any) -> dict[str, Engine]:
    """The engine rows: the second engine, and "gone", whose socket nobody listens on."""
    engines.first()  # a flushed database (a transactional test) makes it again, first
    return {
        "second": Engine.objects.create(name="second", endpoint=second.url),
        "gone": Engine.objects.create(name="gone", endpoint=f"unix://{tmp_path}/nobody.sock"),
    }


def _create(api: Any, engine: str, name: str, image: str) -> Any:
    body = {"image": image, "name": name, "command": ["sleep", "600"], "labels": LABELS}
    suffix = f"?engine={engine}" if engine else ""
    return api.post(f"/api/v1/containers/{suffix}", body, format="json")


def test_admins_list_every_engine_by_the_api_and_the_page(
    admin_api: Any, admin_client: Client, rows: dict[str, Engine], second: NetnsEngine
) -> None:
    listed = admin_api.get("/api/v1/engines/").json()
    assert [(e["name"], e["first"]) for e in listed] == [
        ("local", True),
        ("second", False),
        ("gone", False),
    ]
    assert listed[1]["endpoint"] == second.url and listed[1]["has_tls"] is False

    started = time.monotonic()
    page = admin_client.get("/engines/")
    took = time.monotonic() - started
    html = page.content.decode()
    assert page.status_code == 200
    state = dict(re.findall(r'data-engine="([\w-]+)" data-reachable="(\w+)"', html))
    assert state == {"local": "yes", "second": "yes", "gone": "no"}
    version = second.cli("version", "--format", "{{.Server.Version}}").strip()
    assert version in html and "the socket does not exist" in html
    loads = re.findall(r'<td data-field="load">([\d.]+) ', html)
    assert len(loads) == 2  # both engines run on this machine: its load is theirs
    assert took < 5, f"the engines page took {took:.1f} s"


def test_only_admins_manage_engines(
    make_user: Any, rows: dict[str, Engine], api_client: Any, client: Client
) -> None:
    for role in ("student", "instructor", "viewer"):
        user = make_user(f"eng-{role}-{RUN_ID}", role)
        api_client.force_authenticate(user)
        assert api_client.get("/api/v1/engines/").status_code == 403
        assert api_client.get("/api/v1/engines/second/").status_code == 403
        made = api_client.post(
            "/api/v1/engines/", {"name": "mine", "endpoint": "unix:///x.sock"}, format="json"
        )
        assert made.status_code == 403
        assert api_client.delete("/api/v1/engines/second/").status_code == 403
        client.force_login(user)
        assert client.get("/engines/").status_code == 403
    assert not Engine.objects.filter(name="mine").exists()
    assert Engine.objects.filter(name="second").exists()


def test_admins_add_change_and_remove_engines_keeping_tls_secret(
    admin_api: Any, rows: dict[str, Engine]
) -> None:
    bad = admin_api.post(
        "/api/v1/engines/", {"name": "x", "endpoint": "http://x:1"}, format="json"
    ).json()
    assert bad["field"] == "endpoint" and "unix://" in bad["error"]
    tls_on_unix = admin_api.post(
        "/api/v1/engines/",
        {"name": "x", "endpoint": "unix:///x.sock", "tls_cert": PEM_CERT, "tls_key": PEM_KEY},
        format="json",
    )
    assert tls_on_unix.status_code == 400 and tls_on_unix.json()["field"] == "tls_cert"
    taken = admin_api.post(
        "/api/v1/engines/", {"name": "second", "endpoint": "unix:///x.sock"}, format="json"
    )
    assert taken.status_code == 400 and taken.json()["field"] == "name"

    made = admin_api.post(
        "/api/v1/engines/",
        {
            "name": "remote",
            "endpoint": "tcp://198.18.79.1:2376",
            "tls_cert": PEM_CERT,
            "tls_key": PEM_KEY,
        },
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert made.json()["has_tls"] is True and "tls_key" not in made.json()
    stored = Engine.objects.get(name="remote")
    assert "not-a-real-key" not in stored.tls_key_encrypted and stored.tls()[1] == PEM_KEY

    changed = admin_api.patch(
        "/api/v1/engines/remote/", {"endpoint": "tcp://198.18.79.2:2376"}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["endpoint"] == "tcp://198.18.79.2:2376"
    first = admin_api.patch("/api/v1/engines/local/", {"endpoint": "unix:///x"}, format="json")
    assert first.status_code == 400 and "DOCKDASH_DOCKER_HOST" in first.json()["error"]
    refused = admin_api.delete("/api/v1/engines/local/")
    assert refused.status_code == 409 and "first engine" in refused.json()["error"]
    assert admin_api.delete("/api/v1/engines/remote/").status_code == 204
    assert admin_api.get("/api/v1/engines/remote/").status_code == 404

    actions = set(
        AuditEntry.objects.filter(target_name__in=["remote", "local"]).values_list(
            "action", "result"
        )
    )
    assert {("engine.create", "ok"), ("engine.update", "ok"), ("engine.delete", "ok")} <= actions
    assert ("engine.delete", "error") in actions
    assert not AuditEntry.objects.filter(params__icontains="not-a-real").exists()


def test_an_engine_over_tcp_is_reached_with_its_stored_client_certificate(
    admin_api: Any,
    rows: dict[str, Engine],
    second: NetnsEngine,
    second_docker: Any,
    test_image: str,
) -> None:
    assert second.tls is not None
    tls = {"tls_cert": second.tls.cert, "tls_key": second.tls.key, "tls_ca": second.tls.ca}
    made = admin_api.post(
        "/api/v1/engines/", {"name": "over-tls", "endpoint": second.tcp_url, **tls}, format="json"
    )
    assert made.status_code == 201, made.json()
    status = admin_api.get("/api/v1/engines/over-tls/").json()["status"]
    assert status["reachable"] is True, status
    box = second_docker.containers.create(test_image, labels=LABELS)
    try:
        listed = admin_api.get(f"/api/v1/containers/?all=1&engine=over-tls&q={box.name}")
        assert listed.status_code == 200 and [c["id"] for c in listed.json()] == [box.id]
    finally:
        box.remove(force=True)

    # The same endpoint without a client certificate: the engine refuses, a 503 for it only.
    Engine.objects.create(name="no-cert", endpoint=second.tcp_url)
    refused = admin_api.get("/api/v1/containers/?engine=no-cert")
    assert refused.status_code == 503 and refused.json()["endpoint"] == second.tcp_url
    assert admin_api.get("/api/v1/engines/no-cert/").json()["status"]["reachable"] is False


def test_a_container_is_made_on_the_engine_the_request_names(
    admin_api: Any,
    rows: dict[str, Engine],
    second_docker: Any,
    docker_client: Any,
    test_image: str,
) -> None:
    there, here = f"dd-eng2-{RUN_ID}", f"dd-eng1-{RUN_ID}"
    try:
        assert _create(admin_api, "second", there, test_image).status_code == 201
        assert _create(admin_api, "", here, test_image).status_code == 201
        assert second_docker.containers.get(there).status == "running"
        assert docker_client.containers.list(all=True, filters={"name": there}) == []
        assert second_docker.containers.list(all=True, filters={"name": here}) == []

        on_second = admin_api.get(f"/api/v1/containers/?all=1&q={RUN_ID}&engine=second").json()
        on_first = admin_api.get(f"/api/v1/containers/?all=1&q={RUN_ID}").json()
        assert [c["name"] for c in on_second] == [there]
        assert there not in {c["name"] for c in on_first} and here in {c["name"] for c in on_first}
        removed = admin_api.delete(f"/api/v1/containers/{there}/?force=1&engine=second")
        assert removed.status_code == 200
        assert second_docker.containers.list(all=True, filters={"name": there}) == []
    finally:
        for client, name in ((second_docker, there), (docker_client, here)):
            for c in client.containers.list(all=True, filters={"name": name}):
                c.remove(force=True)


def test_an_engine_that_is_down_is_a_503_for_its_pages_only(
    admin_client: Client,
    admin_api: Any,
    rows: dict[str, Engine],
    second_docker: Any,
    test_image: str,
) -> None:
    name = f"dd-eng2-page-{RUN_ID}"
    box = second_docker.containers.run(
        test_image,
        ["sleep", "600"],
        name=name,
        labels=LABELS,
        detach=True,
    )
    try:
        down = admin_client.get("/containers/?engine=gone")
        html = down.content.decode()
        assert down.status_code == 503
        assert "<q>gone</q>" in html and str(rows["gone"].endpoint) in html
        assert "the socket does not exist" in html
        api_down = admin_api.get("/api/v1/containers/?engine=gone")
        assert api_down.status_code == 503
        assert api_down.json()["endpoint"] == rows["gone"].endpoint

        up = admin_client.get("/containers/?engine=second")
        assert up.status_code == 200 and name in up.content.decode()
        assert 'id="engine-down"' not in up.content.decode()
        first = admin_client.get("/containers/")
        assert first.status_code == 200 and name not in first.content.decode()
    finally:
        box.remove(force=True)


def test_an_unknown_engine_is_a_404_in_words(admin_client: Client, admin_api: Any) -> None:
    page = admin_client.get("/containers/?engine=nowhere")
    assert page.status_code == 404 and "no engine named" in page.content.decode()
    api = admin_api.get("/api/v1/containers/?engine=nowhere")
    assert api.status_code == 404
    assert api.json() == {"error": "There is no engine named 'nowhere'.", "field": "engine"}


def test_the_switcher_keeps_the_kind_of_page_and_links_keep_the_engine(
    admin_client: Client, rows: dict[str, Engine], second_docker: Any, test_image: str
) -> None:
    name = f"dd-eng2-links-{RUN_ID}"
    box = second_docker.containers.run(
        test_image,
        ["sleep", "600"],
        name=name,
        labels=LABELS,
        detach=True,
    )
    try:
        detail = admin_client.get(f"/containers/{name}/?engine=second").content.decode()
        switch = re.search(r'<form class="engine-switch"[^>]*action="([^"]+)"', detail)
        assert switch is not None and switch.group(1) == "/containers/"
        chosen = re.findall(r'<option value="([\w-]+)"( selected)?>', detail)
        assert chosen == [("local", ""), ("second", " selected"), ("gone", "")]
        assert 'href="/containers/?engine=second"' in detail  # the navigation bar
        assert f'href="/containers/{box.id}/logs/?engine=second"' in detail  # a tab
        assert f"/containers/{box.id}/?partial=overview&amp;engine=second" in detail
        listing = admin_client.get("/containers/?engine=second").content.decode()
        assert re.search(rf'href="/containers/[^"?]+/\?engine=second"[^>]*>\s*{name}', listing)

        # A form's answer sends the browser on to the same engine.
        stopped = admin_client.post(f"/containers/{name}/action/kill/?engine=second")
        assert stopped.status_code == 302 and "engine=second" in stopped["Location"]
        # On the first engine, links are as they always were.
        home = admin_client.get("/containers/").content.decode()
        assert "?engine=" not in home.split('<form class="engine-switch"')[0]
    finally:
        box.remove(force=True)


@database_sync_to_async
def _session_headers(user: Any) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    return [(b"origin", b"http://localhost"), (b"cookie", f"sessionid={cookie}".encode())]


async def _frame(communicator: WebsocketCommunicator, check: Any) -> dict[str, Any]:
    async def first_match() -> dict[str, Any]:
        while True:
            frame = json.loads(await communicator.receive_from(timeout=10))
            if check(frame):
                return frame

    return await asyncio.wait_for(first_match(), 10)


@pytest.mark.django_db(transaction=True)
async def test_websockets_work_on_the_engine_their_url_names(
    admin_user: Any,
    rows: dict[str, Engine],
    second: NetnsEngine,
    second_docker: Any,
    test_image: str,
    settings: Any,
) -> None:
    settings.STATS_GRACE = 0.2
    box = await asyncio.to_thread(
        second_docker.containers.run,
        test_image,
        ["sh", "-c", "echo hello-from-second; sleep 600"],
        name=f"dd-eng2-ws-{RUN_ID}",
        labels=LABELS,
        detach=True,
    )
    headers = await _session_headers(admin_user)
    opened: list[WebsocketCommunicator] = []
    try:
        unknown = WebsocketCommunicator(application, "/ws/stats/?engine=nowhere", headers=headers)
        assert await unknown.connect(timeout=10) == (False, 4404)

        live = WebsocketCommunicator(application, "/ws/stats/?engine=second", headers=headers)
        opened.append(live)
        assert (await live.connect(timeout=10))[0]
        frame = await _frame(
            live,
            lambda f: f["type"] == "stats" and any(c["id"] == box.id for c in f["containers"]),
        )
        running = {c.id for c in await asyncio.to_thread(second_docker.containers.list)}
        assert {c["id"] for c in frame["containers"]} <= running

        watching = WebsocketCommunicator(application, "/ws/events/?engine=second", headers=headers)
        opened.append(watching)
        assert (await watching.connect(timeout=10))[0]
        await asyncio.to_thread(box.pause)  # the socket's stream is open: it hears this
        paused = await _frame(
            watching,
            lambda f: any(e["id"] == box.id and e["action"] == "pause" for e in f["events"]),
        )
        assert paused["type"] == "events"
        await asyncio.to_thread(box.unpause)

        route = f"/ws/containers/{box.id}/logs/?engine=second&tail=all&follow=0"
        logs = WebsocketCommunicator(application, route, headers=headers)
        opened.append(logs)
        assert (await logs.connect(timeout=10))[0]
        lines = await _frame(logs, lambda f: f["type"] == "logs")
        assert ["o", "hello-from-second"] in lines["lines"]
    finally:
        for communicator in opened:
            await communicator.disconnect()
        await stats.sampler_for(second.url).stop()
        await asyncio.to_thread(box.remove, force=True)


def test_a_students_quota_counts_their_containers_on_every_engine(
    make_user: Any,
    api_client: Any,
    rows: dict[str, Engine],
    second_docker: Any,
    docker_client: Any,
    test_image: str,
) -> None:
    student = make_user(f"engq{RUN_ID}", "student")
    Quota.objects.create(user=student, max_containers=1)
    api_client.force_authenticate(student)
    body = {
        "image": test_image,
        "command": ["sleep", "600"],
        "labels": LABELS,
        "memory": "32m",
        "cpus": 0.1,
        "pids_limit": 32,
    }
    mine = f"{OWNER_LABEL}={student.username}"
    try:
        made = api_client.post("/api/v1/containers/?engine=second", body, format="json")
        assert made.status_code == 201, made.json()
        refused = api_client.post("/api/v1/containers/", body, format="json")
        assert refused.status_code == 403, refused.json()
        assert "1 of 1" in refused.json()["error"]
        assert docker_client.containers.list(all=True, filters={"label": mine}) == []
        assert len(second_docker.containers.list(all=True, filters={"label": mine})) == 1
    finally:
        for c in second_docker.containers.list(all=True, filters={"label": mine}):
            c.remove(force=True)
        for c in docker_client.containers.list(all=True, filters={"label": mine}):
            c.remove(force=True)


@pytest.mark.django_db(transaction=True)
def test_a_job_runs_on_the_engine_of_the_request_that_started_it(
    admin_client: Client,
    admin_api: Any,
    rows: dict[str, Engine],
    second_docker: Any,
    docker_client: Any,
    test_image: str,
) -> None:
    tag = f"dockdash-test-eng2-build:{RUN_ID}"
    dockerfile = SimpleUploadedFile("Dockerfile", f"FROM {test_image}\nLABEL on=second\n".encode())
    try:
        answer = admin_client.post(
            "/registries/build/?engine=second", {"tag": tag, "dockerfile_file": dockerfile}
        )
        assert answer.status_code == 302 and "engine=second" in answer["Location"], answer
        job = int(re.search(r"/jobs/(\d+)/", answer["Location"]).group(1))  # type: ignore[union-attr]
        ended = wait_for(
            lambda: (
                (found := admin_api.get(f"/api/v1/jobs/{job}/").json())["state"] != "running"
                and found
            ),
            timeout=20,
            what="the build job to end",
        )
        assert ended["state"] == "succeeded", ended["log"]
        assert second_docker.images.get(tag).labels["on"] == "second"
        assert docker_client.images.list(name=tag) == []
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            second_docker.images.remove(tag, force=True)
