"""Over a student's shoulder, through the URLs and websockets an instructor uses.

The student's shell is a real Docker exec; what a watcher may do to it is judged by
the shell's own output and by the Docker CLI (a file the watcher's keys would make).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from dashboard.asgi import application
from dashboard.models import AuditEntry
from tests import rig
from tests.integration.live_helpers import (
    TabSocket,
    session_headers,
    session_keys,
    socket_answer,
)
from tests.rig import RUN_ID, docker_cli

pytestmark = [pytest.mark.engine, pytest.mark.django_db(transaction=True)]


class Socket(TabSocket):
    """A websocket of one browser tab, through the ASGI application."""

    def __init__(self, communicator: WebsocketCommunicator):
        super().__init__()
        self.communicator = communicator

    async def _receive(self) -> None:
        message = await self.communicator.receive_output(timeout=10)
        if message.get("type") == "websocket.close":
            raise AssertionError(f"the socket closed: {message}")
        if message.get("bytes") is not None:
            self._got(message["bytes"])
        elif message.get("text") is not None:
            self._got(message["text"])

    async def send_keys(self, keys: bytes) -> None:
        await self.communicator.send_to(bytes_data=keys)

    async def send_json(self, body: dict[str, Any]) -> None:
        await self.communicator.send_to(text_data=json.dumps(body))


async def _open(user: Any, path: str) -> Socket:
    communicator = WebsocketCommunicator(application, path, headers=await session_headers(user))
    connected, code = await communicator.connect(timeout=10)
    assert connected, (path, code)
    return Socket(communicator)


def _page(user: Any, path: str) -> Any:
    client = Client()
    client.force_login(user)
    return client.get(path)


def _session_keys(user: Any, slug: str, student: str) -> list[str]:
    """The sessions the student page lists for `user`, by their Watch buttons."""
    answer = _page(user, f"/classes/{slug}/students/{student}/")
    assert answer.status_code == 200, answer.status_code
    return session_keys(answer.content.decode())


def _audit(action: str, username: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action, username=username))


def _exists_in(container_id: str, path: str) -> bool:
    out = docker_cli("exec", container_id, "sh", "-c", f"test -e {path} && echo yes || echo no")
    return out.strip() == "yes"


async def test_an_instructor_watches_read_only_until_taking_over_which_is_audited(
    two_classes: dict[str, Any],
) -> None:
    p = two_classes
    ia, a1, box = p["ia"], p["a1"], p["a1_box"]
    slug = f"a{RUN_ID}"
    student = await _open(a1, f"/ws/containers/{box}/exec/?shell=sh")
    watcher: Socket | None = None
    try:
        await student.send_keys(b"echo bef''ore-$((2*3))\n")
        await student.until_output(b"before-6")
        keys = await database_sync_to_async(_session_keys)(ia, slug, a1.username)
        assert len(keys) == 1
        watcher = await _open(ia, f"/ws/sessions/{keys[0]}/watch/")
        # The student is told, live, who watches; the watcher gets the screen so far.
        state = await student.until_frame(lambda f: f["type"] == "watchers")
        assert state["watchers"] == [ia.username] and state["typist"] is None
        await watcher.until_output(b"before-6")

        await student.send_keys(b"echo hel''lo-$((6*7))\n")
        await watcher.until_output(b"hello-42")

        # Read only: the watcher's keys are refused and never reach the shell.
        await watcher.send_keys(b"touch /by-watcher\n")
        refused = await watcher.until_frame(lambda f: f["type"] == "refused")
        assert "take over" in refused["message"].lower()
        await student.send_keys(b"echo mar''ker\n")
        await student.until_output(b"marker")
        assert b"by-watcher" not in student.output
        assert not await asyncio.to_thread(_exists_in, box, "/by-watcher")

        # Taking over: an explicit action; the student sees who types; the keys go in.
        await watcher.send_json({"type": "takeover"})
        state = await student.until_frame(lambda f: f["type"] == "watchers" and f["typist"])
        assert state["typist"] == ia.username
        await watcher.until_frame(lambda f: f["type"] == "watchers" and f["typist"])
        await watcher.send_keys(b"touch /by-teacher; echo tea''cher-typed\n")
        await watcher.until_output(b"teacher-typed")
        assert await asyncio.to_thread(_exists_in, box, "/by-teacher")

        # Released: read only again.
        await watcher.send_json({"type": "release"})
        await student.until_frame(lambda f: f["type"] == "watchers" and f["typist"] is None)
        await watcher.until_frame(lambda f: f["type"] == "watchers" and f["typist"] is None)
        await watcher.send_keys(b"touch /after-release\n")
        await watcher.until_frame(lambda f: f["type"] == "refused")
        assert not await asyncio.to_thread(_exists_in, box, "/after-release")

        # The watcher leaves: the student's banner goes.
        await watcher.communicator.disconnect(timeout=10)
        watcher = None
        await student.until_frame(lambda f: f["type"] == "watchers" and f["watchers"] == [])
    finally:
        if watcher is not None:
            await watcher.communicator.disconnect(timeout=10)
        await student.communicator.disconnect(timeout=10)

    watched = await database_sync_to_async(_audit)("exec.watch", ia.username)
    taken = await database_sync_to_async(_audit)("exec.takeover", ia.username)
    assert [(w.result, w.target_id) for w in watched] == [("ok", box)]
    assert [(t.result, t.target_id) for t in taken] == [("ok", box)]
    assert taken[0].params["opened_by"] == a1.username
    # The session is gone once the student closes it: not listed, not watchable.
    assert await database_sync_to_async(_session_keys)(ia, slug, a1.username) == []
    assert await socket_answer(ia, f"/ws/sessions/{keys[0]}/watch/") == 4404


async def test_an_instructor_of_another_class_may_not_watch(two_classes: dict[str, Any]) -> None:
    p = two_classes
    student = await _open(p["a1"], f"/ws/containers/{p['a1_box']}/exec/?shell=sh")
    try:
        await student.send_keys(b"echo rea''dy\n")
        await student.until_output(b"ready")
        keys = await database_sync_to_async(_session_keys)(p["ia"], f"a{RUN_ID}", p["a1"].username)
        assert len(keys) == 1
        assert await socket_answer(p["ib"], f"/ws/sessions/{keys[0]}/watch/") == 4404
        page = await database_sync_to_async(_page)(p["ib"], f"/sessions/{keys[0]}/watch/")
        assert page.status_code == 404
        theirs = f"/classes/a{RUN_ID}/students/{p['a1'].username}/"
        assert (await database_sync_to_async(_page)(p["ib"], theirs)).status_code == 404
        logs = f"/ws/classes/a{RUN_ID}/students/{p['a1'].username}/logs/"
        assert await socket_answer(p["ib"], logs) == 4404
        # Nobody joined: the student is never told of a watcher (and the shell still answers).
        await student.send_keys(b"echo sti''ll-here\n")
        await student.until_output(b"still-here")
        assert not [f for f in student.frames if f["type"] == "watchers"]
    finally:
        await student.communicator.disconnect(timeout=10)
    refused = await database_sync_to_async(_audit)("exec.watch", p["ib"].username)
    assert [r.result for r in refused] == ["error"]


def _keys_in(frame: dict[str, Any]) -> list[str]:
    """The sessions a frame of the student page's sessions socket lists, by their rows."""
    assert frame["type"] == "sessions", frame
    return session_keys(frame["rows"])


