"""What a user asks the engine to create, once parsed and validated.

The create form and the API both parse into these; the access policy and quotas
check them; `containers_app.engine.containers.create_container` turns them into the Docker API call.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PortSpec:
    container_port: int
    host_port: int | None = None  # None: the engine picks a free port
    protocol: str = "tcp"  # tcp, udp, sctp
    host_ip: str = ""


@dataclass(frozen=True)
class MountSpec:
    source: str  # a volume name, or an absolute host path for a bind mount
    target: str
    read_only: bool = False
    kind: str = "volume"  # "volume" or "bind"


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    name: str = ""
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    ports: list[PortSpec] = field(default_factory=list)
    mounts: list[MountSpec] = field(default_factory=list)
    network: str = ""  # "", a network name, "host", "none", "container:<id>"
    aliases: list[str] = field(default_factory=list)  # more names on `network` (a lab's)
    memory: int | None = None  # bytes
    cpus: float | None = None
    pids_limit: int | None = None
    restart_policy: str = "no"  # no, always, unless-stopped, on-failure[:N]
    labels: dict[str, str] = field(default_factory=dict)
    auto_remove: bool = False
    start: bool = True
    working_dir: str = ""
    user: str = ""
    tty: bool = False
    # Powers that make a container root on the host: admins only (see dashboard.access).
    privileged: bool = False
    cap_add: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    pid_mode: str = ""
    ipc_mode: str = ""
    uts_mode: str = ""
    userns_mode: str = ""
    security_opt: list[str] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    cgroup_parent: str = ""
