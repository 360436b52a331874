"""Quotas of a shared host: each user's limits, their usage on the engine, and the checks.

Limits: a `Quota` row per user overrides, field by field, the `RoleQuota` row of
the user's role (seeded by a migration, edited by admins); an empty role field
means no limit. Admins have no quotas. Usage is read from the engine: the
containers labelled `dockdash.owner=<user>` (count, running, and the sum of the
memory and CPU limits of the running ones; paused and restarting count as
running, since they hold their memory).

Two requests at once must not together pass a quota, so the check and the
engine call that follows run under `serialized(owner)`: an exclusive `flock` on
a per-user file in DOCKDASH_LOCK_DIR (serializes threads and processes on this
host), plus, on PostgreSQL, a row lock on the user (`select_for_update` inside a
transaction) so dashboards on several hosts sharing one database serialize too.
On SQLite the file lock alone does it (SQLite deployments are one host).

The checks are pure: they take the limits and the usage (gathered by the gate,
containers_app.gate, from the engine's records) and refuse with QuotaExceeded.
The gate runs the check and the engine call that follows under
`serialized(owner)`.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from dashboard import access
from dashboard.models import Quota, QuotaLimits, Role, RoleQuota
from dashboard.records import NANO, ContainerRecord
from dashboard.refusals import QuotaExceeded
from dashboard.specs import ContainerSpec


@dataclass(frozen=True)
class Limits:
    """The effective limits of one user; None: no limit."""

    max_containers: int | None = None
    max_running: int | None = None
    memory_per_container: int | None = None
    memory_total: int | None = None
    cpus_per_container: float | None = None
    cpus_total: float | None = None
    pids_per_container: int | None = None
    max_volumes: int | None = None
    max_networks: int | None = None

    @property
    def unlimited(self) -> bool:
        return all(getattr(self, name) is None for name in QuotaLimits.LIMIT_FIELDS)


@dataclass(frozen=True)
class Usage:
    """What a user's containers hold on the engine now."""

    containers: int = 0
    running: int = 0
    memory: int = 0  # bytes, sum over running containers
    nano_cpus: int = 0  # sum over running containers
    unlimited_running: list[str] = field(default_factory=list)  # names, without memory limit
    volumes: int = 0
    networks: int = 0

    @property
    def cpus(self) -> float:
        return self.nano_cpus / NANO


# ---------------------------------------------------------------- limits


def limits_for(user: Any) -> Limits:
    """The limits that apply to `user`: theirs, else their role's; admins: none."""
    role = access.role_of(user)
    if role in {"", Role.ADMIN}:
        return Limits()
    defaults = RoleQuota.objects.filter(role=role).first()
    own = Quota.objects.filter(user_id=user.pk).first() if user.pk else None
    values = {}
    for name in QuotaLimits.LIMIT_FIELDS:
        mine = getattr(own, name) if own is not None else None
        values[name] = mine if mine is not None else getattr(defaults, name, None)
    return Limits(**values)


def usage_from(
    containers: Sequence[ContainerRecord], *, volumes: int = 0, networks: int = 0
) -> Usage:
    """The usage a user's containers (records), volumes and networks add up to."""
    running = [c for c in containers if c.running]
    return Usage(
        containers=len(containers),
        running=len(running),
        memory=sum(c.memory for c in running),
        nano_cpus=sum(c.nano_cpus for c in running),
        unlimited_running=[c.name for c in running if not c.memory],
        volumes=volumes,
        networks=networks,
    )


# ---------------------------------------------------------------- the checks


def apply_defaults(user: Any, spec: ContainerSpec) -> ContainerSpec:
    """`spec` with empty (None or 0) memory, CPUs and pids limits set to the user's limits.

    So every container of a user with quotas has cgroup limits; admins' specs are
    left as they are.
    """
    limits = limits_for(user)
    changes: dict[str, Any] = {}
    if not spec.memory and limits.memory_per_container:
        changes["memory"] = limits.memory_per_container
    if not spec.cpus and limits.cpus_per_container:
        changes["cpus"] = limits.cpus_per_container
    if (spec.pids_limit is None or spec.pids_limit <= 0) and limits.pids_per_container:
        changes["pids_limit"] = limits.pids_per_container
    return replace(spec, **changes) if changes else spec


def _size(n: int) -> str:
    """Bytes in binary units, as the quota forms take them (MiB)."""
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= factor:
            return f"{n / factor:.2f}".rstrip("0").rstrip(".") + " " + unit
    return f"{n} B"


def _cpus(value: float) -> str:
    return f"{value:g}"


def _check_per_container(
    limits: Limits, memory: int | None, nano_cpus: int, pids: int | None, what: str
) -> None:
    if limits.memory_per_container is not None:
        if not memory:
            raise QuotaExceeded(
                "memory",
                f"{what} has no memory limit; set one of at most "
                f"{_size(limits.memory_per_container)}.",
            )
        if memory > limits.memory_per_container:
            raise QuotaExceeded(
                "memory",
                f"Memory {_size(memory)} for {what} is above your limit of "
                f"{_size(limits.memory_per_container)} per container.",
            )
    if limits.cpus_per_container is not None:
        cap = round(limits.cpus_per_container * NANO)
        if not nano_cpus:
            raise QuotaExceeded(
                "cpus",
                f"{what} has no CPU limit; set one of at most "
                f"{_cpus(limits.cpus_per_container)} CPUs.",
            )
        if nano_cpus > cap:
            raise QuotaExceeded(
                "cpus",
                f"{_cpus(nano_cpus / NANO)} CPUs for {what} is above your limit of "
                f"{_cpus(limits.cpus_per_container)} per container.",
            )
    if limits.pids_per_container is not None:
        if pids is None or pids <= 0:
            raise QuotaExceeded(
                "pids_limit",
                f"{what} has no pids limit; set one of at most {limits.pids_per_container}.",
            )
        if pids > limits.pids_per_container:
            raise QuotaExceeded(
                "pids_limit",
                f"A pids limit of {pids} for {what} is above your limit of "
                f"{limits.pids_per_container} per container.",
            )


