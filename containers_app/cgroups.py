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

import re
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC = Path("/proc")

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

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class CgroupMount:
    mount_point: Path
    root: str
    version: int
    controllers: tuple[str, ...]


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo (octal).
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """The cgroup and cgroup2 mounts listed in a /proc/<pid>/mountinfo text, in order."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype, super_options = tail[0], tail[2]
        controllers: tuple[str, ...] = ()
        if fstype == "cgroup2":
            version = 2
        elif fstype == "cgroup":
            version = 1
            controllers = tuple(
                opt
                for opt in super_options.split(",")
                if opt in V1_CONTROLLERS or opt.startswith("name=")
            )
        else:
            continue
        mounts.append(
            CgroupMount(
                mount_point=Path(_unescape(fields[4])),
                root=_unescape(fields[3]),
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


# v1 blkio accounting lives in one of these, depending on the I/O scheduler; the
# order is runc's (which `docker stats` reports).
_BLKIO_FILES = (
    "blkio.io_service_bytes_recursive",
    "blkio.bfq.io_service_bytes_recursive",
    "blkio.throttle.io_service_bytes_recursive",
)


def _v1_blkio(directory: Path) -> tuple[int, int] | None:
    for name in _BLKIO_FILES:
        text = _read_text(directory / name)
        if text is None:
            continue
        found = parse_blkio_bytes(text)
        if found is not None:
            return found
    return (0, 0) if directory.is_dir() else None


def _without_inactive_file(usage: int | None, stat: dict[str, int], key: str) -> int | None:
    if usage is None:
        return None
    inactive = stat.get(key, 0)
    return usage - inactive if inactive < usage else usage


def _v1_usage(dirs: dict[str, Path]) -> CgroupUsage:
    cpu_dir = dirs.get("cpuacct") or dirs.get("cpu")
    mem_dir, blk_dir, pids_dir = dirs.get("memory"), dirs.get("blkio"), dirs.get("pids")
    mem_usage = mem_limit = None
    if mem_dir is not None:
        mem_usage = _without_inactive_file(
            read_int(mem_dir / "memory.usage_in_bytes"),
            read_kv(mem_dir / "memory.stat"),
            "total_inactive_file",
        )
        mem_limit = read_int(mem_dir / "memory.limit_in_bytes")
        if mem_limit is not None and mem_limit >= V1_UNLIMITED:
            mem_limit = None
    blk = _v1_blkio(blk_dir) if blk_dir is not None else None
    return CgroupUsage(
        cpu_ns=read_int(cpu_dir / "cpuacct.usage") if cpu_dir is not None else None,
        mem_usage=mem_usage,
        mem_limit=mem_limit,
        blk_read=blk[0] if blk else None,
        blk_write=blk[1] if blk else None,
        pids=read_int(pids_dir / "pids.current") if pids_dir is not None else None,
        pids_limit=read_int(pids_dir / "pids.max") if pids_dir is not None else None,
    )


def _v2_usage(directory: Path) -> CgroupUsage:
    usage_usec = read_kv(directory / "cpu.stat").get("usage_usec")
    io_text = _read_text(directory / "io.stat")
    blk = parse_io_stat(io_text) if io_text is not None else None
    return CgroupUsage(
        cpu_ns=usage_usec * 1000 if usage_usec is not None else None,
        mem_usage=_without_inactive_file(
            read_int(directory / "memory.current"),
            read_kv(directory / "memory.stat"),
            "inactive_file",
        ),
        mem_limit=read_int(directory / "memory.max"),
        blk_read=blk[0] if blk else None,
        blk_write=blk[1] if blk else None,
        pids=read_int(directory / "pids.current"),
        pids_limit=read_int(directory / "pids.max"),
    )


def read_usage(dirs: dict[str, Path]) -> CgroupUsage:
    """The usage of a container's cgroup, from the directories container_cgroup_dirs found.

    v1 when per-controller directories are there (a hybrid host's unified
    directory holds no controllers), else v2.
    """
    if any(key in dirs for key in ("memory", "cpuacct", "cpu", "pids", "blkio")):
        return _v1_usage(dirs)
    if "" in dirs:
        return _v2_usage(dirs[""])
    return CgroupUsage(None, None, None, None, None, None, None)
