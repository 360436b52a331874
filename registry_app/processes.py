"""Which server process runs a job, and whether that process still runs.

A process is named `host/boot/pidns/pid/started`: its host name (for people), the
kernel's boot id and its pid namespace (together they say whether another process
can see its pid: the same kernel and namespace), its pid and its start time in clock
ticks since boot (a pid used again by a newer process has a later one). Two processes
that see each other's pids know at once whether the other runs; others have only the
heartbeat the runner saves (registry_app.recovery).
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Process:
    host: str
    boot: str
    pidns: str
    pid: int
    started: int

    def __str__(self) -> str:
        return f"{self.host}/{self.boot}/{self.pidns}/{self.pid}/{self.started}"

    @classmethod
    def parse(cls, text: str) -> Process | None:
        parts = text.split("/")
        if len(parts) != 5 or not parts[3].isdigit() or not parts[4].isdigit():
            return None
        return cls(parts[0], parts[1], parts[2], int(parts[3]), int(parts[4]))

    def sees(self, other: Process) -> bool:
        """Whether this process can look up `other` by its pid (same kernel, same namespace)."""
        return bool(self.boot and self.pidns) and (self.boot, self.pidns) == (
            other.boot,
            other.pidns,
        )


def start_time(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot), or None if none runs."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # Field 22 of stat; the name (field 2, in parentheses) may hold spaces and parentheses.
    return int(stat.rsplit(")", 1)[1].split()[19])


def _read(path: str, link: bool = False) -> str:
    try:
        return os.readlink(path) if link else Path(path).read_text().strip()
    except OSError:
        return ""


def current() -> Process:
    """This process (asked by pid: a process forked after the first question is another)."""
    return _named(os.getpid())


@functools.cache
def _named(pid: int) -> Process:
    return Process(
        host=socket.gethostname().replace("/", "-"),
        boot=_read("/proc/sys/kernel/random/boot_id"),
        pidns=_read("/proc/self/ns/pid", link=True),
        pid=pid,
        started=start_time(pid) or 0,
    )


def this_process() -> str:
    """The name of this process, as a job's `runner` keeps it."""
    return str(current())


def runs(process: Process) -> bool | None:
    """Whether `process` still runs: True or False when this process can see it, else None."""
    if not current().sees(process):
        return None
    return start_time(process.pid) == process.started
