"""Control groups here: the version, where each container's cgroup lives, reading its files.

A container's cgroup is found the way the kernel tells it, never guessed from the
container id: `/proc/<pid>/cgroup` names the path inside each hierarchy, and
`/proc/self/mountinfo` says where that hierarchy is mounted here (and which part
of it: a mount's root may be a sub-directory, as inside a container). That works
for cgroup v1 and v2, the cgroupfs driver (`/docker/<id>`) and the systemd driver
(`/system.slice/docker-<id>.scope`) alike.

The readers never raise for a missing or unreadable file (a container may stop
between two reads): they answer None or an empty mapping.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from containers_app import kernel

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Where the host's processes are (DOCKDASH_PROC): another folder for a stats agent in a
# container, whose own /proc shows its processes only.
PROC = Path(settings.PROC_DIR)

# The v1 controllers a mount's super options may name; anything else there
# (rw, relatime, nsdelegate, ...) is a mount option. Named hierarchies
# ("name=systemd") are kept as they appear in /proc/<pid>/cgroup.
V1_CONTROLLERS = frozenset(
    {
        "blkio",
        "cpu",
        "cpuacct",
        "cpuset",
        "devices",
        "freezer",
        "hugetlb",
        "memory",
        "misc",
        "net_cls",
        "net_prio",
        "perf_event",
        "pids",
        "rdma",
    }
)

# memory.limit_in_bytes reads as a page-rounded 2^63 - 1 when no limit is set.
V1_UNLIMITED = 1 << 62


@dataclass(frozen=True)
class CgroupMount:
    mount_point: Path
    root: str
    version: int
    controllers: tuple[str, ...]


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """The cgroup and cgroup2 mounts listed in a /proc/<pid>/mountinfo text, in order."""
    mounts = []
    for mount in kernel.parse_mountinfo(text):
        controllers: tuple[str, ...] = ()
        if mount.fs_type == "cgroup2":
            version = 2
        elif mount.fs_type == "cgroup":
            version = 1
            controllers = tuple(
                opt
                for opt in mount.super_options.split(",")
                if opt in V1_CONTROLLERS or opt.startswith("name=")
            )
        else:
            continue
        mounts.append(
            CgroupMount(
                mount_point=Path(mount.mount_point),
                root=mount.root,
                version=version,
                controllers=controllers,
            )
        )
    return mounts


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """Controller -> path inside its hierarchy, from a /proc/<pid>/cgroup text.

    v1 lines look like `4:memory:/docker/<id>` (or `3:cpu,cpuacct:/...`, one key per
    controller); the v2 line `0::/system.slice/docker-<id>.scope` has the key "".
    """
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            paths[""] = path
            continue
        for controller in controllers.split(","):
            paths[controller] = path
    return paths


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def cgroup_version(root: Path = CGROUP_ROOT) -> int:
    """1 or 2: the cgroup version this host runs. A hybrid host (v1 controllers
    plus an empty unified mount) counts as 1, as Docker counts it."""
    for mount in parse_mountinfo(_read_text(PROC / "self" / "mountinfo") or ""):
        if mount.mount_point == root:
            return mount.version
    # Not a mount point of its own (v1 and hybrid mount a tmpfs there and a
    # hierarchy per controller below), or a copy of the tree: v2 keeps
    # cgroup.controllers at its root.
    return 2 if (root / "cgroup.controllers").is_file() else 1


def _inside(path: str, root: str) -> str | None:
    """`path` relative to the mount's `root`, or None when the mount does not reach it."""
    if root == "/":
        return path.lstrip("/")
    root = root.rstrip("/")
    if path == root:
        return ""
    if path.startswith(root + "/"):
        return path[len(root) + 1 :]
    return None


def cgroup_dirs_from(proc_cgroup: str, mountinfo: str) -> dict[str, Path]:
    """Controller -> directory, from the two texts (see container_cgroup_dirs)."""
    dirs: dict[str, Path] = {}
    mounts = parse_mountinfo(mountinfo)
    for controller, path in parse_proc_cgroup(proc_cgroup).items():
        for mount in mounts:
            serves = mount.version == 2 if controller == "" else controller in mount.controllers
            if not serves:
                continue
            relative = _inside(path, mount.root)
            if relative is None:
                continue
            dirs[controller] = mount.mount_point / relative if relative else mount.mount_point
            break
    return dirs


def container_cgroup_dirs(pid: int, proc: Path = PROC) -> dict[str, Path]:
    """Controller name -> absolute cgroup directory of process `pid` on this host.

    On v2 the key "" is the unified directory; on v1 each controller has its own
    (`cpu`, `cpuacct`, `memory`, `blkio`, `pids`, ...). Hierarchies this process
    cannot reach through its mounts are left out; an empty answer means the
    process is gone or its cgroups are not visible here.
    """
    proc_cgroup = _read_text(proc / str(pid) / "cgroup")
    mountinfo = _read_text(proc / "self" / "mountinfo")
    if not proc_cgroup or not mountinfo:
        return {}
    return cgroup_dirs_from(proc_cgroup, mountinfo)


