"""A terminal inside a container: a Docker exec with a TTY, bytes relayed both ways.

The exec socket is read on a thread of its own (a terminal stays open for long),
whose output reaches the event loop through `loop.call_soon_threadsafe`. Closing
the session shuts the socket and, should the process outlive its TTY (a program
ignoring the hangup), ends it, so a closed browser tab never leaves a shell behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from containers_app.engine.client import endpoint
from containers_app.engine.errors import EngineError
from containers_app.engine.streams import exec_inspect, exec_open, exec_resize

HANGUP_GRACE = 0.5  # seconds a hung-up terminal gets to end by itself
SHELLS = {"sh": ["/bin/sh"], "bash": ["/bin/bash"]}
MIN_SIZE, MAX_SIZE = 2, 1000


def clamp_size(value: Any, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's 1e999 is infinity
        return default
    return max(MIN_SIZE, min(MAX_SIZE, number))


class ExecSession:
    """One shell: `open()` in a worker thread, then `write`, `resize`, `close`."""

    def __init__(self, container_id: str, shell: str, *, cols: int, rows: int):
        self.container_id = container_id
        self.command = SHELLS[shell]
        self.cols, self.rows = cols, rows
        self.exec_id = ""
        self._sock: Any = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def open(self) -> None:
        self.exec_id, self._sock = exec_open(
            self.container_id, self.command, width=self.cols, height=self.rows
        )

    def start_reading(
        self, on_output: Callable[[bytes], None], on_exit: Callable[[], None]
    ) -> None:
        def read() -> None:
            try:
                while True:
                    data = self._sock.recv(65536)
                    if not data:
                        break
                    on_output(data)
            except OSError:
                pass  # shut down by close()
            finally:
                on_exit()

        self._thread = threading.Thread(target=read, name=f"exec-{self.exec_id[:12]}", daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self._sock.sendall(data)

    def resize(self, cols: int, rows: int) -> None:
        with contextlib.suppress(EngineError):
            exec_resize(self.exec_id, width=cols, height=rows)

    def exit_code(self) -> int | None:
        try:
            return exec_inspect(self.exec_id).get("ExitCode")
        except EngineError:
            return None

    def close(self) -> None:
        """Blocking: shut the socket, then make sure the process is gone."""
        if self._closed:
            return
        self._closed = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self.exec_id:
            self._end_process()

    def _end_process(self) -> None:
        # Docker keeps an exec running when its client goes away. Closing the TTY
        # hangs the shell up, but a program may ignore that (and its children
        # inherit the ignoring): then end the whole terminal session by force.
        if not self._wait_stopped(HANGUP_GRACE):
            info = self._inspect()
            pid = int((info or {}).get("Pid") or 0)
            if pid and endpoint().startswith("unix://"):
                for member in session_members(pid):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(member, signal.SIGKILL)
            self._wait_stopped(2.0)

    def _inspect(self) -> dict[str, Any] | None:
        try:
            return exec_inspect(self.exec_id)
        except EngineError:
            return None

    def _wait_stopped(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            info = self._inspect()
            if info is None or not info.get("Running"):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def session_members(sid: int, proc: Path = Path("/proc")) -> list[int]:
    """Process ids of the session led by `sid` (the exec's shell and all it started)."""
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command (which may hold spaces) start after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 3 and fields[3] == str(sid):
            members.append(int(entry.name))
    return members


def relay_output(
    loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | None]
) -> tuple[Callable[[bytes], None], Callable[[], None]]:
    """Callbacks for the reader thread that put output (and None at the end) on `queue`."""

    def on_output(data: bytes) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, data)

    def on_exit() -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(queue.put_nowait, None)

    return on_output, on_exit
