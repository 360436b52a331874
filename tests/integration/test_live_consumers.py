"""Live stats, logs and terminal websockets, driven through the full ASGI application.

Each test logs in through a real session cookie, sends a same-origin Origin
header, and always disconnects. The engine (docker-py) judges what happened.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from containers_app import consumers, logs, stats
from dashboard.access import OWNER_LABEL
from dashboard.asgi import application
from dashboard.models import AuditEntry
from registry_app.models import Job
from tests.rig import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")


@database_sync_to_async
def _session_headers(user: Any) -> list[tuple[bytes, bytes]]:
    """Headers of a logged-in browser tab: a real session cookie and our own Origin."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    return [ORIGIN, (b"cookie", f"sessionid={cookie}".encode())]


async def _open(path: str, headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected, path
    return communicator


async def _open_as(user: Any, path: str) -> WebsocketCommunicator:
    """A websocket opened from a browser tab logged in as `user`."""
    return await _open(path, await _session_headers(user))


@pytest.fixture
def admin_socket_to_new_container(
    admin_user: Any, make_container: Callable[..., Any]
) -> Callable[[str], Awaitable[tuple[Any, WebsocketCommunicator]]]:
    """Makes a new container and opens a websocket to one of its routes (`logs/?...`,
    `exec/`) as the admin; answers both."""

    async def open_socket(route: str) -> tuple[Any, WebsocketCommunicator]:
        container = await asyncio.to_thread(make_container)
        return container, await _open_as(admin_user, f"/ws/containers/{container.id}/{route}")

    return open_socket


async def _frames_until(
    communicator: WebsocketCommunicator,
    check: Callable[[dict[str, Any]], bool],
    timeout: float = 10,
) -> dict[str, Any]:
    async def loop() -> dict[str, Any]:
        while True:
            frame = json.loads(await communicator.receive_from(timeout=timeout))
            if check(frame):
                return frame

    return await asyncio.wait_for(loop(), timeout)


@pytest.fixture
async def fast_sampler(settings: Any) -> AsyncIterator[stats.StatsSampler]:
    settings.STATS_GRACE = 0.2
    sampler = stats.sampler_for()
    sampler.interval = 0.5
    yield sampler
    await sampler.stop()


@pytest.fixture
def student(make_user: Callable[..., Any]) -> Any:
    return make_user("student1", "student")


# ---------------------------------------------------------------- stats


async def test_stats_socket_refuses_anonymous_and_foreign_origin(admin_user: Any) -> None:
    anonymous = WebsocketCommunicator(application, "/ws/stats/", headers=[ORIGIN])
    connected, _ = await anonymous.connect(timeout=10)
    assert not connected
    await anonymous.disconnect()

    headers = await _session_headers(admin_user)
    foreign = [(b"origin", b"http://evil.example"), *headers[1:]]
    communicator = WebsocketCommunicator(application, "/ws/stats/", headers=foreign)
    connected, _ = await communicator.connect(timeout=10)
    assert not connected
    await communicator.disconnect()


async def test_overview_frames_carry_every_running_container_and_the_host(
    admin_user: Any, make_container: Callable[..., Any], fast_sampler: stats.StatsSampler
) -> None:
    container = await asyncio.to_thread(make_container, mem_limit="64m")
    communicator = await _open_as(admin_user, "/ws/stats/")
    try:
        history = json.loads(await communicator.receive_from(timeout=10))
        assert history["type"] == "history"
        frame = await _frames_until(
            communicator,
            lambda f: (
                f["type"] == "stats" and any(c["id"] == container.id for c in f["containers"])
            ),
        )
        mine = next(c for c in frame["containers"] if c["id"] == container.id)
        assert mine["mem_limit"] == 67108864
        assert frame["host"]["ncpu"] >= 1 and frame["host"]["mem_total"] > 0
        assert fast_sampler.running
    finally:
        await communicator.disconnect()


async def test_container_started_while_watching_appears_within_a_few_ticks(
    admin_user: Any, make_container: Callable[..., Any], fast_sampler: stats.StatsSampler
) -> None:
    communicator = await _open_as(admin_user, "/ws/stats/")
    try:
        await _frames_until(communicator, lambda f: f["type"] == "stats")
        # Far from the periodic re-list: only the Docker event can bring it in this soon.
        fast_sampler._ticks = 1
        container = await asyncio.to_thread(make_container)
        started = asyncio.get_running_loop().time()
        await _frames_until(
            communicator,
            lambda f: (
                f["type"] == "stats" and any(c["id"] == container.id for c in f["containers"])
            ),
        )
        assert asyncio.get_running_loop().time() - started < 5 * fast_sampler.interval + 2
        await asyncio.to_thread(container.kill)
        await _frames_until(
            communicator,
            lambda f: (
                f["type"] == "stats" and all(c["id"] != container.id for c in f["containers"])
            ),
        )
    finally:
        await communicator.disconnect()


async def test_student_sees_only_own_containers_in_frames(
    student: Any, make_container: Callable[..., Any], fast_sampler: stats.StatsSampler
) -> None:
    own = await asyncio.to_thread(make_container, labels={OWNER_LABEL: "student1"})
    other = await asyncio.to_thread(make_container, labels={OWNER_LABEL: "student2"})
    communicator = await _open_as(student, "/ws/stats/")
    try:
        frame = await _frames_until(
            communicator,
            lambda f: f["type"] == "stats" and any(c["id"] == own.id for c in f["containers"]),
        )
        ids = {c["id"] for c in frame["containers"]}
        assert other.id not in ids
        assert all(c["owner"] == "student1" for c in frame["containers"])
    finally:
        await communicator.disconnect()


async def _compact_frame(communicator: WebsocketCommunicator, *, ack: bool = True) -> Any:
    """The next compact frame; then, unless told not to, say it was drawn."""
    frame = await _frames_until(communicator, lambda f: f["type"] == "stats")
    if ack:
        await communicator.send_to(text_data="ack")
    return frame


def _row_ids(frame: dict[str, Any]) -> set[str]:
    return {row[0] for row in frame["rows"]}


async def test_compact_overview_frames_carry_what_changed_and_wait_until_the_viewer_drew(
    admin_user: Any, make_container: Callable[..., Any], fast_sampler: stats.StatsSampler
) -> None:
    idle = await asyncio.to_thread(make_container)
    busy = await asyncio.to_thread(make_container, ["sh", "-c", "while :; do :; done"])
    headers = await _session_headers(admin_user)
    paced = await _open("/ws/stats/?compact=1", headers)
    keen = await _open("/ws/stats/?compact=1", headers)
    try:
        for socket in (paced, keen):
            assert json.loads(await socket.receive_from(timeout=10))["type"] == "history"
        first = await _compact_frame(paced, ack=False)
        assert first["full"] and first["fields"][:3] == ["id", "name", "cpu_percent"]
        assert {idle.id, busy.id} <= _row_ids(first)
        # Not drawn yet: no frame for four ticks, while the other viewer gets each one.
        keen_frames = [await _compact_frame(keen) for _ in range(4)]
        assert await paced.receive_nothing(timeout=0.2)
        assert [f["full"] for f in keen_frames] == [True, False, False, False]
        # An idle container's numbers stay; a busy one's move: only the moving row comes.
        # (Now and then the idle one's do move too: other tests' new containers send their
        # multicast to every container on the bridge, so it may take some ticks.)
        changed = [_row_ids(f) for f in keen_frames[1:]]
        while all(idle.id in ids for ids in changed) and len(changed) < 12:
            changed.append(_row_ids(await _compact_frame(keen)))
        assert any(busy.id in ids for ids in changed), changed
        assert any(idle.id not in ids for ids in changed), changed
        # A viewer that comes now gets the last minute's CPU of each, for its sparkline, alone.
        late = await _open("/ws/stats/?compact=1", headers)
        try:
            history = json.loads(await late.receive_from(timeout=10))
            spark = history["containers"][idle.id]
            assert spark["fields"] == ["cpu_percent"] and len(spark["fine"][0]) >= 4, spark
        finally:
            await late.disconnect()
        # Drawn, but the frames it missed went on from one it never got: a full one next.
        await paced.send_to(text_data="ack")
        assert (await _compact_frame(paced))["full"]
        await asyncio.to_thread(busy.kill)
        gone = await _frames_until(paced, lambda f: busy.id in f.get("gone", []))
        assert not gone["full"] and busy.id not in _row_ids(gone)
    finally:
        await paced.disconnect()
        await keen.disconnect()


async def test_frames_of_objects_too_big_for_the_server_end_with_a_reason_compact_ones_go_on(
    admin_user: Any,
    make_container: Callable[..., Any],
    fast_sampler: stats.StatsSampler,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await asyncio.to_thread(make_container)
    # As a frame of some 600 containers is for daphne's 1 MiB: this one is over the limit.
    monkeypatch.setattr(consumers, "MESSAGE_LIMIT", 200)
    headers = await _session_headers(admin_user)
    full = await _open("/ws/stats/", headers)
    compact = await _open("/ws/stats/?compact=1", headers)
    try:
        said = await _frames_until(full, lambda f: f["type"] == "error")
        assert "compact=1" in said["message"]
        assert (await full.receive_output(timeout=5))["code"] == consumers.CLOSE_TOO_BIG
        frames = [await _compact_frame(compact) for _ in range(2)]
        assert frames[0]["full"] and not frames[1]["full"]
    finally:
        await full.disconnect()
        await compact.disconnect()


async def test_a_students_compact_frames_carry_only_their_containers(
    student: Any, make_container: Callable[..., Any], fast_sampler: stats.StatsSampler
) -> None:
    own = await asyncio.to_thread(make_container, labels={OWNER_LABEL: "student1"})
    other = await asyncio.to_thread(make_container, labels={OWNER_LABEL: "student2"})
    communicator = await _open_as(student, "/ws/stats/?compact=1")
    try:
        frames = [await _compact_frame(communicator) for _ in range(3)]
        assert _row_ids(frames[0]) == {own.id}
        assert all(other.id not in _row_ids(f) for f in frames)
    finally:
        await communicator.disconnect()


async def test_container_stats_socket_sends_history_then_samples(
    admin_user: Any, make_container: Callable[..., Any], fast_sampler: stats.StatsSampler
) -> None:
    container = await asyncio.to_thread(make_container)
    headers = await _session_headers(admin_user)
    first = await _open(f"/ws/containers/{container.name}/stats/", headers)
    try:
        assert json.loads(await first.receive_from(timeout=10))["type"] == "history"
        for _ in range(3):
            sample = await _frames_until(
                first, lambda f: f["type"] == "sample" and f["sample"] is not None
            )
        assert sample["sample"]["id"] == container.id
    finally:
        await first.disconnect()
    # A second viewer gets the points gathered so far at once.
    second = await _open(f"/ws/containers/{container.id[:12]}/stats/", headers)
    try:
        history = json.loads(await second.receive_from(timeout=10))
        assert history["type"] == "history" and len(history["fine"][0]) >= 3
    finally:
        await second.disconnect()


async def test_student_cannot_watch_another_students_container(
    student: Any, make_container: Callable[..., Any]
) -> None:
    other = await asyncio.to_thread(make_container, labels={OWNER_LABEL: "student2"})
    communicator = WebsocketCommunicator(
        application, f"/ws/containers/{other.id}/stats/", headers=await _session_headers(student)
    )
    connected, code = await communicator.connect(timeout=10)
    assert not connected and code == 4404
    await communicator.disconnect()


async def test_sampler_stops_after_the_last_viewer_leaves(
    admin_user: Any, fast_sampler: stats.StatsSampler
) -> None:
    communicator = await _open_as(admin_user, "/ws/stats/")
    await _frames_until(communicator, lambda f: f["type"] == "stats")
    assert fast_sampler.running
    await communicator.disconnect()
    for _ in range(100):
        if not fast_sampler.running:
            break
        await asyncio.sleep(0.05)
    assert not fast_sampler.running


# ---------------------------------------------------------------- logs


async def _log_lines(communicator: WebsocketCommunicator) -> tuple[list[list[str]], str]:
    lines: list[list[str]] = []
    while True:
        frame = json.loads(await communicator.receive_from(timeout=15))
        if frame["type"] == "logs":
            lines.extend(frame["lines"])
        elif frame["type"] == "end":
            return lines, frame["reason"]


async def test_logs_keep_stdout_and_stderr_apart_and_honour_tail(
    admin_user: Any, make_container: Callable[..., Any], docker_client: Any
) -> None:
    container = await asyncio.to_thread(
        make_container,
        ["sh", "-c", "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; sleep 3600"],
    )
    headers = await _session_headers(admin_user)
    await asyncio.to_thread(
        wait_for,
        lambda: docker_client.api.logs(container.id).count(b"\n") == 10,
        what="its ten lines",
    )
    communicator = await _open(f"/ws/containers/{container.id}/logs/?tail=all&follow=0", headers)
    try:
        lines, reason = await _log_lines(communicator)
    finally:
        await communicator.disconnect()
    assert ["o", "out1"] in lines and ["e", "err1"] in lines
    assert [text for tag, text in lines if tag == "o"] == [f"out{i}" for i in range(1, 6)]
    assert reason

    communicator = await _open(f"/ws/containers/{container.id}/logs/?tail=2&follow=0", headers)
    try:
        lines, _ = await _log_lines(communicator)
    finally:
        await communicator.disconnect()
    assert len(lines) == 2


async def test_followed_log_shows_new_lines_and_ends_when_the_container_stops(
    admin_user: Any, make_container: Callable[..., Any]
) -> None:
    container = await asyncio.to_thread(
        make_container,
        ["sh", "-c", "i=0; while [ $i -lt 30 ]; do echo tick$i; i=$((i+1)); sleep 0.1; done"],
    )
    communicator = await _open_as(
        admin_user, f"/ws/containers/{container.id}/logs/?tail=all&timestamps=1"
    )
    try:
        lines, reason = await _log_lines(communicator)
    finally:
        await communicator.disconnect()
    texts = [text for _, text in lines]
    assert texts[-1].endswith("tick29") and texts[0][:2] == "20"  # timestamped
    assert "stopped" in reason
    assert await asyncio.to_thread(logs.wait_idle)


async def test_closing_the_log_socket_ends_the_stream(admin_socket_to_new_container: Any) -> None:
    _, communicator = await admin_socket_to_new_container("logs/?follow=1")
    for _ in range(100):
        if logs.active_streams():
            break
        await asyncio.sleep(0.02)
    assert logs.active_streams() >= 1
    await communicator.disconnect()
    assert await asyncio.to_thread(logs.wait_idle)


async def test_bad_log_options_get_a_message(admin_socket_to_new_container: Any) -> None:
    _, communicator = await admin_socket_to_new_container("logs/?tail=lots")
    try:
        frame = json.loads(await communicator.receive_from(timeout=10))
        assert frame == {"type": "error", "message": "tail must be a number of lines or 'all'."}
        closed = await communicator.receive_output(timeout=5)
        assert closed["type"] == "websocket.close"
    finally:
        await communicator.disconnect()


# ---------------------------------------------------------------- terminal


async def _read_until(communicator: WebsocketCommunicator, needle: bytes) -> bytes:
    seen = b""
    while needle not in seen:
        message = await communicator.receive_output(timeout=10)
        seen += message.get("bytes") or b""
    return seen


async def test_a_resize_of_sizes_no_number_can_hold_leaves_the_terminal_working(
    admin_socket_to_new_container: Any,
) -> None:
    _, communicator = await admin_socket_to_new_container("exec/?shell=sh&cols=100&rows=30")
    try:
        # JSON reads 1e999 as infinity, which no int can hold.
        await communicator.send_to(text_data='{"type": "resize", "cols": 1e999, "rows": -1e999}')
        await communicator.send_to(bytes_data=b"stty size; echo al''ive\n")
        output = await _read_until(communicator, b"alive")
        assert b"30 100" in output  # kept as it was
    finally:
        await communicator.disconnect(timeout=10)


async def test_terminal_runs_a_command_and_closing_ends_the_exec(
    admin_socket_to_new_container: Any, docker_client: Any
) -> None:
    container, communicator = await admin_socket_to_new_container("exec/?shell=sh&cols=100&rows=30")
    try:
        await communicator.send_to(
            text_data=json.dumps({"type": "resize", "cols": 120, "rows": 40})
        )
        await communicator.send_to(bytes_data=b"stty size; echo hel''lo-$((6*7))\n")
        output = await _read_until(communicator, b"hello-42")
        assert b"40 120" in output
    finally:
        await communicator.disconnect(timeout=10)
    start = await database_sync_to_async(
        lambda: AuditEntry.objects.filter(action="exec.start", target_id=container.id).first()
    )()
    assert start is not None and start.result == "ok"
    exec_id = start.params["exec_id"]
    assert not (await asyncio.to_thread(docker_client.api.exec_inspect, exec_id))["Running"]
    assert not [t for t in threading.enumerate() if t.name == f"exec-{exec_id[:12]}"]
    assert await database_sync_to_async(
        AuditEntry.objects.filter(action="exec.end", target_id=container.id).exists
    )()


async def test_closing_the_terminal_ends_a_program_that_ignores_hangup(
    admin_socket_to_new_container: Any, docker_client: Any
) -> None:
    container, communicator = await admin_socket_to_new_container("exec/")
    try:
        await communicator.send_to(bytes_data=b"trap '' HUP; echo rea''dy; sleep 600\n")
        await _read_until(communicator, b"ready")
    finally:
        await communicator.disconnect(timeout=10)
    start = await database_sync_to_async(
        lambda: AuditEntry.objects.filter(action="exec.start", target_id=container.id).first()
    )()
    info = await asyncio.to_thread(docker_client.api.exec_inspect, start.params["exec_id"])
    assert not info["Running"]
    top = await asyncio.to_thread(docker_client.api.top, container.id)
    assert not any("sleep 600" in " ".join(p) for p in top["Processes"])


async def test_viewer_may_not_open_a_terminal(
    make_user: Callable[..., Any], make_container: Callable[..., Any]
) -> None:
    viewer = await database_sync_to_async(make_user)("viewer1", "viewer")
    container = await asyncio.to_thread(make_container)
    communicator = WebsocketCommunicator(
        application, f"/ws/containers/{container.id}/exec/", headers=await _session_headers(viewer)
    )
    connected, code = await communicator.connect(timeout=10)
    assert not connected and code == 4403
    await communicator.disconnect()


@pytest.mark.parametrize("path", ["/ws/stats/", "/ws/events/", "/ws/jobs/{job}/"])
async def test_a_frame_that_is_not_json_leaves_a_watching_socket_open(
    admin_user: Any, path: str
) -> None:
    job = await Job.objects.acreate(
        kind=Job.Kind.PULL, state=Job.State.SUCCEEDED, user=admin_user, username="admin"
    )
    communicator = await _open_as(admin_user, path.format(job=job.pk))
    try:
        for junk in ("not json", "{", "null", "[]"):
            await communicator.send_to(text_data=junk)
        await communicator.send_to(bytes_data=b"\xff")
        await asyncio.sleep(0.5)
        # The application still runs: no server error (1011) ended it.
        assert not communicator.future.done(), communicator.future
    finally:
        await communicator.disconnect()
