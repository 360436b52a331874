"""The alert rules: when a container (or a user) is in trouble, from facts handed in.

Each rule is a pure function of what the stats sampler and the events stream already
read (containers_app.alerts gathers the facts and keeps the windows they need) and of
the thresholds (settings, with sane defaults); it answers the condition's summary while
it holds, else None. The alert engine turns conditions that start into firing alerts,
and conditions that end into resolved ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from dashboard.quotas import Limits, Usage, usage_rows


class Kind(StrEnum):
    OOM = "oom"
    RESTART_LOOP = "restart_loop"
    CPU_PINNED = "cpu_pinned"
    MEMORY_HIGH = "memory_high"
    EXITED = "exited"
    QUOTA = "quota"


TITLES = {
    Kind.OOM: "Out of memory",
    Kind.RESTART_LOOP: "Restart loop",
    Kind.CPU_PINNED: "CPU pinned at its limit",
    Kind.MEMORY_HIGH: "Memory near its limit",
    Kind.EXITED: "Exited with an error",
    Kind.QUOTA: "Near a quota",
}


@dataclass(frozen=True)
class Thresholds:
    restarts: int = 3  # dies within restart_seconds that make a loop
    restart_seconds: float = 300.0
    cpu_seconds: float = 30.0  # the window "throttled for most of" looks at
    memory_percent: float = 90.0  # of the container's own limit
    quota_percent: float = 90.0  # of any of the user's quotas
    oom_clear_seconds: float = 300.0  # an OOM alert resolves after this long without a kill
    exit_grace_seconds: float = 2.0  # a container started again within this is not "exited"


def oom(kills_seen: int, last_kill: float | None, now: float, th: Thresholds) -> str | None:
    """Processes killed by the OOM killer (the cgroup's count, or the engine's `oom`
    events): firing from the kill until `oom_clear_seconds` pass without another."""
    if last_kill is None or now - last_kill >= th.oom_clear_seconds:
        return None
    killed = f"{kills_seen} process{'es' if kills_seen != 1 else ''}" if kills_seen else "a process"
    return f"The kernel's OOM killer ended {killed}: it needs more memory than its limit."


def restart_loop(dies: Sequence[float], now: float, th: Thresholds) -> str | None:
    """At least `restarts` exits within the last `restart_seconds`."""
    recent = [t for t in dies if t > now - th.restart_seconds]
    if len(recent) < th.restarts:
        return None
    minutes = th.restart_seconds / 60
    return (
        f"Exited {len(recent)} times in the last {minutes:g} min and was started again each time."
    )


def cpu_pinned(
    throttled: Sequence[bool], cpu_limit: float | None, interval: float, th: Thresholds
) -> str | None:
    """Held back by its CPU limit on most ticks of the last `cpu_seconds` (one entry per
    tick, newest last; a window not yet full does not count)."""
    ticks = max(1, round(th.cpu_seconds / interval))
    window = list(throttled)[-ticks:]
    if not cpu_limit or len(window) < ticks or sum(window) * 2 <= ticks:
        return None
    return (
        f"Held back by its limit of {cpu_limit:g} CPU for {sum(window)} of the last "
        f"{ticks} samples: it wants more CPU than it may have."
    )


def memory_high(usage: int, limit: int, limited: bool, firing: bool, th: Thresholds) -> str | None:
    """Memory at `memory_percent` of its own limit; once firing, until 5 points below
    (a container hovering at the line does not flap)."""
    if not limited or limit <= 0:
        return None
    percent = usage / limit * 100
    line = th.memory_percent - (5 if firing else 0)
    if percent < line:
        return None
    return f"Uses {percent:.0f} % of its memory limit; at 100 % the kernel kills a process."


def exited(
    exit_code: int | None, since: float | None, looping: bool, now: float, th: Thresholds
) -> str | None:
    """Stopped with a non-zero exit code and not started again (a restart loop says more)."""
    if not exit_code or since is None or looping or now - since < th.exit_grace_seconds:
        return None
    return f"Exited with code {exit_code}."


def near_quota(limits: Limits, usage: Usage, th: Thresholds) -> str | None:
    """At `quota_percent` of any of the user's quotas that add up."""
    full = [r for r in usage_rows(limits, usage) if (r["percent"] or 0) >= th.quota_percent]
    if not full:
        return None
    return "; ".join(f"{r['label']}: {r['used']} of {r['limit']}" for r in full) + "."