def _check_running(limits: Limits, usage: Usage, memory: int, nano_cpus: int) -> None:
    if limits.max_running is not None and usage.running + 1 > limits.max_running:
        raise QuotaExceeded(
            "start",
            f"You use {usage.running} of {limits.max_running} running containers; stop one first.",
        )
    if limits.memory_total is not None and usage.memory + memory > limits.memory_total:
        raise QuotaExceeded(
            "memory",
            f"Your running containers use {_size(usage.memory)} of "
            f"{_size(limits.memory_total)} memory; this one needs {_size(memory)} more.",
        )
    if limits.cpus_total is not None and usage.nano_cpus + nano_cpus > round(
        limits.cpus_total * NANO
    ):
        raise QuotaExceeded(
            "cpus",
            f"Your running containers use {_cpus(usage.cpus)} of {_cpus(limits.cpus_total)} "
            f"CPUs; this one needs {_cpus(nano_cpus / NANO)} more.",
        )


def check_create(limits: Limits, spec: ContainerSpec, usage: Usage) -> None:
    """Refuse creating (and, with `spec.start`, starting) `spec` over a quota.

    `spec` as `apply_defaults` made it; `usage` is the creator's now.
    """
    if limits.unlimited:
        return
    nano_cpus = round((spec.cpus or 0) * NANO)
    _check_per_container(limits, spec.memory, nano_cpus, spec.pids_limit, "this container")
    if limits.max_containers is not None and usage.containers + 1 > limits.max_containers:
        raise QuotaExceeded(
            "",
            f"You have {usage.containers} of {limits.max_containers} containers; remove one first.",
        )
    if spec.start:
        _check_running(limits, usage, spec.memory or 0, nano_cpus)


def check_start(limits: Limits, container: ContainerRecord, usage: Usage) -> None:
    """Refuse taking `container` to running over its owner's quota.

    `usage` is the owner's usage without this container (so a restart or an
    unpause re-admits it: it fits beside the others, or it does not).
    """
    if limits.unlimited:
        return
    name = f"container {container.name}"
    _check_per_container(limits, container.memory, container.nano_cpus, container.pids_limit, name)
    _check_running(limits, usage, container.memory, container.nano_cpus)


def check_new_objects(limits: Limits, usage: Usage, *, volumes: int = 0, networks: int = 0) -> None:
    """Refuse creating `volumes` more volumes or `networks` more networks over a quota."""
    for kind, have, adding, limit in (
        ("volumes", usage.volumes, volumes, limits.max_volumes),
        ("networks", usage.networks, networks, limits.max_networks),
    ):
        if adding and limit is not None and have + adding > limit:
            raise QuotaExceeded(kind, f"You have {have} of {limit} {kind}; remove one first.")


# ---------------------------------------------------------------- serializing per user


def _lock_path(owner: str) -> Any:
    settings.LOCK_DIR.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(owner.encode()).hexdigest()[:32]
    return settings.LOCK_DIR / f"user-{digest}.lock"


@contextmanager
def serialized(owner: str) -> Iterator[None]:
    """Run the block alone among all creates and starts of `owner`'s containers.

    Waits (bounded by the engine timeout of whoever holds it) for the one before.
    """
    with open(_lock_path(owner), "a+b") as handle:
        # flock is held per open file: two threads opening the file each wait for
        # each other just as two processes do.
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if connection.vendor == "postgresql":
                with transaction.atomic():
                    list(
                        get_user_model()
                        .objects.select_for_update()
                        .filter(username=owner)
                        .values_list("pk")
                    )
                    yield
            else:
                yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------- usage against limits, for pages


def usage_rows(limits: Limits, usage: Usage) -> list[dict[str, Any]]:
    """One row per quota: what it is, what is used, the limit, and how full (0-100, or None)."""

    def count(n: float) -> str:
        return str(int(n))

    def size(n: float) -> str:
        return _size(int(n))

    rows = [
        ("max_containers", "Containers (running or stopped)", usage.containers, count),
        ("max_running", "Running containers", usage.running, count),
        ("memory_total", "Memory of running containers", usage.memory, size),
        ("cpus_total", "CPUs of running containers", usage.cpus, _cpus),
        ("max_volumes", "Volumes", usage.volumes, count),
        ("max_networks", "Networks", usage.networks, count),
        # per-container limits: nothing to add up, the limit is what matters
        ("memory_per_container", "Memory per container", None, size),
        ("cpus_per_container", "CPUs per container", None, _cpus),
        ("pids_per_container", "Pids per container", None, count),
    ]
    shown = []
    for key, label, used, show in rows:
        limit = getattr(limits, key)
        shown.append(
            {
                "key": key,
                "label": label,
                "used": show(used) if used is not None else "—",
                "limit": show(limit) if limit is not None else "no limit",
                "percent": min(100, round(100 * used / limit))
                if used is not None and limit
                else None,
            }
        )
    return shown
