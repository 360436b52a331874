"""Job progress over /ws/jobs/<id>/: frames in order, ending with the digest; who may watch."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from registry_app import services
from registry_app.models import Job, Registry
from registry_app.routing import websocket_urlpatterns
from tests import rig
from tests.integration.registry_helpers import build_unique_image, repo_name
from tests.rig import RUN_ID, docker_cli

pytestmark = [
    pytest.mark.engine,
    pytest.mark.registry,
    pytest.mark.django_db(transaction=True),
]

PULL_ORDER = ["waiting", "downloading", "downloaded", "extracting", "done"]
PUSH_ORDER = ["waiting", "pushing", "done"]


def actor(user: Any) -> SimpleNamespace:
    """Who starts a job through the gate, as a request would carry them."""
    return SimpleNamespace(user=user, META={})


async def watch(user: Any, job_id: int, timeout: float = 90) -> list[dict[str, Any]]:
    """Every frame a viewer receives until the job ends."""
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/jobs/{job_id}/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while not frames or frames[-1]["state"] == "running":
            frames.append(await communicator.receive_json_from(timeout=deadline - time.monotonic()))
    finally:
        await communicator.disconnect()
    return frames


def assert_in_order(frames: list[dict[str, Any]], order: list[str]) -> None:
    # The first frame is the snapshot sent on joining; it may repeat the next one.
    seqs = [f["seq"] for f in frames]
    assert seqs[0] <= seqs[1] if len(seqs) > 1 else True
    assert seqs[1:] == sorted(set(seqs[1:])), seqs
    done = [f["bytes_done"] for f in frames]
    assert done == sorted(done), done
    seen: dict[str, int] = {}
    for frame in frames:
        for layer in frame["layers"]:
            if layer["phase"] == "exists":
                continue
            rank = order.index(layer["phase"])
            assert rank >= seen.get(layer["id"], 0), (layer, frames)
            seen[layer["id"]] = rank


def log_of(frames: list[dict[str, Any]]) -> list[str]:
    """The log as a viewer puts it together: each frame's lines start at its `log_from`."""
    lines: list[str] = []
    for frame in frames:
        assert frame["log_from"] <= len(lines), "a frame skipped log lines"
        lines = lines[: frame["log_from"]] + frame["lines"]
    return lines


async def stored_log(job_id: int) -> list[str]:
    job = await Job.objects.aget(pk=job_id)
    return job.log.splitlines()


@pytest.fixture
def registry(registry_server: rig.RegistryServer) -> Registry:
    reg = Registry.objects.create(name="class", url=registry_server.url)
    reg.set_own_credential(registry_server.username, registry_server.password)
    return reg


async def test_push_then_pull_frames_arrive_in_order_and_end_with_the_digest(
    make_user: Any,
    registry: Registry,
    docker_client: Any,
    test_image: str,
    registry_server: rig.RegistryServer,
) -> None:
    # Loopback registries are for admins only (the test registry listens on 127.0.0.1).
    user = await database_sync_to_async(make_user)("root", "admin")
    source = f"dockdash-test-blob:{RUN_ID}-ws"
    await asyncio.to_thread(build_unique_image, docker_client, test_image, source)
    repo = repo_name("class")
    target = f"{registry_server.host}/{repo}:v1"
    try:
        job = await database_sync_to_async(services.push)(
            actor(user), source, registry.pk, repo, "v1"
        )
        frames = await watch(user, job.pk)
        last = frames[-1]
        assert last["state"] == "succeeded", last["error"]
        assert last["digest"].startswith("sha256:")
        assert log_of(frames) == await stored_log(job.pk)
        assert log_of(frames)[-1].startswith(f"v1: digest: {last['digest']} size: ")
        assert any(layer["status"] == "Pushed" for layer in last["layers"])
        assert_in_order(frames, PUSH_ORDER)
        pushed_digest = last["digest"]

        await asyncio.to_thread(docker_cli, "rmi", target, source)
        job = await database_sync_to_async(services.pull)(actor(user), f"{repo}:v1", registry.pk)
        frames, second_viewer = await asyncio.gather(watch(user, job.pk), watch(user, job.pk))
        last = frames[-1]
        assert second_viewer[-1] == last  # many viewers, one job: the same end
        assert last["state"] == "succeeded", last["error"]
        assert last["digest"] == pushed_digest
        assert log_of(frames) == await stored_log(job.pk)
        assert log_of(frames)[-2] == f"Digest: {pushed_digest}"
        assert_in_order(frames, PULL_ORDER)
        assert len(frames) >= 3, "a 24 MB pull should show intermediate frames"
        moving = {f["bytes_done"] for f in frames if f["state"] == "running"}
        assert len(moving) >= 2 or any(0 < f["bytes_done"] < f["bytes_total"] for f in frames)
        assert last["bytes_done"] == last["bytes_total"] > 0
    finally:
        await asyncio.to_thread(docker_cli, "rmi", "--force", target, check=False)
        await asyncio.to_thread(docker_cli, "rmi", "--force", source, check=False)


async def test_only_the_owner_and_staff_may_watch_a_job(make_user: Any, teach: Any) -> None:
    alice = await database_sync_to_async(make_user)("alice", "student")
    bob = await database_sync_to_async(make_user)("bob", "student")
    teacher = await database_sync_to_async(make_user)("teacher", "instructor")
    await database_sync_to_async(teach)(teacher, alice)
    # A registry students may use (not loopback) where nothing answers: the job fails fast.
    closed = await Registry.objects.acreate(
        name="closed", url="https://192.0.2.1:9", allow_non_admins=True
    )
    job = await database_sync_to_async(services.pull)(actor(alice), "class/none:missing", closed.pk)
    for viewer, allowed in ((alice, True), (teacher, True), (bob, False), (AnonymousUser(), False)):
        communicator = WebsocketCommunicator(
            URLRouter(websocket_urlpatterns), f"/ws/jobs/{job.pk}/"
        )
        communicator.scope["user"] = viewer
        connected, _ = await communicator.connect()
        assert connected is allowed, viewer
        await communicator.disconnect()
    frames = await watch(alice, job.pk)
    assert frames[-1]["state"] == "failed" and "unreachable" in frames[-1]["error"]