async def test_the_student_page_hears_of_each_terminal_of_that_student_only(
    two_classes: dict[str, Any],
) -> None:
    p = two_classes
    a1, b1 = p["a1"].username, p["b1"].username
    of_a1 = f"/ws/classes/a{RUN_ID}/students/{a1}/sessions/"
    # Another class's instructor (and the student themself) are told it does not exist.
    assert await socket_answer(p["ib"], of_a1) == 4404
    assert await socket_answer(p["a1"], of_a1) == 4404
    assert await socket_answer(p["ia"], f"/ws/classes/a{RUN_ID}/students/{b1}/sessions/") == 4404
    listing = await _open(p["ia"], of_a1)
    shells: list[Socket] = []
    try:
        first = await listing.until_frame(lambda f: True)
        assert _keys_in(first) == [] and "No terminal open" in first["rows"]

        # Another class's student opens a shell, then a1: a1's page hears of a1's alone.
        for who in ("b1", "a1"):
            shells.append(await _open(p[who], f"/ws/containers/{p[who + '_box']}/exec/?shell=sh"))
        opened = await listing.until_frame(lambda f: True)
        keys = _keys_in(opened)
        page_keys = await database_sync_to_async(_session_keys)(p["ia"], f"a{RUN_ID}", a1)
        assert len(keys) == 1 and keys == page_keys
        assert f'href="/sessions/{keys[0]}/watch/"' in opened["rows"]

        await shells.pop().communicator.disconnect(timeout=10)  # a1 closes theirs
        assert _keys_in(await listing.until_frame(lambda f: True)) == []
        # Three frames in all: b1's shell, still open, never showed on a1's page.
        assert [_keys_in(f) for f in listing.frames] == [[], keys, []]
    finally:
        for shell in shells:
            await shell.communicator.disconnect(timeout=10)
        await listing.communicator.disconnect(timeout=10)


