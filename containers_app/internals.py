"""What a container is underneath: namespaces, isolation seen live, layers, OCI spec.

Combines what Docker was asked (the inspect data) with what the kernel holds
(/proc, read through containers_app.kernel). Every function returns plain,
JSON-ready data; where the kernel side cannot be read (container not running,
a remote engine, no privileges, a PID that is not the container's) it says so
in `problem` and shows no numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from containers_app import kernel, translate
from containers_app.engine.client import endpoint
from containers_app.engine.containers import (
    container_changes,
    inspect_container_with_size,
    running_container_pids,
)
from containers_app.engine.errors import EngineError, EngineUnavailable
from containers_app.engine.images import image_history
from dashboard import access
from dashboard.records import ContainerRecord

NS_MEANING = {
    "pid": "process IDs: which processes it can see, and its own PID 1",
    "net": "network interfaces, addresses, routes, ports",
    "ipc": "System V IPC and POSIX message queues, /dev/shm",
    "mnt": "the mount table: its own root file system",
    "uts": "hostname and domain name",
    "user": "user and group IDs (root inside = root outside unless remapped)",
    "cgroup": "which part of the cgroup tree it sees as its root",
    "time": "the boot and monotonic clocks",
}
PROCESS_LIST_LIMIT = 100
CHANGES_LIMIT = 500
OCI_BUNDLE_ROOTS = (
    # dockerd running its own containerd (as `dockerd` does when none is configured)
    Path("/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby"),
    # dockerd using the system containerd
    Path("/run/containerd/io.containerd.runtime.v2.task/moby"),
)


def engine_is_local(url: str) -> bool:
    """Whether the engine's processes live in this machine's /proc."""
    parts = urlsplit(url)
    if parts.scheme in {"unix", "npipe", ""}:
        return True
    return parts.hostname in {"localhost", "127.0.0.1", "::1"}


def kernel_problem(container: ContainerRecord, proc: Path = kernel.PROC) -> str:
    """Why the kernel view of this container cannot be shown, or "" when it can."""
    if not container.running or not container.pid:
        return (
            f"The container is not running (state: {container.state or 'unknown'}): "
            "a stopped container has no processes, so no namespaces and no live cgroup."
        )
    url = endpoint()
    if not engine_is_local(url):
        return (
            f"The engine at {url} runs on another machine: its containers' processes are not "
            "in this machine's /proc, so their namespaces and cgroups cannot be read from here."
        )
    pid = container.pid
    try:
        cgroup_text = (proc / str(pid) / "cgroup").read_text()
    except FileNotFoundError:
        return (
            f"Docker says the container's first process is PID {pid}, but {proc}/{pid} does "
            "not exist here: the dashboard runs in a different PID namespace than the engine."
        )
    except OSError as exc:
        return f"Cannot read {proc}/{pid}/cgroup: {exc.strerror or exc}."
    if container.id not in cgroup_text:
        # PID numbers from another PID namespace would name some unrelated process here.
        return (
            f"PID {pid} in this machine's /proc is not the container's process (its cgroup does "
            "not name the container): the dashboard runs in a different PID namespace than "
            "the engine."
        )
    return ""


# ---------------------------------------------------------------- namespaces


def host_reference(proc: Path = kernel.PROC) -> dict[str, Any]:
    """The process whose namespaces count as "the host's": PID 1, else the Docker daemon.

    On some hosts even root may not read PID 1's namespace links (PID 1 holds
    capabilities the dashboard lacks). Docker's own "host" modes mean the
    daemon's namespaces, so dockerd is the next-best reference, and is named.
    """
    first = kernel.namespaces_of(1, proc)
    if all(read.inode is not None for read in first.values()):
        return {
            "pid": 1,
            "label": f"the host (PID 1, {kernel.read_comm(1, proc) or '?'})",
            "note": "",
            "namespaces": {t: r.inode for t, r in first.items()},
        }
    reason = next(read.error for read in first.values() if read.inode is None)
    daemons = kernel.pids_by_comm("dockerd", proc)
    if len(daemons) == 1:
        ns = kernel.namespaces_of(daemons[0], proc)
        if all(read.inode is not None for read in ns.values()):
            return {
                "pid": daemons[0],
                "label": f"the Docker daemon's (dockerd, PID {daemons[0]})",
                "note": (
                    f"PID 1's namespaces cannot be read ({reason}); compared with dockerd's "
                    "instead, which is what Docker's `host` modes share."
                ),
                "namespaces": {t: r.inode for t, r in ns.items()},
            }
    return {
        "pid": None,
        "label": "",
        "note": f"Neither PID 1's nor dockerd's namespaces can be read ({reason}).",
        "namespaces": {},
    }


def docker_asked(value: str, ns_type: str) -> dict[str, str]:
    """What Docker was asked for one namespace kind (its mode, `value`), in words."""
    option = translate.NAMESPACE_OPTIONS[ns_type]
    if option is None:
        if ns_type == "mnt":
            return {"option": "", "value": "", "meaning": "always its own (Docker has no option)"}
        return {"option": "", "value": "", "meaning": "not set by Docker (the runtime's default)"}
    if value == "host":
        meaning = "the host's"
    elif value.startswith("container:"):
        meaning = f"joins container {value.split(':', 1)[1]}"
    elif ns_type == "net":
        meaning = {
            "none": "its own, with only loopback",
            "default": "its own, on the default bridge",
        }.get(value, f"its own, on network {value or 'bridge'}")
    elif ns_type == "ipc":
        meaning = {
            "shareable": "its own (others may join it)",
            "private": "its own",
            "none": "its own, without /dev/shm",
        }.get(value, value or "its own")
    elif ns_type == "cgroup":
        meaning = {"private": "its own", "": "the daemon's default"}.get(value, value)
    elif ns_type == "user":
        meaning = value or "the daemon's default (the host's unless userns-remap is on)"
    else:
        meaning = value or "its own"
    return {"option": option, "value": value, "meaning": meaning}


def container_namespaces(
    container: ContainerRecord, user: Any, proc: Path = kernel.PROC
) -> dict[str, Any]:
    """The namespaces of a container's first process, against the host and other containers."""
    types = kernel.namespace_types(proc)
    asked = {t: docker_asked(container.namespace_modes.get(t, ""), t) for t in types}
    problem = kernel_problem(container, proc)
    base: dict[str, Any] = {"id": container.id, "problem": problem, "pid": None}
    if problem:
        base["namespaces"] = [
            {"type": t, "inode": None, "meaning": NS_MEANING[t], "asked": asked[t]} for t in types
        ]
        return base

    pid = container.pid
    reads = kernel.namespaces_of(pid, proc)
    host = host_reference(proc)
    others = _other_containers(container.id, user, proc)
    rows = []
    for t in types:
        read = reads[t]
        host_inode = host["namespaces"].get(t)
        sharers = [o for o in others if read.inode is not None and o["ns"].get(t) == read.inode]
        rows.append(
            {
                "type": t,
                "path": f"{proc}/{pid}/ns/{t}",
                "inode": read.inode,
                "error": read.error,
                "meaning": NS_MEANING[t],
                "asked": asked[t],
                "is_host": (read.inode == host_inode)
                if read.inode is not None and host_inode is not None
                else None,
                "shared_with": [
                    {"id": o["id"], "name": o["name"]} for o in sharers if o["visible"]
                ],
                "shared_with_hidden": sum(1 for o in sharers if not o["visible"]),
            }
        )
    base.update(pid=pid, host=host, namespaces=rows)
    return base


