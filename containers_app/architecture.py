"""The real process chain on this host: client, dockerd, containerd, shims, runc, containers.

Versions come from the engine (`docker version`), PIDs from walking /proc (comm and
cmdline), the shim of each container from the shim's `-id` argument or, failing
that, the parent of the container's first process.
"""

from __future__ import annotations

from typing import Any

from containers_app import internals, kernel
from containers_app.engine.containers import running_container_pids
from containers_app.engine.system import engine_overview
from dashboard import access

SHIM_COMM = "containerd-shim"  # comm is cut at 15 characters: containerd-shim-runc-v2 reads so


def _flag(cmdline: list[str], name: str) -> str:
    """The value after `-name` (or `--name`) in a command line, or ""."""
    for i, arg in enumerate(cmdline[:-1]):
        if arg in (f"-{name}", f"--{name}"):
            return cmdline[i + 1]
    return ""


def _process(pid: int) -> dict[str, Any]:
    info = kernel.process_info(pid)
    return {
        "pid": pid,
        "ppid": info.ppid if info else None,
        "command": info.command if info else "",
    }


def find_shims() -> list[dict[str, Any]]:
    shims = []
    for pid in kernel.pids():
        if not kernel.read_comm(pid).startswith(SHIM_COMM):
            continue
        cmdline = kernel.read_cmdline(pid)
        shims.append(
            {
                "pid": pid,
                "binary": cmdline[0] if cmdline else SHIM_COMM,
                "id": _flag(cmdline, "id"),
                "namespace": _flag(cmdline, "namespace"),
                "address": _flag(cmdline, "address"),
            }
        )
    return shims


def engine_architecture(user: Any) -> dict[str, Any]:
    overview = engine_overview(disk_usage=False)
    url = overview["endpoint"]
    result: dict[str, Any] = {
        "endpoint": url,
        "client": overview["client"],
        "engine": overview["engine"],
        "components": overview["components"],
        "default_runtime": overview["default_runtime"],
        "registry": overview["registry"],
        "cgroup_driver": overview["cgroup_driver"],
        "local": internals.engine_is_local(url),
        "problem": "",
    }
    if not result["local"]:
        result["problem"] = (
            f"The engine at {url} runs on another machine: its processes (dockerd, containerd, "
            "the shims, the containers) are not in this machine's /proc, so no PIDs are shown."
        )
        return result

    daemons = kernel.pids_by_comm("dockerd")
    result["dockerd"] = [_process(pid) for pid in daemons]
    # dockerd starts its own containerd as a child unless pointed at a system one.
    containerds = kernel.pids_by_comm("containerd")
    own = [pid for pid in containerds if _parent(pid) in daemons]
    result["containerd"] = [
        {**_process(pid), "child_of_dockerd": pid in own} for pid in (own or containerds)
    ]
    if not daemons:
        result["problem"] = (
            "No process named dockerd is visible in /proc: the dashboard runs in another PID "
            "namespace than the engine (for example inside a container)."
        )

    shims = find_shims()
    shim_by_id = {s["id"]: s for s in shims if s["id"]}
    shim_by_pid = {s["pid"]: s for s in shims}
    containers = []
    hidden = 0
    for item in running_container_pids():
        if not access.can(user, access.Perm.VIEW, access.owner_of(item["labels"])):
            hidden += 1
            continue
        init = _process(item["pid"]) if item["pid"] else None
        shim = shim_by_id.get(item["id"])
        how = "its -id argument"
        if shim is None and init and init["ppid"] in shim_by_pid:
            shim, how = shim_by_pid[init["ppid"]], "the parent of its first process"
        containers.append(
            {
                "id": item["id"],
                "short_id": item["id"][:12],
                "name": item["name"],
                "init": init,
                "shim": shim,
                "shim_found_by": how if shim else "",
            }
        )
    containers.sort(key=lambda c: c["name"])
    result["containers"] = containers
    result["hidden_containers"] = hidden
    served = {c["shim"]["pid"] for c in containers if c["shim"]}
    result["other_shims"] = sum(1 for s in shims if s["pid"] not in served)
    return result


def _parent(pid: int) -> int | None:
    info = kernel.process_info(pid)
    return info.ppid if info else None