def _docker_log_lines(container_id: str) -> list[tuple[str, str]]:
    """(time, text) of each line, as `docker logs -t` prints them."""
    lines = docker_cli("logs", "-t", container_id).splitlines()
    return [tuple(line.split(" ", 1)) for line in lines if line]  # type: ignore[misc]


async def test_a_students_lab_logs_come_merged_in_time_order(
    two_classes: dict[str, Any], make_container: Callable[..., Any]
) -> None:
    p = two_classes
    slug, who = f"a{RUN_ID}", p["a1"].username
    labels = {"dockdash.owner": who, "dockdash.class": slug, "dockdash.lab": "lab1"}
    script = "for i in 1 2 3 4 5 6; do echo {n}-$i; sleep 0.5; done; echo {n}-done; sleep 3600"
    boxes = {
        name: await asyncio.to_thread(
            make_container, ["sh", "-c", script.format(n=name)], labels=labels, name=name
        )
        for name in (f"web-{RUN_ID}", f"db-{RUN_ID}")
    }
    for name, box in boxes.items():
        rig.wait_for(
            lambda box=box, name=name: f"{name}-done" in docker_cli("logs", box.id),
            what="both containers printing",
        )
    # What the merged view must show: every line of both, ordered by the engine's clock.
    expected = sorted(
        (
            (stamp, name, text)
            for name, box in boxes.items()
            for stamp, text in _docker_log_lines(box.id)
        ),
        key=lambda line: line[0],
    )
    # (started one after the other, they print at the same time for a while)
    order = [name for _, name, _ in expected]
    assert sum(a != b for a, b in zip(order, order[1:], strict=False)) >= 2, "they interleave"

    socket = await _open(p["ia"], f"/ws/classes/{slug}/students/{who}/logs/?tail=100")
    try:
        header = await socket.until_frame(lambda f: f["type"] == "containers")
        names = [c["name"] for c in header["containers"]]
        assert sorted(names) == sorted(boxes)
        got: list[tuple[str, str, str]] = []
        while len(got) < len(expected):
            frame = await socket.until_frame(lambda f: f["type"] == "logs")
            got += [(t, names[i], text) for t, i, _, text in frame["lines"]]
    finally:
        await socket.communicator.disconnect(timeout=10)
    assert [(n, text) for _, n, text in got] == [(n, text) for _, n, text in expected]