def _other_containers(own_id: str, user: Any, proc: Path) -> list[dict[str, Any]]:
    others = []
    for item in running_container_pids():
        if item["id"] == own_id or not item["pid"]:
            continue
        ns = kernel.namespaces_of(item["pid"], proc)
        others.append(
            {
                "id": item["id"],
                "name": item["name"],
                "visible": access.can(user, access.Perm.VIEW, access.owner_of(item["labels"])),
                "ns": {t: r.inode for t, r in ns.items() if r.inode is not None},
            }
        )
    return others


# ---------------------------------------------------------------- isolation, live


def container_isolation(container: ContainerRecord, proc: Path = kernel.PROC) -> dict[str, Any]:
    """What the container sees: its processes, hostname, network and mounts."""
    problem = kernel_problem(container, proc)
    if problem:
        return {"problem": problem}
    pid = container.pid
    pid_ns = kernel.read_namespace(pid, "pid", proc)
    if pid_ns.inode is None:
        processes: list[kernel.ProcessInfo] = []
        process_error = pid_ns.error
    else:
        processes = kernel.processes_in_pid_namespace(pid_ns.inode, proc)
        process_error = ""
    hostname, hostname_source = kernel.container_hostname(pid, proc)
    interfaces, network_error = kernel.network_of(pid, proc)
    mounts, mounts_error = kernel.mounts_of(pid, proc)
    return {
        "problem": "",
        "pid": pid,
        "processes": [_process_row(p) for p in processes[:PROCESS_LIST_LIMIT]],
        "process_count": len(processes),
        "process_error": process_error,
        "hostname": hostname,
        "hostname_source": hostname_source,
        "configured_hostname": container.hostname,
        "host_hostname": kernel.host_hostname(proc),
        "interfaces": [vars(i) for i in interfaces],
        "network_error": network_error,
        "network_source": f"{proc}/{pid}/net/dev, fib_trie, route, if_inet6",
        "mounts": [vars(m) for m in mounts],
        "mounts_error": mounts_error,
        "mounts_source": f"{proc}/{pid}/mountinfo",
    }


