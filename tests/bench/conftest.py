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
from dataclasses import dataclass
from typing import Any

import pytest
import websockets

from tests import rig
from tests.rig import LABELS

BENCH_PASSWORD = "bench-admin-password"


def bench_count(name: str, default: int) -> int:
    """A size from the environment (DOCKDASH_BENCH_<NAME>), so a short run can use fewer."""
    return int(os.environ.get(f"DOCKDASH_BENCH_{name}", default))


class IdlePool:
    """Idle labelled containers, made in parallel as a benchmark asks for more."""

    def __init__(self, client: Any, image: str, network: str | None = None):
        self.client, self.image, self.network = client, image, network
        self.made: list[Any] = []

    def _make(self, _: int) -> Any:
        return self.client.containers.run(
            self.image,
            ["sleep", "3600"],
            labels={**LABELS, "dockdash.bench": "idle"},
            network=self.network,
            detach=True,
        )

    def resize(self, count: int) -> list[Any]:
        """`count` of them running, no more: made or removed now (the sampler samples all)."""
        with ThreadPoolExecutor(8) as pool:
            self.made += pool.map(self._make, range(count - len(self.made)))
            list(pool.map(self._remove, self.made[count:]))
        del self.made[count:]
        print(f"\n[bench] {count} idle containers running")
        return list(self.made)

    @staticmethod
    def _remove(container: Any) -> None:
        with contextlib.suppress(Exception):
            container.remove(force=True)


@pytest.fixture(scope="session")
def idle_pool(docker_client: Any, test_image: str) -> Iterator[IdlePool]:
    pool = IdlePool(docker_client, test_image)
    yield pool
    pool.resize(0)


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


@dataclass
class Viewing:
    """What each viewer of a live socket got: per viewer, per frame, (arrival time, age on
    arrival from its "t", size in characters); None for a viewer that could not connect
    (the server too busy to answer its handshake)."""

    frames: list[list[tuple[float, float, int]] | None]

    @property
    def counts(self) -> list[int]:
        return [len(f) if f is not None else -1 for f in self.frames]

    @property
    def ages(self) -> list[float]:
        return [age for f in self.frames if f for _, age, _ in f]

    @property
    def steady_ages(self) -> list[float]:
        """The ages of every frame but each viewer's first (the full one of its joining)."""
        return [age for f in self.frames if f for _, age, _ in f[1:]]

    @property
    def join_ages(self) -> list[float]:
        return [f[0][1] for f in self.frames if f]

    @property
    def rates(self) -> list[float]:
        """Frames a second each viewer got once it had its first (0: fewer than two)."""
        return [
            (len(f) - 1) / (f[-1][0] - f[0][0]) if f and len(f) > 1 else 0.0 for f in self.frames
        ]

    @property
    def sizes(self) -> list[int]:
        return [size for f in self.frames if f for _, _, size in f]


async def _frames_of_one(
    url: str, cookie: str, origin: str, stop: float, ack: bool
) -> list[tuple[float, float, int]]:
    frames = []
    async with ws_session(url, cookie, origin) as ws:
        while time.time() < stop:
            try:
                message = await asyncio.wait_for(ws.recv(), timeout=max(stop - time.time(), 0.01))
            except TimeoutError:
                break
            arrived = time.time()
            # Only the head of the frame is parsed: 100 clients share this one Python
            # process, and parsing every full frame here would delay the next
            # client's arrival stamp, which is not what this measures.
            head = _HEAD.match(message)
            if head:
                frames.append((arrived, arrived - float(head.group(1)), len(message)))
                if ack:  # drawn, as the overview page says (/ws/stats/?compact=1)
                    await ws.send("ack")
    return frames


async def frame_ages(
    url: str, cookie: str, origin: str, clients: int, seconds: float, *, ack: bool = False
) -> Viewing:
    """`clients` websockets on `url` for `seconds`; with `ack`, each says "ack" after each
    frame."""
    stop = time.time() + seconds
    got = await asyncio.gather(
        *(_frames_of_one(url, cookie, origin, stop, ack) for _ in range(clients)),
        return_exceptions=True,
    )
    return Viewing([f if isinstance(f, list) else None for f in got])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(int(len(ordered) * q) - 1, 0)] if ordered else float("nan")


def ws_url(server: rig.LiveServer, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"
