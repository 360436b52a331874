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
from typing import Any

from containers_app import engine

SHELLS = {"sh": ["/bin/sh"], "bash": ["/bin/bash"]}
MIN_SIZE, MAX_SIZE = 2, 1000


def clamp_size(value: Any, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
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
        self.exec_id, self._sock = engine.exec_open(
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
        with contextlib.suppress(engine.EngineError):
            engine.exec_resize(self.exec_id, width=cols, height=rows)

    def exit_code(self) -> int | None:
        try:
            return engine.exec_inspect(self.exec_id).get("ExitCode")
        except engine.EngineError:
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
        # Docker keeps an exec running when its client goes away; a shell gets a
        # hangup once its TTY closes, but not every program heeds it.
        deadline = time.monotonic() + 2
        for sig in (signal.SIGHUP, signal.SIGKILL):
            try:
                info = engine.exec_inspect(self.exec_id)
            except engine.EngineError:
                return
            if not info.get("Running"):
                return
            pid = int(info.get("Pid") or 0)
            if pid and engine.endpoint().startswith("unix://"):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            while time.monotonic() < deadline:
                try:
                    if not engine.exec_inspect(self.exec_id).get("Running"):
                        return
                except engine.EngineError:
                    return
                time.sleep(0.05)
            deadline = time.monotonic() + 2


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