# ---------------------------------------------------------------- file readers


def read_int(path: Path) -> int | None:
    """The integer a one-value file holds; None when absent, unreadable or `max`."""
    text = _read_text(path)
    if text is None:
        return None
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        return None


def parse_kv(text: str) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        try:
            values[parts[0]] = int(parts[1])
        except ValueError:
            continue
    return values


def read_kv(path: Path) -> dict[str, int]:
    """`key value` lines (memory.stat, cpu.stat, cpuacct.stat, pids.events) as a mapping."""
    return parse_kv(_read_text(path) or "")


def parse_io_stat(text: str) -> tuple[int, int]:
    """(read bytes, write bytes) summed over devices, from a v2 io.stat text.

    Lines look like `8:0 rbytes=1024 wbytes=4096 rios=1 wios=2 dbytes=0 dios=0`.
    """
    read = write = 0
    for line in text.splitlines():
        for item in line.split()[1:]:
            key, _, value = item.partition("=")
            if key == "rbytes" and value.isdigit():
                read += int(value)
            elif key == "wbytes" and value.isdigit():
                write += int(value)
    return read, write


def parse_blkio_bytes(text: str) -> tuple[int, int] | None:
    """(read bytes, write bytes) summed over devices, from a v1 blkio *io_service_bytes* text.

    Lines look like `8:0 Read 1024`; the closing `Total N` line is skipped. None when
    the file lists no device (the kernel's I/O scheduler does not account there).
    """
    read = write = 0
    seen = False
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or not parts[2].isdigit():
            continue
        seen = True
        if parts[1] == "Read":
            read += int(parts[2])
        elif parts[1] == "Write":
            write += int(parts[2])
    return (read, write) if seen else None


# ---------------------------------------------------------------- one container's usage


@dataclass(frozen=True)
class CgroupUsage:
    """Cumulative counters and current values of one cgroup, read at one moment."""

    cpu_ns: int | None  # CPU time used, all cores together
    mem_usage: int | None  # bytes in use minus inactive file cache (as `docker stats`)
    mem_limit: int | None  # None: no limit
    blk_read: int | None  # bytes, cumulative
    blk_write: int | None
    pids: int | None
    pids_limit: int | None  # None: no limit
    throttled: int | None = None  # CPU periods the CFS quota held the cgroup back, cumulative
    oom_kills: int | None = None  # processes the kernel's OOM killer ended in it, cumulative


# v1 blkio byte counters: the throttle layer counts every request whatever the
# I/O scheduler; the CFQ and BFQ files only count under that scheduler.
_BLKIO_FILES = (
    "blkio.throttle.io_service_bytes_recursive",
    "blkio.io_service_bytes_recursive",
    "blkio.bfq.io_service_bytes_recursive",
)


def read_raw(path: str) -> bytes | None:
    # os.open/os.read: no buffering, no decoding, one read of a small pseudo-file.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 1 << 16)
    except OSError:
        return None
    finally:
        os.close(fd)


def _int_of(data: bytes | None) -> int | None:
    if not data:
        return None
    try:
        return int(data.split()[0])
    except (ValueError, IndexError):
        return None  # "max"


def _stat_value(data: bytes | None, key: bytes) -> int:
    """One `key value` line of a memory.stat/cpu.stat text, 0 when absent."""
    if not data:
        return 0
    at = data.find(b"\n" + key + b" ")
    if at < 0:
        if not data.startswith(key + b" "):
            return 0
        at = -1
    end = data.find(b"\n", at + 1)
    return int(data[at + 2 + len(key) : end if end >= 0 else None])


def _without_inactive(usage: int | None, inactive: int) -> int | None:
    if usage is None:
        return None
    return usage - inactive if inactive < usage else usage


