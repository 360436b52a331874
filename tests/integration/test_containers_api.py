"""The containers API and the events websocket, against the real engine."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from containers_app.events import EventsConsumer, watcher
from dashboard.models import AuditEntry
from tests.rig import (
    LABELS,
    RUN_ID,
    docker_cli,
    docker_inspect,
    docker_run_labelled,
    frames_within,
    free_port,
    wait_for,
)

pytestmark = pytest.mark.django_db

# DESIGN.md's API contract: the keys of a container in the list, the detail and a create.
API_KEYS = {"id", "name", "image", "state", "status", "created", "ports", "labels", "owner"}


def test_list_running_then_all_with_the_contract_fields(
    admin_api: Any, make_container: Any
) -> None:
    up = make_container(name=f"dd-up-{RUN_ID}")
    down = make_container(start=False, name=f"dd-down-{RUN_ID}")
    running = {r["name"]: r for r in admin_api.get(f"/api/v1/containers/?q={RUN_ID}").json()}
    assert up.name in running and down.name not in running
    every = {r["name"]: r for r in admin_api.get(f"/api/v1/containers/?all=1&q={RUN_ID}").json()}
    assert set(every[down.name]) == API_KEYS
    assert every[down.name]["state"] == "created"
    assert every[up.name]["labels"] == LABELS


def test_actions_details_and_delete(admin_api: Any, make_container: Any) -> None:
    c = make_container(stop_signal="SIGKILL")
    assert (
        admin_api.post(f"/api/v1/containers/{c.name}/stop/").json()["command"]
        == f"docker stop {c.name}"
    )
    assert docker_inspect(c.id)["State"]["Status"] == "exited"
    detail = admin_api.get(f"/api/v1/containers/{c.id[:12]}/").json()
    assert detail["inspect"]["Id"] == c.id and detail["state"] == "exited"
    assert admin_api.post(f"/api/v1/containers/{c.id}/explode/").status_code == 404
    assert admin_api.get(f"/api/v1/containers/{c.id}/start/").status_code == 405
    renamed = admin_api.post(
        f"/api/v1/containers/{c.id}/rename/", {"name": "bad name"}, format="json"
    )
    assert renamed.status_code == 400 and renamed.json()["field"] == "name"
    assert admin_api.delete(f"/api/v1/containers/{c.id}/?force=1").status_code == 200
    assert docker_cli("ps", "-aq", "--filter", f"id={c.id}") == ""
    gone = admin_api.post(f"/api/v1/containers/{c.id}/start/")
    assert gone.status_code == 404 and "No such container" in gone.json()["error"]
    assert AuditEntry.objects.filter(target_id=c.id, action="container.remove").exists()


def test_anonymous_and_students_get_json_errors(
    api_client: Any, make_user: Any, make_container: Any
) -> None:
    c = make_container(labels={"dockdash.owner": "admin"})
    assert api_client.get("/api/v1/containers/").status_code == 401
    api_client.force_authenticate(make_user("stud2", "student"))
    assert api_client.post(f"/api/v1/containers/{c.id}/stop/").status_code == 404
    assert docker_inspect(c.id)["State"]["Running"] is True
    bind = {"image": "busybox", "volumes": [{"source": "/etc", "target": "/host-etc"}]}
    refused = api_client.post("/api/v1/containers/", bind, format="json")
    assert refused.status_code == 403 and "are for admins only" in refused.json()["error"]
    assert refused.json()["field"] == "volumes"


def test_openapi_schema_documents_the_endpoints(admin_client: Any) -> None:
    schema = admin_client.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for p in (
        "/api/v1/containers/",
        "/api/v1/containers/{ref}/",
        "/api/v1/images/",
        "/api/v1/networks/{ref}/connect/",
        "/api/v1/volumes/{name}/",
    ):
        assert p in paths, p
    create = schema["components"]["schemas"]["ContainerCreate"]["properties"]
    assert {"image", "ports", "volumes", "memory", "cpus", "pids_limit", "restart_policy"} <= set(
        create
    )


# ---------------------------------------------------------------- events websocket


async def connect_as(user: Any) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(EventsConsumer.as_asgi(), "/ws/events/")
    communicator.scope["user"] = user
    return communicator


async def receive_until(
    communicator: WebsocketCommunicator, match: Any, timeout: float = 5.0
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError("timed out waiting for the event")
        try:
            frame = await communicator.receive_json_from(timeout=left)
        except TimeoutError:
            raise AssertionError("timed out waiting for the event") from None
        for event in frame["events"]:
            if match(event):
                return event


@pytest.mark.django_db(transaction=True)
async def test_events_reach_the_owner_but_not_other_students(
    make_user: Any, docker_client: Any, test_image: str
) -> None:
    owner = await sync_to_async(make_user)("evowner", "student")
    other = await sync_to_async(make_user)("evother", "student")
    mine, theirs = await connect_as(owner), await connect_as(other)
    assert (await mine.connect())[0] and (await theirs.connect())[0]
    assert watcher.running
    try:
        name = f"dd-ev-{RUN_ID}"
        await asyncio.to_thread(
            docker_run_labelled, name, test_image, "sleep", "60", owner="evowner"
        )
        event = await receive_until(mine, lambda e: e["name"] == name and e["action"] == "start")
        assert event["kind"] == "container" and event["owner"] == "evowner"
        # Other runs share this engine (their image events are visible to all): only
        # this container's events must stay away from the other student.
        late = [e["name"] for f in await frames_within(theirs, 0.7) for e in f["events"]]
        assert name not in late
    finally:
        await mine.disconnect()
        await theirs.disconnect()
        await asyncio.to_thread(docker_cli, "rm", "-f", f"dd-ev-{RUN_ID}", check=False)
    assert not watcher.running


async def test_anonymous_websocket_is_closed() -> None:
    from django.contrib.auth.models import AnonymousUser

    communicator = await connect_as(AnonymousUser())
    connected, code = await communicator.connect()
    assert not connected and code == 4401
    assert not watcher.running


def test_student_create_follows_the_shared_host_policy_and_quota_defaults(
    api_client: Any, make_user: Any, test_image: str
) -> None:
    from dashboard import quotas

    student = make_user("stud3", "student")
    api_client.force_authenticate(student)
    outside = {"image": test_image, "ports": [{"container_port": 80, "host_port": 80}]}
    refused = api_client.post("/api/v1/containers/", {**outside, "labels": LABELS}, format="json")
    assert refused.status_code == 403 and refused.json()["field"] == "ports"
    name = f"dd-stud-{RUN_ID}"
    body = {"image": test_image, "name": name, "command": "sleep 60", "labels": LABELS}
    created = api_client.post("/api/v1/containers/", body, format="json")
    assert created.status_code == 201, created.json()
    host = docker_inspect(name)["HostConfig"]
    limits = quotas.limits_for(student)
    assert limits.memory_per_container  # the seeded student default
    assert host["Memory"] == limits.memory_per_container
    assert docker_inspect(name)["Config"]["Labels"]["dockdash.owner"] == "stud3"


# ------------------------------------------------ one container shape: list, detail, create

DURATION = re.compile(r"Less than a second|About an? \w+|\d+ \w+")


def _phrase(status: str) -> str:
    """A STATUS phrase with its duration blanked: "Up 3 seconds" and "Up 4 seconds" agree."""
    return DURATION.sub("<t>", status)


def _cli_state_and_status() -> dict[str, tuple[str, str]]:
    fields = "{{.ID}}\t{{.State}}\t{{.Status}}"
    label = f"label=dockdash.test={RUN_ID}"
    out = docker_cli("ps", "-a", "--no-trunc", "--filter", label, "--format", fields)
    rows = (line.split("\t") for line in out.splitlines())
    return {cid: (state, status) for cid, state, status in rows}


def test_list_detail_and_create_give_one_shape_with_state_word_and_status_phrase(
    admin_api: Any, make_container: Any, test_image: str
) -> None:
    port = free_port()
    body = {
        "image": test_image,
        "name": f"dd-shape-{RUN_ID}-{port}",
        "command": ["httpd", "-f", "-p", "80"],
        "ports": [{"container_port": 80, "host_port": port, "protocol": "tcp"}],
        "labels": LABELS,
    }
    created = admin_api.post("/api/v1/containers/", body, format="json")
    try:
        assert created.status_code == 201, created.json()
        made = created.json()
        assert set(made) == API_KEYS
        assert made["state"] == "running" and made["status"].startswith("Up ")
        assert made["ports"] == [
            {"ip": "0.0.0.0", "public": port, "private": 80, "protocol": "tcp"}  # noqa: S104
        ]
        exited = make_container(("true",))
        wait_for(lambda: docker_inspect(exited.id)["State"]["Status"] == "exited", what="exit")
        never = make_container(start=False)

        cli = _cli_state_and_status()
        rows = admin_api.get(f"/api/v1/containers/?all=1&q={RUN_ID}").json()
        listed = {r["id"]: r for r in rows}
        for cid in (made["id"], exited.id, never.id):
            row = listed[cid]
            detail = admin_api.get(f"/api/v1/containers/{cid}/").json()
            assert set(row) == API_KEYS and set(detail) - {"inspect"} == API_KEYS
            assert {k: detail[k] for k in API_KEYS - {"status"}} == {
                k: row[k] for k in API_KEYS - {"status"}
            }
            cli_state, cli_status = cli[cid]
            assert row["state"] == detail["state"] == cli_state
            assert row["state"] == docker_inspect(cid)["State"]["Status"]
            assert _phrase(row["status"]) == _phrase(detail["status"]) == _phrase(cli_status)
        assert listed[made["id"]]["created"] == made["created"]
        assert _phrase(listed[exited.id]["status"]) == "Exited (0) <t> ago"
        assert listed[never.id]["status"] == "Created"
    finally:
        docker_cli("rm", "-f", body["name"], check=False)
