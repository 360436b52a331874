"""Several engines: the first one configured (the host's own), a second one started for this
module (tests/extra_engines.py) and added as a row, and one that is down. Pages, API calls
and websockets go to the engine `?engine=` names; the Docker CLI on each engine is the judge.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from containers_app.models import Engine
from dashboard.access import OWNER_LABEL
from dashboard.asgi import application
from dashboard.models import AuditEntry, Quota
from tests.extra_engines import Node, extra_engine, require_extra_engines
from tests.rig import LABELS, RUN_ID, docker_cli, post_json, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.engine,
    pytest.mark.timeout(240),
]
SECOND = "second"
DOWN = "gone"


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    require_extra_engines()
    with extra_engine("en") as made:
        yield made


@pytest.fixture
def second(node: Node, db: Any) -> Node:
    """The extra engine, as an admin added it."""
    Engine.objects.create(name=SECOND, endpoint=node.url)
    return node


@pytest.fixture
def down(second: Node, tmp_path: Any) -> str:
    """An engine whose daemon is not running (its socket is not there)."""
    url = f"unix://{tmp_path}/not-running.sock"
    Engine.objects.create(name=DOWN, endpoint=url)
    return url


@pytest.fixture
def student(make_user: Any) -> Any:
    return make_user("estudent", "student")


@pytest.fixture
def made_on_second(second: Node) -> Iterator[list[str]]:
    """Names of containers a test made on the second engine: removed after it."""
    names: list[str] = []
    yield names
    for name in names:
        second.cli("rm", "-f", name, check=False)


def names_on(node: Node | None) -> set[str]:
    args = ("ps", "-a", "--format", "{{.Names}}")
    out = node.cli(*args) if node is not None else docker_cli(*args)
    return set(out.split())


def test_engines_are_listed_with_their_state_and_only_admins_change_them(
    down: str, second: Node, admin_api: Any, student: Any
) -> None:
    rows = admin_api.get("/api/v1/engines/").json()
    assert [r["name"] for r in rows] == ["local", DOWN, SECOND]
    local, gone, other = rows
    assert (
        local["first"] and local["reachable"] and local["endpoint"] == "unix:///var/run/docker.sock"
    )
    assert other["reachable"] and other["endpoint"] == second.url
    assert (
        other["version"]
        == json.loads(second.cli("version", "--format", "{{json .Server}}"))["Version"]
    )
    assert other["containers"] == len(names_on(second))
    assert not gone["reachable"] and "socket does not exist" in gone["error"]

    student_api = Client()
    student_api.force_login(student)
    seen = student_api.get("/api/v1/engines/").json()
    assert [r["name"] for r in seen] == ["local", DOWN, SECOND]
    assert "endpoint" not in seen[2]  # where an engine listens is not a student's business
    refused = student_api.post(
        "/api/v1/engines/", {"name": "mine", "endpoint": "unix:///tmp/x.sock"}, "application/json"
    )
    assert refused.status_code == 403
    assert not Engine.objects.filter(name="mine").exists()
    row = AuditEntry.objects.get(action="engine.add")
    assert row.result == "error" and row.username == "estudent"


def test_an_admin_adds_changes_and_removes_an_engine_and_bad_input_changes_nothing(
    node: Node, admin_api: Any
) -> None:
    bad = admin_api.post("/api/v1/engines/", {"name": "x", "endpoint": "http://h"}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "endpoint"
    bad_name = admin_api.post(
        "/api/v1/engines/", {"name": "a b", "endpoint": node.url}, format="json"
    )
    assert bad_name.status_code == 400 and bad_name.json()["field"] == "name"
    half_tls = admin_api.post(
        "/api/v1/engines/",
        {"name": "t", "endpoint": "tcp://198.18.0.9:2376", "ca_cert": "-----BEGIN X"},
        format="json",
    )
    assert half_tls.status_code == 400 and "all three" in half_tls.json()["error"]
    unknown = admin_api.post(
        "/api/v1/engines/", {"name": "u", "endpoint": node.url, "colour": "red"}, format="json"
    )
    assert unknown.status_code == 400 and unknown.json()["field"] == "colour"
    assert not Engine.objects.exists()

    added = admin_api.post(
        "/api/v1/engines/", {"name": "lab2", "endpoint": node.url}, format="json"
    )
    assert added.status_code == 201 and added.json()["reachable"], added.json()
    again = admin_api.post(
        "/api/v1/engines/", {"name": "lab2", "endpoint": node.url}, format="json"
    )
    assert again.status_code == 409
    changed = admin_api.patch("/api/v1/engines/lab2/", {"agent": True}, format="json")
    assert changed.status_code == 200 and changed.json()["agent"] is True
    assert Engine.objects.get(name="lab2").endpoint == node.url  # what it did not give stays
    first = admin_api.patch("/api/v1/engines/local/", {"agent": True}, format="json")
    assert first.status_code == 409 and "DOCKDASH_DOCKER_HOST" in first.json()["error"]
    assert admin_api.delete("/api/v1/engines/lab2/").status_code == 204
    assert admin_api.get("/api/v1/engines/lab2/").status_code == 404
    actions = list(AuditEntry.objects.order_by("id").values_list("action", "result"))
    assert ("engine.add", "ok") in actions and ("engine.remove", "ok") in actions
    assert ("engine.change", "error") in actions


def test_a_container_is_created_on_the_engine_asked_for_and_only_there(
    second: Node, admin_api: Any, made_on_second: list[str]
) -> None:
    name = f"dd-eng-{RUN_ID}"
    made_on_second.append(name)
    body = {"image": "busybox:latest", "name": name, "command": "sleep 60", "labels": LABELS}
    created = admin_api.post(f"/api/v1/containers/?engine={SECOND}", body, format="json")
    assert created.status_code == 201, created.json()
    assert name in names_on(second)
    assert name not in names_on(None)  # the first engine holds nothing of it
    listed = admin_api.get(f"/api/v1/containers/?engine={SECOND}").json()
    assert name in {c["name"] for c in listed}
    assert name not in {c["name"] for c in admin_api.get("/api/v1/containers/").json()}
    row = AuditEntry.objects.get(action="container.create")
    assert row.result == "ok" and row.params["engine"] == SECOND
    unknown = admin_api.get("/api/v1/containers/?engine=nowhere")
    assert unknown.status_code == 404 and unknown.json()["error"] == "No such engine: nowhere"


def test_a_down_engine_gets_the_banner_and_the_others_still_answer(
    down: str, second: Node, admin_client: Any
) -> None:
    page = admin_client.get(f"/containers/?engine={DOWN}")
    assert page.status_code == 503
    html = page.content.decode()
    assert "The Docker engine is unreachable" in html and down in html
    assert f'data-field="engine">{DOWN}<' in html
    assert admin_client.get(f"/containers/?engine={SECOND}").status_code == 200
    assert admin_client.get("/containers/?engine=local").status_code == 200
    api = admin_client.get(f"/api/v1/containers/?engine={DOWN}")
    assert api.status_code == 503 and api.json()["engine"] == DOWN
    listed = admin_client.get("/engine/all/")
    assert listed.status_code == 200
    assert listed.content.decode().count('class="badge ok">up<') == 2


def test_the_chosen_engine_stays_for_the_pages_of_that_session(
    second: Node, admin_client: Any, made_on_second: list[str]
) -> None:
    name = f"dd-kept-{RUN_ID}"
    made_on_second.append(name)
    second.cli("create", "--name", name, "--label", f"dockdash.test={RUN_ID}", "busybox:latest")
    page = admin_client.get(f"/containers/?engine={SECOND}").content.decode()
    assert name in page
    assert f'<option value="{SECOND}" selected>' in page  # the header's switcher
    assert name in admin_client.get("/containers/").content.decode()  # remembered
    assert name not in admin_client.get("/containers/?engine=local").content.decode()


def test_a_quota_holds_on_all_engines_together(
    second: Node, student: Any, make_container: Any, made_on_second: list[str]
) -> None:
    Quota.objects.create(user=student, max_containers=1)
    make_container(labels={OWNER_LABEL: student.username})  # on the first engine
    name = f"dd-over-{RUN_ID}"
    made_on_second.append(name)
    api = Client()
    api.force_login(student)
    body = {"image": "busybox:latest", "name": name, "command": "sleep 60", "labels": LABELS}
    refused = api.post(f"/api/v1/containers/?engine={SECOND}", body, "application/json")
    assert refused.status_code == 403, refused.json()
    assert "1" in refused.json()["error"]
    assert name not in names_on(second)
    row = AuditEntry.objects.get(action="container.create")
    assert row.result == "error" and row.params["engine"] == SECOND


async def test_live_stats_come_from_the_engine_the_socket_names(
    second: Node, admin_user: Any, made_on_second: list[str]
) -> None:
    name = f"dd-live-{RUN_ID}"
    made_on_second.append(name)
    await asyncio.to_thread(
        second.cli,
        "run",
        "-d",
        "--name",
        name,
        "--label",
        f"dockdash.test={RUN_ID}",
        "busybox:latest",
        "sleep",
        "120",
    )
    client = Client()
    await asyncio.to_thread(client.force_login, admin_user)
    headers = [
        (b"origin", b"http://localhost"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    socket = WebsocketCommunicator(application, f"/ws/stats/?engine={SECOND}", headers=headers)
    connected, _ = await socket.connect(timeout=10)
    assert connected
    try:

        async def a_frame_with_it() -> dict[str, Any]:
            while True:
                frame = json.loads(await socket.receive_from(timeout=10))
                if frame.get("type") == "stats" and frame["containers"]:
                    return frame

        frame = await asyncio.wait_for(a_frame_with_it(), 20)
        assert {c["name"] for c in frame["containers"]} == {name}
        assert [c["source"] for c in frame["containers"]] == ["cgroup"]  # its kernel files
    finally:
        await socket.disconnect()
    nowhere = WebsocketCommunicator(application, "/ws/stats/?engine=nowhere", headers=headers)
    connected, code = await nowhere.connect(timeout=10)
    assert connected
    assert (await nowhere.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4404}


def test_a_lab_provisioned_on_the_second_engine_runs_there_and_is_culled_there(
    second: Node, make_user: Any, teach: Any, tmp_path: Any
) -> None:
    from tests.integration.test_end_of_lesson import SLEEPER, _class, _culler

    student = f"ecs{RUN_ID}"
    slug, _, client = _class(make_user, teach, "ec", student)
    shell = {"name": "shell", "image": "busybox:latest", "command": SLEEPER}
    lab = {"name": "Lab", "slug": "l1", "containers": [shell], "network": False}
    made = post_json(client, f"/api/v1/classes/{slug}/labs/", {**lab, "idle_minutes": 20})
    assert made.status_code == 201, made.content
    answer = post_json(client, f"/api/v1/classes/{slug}/labs/l1/provision/?engine={SECOND}", {})
    assert answer.status_code == 202, answer.content

    def finished() -> dict[str, Any] | None:
        job = client.get(f"/api/v1/jobs/{answer.json()['job']}/").json()
        return job if job["state"] != "running" else None

    job = wait_for(finished, timeout=60, interval=0.3, what="the provision job")
    assert job["state"] == "succeeded", job["error"]
    name = f"{slug}-l1-{student}-shell"
    try:
        assert name in names_on(second) and name not in names_on(None)

        def running() -> bool:
            return second.cli("inspect", "-f", "{{.State.Running}}", name).strip() == "true"

        assert running()
        with _culler(tmp_path):
            wait_for(lambda: not running(), timeout=30, what="the idle lab container culled")
        cull = AuditEntry.objects.get(action="lab.cull")
        assert cull.result == "ok" and cull.params["engine"] == SECOND
    finally:
        second.cli("rm", "-f", name, check=False)


def test_the_history_writer_stores_the_second_engines_containers_too(
    second: Node, admin_api: Any, tmp_path: Any, made_on_second: list[str]
) -> None:
    from django.test import override_settings

    from containers_app import history, stats

    name = f"ehist{RUN_ID}"
    labels = [f"--label={k}={v}" for k, v in LABELS.items()]
    second.cli("run", "-d", "--name", name, *labels, "busybox:latest", "sleep", "3600")
    made_on_second.append(name)
    steps = {"HISTORY_FINE_STEP": 1, "HISTORY_COARSE_STEP": 2, "LOCK_DIR": tmp_path}
    with override_settings(**steps):
        loop = history.Loop(stats.each_sampler).start()
        try:

            def stored() -> list[Any]:
                answer = admin_api.get(f"/api/v1/containers/{name}/stats/?range=1h&engine={SECOND}")
                assert answer.status_code == 200, answer.content
                body = answer.json()
                times = dict(zip(body["fields"], body["points"], strict=True))["t"]
                return times if len(times) >= 2 else []

            wait_for(stored, timeout=30, interval=0.5, what="stored points of the second's")
        finally:
            loop.stop()