class KeptFile:
    """A cgroup or /proc file read again and again.

    With `keep_open` the file stays open and each read is one pread() at offset 0
    (the kernel regenerates the text), which costs a third of open+read+close.
    """

    __slots__ = ("path", "_fd", "_keep_open")

    def __init__(self, path: str, *, keep_open: bool = False):
        self.path = path
        self._fd: int | None = None
        self._keep_open = keep_open

    def read(self) -> bytes | None:
        if not self._keep_open:
            return read_raw(self.path)
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return None
        try:
            return os.pread(self._fd, 1 << 16, 0)
        except OSError:
            return None  # the cgroup was removed, the process ended

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def open_file_budget() -> int:
    """How many files a reader may keep open: half of this process's limit."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(soft // 2, 0) if soft != resource.RLIM_INFINITY else 1 << 20


class UsageReader:
    """Reads one container's usage, again and again: the file paths are worked out once.

    v1 when per-controller directories are there (a hybrid host's unified
    directory holds no controllers), else v2.
    """

    FILES = 9  # files a reader may keep open

    def __init__(self, dirs: dict[str, Path], *, keep_open: bool = False):
        self.read_all = True  # the last read read every file
        self._last: CgroupUsage | None = None
        self._cheap: tuple[bytes | None, ...] = ()
        self.v1 = any(key in dirs for key in ("memory", "cpuacct", "cpu", "pids", "blkio"))

        def kept(key: str, name: str) -> KeptFile | None:
            directory = dirs.get(key)
            if directory is None:
                return None
            return KeptFile(str(directory / name), keep_open=keep_open)

        self.blk: KeptFile | None
        if self.v1:
            cpu_dir = "cpuacct" if "cpuacct" in dirs else "cpu"
            self.cpu = kept(cpu_dir, "cpuacct.usage")
            self.mem = kept("memory", "memory.usage_in_bytes")
            self.mem_limit = kept("memory", "memory.limit_in_bytes")
            self.mem_stat = kept("memory", "memory.stat")
            self.pids = kept("pids", "pids.current")
            self.pids_max = kept("pids", "pids.max")
            self.cpu_stat = kept("cpu", "cpu.stat")
            self.mem_events = kept("memory", "memory.oom_control")
            self.blk = None
            if "blkio" in dirs:
                existing = [n for n in _BLKIO_FILES if (dirs["blkio"] / n).exists()]
                self.blk = kept("blkio", existing[0]) if existing else None
        else:
            self.cpu = kept("", "cpu.stat")
            self.mem = kept("", "memory.current")
            self.mem_limit = kept("", "memory.max")
            self.mem_stat = kept("", "memory.stat")
            self.pids = kept("", "pids.current")
            self.pids_max = kept("", "pids.max")
            self.cpu_stat = self.cpu  # v2's cpu.stat holds usage and throttling both
            self.mem_events = kept("", "memory.events")
            self.blk = kept("", "io.stat")

    def _files(self) -> list[KeptFile | None]:
        return [
            self.cpu,
            self.mem,
            self.mem_limit,
            self.mem_stat,
            self.pids,
            self.pids_max,
            self.cpu_stat,
            self.mem_events,
            self.blk,
        ]

    def close(self) -> None:
        for file in self._files():
            if file is not None:
                file.close()

    def read(self, *, everything: bool = True) -> CgroupUsage:
        """The usage now. Without `everything`, the cheap files alone (CPU time, memory in
        use, processes) when none of them moved since the last read: the others (the
        kernel formats memory.stat on each read) then hold what they held, as the last
        read found them. `read_all` says which it was."""

        def raw(file: KeptFile | None) -> bytes | None:
            return file.read() if file is not None else None

        cpu_data, mem_data, pids_data = raw(self.cpu), raw(self.mem), raw(self.pids)
        cheap = (cpu_data, mem_data, pids_data)
        self.read_all = everything or self._last is None or cheap != self._cheap
        self._cheap = cheap
        if not self.read_all and self._last is not None:
            return self._last
        self._last = self._parse(cpu_data, mem_data, pids_data, raw)
        return self._last

    def _parse(
        self,
        cpu_data: bytes | None,
        mem_data: bytes | None,
        pids_data: bytes | None,
        raw: Callable[[KeptFile | None], bytes | None],
    ) -> CgroupUsage:
        cpu_stat = cpu_data if self.cpu_stat is self.cpu else raw(self.cpu_stat)
        mem_events = raw(self.mem_events)
        mem_stat = raw(self.mem_stat)
        blk_data = raw(self.blk)
        if self.v1:
            cpu_ns = _int_of(cpu_data)
            inactive = _stat_value(mem_stat, b"total_inactive_file")
            mem_limit = _int_of(raw(self.mem_limit))
            if mem_limit is not None and mem_limit >= V1_UNLIMITED:
                mem_limit = None
            blk = parse_blkio_bytes(blk_data.decode()) if blk_data is not None else None
            if blk is None and blk_data is not None:
                blk = (0, 0)  # no device listed yet: nothing read or written
        else:
            cpu_ns = _stat_value(cpu_data, b"usage_usec") * 1000 if cpu_data else None
            inactive = _stat_value(mem_stat, b"inactive_file")
            mem_limit = _int_of(raw(self.mem_limit))
            blk = parse_io_stat(blk_data.decode()) if blk_data is not None else None
        return CgroupUsage(
            cpu_ns=cpu_ns,
            mem_usage=_without_inactive(_int_of(mem_data), inactive),
            mem_limit=mem_limit,
            blk_read=blk[0] if blk else None,
            blk_write=blk[1] if blk else None,
            pids=_int_of(pids_data),
            pids_limit=_int_of(raw(self.pids_max)),
            throttled=_stat_value(cpu_stat, b"nr_throttled") if cpu_stat else None,
            oom_kills=_stat_value(mem_events, b"oom_kill") if mem_events else None,
        )


def read_usage(dirs: dict[str, Path]) -> CgroupUsage:
    """The usage of a container's cgroup, from the directories container_cgroup_dirs found."""
    if not dirs:
        return CgroupUsage(None, None, None, None, None, None, None)
    return UsageReader(dirs).read()
