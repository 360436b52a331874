"""Over a student's shoulder when two server processes share one Redis (REDIS_URL): the
student's shell is served by one daphne, the instructor's pages and mirror by the other.
Real daphne processes, a real redis-server, a real Docker exec."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests import rig
from tests.integration.live_helpers import TabSocket, login_cookie, session_keys
from tests.rig import RUN_ID

pytestmark = pytest.mark.engine

PASSWORD = "shoulder-pass-1"
BEAT = 0.5  # DOCKDASH_SESSION_HEARTBEAT of both servers: a gone process's sessions go soon


class Tab(TabSocket):
    """A websocket of one browser tab, to a live server."""

    def __init__(self, ws: Any):
        super().__init__()
        self.ws = ws

    async def _receive(self) -> None:
        self._got(await asyncio.wait_for(self.ws.recv(), timeout=15))


def _open(server: rig.LiveServer, path: str, cookie: str) -> Any:
    url = server.url.replace("http://", "ws://") + path
    return websockets.connect(url, additional_headers={"Cookie": cookie}, origin=server.url)


def _get(server: rig.LiveServer, path: str, cookie: str) -> tuple[int, str]:
    request = urllib.request.Request(server.url + path, headers={"Cookie": cookie})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _listed(server: rig.LiveServer, cookie: str, slug: str, student: str) -> list[str]:
    """The sessions the student's over-the-shoulder page on `server` lists."""
    status, page = _get(server, f"/classes/{slug}/students/{student}/", cookie)
    assert status == 200, page[:300]
    return session_keys(page)


async def test_an_instructor_on_one_process_watches_and_takes_over_a_shell_on_another(
    tmp_path: Path, redis_url: str, make_container: Callable[..., Any]
) -> None:
    slug, teacher, student = f"w{RUN_ID}", f"wt{RUN_ID}", f"ws{RUN_ID}"
    env = {"REDIS_URL": redis_url, "DOCKDASH_SESSION_HEARTBEAT": str(BEAT)}
    shells = rig.start_live_server(
        tmp_path / "live",
        extra_env=env,
        commands=[rig.make_class_command(slug, teacher, PASSWORD, [student])],
    )
    pages = rig.LiveServer(
        url=f"http://127.0.0.1:{rig.free_port()}",
        workdir=shells.workdir,
        env=shells.env,  # the same database and Redis
        log_path=tmp_path / "pages-daphne.log",
    )
    try:
        box = make_container(labels={"dockdash.owner": student}).id
        pages.serve()
        mine = await asyncio.to_thread(login_cookie, shells.url, student, PASSWORD)
        theirs = await asyncio.to_thread(login_cookie, pages.url, teacher, PASSWORD)

        listing_path = f"/ws/classes/{slug}/students/{student}/sessions/"
        async with (
            _open(pages, listing_path, theirs) as lws,
            _open(shells, f"/ws/containers/{box}/exec/?shell=sh", mine) as ws,
        ):
            listing = Tab(lws)
            shell = Tab(ws)
            await ws.send(b"echo bef''ore-$((2*3))\n")
            await shell.until_output(b"before-6")
            keys = await asyncio.to_thread(_listed, pages, theirs, slug, student)
            assert len(keys) == 1, "the other process does not list the session"
            # The page open on the other process lists it too.
            await listing.until_frame(lambda f: session_keys(f["rows"]) == keys)
            status, _ = await asyncio.to_thread(_get, pages, f"/sessions/{keys[0]}/watch/", theirs)
            assert status == 200

            async with _open(pages, f"/ws/sessions/{keys[0]}/watch/", theirs) as wws:
                mirror = Tab(wws)
                opened = await mirror.until_frame(lambda f: f["type"] == "session")
                assert opened["opened_by"] == student
                state = await shell.until_frame(lambda f: f["type"] == "watchers")
                assert state["watchers"] == [teacher]
                await mirror.until_output(b"before-6")  # the screen so far, across processes
                await ws.send(b"echo hel''lo-$((6*7))\n")
                await mirror.until_output(b"hello-42")

                await wws.send(json.dumps({"type": "takeover"}))
                state = await shell.until_frame(lambda f: f["typist"] is not None)
                assert state["typist"] == teacher
                await mirror.until_frame(lambda f: f["type"] == "watchers" and f["typist"])
                await wws.send(b"echo tea''cher-typed\n")
                await shell.until_output(b"teacher-typed")

                await ws.close()  # the student closes the terminal: the mirror ends
                await mirror.until_frame(lambda f: f["type"] == "end")
            await listing.until_frame(lambda f: session_keys(f["rows"]) == [])
        assert await asyncio.to_thread(_listed, pages, theirs, slug, student) == []

        # A process that dies takes its shells with it: its sessions leave the other's list,
        # and the open page's, unannounced.
        async with (
            _open(pages, listing_path, theirs) as lws,
            _open(shells, f"/ws/containers/{box}/exec/?shell=sh", mine) as ws,
        ):
            listing = Tab(lws)
            await ws.send(b"echo rea''dy\n")
            await Tab(ws).until_output(b"ready")
            [key] = await asyncio.to_thread(_listed, pages, theirs, slug, student)
            await listing.until_frame(lambda f: session_keys(f["rows"]) == [key])
            assert shells.process is not None
            shells.process.kill()
            shells.process.wait(timeout=10)
            await asyncio.wait_for(
                listing.until_frame(lambda f: session_keys(f["rows"]) == []), timeout=BEAT * 10
            )
            assert await asyncio.to_thread(_listed, pages, theirs, slug, student) == []
        status, _ = await asyncio.to_thread(_get, pages, f"/sessions/{key}/watch/", theirs)
        assert status == 404
    finally:
        pages.stop()
        shells.stop()
