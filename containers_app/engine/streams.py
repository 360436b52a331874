"""Long-lived connections to one container: its stats, its log, a terminal in it.

Streams come back as `Stream`: iterate it on a worker thread, `close()` it from
any thread to end it (the reader then stops at once).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors

from containers_app.engine.client import call, client, engine_errors


class Stream:
    """A blocking iterator over an engine stream that another thread may close."""

    def __init__(self, items: Iterator[Any], response: Any):
        self._items = items
        self._response = response

    def __iter__(self) -> Iterator[Any]:
        with engine_errors():
            yield from self._items

    def close(self) -> None:
        # Shutting the socket down wakes a reader blocked in recv(); closing the
        # response alone would leave it waiting for the next byte.
        with contextlib.suppress(Exception):  # already closed is what we want
            sock = client().api._get_raw_response_socket(self._response)
            for candidate in (sock, getattr(sock, "_sock", None)):
                if candidate is not None and hasattr(candidate, "shutdown"):
                    candidate.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self._response.close()


def _open_stream(path: str, *refs: str, params: dict[str, Any]) -> Any:
    def open_(c: docker.DockerClient) -> Any:
        api = c.api
        response = api._get(api._url(path, *refs), params=params, stream=True)
        api._raise_for_status(response)
        api._disable_socket_timeout(api._get_raw_response_socket(response))
        return response

    return call(open_)


def stats_stream(ref: str) -> Stream:
    """The engine's own stats of one container, a decoded dict about every second."""
    response = _open_stream("/containers/{0}/stats", ref, params={"stream": True})

    def items() -> Iterator[dict[str, Any]]:
        for line in response.iter_lines():
            if line:
                yield json.loads(line)

    return Stream(items(), response)


STDOUT, STDERR = 1, 2


def log_stream(
    ref: str,
    *,
    tail: int | str = 100,
    follow: bool = True,
    timestamps: bool = False,
    since: float | None = None,
    tty: bool = False,
) -> Stream:
    """The log of a container as (stream, bytes) pairs, stream being STDOUT or STDERR.

    A TTY container has one stream only (its output arrives as STDOUT).
    """
    params: dict[str, Any] = {
        "stdout": 1,
        "stderr": 1,
        "follow": int(follow),
        "timestamps": int(timestamps),
        "tail": str(tail),
    }
    if since is not None:
        params["since"] = since
    response = _open_stream("/containers/{0}/logs", ref, params=params)

    def chunks() -> Iterator[bytes]:
        # Whatever has arrived, as it arrives: a live log is not held back waiting
        # for a full buffer, and a long one is not read frame by frame.
        if response.raw.chunked:
            yield from response.raw.read_chunked(None, decode_content=False)
        else:
            while data := response.raw.read1(1 << 16):
                yield data

    def multiplexed() -> Iterator[tuple[int, bytes]]:
        # Frames: 1 byte stream id, 3 padding, 4 bytes big-endian length, payload.
        # Consecutive frames of one stream are handed on joined.
        buf = b""
        for chunk in chunks():
            buf = buf + chunk if buf else chunk
            at, end = 0, len(buf)
            current = 0
            parts: list[bytes] = []
            while end - at >= 8:
                stream, length = struct.unpack_from(">BxxxL", buf, at)
                if end - at - 8 < length:
                    break
                stream = STDERR if stream == 2 else STDOUT
                if stream != current and parts:
                    yield current, b"".join(parts)
                    parts = []
                current = stream
                parts.append(buf[at + 8 : at + 8 + length])
                at += 8 + length
            if parts:
                yield current, b"".join(parts)
            buf = buf[at:]

    def raw() -> Iterator[tuple[int, bytes]]:
        for chunk in chunks():
            yield STDOUT, chunk

    return Stream(raw() if tty else multiplexed(), response)


def exec_open(ref: str, command: list[str], *, width: int, height: int) -> tuple[str, Any]:
    """Start `command` in the container with a TTY; its id and the raw socket (both ways)."""

    def open_(c: docker.DockerClient) -> tuple[str, Any]:
        created = c.api.exec_create(
            ref,
            command,
            stdin=True,
            stdout=True,
            stderr=True,
            tty=True,
            environment={"TERM": "xterm-256color"},
        )
        exec_id = created["Id"]
        sock = c.api.exec_start(exec_id, tty=True, socket=True)
        raw_sock = getattr(sock, "_sock", sock)
        raw_sock.settimeout(None)
        # The process may not have its TTY yet; the browser's next resize will do.
        with contextlib.suppress(docker.errors.APIError):
            c.api.exec_resize(exec_id, height=height, width=width)
        return exec_id, raw_sock

    return call(open_)


def exec_resize(exec_id: str, *, width: int, height: int) -> None:
    call(lambda c: c.api.exec_resize(exec_id, height=height, width=width))


def exec_inspect(exec_id: str) -> dict[str, Any]:
    return call(lambda c: c.api.exec_inspect(exec_id))
