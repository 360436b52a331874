"""A container's control groups as the kernel holds them: limits, usage, events, throttling.

Where the container's cgroup directories are comes from containers_app.cgroups
(the one place that finds them); this module reads the limit and event files in
those directories and sets each value next to what Docker was given. Every value
carries the file it came from and the file's text, so a student can `cat` it.
v1 (a directory per controller) and v2 (one unified directory) both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from containers_app import cgroups, internals, kernel
from dashboard.records import ContainerRecord, ResourceLimits
from dashboard.units import human_bytes

V1_CONTROLLER_KEYS = ("memory", "cpu", "cpuacct", "cpuset", "pids", "blkio")


def _raw(path: Path | None) -> tuple[str | None, str]:
    """The file's text (stripped), or None and why not."""
    if path is None:
        return None, "the controller is not mounted here"
    try:
        return path.read_text().strip(), ""
    except FileNotFoundError:
        return None, "this kernel does not provide the file"
    except OSError as exc:
        return None, exc.strerror or str(exc)


def _row(what: str, docker: str, path: Path | None, kernel_says: str = "") -> dict[str, Any]:
    raw, error = _raw(path)
    return {
        "what": what,
        "docker": docker,
        "file": str(path) if path is not None else "",
        "raw": raw,
        "value": int(raw) if raw is not None and raw.lstrip("-").isdigit() else None,
        "kernel": kernel_says if raw is not None else "",
        "error": error,
    }


def _bytes_limit(raw: str | None) -> str:
    if raw is None:
        return ""
    if raw == "max":
        return "unlimited"
    try:
        n = int(raw)
    except ValueError:
        return raw
    return "unlimited" if n >= cgroups.V1_UNLIMITED else f"{human_bytes(n)}"


def _bytes(raw: str | None) -> str:
    try:
        return human_bytes(int(raw or ""))
    except ValueError:
        return raw or ""


# ---------------------------------------------------------------- what Docker was given


def docker_limits(limits: ResourceLimits) -> dict[str, str]:
    """The resource fields Docker was given, in words (the left column of the table)."""
    memory, swap, nano = limits.memory, limits.memory_swap, limits.nano_cpus
    quota, period, shares = limits.cpu_quota, limits.cpu_period, limits.cpu_shares
    pids, blkio = limits.pids_limit, limits.blkio_weight
    if swap == -1:
        swap_text = "MemorySwap=-1 (unlimited swap)"
    elif swap:
        swap_text = f"MemorySwap={swap} ({human_bytes(swap)}, memory + swap)"
    elif memory:
        swap_text = f"MemorySwap=0 (default: twice Memory, {human_bytes(2 * memory)})"
    else:
        swap_text = "MemorySwap=0 (no limit)"
    if nano:
        cpu_text = f"NanoCpus={nano} ({nano / 1e9:g} CPUs)"
    elif quota:
        cpu_text = f"CpuQuota={quota}, CpuPeriod={period or 100000}"
    else:
        cpu_text = "no CPU limit (NanoCpus=0, CpuQuota=0)"
    return {
        "memory": f"Memory={memory} ({human_bytes(memory)})" if memory else "Memory=0 (no limit)",
        "swap": swap_text,
        "cpu": cpu_text,
        "shares": f"CpuShares={shares}" if shares else "CpuShares=0 (default weight, 1024)",
        "cpuset": f"CpusetCpus={limits.cpuset_cpus}"
        if limits.cpuset_cpus
        else 'CpusetCpus="" (all CPUs)',
        "pids": f"PidsLimit={pids}" if pids and pids > 0 else f"PidsLimit={pids} (no limit)",
        "blkio": f"BlkioWeight={blkio}" if blkio else "BlkioWeight=0 (default)",
    }


# ---------------------------------------------------------------- the kernel's side


def _cpu_v1(quota_raw: str | None, period_raw: str | None) -> str:
    if quota_raw is None or period_raw is None:
        return ""
    if quota_raw == "-1":
        return "no quota (-1)"
    try:
        return f"{int(quota_raw) / int(period_raw):g} CPUs ({quota_raw} µs per {period_raw} µs)"
    except (ValueError, ZeroDivisionError):
        return f"{quota_raw}/{period_raw}"