def _process_row(p: kernel.ProcessInfo) -> dict[str, Any]:
    return {
        "host_pid": p.pid,
        "container_pid": p.ns_pid,
        "ppid": p.ppid,
        "command": p.command,
        "uid": p.uid,
        "state": p.state,
    }


# ---------------------------------------------------------------- layers (union file system)


def container_layers(ref: str) -> dict[str, Any]:
    """Image layers, the storage driver's directories, the writable layer's size and changes."""
    attrs = inspect_container_with_size(ref)
    driver = attrs.get("GraphDriver") or {}
    data = driver.get("Data") or {}
    lower = [p for p in (data.get("LowerDir") or "").split(":") if p]
    history = image_history(attrs.get("Image", ""))
    changes = container_changes(attrs["Id"])
    counts = {k: sum(1 for c in changes if c["kind"] == k) for k in ("added", "changed", "deleted")}
    return {
        "driver": driver.get("Name", ""),
        "upper_dir": data.get("UpperDir", ""),
        "merged_dir": data.get("MergedDir", ""),
        "work_dir": data.get("WorkDir", ""),
        # LowerDir lists the top layer first; Docker's "-init" layer (hostname, resolv.conf
        # mount points) sits between the image and the writable layer.
        "lower_dirs": [{"path": p, "init": p.rstrip("/").endswith("-init/diff")} for p in lower],
        "other_data": {
            k: v
            for k, v in data.items()
            if k not in {"LowerDir", "UpperDir", "MergedDir", "WorkDir"}
        },
        "size_rw": attrs.get("SizeRw"),
        "size_root_fs": attrs.get("SizeRootFs"),
        "image": attrs.get("Image", ""),
        "history": [
            {
                "id": h.get("Id", ""),
                "created": h.get("Created", 0),
                "created_by": h.get("CreatedBy", ""),
                "size": h.get("Size", 0),
                "tags": h.get("Tags") or [],
            }
            for h in history
        ],
        "changes": changes[:CHANGES_LIMIT],
        "change_count": len(changes),
        "change_counts": counts,
    }


# ---------------------------------------------------------------- the OCI runtime spec


def oci_spec(container_id: str, roots: tuple[Path, ...] = OCI_BUNDLE_ROOTS) -> dict[str, Any]:
    """The bundle's config.json runc was given, summarised, or where it was looked for."""
    tried = [root / container_id / "config.json" for root in roots]
    if not engine_is_local(endpoint()):
        return {
            "problem": f"The engine at {endpoint()} runs on another machine; its runtime "
            "bundles are on that machine's disk.",
            "tried": [str(p) for p in tried],
        }
    errors = []
    for path in tried:
        try:
            text = path.read_text()
        except FileNotFoundError:
            errors.append(f"{path}: not there")
            continue
        except OSError as exc:
            errors.append(f"{path}: {exc.strerror or exc}")
            continue
        try:
            spec = json.loads(text)
        except ValueError as exc:
            errors.append(f"{path}: not valid JSON ({exc})")
            continue
        return {
            "problem": "",
            "path": str(path),
            "summary": translate.oci_summary(spec),
            "json": spec,
        }
    return {
        "problem": "The runtime bundle's config.json cannot be read. It exists only while the "
        "container runs, and only on the engine's machine, readable by root.",
        "tried": errors,
    }


def safely(fn: Callable[[], dict[str, Any]], what: str) -> dict[str, Any]:
    """Run one section's gatherer; an engine error becomes that section's problem, not a 500."""
    try:
        return fn()
    except EngineUnavailable:
        raise
    except EngineError as exc:
        return {"problem": f"The engine could not give the {what}: {exc.message}"}
