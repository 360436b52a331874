"""Log views per user: one user's share of the server's log streams, through the websocket.

A student who opens more log views than their share gets a message frame and a
close, never a hung socket, and everyone else can still open theirs. Driven
through the full ASGI application with real session cookies and a real engine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client

from containers_app import logs
from containers_app.consumers import CLOSE_TOO_MANY
from dashboard.access import OWNER_LABEL
from dashboard.asgi import application
from tests.rig import load_settings, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")
GREETING = "hello from the log"


@database_sync_to_async
def _session_headers(user: Any) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    return [ORIGIN, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


async def _until(check: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


class Views:
    """The log sockets a test opened; all disconnected at the end, whatever happened."""

    def __init__(self) -> None:
        self.open: list[WebsocketCommunicator] = []

    async def connect(self, path: str, headers: list[tuple[bytes, bytes]]) -> Any:
        communicator = WebsocketCommunicator(application, path, headers=headers)
        self.open.append(communicator)
        connected, _ = await communicator.connect(timeout=10)
        assert connected, path
        return communicator

    async def close(self, communicator: WebsocketCommunicator) -> None:
        self.open.remove(communicator)
        await communicator.disconnect()

    async def close_all(self) -> None:
        for communicator in self.open:
            await communicator.disconnect()
        self.open.clear()


def _owned_container(make_container: Callable[..., Any], owner: str) -> Any:
    return make_container(
        ["sh", "-c", f"echo '{GREETING}'; sleep 3600"], labels={OWNER_LABEL: owner}
    )


async def _first_lines(communicator: WebsocketCommunicator) -> list[str]:
    frame = json.loads(await communicator.receive_from(timeout=10))
    assert frame["type"] == "logs", frame
    return [text for _, text in frame["lines"]]


async def _refusal(communicator: WebsocketCommunicator) -> tuple[str, int]:
    """The message frame of a refused view, then its close code (no hang: deadlines)."""
    frame = json.loads(await communicator.receive_from(timeout=10))
    assert frame["type"] == "error", frame
    closed = await communicator.receive_output(timeout=5)
    assert closed["type"] == "websocket.close"
    return frame["message"], closed["code"]


async def _fill_share(
    views: Views, path: str, headers: list[tuple[bytes, bytes]], username: str, count: int
) -> list[WebsocketCommunicator]:
    opened = []
    for _ in range(count):
        communicator = await views.connect(path, headers)
        assert GREETING in await _first_lines(communicator)
        opened.append(communicator)
    await _until(lambda: logs.streams_open(username) == count, f"{count} streams of {username}")
    return opened


async def test_student_past_their_share_is_refused_others_are_not_and_closing_one_frees_it(
    make_user: Callable[..., Any], make_container: Callable[..., Any]
) -> None:
    share = django_settings.LOG_STREAMS_PER_USER
    assert 0 < share < django_settings.LOG_STREAM_WORKERS
    new_user = database_sync_to_async(make_user)
    alice, bob = await new_user("alice", "student"), await new_user("bob", "student")
    mine = await asyncio.to_thread(_owned_container, make_container, "alice")
    theirs = await asyncio.to_thread(_owned_container, make_container, "bob")
    alice_headers, bob_headers = await _session_headers(alice), await _session_headers(bob)
    path = f"/ws/containers/{mine.id}/logs/?follow=1"
    views = Views()
    try:
        held = await _fill_share(views, path, alice_headers, "alice", share)

        refused = await views.connect(path, alice_headers)
        message, code = await _refusal(refused)
        assert message.startswith(f"You have {share} log views open; close one")
        assert code == CLOSE_TOO_MANY
        assert logs.streams_open("alice") == share

        # Another student is not held back by alice's views.
        other = await views.connect(f"/ws/containers/{theirs.id}/logs/?follow=1", bob_headers)
        assert GREETING in await _first_lines(other)

        await views.close(held[0])
        await _until(lambda: logs.streams_open("alice") == share - 1, "alice's view to close")
        again = await views.connect(path, alice_headers)
        assert GREETING in await _first_lines(again)
    finally:
        await views.close_all()
    assert await asyncio.to_thread(logs.wait_idle)


async def test_admin_gets_twice_the_share_and_still_leaves_a_reserve(
    make_user: Callable[..., Any], make_container: Callable[..., Any], settings: Any
) -> None:
    settings.LOG_STREAMS_PER_USER = 2
    admin = await database_sync_to_async(make_user)("root1", "admin")
    container = await asyncio.to_thread(_owned_container, make_container, "root1")
    headers = await _session_headers(admin)
    path = f"/ws/containers/{container.id}/logs/?follow=1"
    assert logs.streams_allowed(admin) == 4 < logs.MAX_STREAMS
    views = Views()
    try:
        await _fill_share(views, path, headers, "root1", 4)
        message, code = await _refusal(await views.connect(path, headers))
        assert message.startswith("You have 4 log views open; close one")
        assert code == CLOSE_TOO_MANY
    finally:
        await views.close_all()
    assert await asyncio.to_thread(logs.wait_idle)


async def test_a_finished_log_gives_its_share_back_while_its_view_stays_open(
    make_user: Callable[..., Any], make_container: Callable[..., Any]
) -> None:
    carol = await database_sync_to_async(make_user)("carol", "student")
    container = await asyncio.to_thread(
        make_container, ["echo", GREETING], labels={OWNER_LABEL: "carol"}
    )
    # Started is not yet written: a loaded machine may run the echo a moment later.
    await asyncio.to_thread(
        wait_for, lambda: GREETING.encode() in container.logs(), what="the greeting logged"
    )
    views = Views()
    try:
        ended = await views.connect(
            f"/ws/containers/{container.id}/logs/?follow=0", await _session_headers(carol)
        )
        assert GREETING in await _first_lines(ended)
        frame = json.loads(await ended.receive_from(timeout=10))
        assert frame["type"] == "end"
        await _until(lambda: logs.streams_open("carol") == 0, "carol's ended stream to count 0")
    finally:
        await views.close_all()


@pytest.mark.parametrize("per_user", ["32", "40"])
def test_a_share_not_below_the_server_cap_is_refused_at_startup(per_user: str) -> None:
    proc = load_settings(
        SECRET_KEY="x" * 50,
        DOCKDASH_LOG_STREAM_WORKERS="32",
        DOCKDASH_LOG_STREAMS_PER_USER=per_user,
    )
    assert proc.returncode != 0
    assert "ImproperlyConfigured" in proc.stderr
    assert "DOCKDASH_LOG_STREAMS_PER_USER must be below DOCKDASH_LOG_STREAM_WORKERS" in proc.stderr
