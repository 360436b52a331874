"""Reading the kernel's view of processes from /proc: namespaces, processes, network, mounts.

Plain functions over a `/proc` root (a parameter, so tests can point them at a
fixture tree). Nothing here shells out (no nsenter, no lsns) and nothing here
knows about Docker: callers pass host PIDs. Every read that can fail returns
what is missing in words instead of a number that would be wrong.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")

# The namespace kinds a container can have, in the order the pages show them.
# `time` exists from Linux 5.6; the others since 4.6.
NAMESPACE_TYPES = ("pid", "net", "ipc", "mnt", "uts", "user", "cgroup", "time")
_NS_LINK = re.compile(r"^(\w+):\[(\d+)\]$")


@dataclass
class NamespaceRead:
    """The inode of one namespace of one process, or why it could not be read."""

    inode: int | None
    error: str = ""


def namespace_types(proc: Path = PROC) -> list[str]:
    """The namespace kinds this kernel has (those /proc/self/ns lists)."""
    try:
        present = set(os.listdir(proc / "self" / "ns"))
    except OSError:
        return list(NAMESPACE_TYPES[:7])
    return [t for t in NAMESPACE_TYPES if t in present]


def read_namespace(pid: int, ns_type: str, proc: Path = PROC) -> NamespaceRead:
    path = proc / str(pid) / "ns" / ns_type
    try:
        link = os.readlink(path)
    except PermissionError:
        return NamespaceRead(
            None,
            f"permission denied reading {path}: reading another process's namespaces needs "
            "root with CAP_SYS_PTRACE and at least the capabilities that process holds",
        )
    except FileNotFoundError:
        if not (proc / str(pid)).exists():
            return NamespaceRead(None, f"process {pid} does not exist (any more) in {proc}")
        return NamespaceRead(None, f"this kernel has no {ns_type} namespaces ({path} is absent)")
    except OSError as exc:
        return NamespaceRead(None, f"cannot read {path}: {exc.strerror or exc}")
    match = _NS_LINK.match(link)
    if not match:
        return NamespaceRead(None, f"unexpected link {link!r} at {path}")
    return NamespaceRead(int(match.group(2)))


def namespaces_of(pid: int, proc: Path = PROC) -> dict[str, NamespaceRead]:
    return {t: read_namespace(pid, t, proc) for t in namespace_types(proc)}


# ---------------------------------------------------------------- processes


def pids(proc: Path = PROC) -> list[int]:
    try:
        return sorted(int(name) for name in os.listdir(proc) if name.isdigit())
    except OSError:
        return []


def read_status(pid: int, proc: Path = PROC) -> dict[str, str]:
    """/proc/<pid>/status as a dict; empty if the process is gone or unreadable."""
    try:
        text = (proc / str(pid) / "status").read_text()
    except OSError:
        return {}
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    return fields


def read_cmdline(pid: int, proc: Path = PROC) -> list[str]:
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def read_comm(pid: int, proc: Path = PROC) -> str:
    try:
        return (proc / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


@dataclass
class ProcessInfo:
    pid: int  # as the host sees it
    ns_pid: int | None  # as the innermost pid namespace sees it (last NSpid field)
    ppid: int
    comm: str
    cmdline: list[str]
    uid: str
    state: str

    @property
    def command(self) -> str:
        return " ".join(self.cmdline) if self.cmdline else f"[{self.comm}]"


def process_info(pid: int, proc: Path = PROC) -> ProcessInfo | None:
    status = read_status(pid, proc)
    if not status:
        return None
    nspids = status.get("NSpid", "").split()
    return ProcessInfo(
        pid=pid,
        ns_pid=int(nspids[-1]) if nspids else None,
        ppid=int(status.get("PPid", "0") or 0),
        comm=status.get("Name", ""),
        cmdline=read_cmdline(pid, proc),
        uid=(status.get("Uid", "").split() or [""])[0],
        state=status.get("State", ""),
    )


def processes_in_pid_namespace(inode: int, proc: Path = PROC) -> list[ProcessInfo]:
    """Every process whose pid namespace is `inode`, by walking /proc."""
    found = []
    for pid in pids(proc):
        ns = read_namespace(pid, "pid", proc)
        if ns.inode != inode:
            continue
        info = process_info(pid, proc)
        if info is not None:
            found.append(info)
    return found


def pids_by_comm(comm: str, proc: Path = PROC) -> list[int]:
    """Processes whose command name (comm, at most 15 characters) is `comm`."""
    return [pid for pid in pids(proc) if read_comm(pid, proc) == comm[:15]]


# ---------------------------------------------------------------- network, as a process sees it


@dataclass
class Interface:
    name: str
    rx_bytes: int
    tx_bytes: int
    rx_packets: int
    tx_packets: int
    addresses: list[str] = field(default_factory=list)


def parse_net_dev(text: str) -> dict[str, Interface]:
    interfaces = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        cols = rest.split()
        if len(cols) < 10:
            continue
        interfaces[name.strip()] = Interface(
            name=name.strip(),
            rx_bytes=int(cols[0]),
            rx_packets=int(cols[1]),
            tx_bytes=int(cols[8]),
            tx_packets=int(cols[9]),
        )
    return interfaces


def parse_fib_trie_local(text: str) -> list[str]:
    """The IPv4 addresses assigned to this network namespace ("/32 host LOCAL" leaves)."""
    addresses: list[str] = []
    last_leaf = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            last_leaf = stripped[3:].strip()
        elif stripped.startswith("/32 host LOCAL") and last_leaf and last_leaf not in addresses:
            addresses.append(last_leaf)
    return addresses


def parse_route(text: str) -> list[tuple[str, ipaddress.IPv4Network]]:
    """(interface, destination network) pairs of /proc/<pid>/net/route."""
    routes = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        # The kernel prints addresses as little-endian hex.
        dest = ipaddress.IPv4Address(int.from_bytes(bytes.fromhex(cols[1]), "little"))
        mask = ipaddress.IPv4Address(int.from_bytes(bytes.fromhex(cols[7]), "little"))
        try:
            routes.append((cols[0], ipaddress.IPv4Network(f"{dest}/{mask}")))
        except ValueError:
            continue
    return routes


def parse_if_inet6(text: str) -> list[tuple[str, str]]:
    """(interface, address/prefix) pairs of /proc/<pid>/net/if_inet6."""
    pairs = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 6:
            continue
        addr = ipaddress.IPv6Address(bytes.fromhex(cols[0]))
        pairs.append((cols[5], f"{addr}/{int(cols[2], 16)}"))
    return pairs


def _iface_for_ipv4(address: str, routes: list[tuple[str, ipaddress.IPv4Network]]) -> str:
    ip = ipaddress.IPv4Address(address)
    if ip.is_loopback:
        return "lo"
    # The most specific directly connected route names the interface.
    best = [(net.prefixlen, iface) for iface, net in routes if net.prefixlen > 0 and ip in net]
    return max(best)[1] if best else ""


def network_of(pid: int, proc: Path = PROC) -> tuple[list[Interface], str]:
    """The interfaces and addresses of the network namespace `pid` is in, or why not."""
    base = proc / str(pid) / "net"
    try:
        interfaces = parse_net_dev((base / "dev").read_text())
    except OSError as exc:
        return [], f"cannot read {base / 'dev'}: {exc.strerror or exc}"

    def optional(name: str) -> str:
        try:
            return (base / name).read_text()
        except OSError:
            return ""  # no IPv6 (if_inet6 absent) or no routes: fewer addresses, not wrong ones

    routes = parse_route(optional("route"))
    for address in parse_fib_trie_local(optional("fib_trie")):
        iface = _iface_for_ipv4(address, routes)
        if iface in interfaces:
            interfaces[iface].addresses.append(address)
    for iface, address in parse_if_inet6(optional("if_inet6")):
        if iface in interfaces:
            interfaces[iface].addresses.append(address)
    return list(interfaces.values()), ""


# ---------------------------------------------------------------- mounts and hostname


@dataclass
class Mount:
    mount_point: str
    fs_type: str
    source: str
    options: str
    root: str = "/"  # the part of the file system mounted there
    super_options: str = ""


def parse_mountinfo(text: str) -> list[Mount]:
    """Every mount a /proc/<pid>/mountinfo text lists, in order."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        lcols, rcols = left.split(), right.split()
        if len(lcols) < 6 or len(rcols) < 2:
            continue
        mounts.append(
            Mount(
                mount_point=_unescape(lcols[4]),
                fs_type=rcols[0],
                source=_unescape(rcols[1]),
                options=lcols[5],
                root=_unescape(lcols[3]),
                super_options=rcols[2] if len(rcols) > 2 else "",
            )
        )
    return mounts


def _unescape(field_text: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_text)


def mounts_of(pid: int, proc: Path = PROC) -> tuple[list[Mount], str]:
    path = proc / str(pid) / "mountinfo"
    try:
        return parse_mountinfo(path.read_text()), ""
    except OSError as exc:
        return [], f"cannot read {path}: {exc.strerror or exc}"


def container_hostname(pid: int, proc: Path = PROC) -> tuple[str, str]:
    """The hostname file inside the process's root file system (Docker writes it), or why not."""
    path = proc / str(pid) / "root" / "etc" / "hostname"
    try:
        return path.read_text().strip(), str(path)
    except OSError as exc:
        return "", f"cannot read {path}: {exc.strerror or exc}"


def host_hostname(proc: Path = PROC) -> str:
    try:
        return (proc / "sys" / "kernel" / "hostname").read_text().strip()
    except OSError:
        return os.uname().nodename
