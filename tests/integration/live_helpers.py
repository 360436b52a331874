"""Bursts of concurrent page loads against the real daphne server, and an engine socket
that counts the `/system/df` calls the dashboard makes (and can answer them busy).
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import re
import socket
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests import rig

DF_REQUEST = re.compile(rb"^GET /v[0-9.]+/system/df[ ?]", re.MULTILINE)
DISK_USAGE_BUSY = b"disk usage operation is already running"
_BUSY_BODY = b'{"message":"a ' + DISK_USAGE_BUSY + b'"}\n'
# What dockerd 20.10 answers a df asked while another runs (whoever asked it).
DF_BUSY_RESPONSE = (
    b"HTTP/1.1 500 Internal Server Error\r\n"
    b"Api-Version: 1.41\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)


CACHE_SECONDS = 2.0  # how long the servers below share the engine's disk usage


@contextlib.contextmanager
def counting_engine_proxy(prefix: str) -> Iterator[CountingEngineProxy]:
    """A counting proxy of the real engine socket, in a short /tmp folder (socket paths are
    limited to 108 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    proxy = CountingEngineProxy(folder / "engine.sock")
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
        folder.rmdir()


def live_server_behind(
    proxy: CountingEngineProxy, workdir: Path, users: dict[str, str], password: str
) -> contextlib.AbstractContextManager[rig.LiveServer]:
    """A live dashboard server whose engine is `proxy`, sharing the disk usage it reads
    for CACHE_SECONDS, with `users` (name: role); stopped on leaving."""
    return rig.live_server_with_users(
        workdir,
        users,
        password,
        docker_host=proxy.url,
        extra_env={"DOCKDASH_DISK_USAGE_CACHE": str(CACHE_SECONDS)},
    )


class CountingEngineProxy(rig.SocketProxy):
    """The real engine socket, forwarded, with a count of the `/system/df` requests and of
    the engine's busy answers to them (another client's df was running: the dashboard asks
    again, and each try is a request).

    With `busy` set, df requests are answered as the engine answers while another
    client's df runs, instead of being forwarded (docker-py sends one request at a
    time per connection, so the answer lands where the engine's would).
    """

    def __init__(self, path: Path, upstream: str = "/var/run/docker.sock"):
        super().__init__(path, upstream)
        self.df_calls = 0
        self.busy_answers = 0  # of the engine itself, not the ones `busy` makes up
        self.last_df_at = 0.0  # time.monotonic() of the latest df request
        self.busy = False
        self._count_lock = threading.Lock()

    def _forward(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while data := client.recv(65536):
                if DF_REQUEST.search(data):
                    with self._count_lock:
                        self.df_calls += 1
                        self.last_df_at = time.monotonic()
                    if self.busy:
                        client.sendall(DF_BUSY_RESPONSE)
                        continue
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            self.shut_both(client, upstream)

    def _backward(self, upstream: socket.socket, client: socket.socket) -> None:
        self._pump(upstream, client, self._count_busy)

    def _count_busy(self, answer: bytes) -> None:
        if DISK_USAGE_BUSY in answer:
            with self._count_lock:
                self.busy_answers += 1

    def wait_until_df_idle(self, seconds: float) -> None:
        """Until no df was asked for `seconds` (what the dashboard kept has expired by then)."""
        rig.wait_for(
            lambda: time.monotonic() - self.last_df_at > seconds,
            timeout=seconds + 10,
            what=f"{seconds} s without a df call",
        )


def login_cookie(url: str, username: str, password: str) -> str:
    """A `Cookie:` header of a session logged in through the real login form."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(url + "/login/", timeout=30).read().decode()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match, "no CSRF token on the login page"
    body = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": match.group(1)}
    ).encode()
    request = urllib.request.Request(url + "/login/", data=body, headers={"Referer": url})
    opener.open(request, timeout=30).read()
    cookies = {c.name: c.value for c in jar}
    assert "sessionid" in cookies, f"login of {username} failed"
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


@dataclass
class Answer:
    status: int
    seconds: float
    body: str


@dataclass
class Burst:
    path: str
    answers: list[Answer]

    @property
    def errors(self) -> list[Answer]:
        return [a for a in self.answers if a.status != 200]

    def percentile(self, q: int) -> float:
        times = sorted(a.seconds for a in self.answers)
        if len(times) == 1:
            return times[0]
        return statistics.quantiles(times, n=100, method="inclusive")[q - 1]

    def summary(self) -> str:
        return (
            f"{self.path:<14} n={len(self.answers)} errors={len(self.errors)} "
            f"p50={self.percentile(50) * 1000:.0f} ms p95={self.percentile(95) * 1000:.0f} ms"
        )


def _get(url: str, cookie: str) -> Answer:
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            body = response.read().decode(errors="replace")
            status = response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read().decode(errors="replace"), exc.code
    except OSError as exc:  # refused, reset, timed out: an error as much as a 5xx
        body, status = str(exc), 0
    return Answer(status, time.perf_counter() - started, body)


def burst(base_url: str, path: str, cookies: list[str], count: int) -> Burst:
    """`count` GETs of `path` let go at the same moment, spread over the sessions `cookies`."""
    gate = threading.Barrier(count)

    def one(i: int) -> Answer:
        gate.wait(timeout=30)
        return _get(base_url + path, cookies[i % len(cookies)])

    with ThreadPoolExecutor(max_workers=count) as pool:
        answers = list(pool.map(one, range(count)))
    return Burst(path, answers)


def session_keys(html: str) -> list[str]:
    """The terminal sessions a student's over-the-shoulder page lists (its whole HTML, or
    the rows its sessions socket sends), by their rows."""
    return re.findall(r'data-session="([^"]+)"', html)


async def session_headers(user: Any) -> list[tuple[bytes, bytes]]:
    """Headers of a logged-in browser tab: a real session cookie and our own Origin."""
    from channels.db import database_sync_to_async
    from django.test import Client

    def login() -> str:
        client = Client()
        client.force_login(user)
        return str(client.cookies["sessionid"].value)

    cookie = await database_sync_to_async(login)()
    return [(b"origin", b"http://localhost"), (b"cookie", f"sessionid={cookie}".encode())]


async def socket_answer(user: Any, path: str) -> int:
    """0 when the websocket `path` opens for `user`'s browser tab, else its close code."""
    from channels.testing import WebsocketCommunicator

    from dashboard.asgi import application

    communicator = WebsocketCommunicator(application, path, headers=await session_headers(user))
    connected, code = await communicator.connect(timeout=10)
    if connected:
        await communicator.disconnect()
        return 0
    return int(code)


class TabSocket:
    """What one browser tab's websocket got, binary output and JSON frames kept apart;
    a subclass says how to receive (`_receive` hands each message to `_got`)."""

    def __init__(self) -> None:
        self.output = b""
        self.frames: list[dict[str, Any]] = []
        self.taken = 0  # frames before this one have been looked at by until_frame

    async def _receive(self) -> None:
        raise NotImplementedError

    def _got(self, message: bytes | str) -> None:
        if isinstance(message, bytes):
            self.output += message
        else:
            self.frames.append(json.loads(message))

    async def until_output(self, needle: bytes) -> bytes:
        while needle not in self.output:
            await self._receive()
        return self.output

    async def until_frame(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The next frame (after those looked at before) that passes `check`."""
        while True:
            while self.taken < len(self.frames):
                frame = self.frames[self.taken]
                self.taken += 1
                if check(frame):
                    return frame
            await self._receive()