def _v1_report(dirs: dict[str, Path], asked: dict[str, str]) -> dict[str, Any]:
    mem, cpu, cpuset = dirs.get("memory"), dirs.get("cpu"), dirs.get("cpuset")
    pids, blkio = dirs.get("pids"), dirs.get("blkio")
    cpuacct = dirs.get("cpuacct") or cpu

    def at(d: Path | None, name: str) -> Path | None:
        return d / name if d is not None else None

    quota_raw, _ = _raw(at(cpu, "cpu.cfs_quota_us"))
    period_raw, _ = _raw(at(cpu, "cpu.cfs_period_us"))
    # Kernels with the BFQ scheduler expose the weight as blkio.bfq.weight only.
    blkio_file = at(blkio, "blkio.weight")
    if blkio_file is not None and not blkio_file.exists():
        blkio_file = at(blkio, "blkio.bfq.weight")
    limits = [
        _row("Memory limit", asked["memory"], at(mem, "memory.limit_in_bytes")),
        _row("Memory + swap limit", asked["swap"], at(mem, "memory.memsw.limit_in_bytes")),
        _row(
            "CPU quota", asked["cpu"], at(cpu, "cpu.cfs_quota_us"), _cpu_v1(quota_raw, period_raw)
        ),
        _row("CPU period", "", at(cpu, "cpu.cfs_period_us"), f"{period_raw} µs"),
        _row("CPU shares (relative weight)", asked["shares"], at(cpu, "cpu.shares")),
        _row("CPUs allowed (cpuset)", asked["cpuset"], at(cpuset, "cpuset.cpus")),
        _row("Processes (pids.max)", asked["pids"], at(pids, "pids.max")),
        _row("Block I/O weight", asked["blkio"], blkio_file),
    ]
    for row in limits[:2]:
        row["kernel"] = _bytes_limit(row["raw"])
    oom = cgroups.read_kv(mem / "memory.oom_control") if mem is not None else {}
    cpu_stat = cgroups.read_kv(cpu / "cpu.stat") if cpu is not None else {}
    usage = [
        _row("Memory in use", "", at(mem, "memory.usage_in_bytes")),
        _row("Memory, highest so far", "", at(mem, "memory.max_usage_in_bytes")),
        _row("CPU time used", "", at(cpuacct, "cpuacct.usage")),
        _row("Processes now", "", at(pids, "pids.current")),
    ]
    for row in usage[:2]:
        row["kernel"] = _bytes(row["raw"])
    usage[2]["kernel"] = _seconds(usage[2]["raw"], 1e9)
    events = [
        _row("Times memory hit the limit", "", at(mem, "memory.failcnt")),
        _kv_row("OOM kills", at(mem, "memory.oom_control"), oom, "oom_kill"),
        _kv_row("Under OOM now", at(mem, "memory.oom_control"), oom, "under_oom"),
        _kv_row("Periods with a quota", at(cpu, "cpu.stat"), cpu_stat, "nr_periods"),
        _kv_row("Periods throttled", at(cpu, "cpu.stat"), cpu_stat, "nr_throttled"),
        _kv_row("Time throttled", at(cpu, "cpu.stat"), cpu_stat, "throttled_time", scale=1e9),
        _kv_row("Forks refused (pids.max)", at(pids, "pids.events"), _events(pids), "max"),
    ]
    return {"limits": limits, "usage": usage, "events": events}


def _events(d: Path | None) -> dict[str, int]:
    return cgroups.read_kv(d / "pids.events") if d is not None else {}


def _seconds(raw: str | None, per_second: float) -> str:
    try:
        return f"{int(raw or '') / per_second:.3f} s"
    except ValueError:
        return ""


def _kv_row(
    what: str, path: Path | None, values: dict[str, int], key: str, *, scale: float = 0
) -> dict[str, Any]:
    """One `key value` line of a file such as cpu.stat or memory.events."""
    row = _row(what, "", path)
    row["key"] = key
    if row["raw"] is None:
        return row
    if key not in values:
        row["raw"] = None
        row["error"] = f"this kernel's {path.name if path else 'file'} has no {key} line"
        return row
    row["raw"] = f"{key} {values[key]}"
    row["kernel"] = _seconds(str(values[key]), scale) if scale else str(values[key])
    row["value"] = values[key]
    return row


