"""Shared pieces of the benchmarks: many idle labelled containers, a live server, a session."""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import os
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import websockets

from tests import rig
from tests.rig import LABELS

BENCH_PASSWORD = "bench-admin-password"


def bench_count(name: str, default: int) -> int:
    """A size from the environment (DOCKDASH_BENCH_<NAME>), so a short run can use fewer."""
    return int(os.environ.get(f"DOCKDASH_BENCH_{name}", default))


@pytest.fixture(scope="session")
def idle_containers(docker_client: Any, test_image: str) -> Iterator[list[Any]]:
    """N idle containers (DOCKDASH_BENCH_CONTAINERS, default 200), made and removed in parallel."""
    count = bench_count("CONTAINERS", 200)

    def make(_: int) -> Any:
        container = docker_client.containers.run(
            test_image, ["sleep", "3600"], labels={**LABELS, "dockdash.bench": "idle"}, detach=True
        )
        return container

    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(make, range(count)))
    print(f"\n[bench] {count} idle containers running")
    yield made

    def remove(container: Any) -> None:
        with contextlib.suppress(Exception):
            container.remove(force=True)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(remove, made))


@pytest.fixture(scope="session")
def bench_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rig.LiveServer]:
    workdir = tmp_path_factory.mktemp("bench-live")
    with rig.live_server_with_users(workdir, {"admin": "admin"}, BENCH_PASSWORD) as server:
        yield server


def ws_session(url: str, cookie: str, origin: str) -> Any:
    """A websocket to the live server as the session in `cookie`, frames of any size."""
    return websockets.connect(
        url,
        additional_headers={"Cookie": cookie},
        origin=origin,  # type: ignore[arg-type]
        max_size=None,
    )


def login_cookie(server: rig.LiveServer, username: str, password: str) -> str:
    """A `Cookie:` header value of a logged-in session, through the real login form."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(server.url + "/login/").read().decode()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match, "no CSRF token on the login page"
    body = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": match.group(1)}
    ).encode()
    request = urllib.request.Request(
        server.url + "/login/", data=body, headers={"Referer": server.url + "/login/"}
    )
    opener.open(request).read()
    cookies = {c.name: c.value for c in jar}
    assert "sessionid" in cookies, "login failed"
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


@pytest.fixture(scope="session")
def bench_cookie(bench_server: rig.LiveServer) -> str:
    return login_cookie(bench_server, "admin", BENCH_PASSWORD)


# The head of a live frame, /ws/stats/ or /ws/classes/{slug}/: its tick's time.
_HEAD = re.compile(r'\{"type":"(?:stats|grid)","t":([0-9.]+),')


async def _frame_ages_of_one(
    url: str, cookie: str, origin: str, stop: float, ages: list[float]
) -> int:
    frames = 0
    async with ws_session(url, cookie, origin) as ws:
        while time.time() < stop:
            try:
                message = await asyncio.wait_for(ws.recv(), timeout=max(stop - time.time(), 0.01))
            except TimeoutError:
                break
            arrived = time.time()
            # Only the head of the frame is parsed: 50 clients share this one Python
            # process, and parsing every full frame here would delay the next
            # client's arrival stamp, which is not what this measures.
            head = _HEAD.match(message)
            if head:
                frames += 1
                ages.append(arrived - float(head.group(1)))
    return frames


async def frame_ages(
    url: str, cookie: str, origin: str, clients: int, seconds: float
) -> tuple[list[int], list[float]]:
    """`clients` websockets on `url` for `seconds`: the frames each got, and every frame's
    age on arrival (from its "t")."""
    stop = time.time() + seconds
    ages: list[float] = []
    counts = await asyncio.gather(
        *(_frame_ages_of_one(url, cookie, origin, stop, ages) for _ in range(clients))
    )
    return list(counts), ages


def ws_url(server: rig.LiveServer, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"
