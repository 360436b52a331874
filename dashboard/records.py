"""Typed records of what exists on the engine, as the rules and the gate judge it.

`containers_app.translate` is the one module that reads Docker's JSON and
builds these; nothing above it reads inspect keys. The records hold facts
only: the rules (dashboard.policy, dashboard.quotas) take them as arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dashboard.specs import ContainerSpec

OWNER_LABEL = "dockdash.owner"
CLASS_LABEL = "dockdash.class"  # the class (course slug) a lab's container belongs to
# Paused and restarting containers hold their memory: for quotas they run.
RUNNING_STATES = frozenset({"running", "paused", "restarting"})
NANO = 1_000_000_000


def owner_of(labels: Mapping[str, str] | None) -> str | None:
    """Who owns an object, from its labels (None: an admin's object)."""
    return (labels or {}).get(OWNER_LABEL) or None


@dataclass(frozen=True)
class ResourceLimits:
    """The cgroup limits Docker was given, one field each, as it holds them (0 / None: unset).

    The kernel views set them next to what the cgroup files say; `nano_cpus` is
    the `--cpus` field only (a `--cpu-quota` limit is in `cpu_quota`/`cpu_period`).
    """

    memory: int = 0
    memory_swap: int = 0
    nano_cpus: int = 0
    cpu_quota: int = 0
    cpu_period: int = 0
    cpu_shares: int = 0
    cpuset_cpus: str = ""
    pids_limit: int | None = None
    blkio_weight: int = 0


@dataclass(frozen=True)
class ContainerRecord:
    """One container as `docker inspect` shows it, reduced to what is judged and shown.

    `spec` holds what it was created with (image, network, mounts and powers),
    in the shape the policy checks a create in; `memory`, `nano_cpus` and
    `pids_limit` are its cgroup limits as the quotas count them (0 / None:
    none), `resources` the same limits field by field as Docker was given them.
    `pid` is its first process on the engine's host (0 when it is not running),
    `namespace_modes` what Docker was asked per namespace kind ("pid", "net",
    ...: "host", "container:<id>", "" for the default).
    """

    id: str
    name: str
    state: str
    spec: ContainerSpec
    memory: int = 0
    nano_cpus: int = 0
    pids_limit: int | None = None
    pid: int = 0
    exit_code: int | None = None
    oom_killed: bool = False  # its last run ended in the kernel's OOM killer
    restart_count: int = 0  # restarts by its restart policy since it was last started
    tty: bool = False
    hostname: str = ""
    namespace_modes: Mapping[str, str] = field(default_factory=dict)
    resources: ResourceLimits = field(default_factory=ResourceLimits)

    @property
    def labels(self) -> Mapping[str, str]:
        return self.spec.labels

    @property
    def owner(self) -> str | None:
        return owner_of(self.spec.labels)

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES

    @property
    def cpus(self) -> float:
        return self.nano_cpus / NANO


@dataclass(frozen=True)
class NetworkRecord:
    name: str
    owner: str | None
    driver: str = "bridge"
    id: str = ""
    containers: Mapping[str, str] = field(default_factory=dict)  # id -> name


@dataclass(frozen=True)
class VolumeRecord:
    name: str
    owner: str | None
    driver: str = "local"
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageRecord:
    id: str
    tags: tuple[str, ...]
    owner: str | None


@dataclass(frozen=True)
class NodeRecord:
    """A Swarm node, as a manager lists it; nodes belong to no user (admins control them)."""

    id: str
    hostname: str
    role: str  # manager, worker
    availability: str  # active, pause, drain
    state: str  # ready, down, unknown, disconnected
    address: str
    leader: bool
    cpus: float
    memory: int  # bytes
    engine_version: str
    labels: Mapping[str, str] = field(default_factory=dict)
    owner: str | None = None


@dataclass(frozen=True)
class ServiceRecord:
    """A Swarm service: owned by whoever its owner label names, as containers are."""

    id: str
    name: str
    owner: str | None
    image: str
    mode: str  # replicated, global
    desired: int | None  # replicas asked for (None: global)
    running: int
    ports: tuple[str, ...]
    update_state: str  # "" when never updated
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskRecord:
    id: str
    service_id: str
    slot: int | None
    node_id: str
    state: str
    desired_state: str
    message: str  # the engine's words on its state (the error, if any)
    container_id: str
    updated: str