def _cpu_v2(raw: str | None) -> str:
    if raw is None:
        return ""
    quota, _, period = raw.partition(" ")
    if quota == "max":
        return f"no quota (period {period} µs)"
    try:
        return f"{int(quota) / int(period):g} CPUs ({quota} µs per {period} µs)"
    except (ValueError, ZeroDivisionError):
        return raw


def _v2_report(d: Path, asked: dict[str, str]) -> dict[str, Any]:
    cpu_max = _row("CPU quota / period", asked["cpu"], d / "cpu.max")
    cpu_max["kernel"] = _cpu_v2(cpu_max["raw"])
    io_weight = d / "io.weight"
    if not io_weight.exists() and (d / "io.bfq.weight").exists():
        io_weight = d / "io.bfq.weight"
    limits = [
        _row("Memory limit", asked["memory"], d / "memory.max"),
        # v2 limits swap alone; Docker's MemorySwap counts memory + swap.
        _row("Swap limit (swap only)", asked["swap"], d / "memory.swap.max"),
        cpu_max,
        _row(
            "CPU weight",
            asked["shares"] + " (weight = 1 + (shares-2)·9999/262142)",
            d / "cpu.weight",
        ),
        _row("CPUs allowed (cpuset)", asked["cpuset"], d / "cpuset.cpus.effective"),
        _row("Processes (pids.max)", asked["pids"], d / "pids.max"),
        _row("Block I/O weight", asked["blkio"], io_weight),
    ]
    for row in limits[:2]:
        row["kernel"] = _bytes_limit(row["raw"])
    cpu_stat = cgroups.read_kv(d / "cpu.stat")
    mem_events = cgroups.read_kv(d / "memory.events")
    usage = [
        _row("Memory in use", "", d / "memory.current"),
        _row("Memory, highest so far", "", d / "memory.peak"),
        _kv_row("CPU time used", d / "cpu.stat", cpu_stat, "usage_usec", scale=1e6),
        _row("Processes now", "", d / "pids.current"),
    ]
    for row in usage[:2]:
        row["kernel"] = _bytes(row["raw"])
    events = [
        _kv_row("Times memory hit the limit", d / "memory.events", mem_events, "max"),
        _kv_row("OOM events", d / "memory.events", mem_events, "oom"),
        _kv_row("OOM kills", d / "memory.events", mem_events, "oom_kill"),
        _kv_row("Periods with a quota", d / "cpu.stat", cpu_stat, "nr_periods"),
        _kv_row("Periods throttled", d / "cpu.stat", cpu_stat, "nr_throttled"),
        _kv_row("Time throttled", d / "cpu.stat", cpu_stat, "throttled_usec", scale=1e6),
        _kv_row(
            "Forks refused (pids.max)", d / "pids.events", cgroups.read_kv(d / "pids.events"), "max"
        ),
    ]
    return {"limits": limits, "usage": usage, "events": events}


def cgroup_report(pid: int, limits: ResourceLimits, proc: Path = kernel.PROC) -> dict[str, Any]:
    """The cgroup of process `pid`: directories, limits against Docker's, usage and events."""
    dirs = cgroups.container_cgroup_dirs(pid, proc)
    asked = docker_limits(limits)
    if not dirs:
        return {
            "problem": f"No cgroup directory of PID {pid} is reachable through this machine's "
            f"cgroup mounts ({proc}/{pid}/cgroup and {proc}/self/mountinfo).",
            "asked": asked,
        }
    is_v1 = any(key in dirs for key in V1_CONTROLLER_KEYS)
    if is_v1:
        report = _v1_report(dirs, asked)
    elif "" in dirs:
        report = _v2_report(dirs[""], asked)
    else:
        return {"problem": f"PID {pid} has no v1 controller or v2 directory here.", "asked": asked}
    paths = [{"controller": k or "(unified)", "dir": str(v)} for k, v in sorted(dirs.items())]
    return {"problem": "", "version": 1 if is_v1 else 2, "pid": pid, "paths": paths, **report}


def container_cgroups(container: ContainerRecord, proc: Path = kernel.PROC) -> dict[str, Any]:
    problem = internals.kernel_problem(container, proc)
    if problem:
        return {"problem": problem, "asked": docker_limits(container.resources)}
    return cgroup_report(container.pid, container.resources, proc)
