"""Docker's JSON, translated once: the one module that knows the Engine API's field names.

Inspect and list answers come in here and leave as typed records
(dashboard.records) for the gate and the rules, or as the plain rows the pages
and the API show. Nothing above this module reads `attrs["HostConfig"]`. The
runtime bundle's config.json (the OCI spec dockerd hands runc) is summarised
here too.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from dashboard.records import (
    NANO,
    ContainerRecord,
    ImageRecord,
    NetworkRecord,
    NodeRecord,
    ResourceLimits,
    ServiceRecord,
    TaskRecord,
    VolumeRecord,
    owner_of,
)
from dashboard.specs import ContainerSpec, MountSpec

PREDEFINED_NETWORKS = ("bridge", "host", "none")
# Which HostConfig field asks for each namespace kind (None: Docker has no option for it).
NAMESPACE_OPTIONS: dict[str, str | None] = {
    "pid": "PidMode",
    "net": "NetworkMode",
    "ipc": "IpcMode",
    "uts": "UTSMode",
    "user": "UsernsMode",
    "cgroup": "CgroupnsMode",
    "mnt": None,
    "time": None,
}
# The keys of a container in the API, in its list, its detail and its create answer.
API_CONTAINER_KEYS = (
    "id",
    "name",
    "image",
    "state",
    "status",
    "created",
    "ports",
    "labels",
    "owner",
)


def _objects(raw: Mapping[str, Any], *keys: str) -> list[dict[str, Any]]:
    """The sub-objects `keys` of `raw`, {} for each one absent or null."""
    return [raw.get(key) or {} for key in keys]


def _when(epoch: int | float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=UTC) if epoch else None


def _iso(text: str | None) -> datetime | None:
    if not text or text.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(text[:26].rstrip("Z") + "+00:00" if "." in text else text)
    except ValueError:
        return None


def _human_duration(seconds: float) -> str:
    """A duration as the Docker CLI words it (go-units HumanDuration)."""
    whole = int(seconds)
    if whole < 1:
        return "Less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = whole // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{whole // 3600 // 24 // 365} years"


def status_phrase(state: Mapping[str, Any], now: datetime | None = None) -> str:
    """What `docker ps` shows as STATUS for an inspect State: "Up 5 minutes", "Exited (0) ..."."""
    now = now or datetime.now(UTC)

    def since(text: str | None) -> str:
        when = _iso(text)
        return _human_duration((now - when).total_seconds()) if when else ""

    code = state.get("ExitCode", 0)
    if state.get("Running"):
        if state.get("Paused"):
            return f"Up {since(state.get('StartedAt'))} (Paused)"
        if state.get("Restarting"):
            return f"Restarting ({code}) {since(state.get('FinishedAt'))} ago"
        health = (state.get("Health") or {}).get("Status")
        if health:
            health = "health: starting" if health == "starting" else health
            return f"Up {since(state.get('StartedAt'))} ({health})"
        return f"Up {since(state.get('StartedAt'))}"
    if state.get("Status") == "removing":
        return "Removal In Progress"
    if state.get("Dead"):
        return "Dead"
    if _iso(state.get("StartedAt")) is None:
        return "Created"
    if _iso(state.get("FinishedAt")) is None:
        return ""
    return f"Exited ({code}) {since(state.get('FinishedAt'))} ago"


def restarting_status(attrs: Mapping[str, Any]) -> str:
    """A restarting container's status, from its inspect: its restart count and last exit code
    (`docker ps` says "Restarting (1)", where 1 is the exit code, not a count)."""
    (state,) = _objects(attrs, "State")
    count = int(attrs.get("RestartCount") or 0)
    restarts = "1 restart" if count == 1 else f"{count} restarts"
    return f"Restarting · {restarts}, last exit {state.get('ExitCode', 0)}"


def _port_rows(ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ports as {"ip", "public", "private", "protocol"}, by container port, then address.

    The engine lists a published port once per address family; one link is enough.
    """
    ipv4 = {(p["public"], p["protocol"]) for p in ports if p["ip"] == "0.0.0.0"}  # noqa: S104 - an address read, not bound
    kept = [p for p in ports if p["ip"] != "::" or (p["public"], p["protocol"]) not in ipv4]
    return sorted(kept, key=lambda p: (p["private"] or 0, p["ip"]))


def image_shown(image: str, width: int = 40) -> str:
    """An image as a list shows it: a run by id as its short id, a long name cut to `width`."""
    if image.startswith("sha256:"):
        return image.removeprefix("sha256:")[:12]
    return image if len(image) <= width else image[: width - 1] + "…"


def container_row(raw: dict[str, Any]) -> dict[str, Any]:
    """One `docker ps` line, from the list call (no per-container inspect)."""
    labels = raw.get("Labels") or {}
    names = raw.get("Names") or [""]
    ports = _port_rows(
        [
            {
                "ip": p.get("IP", ""),
                "public": p.get("PublicPort"),
                "private": p.get("PrivatePort"),
                "protocol": p.get("Type", "tcp"),
            }
            for p in raw.get("Ports") or []
        ]
    )
    return {
        "id": raw["Id"],
        "short_id": raw["Id"][:12],
        "name": names[0].lstrip("/"),
        "image": raw.get("Image", ""),
        "image_shown": image_shown(raw.get("Image", "")),
        "image_id": raw.get("ImageID", ""),
        "command": raw.get("Command", ""),
        "state": raw.get("State", ""),
        "status": raw.get("Status", ""),
        "created": _when(raw.get("Created")),
        "ports": ports,
        "labels": labels,
        "owner": owner_of(labels),
        "networks": sorted((raw.get("NetworkSettings") or {}).get("Networks") or {}),
        "mounts": [
            {"type": m.get("Type", ""), "name": m.get("Name", ""), "target": m.get("Destination")}
            for m in raw.get("Mounts") or []
        ],
    }


def volume_names(raw: Mapping[str, Any]) -> list[str]:
    """The named volumes a container (list or inspect JSON) mounts."""
    return [str(m.get("Name")) for m in raw.get("Mounts") or [] if m.get("Type") == "volume"]


def container_detail(attrs: dict[str, Any]) -> dict[str, Any]:
    """The overview page's sections, from one `docker inspect`."""
    config, state, host, net = _objects(attrs, "Config", "State", "HostConfig", "NetworkSettings")
    restart = host.get("RestartPolicy") or {}
    env = []
    for item in config.get("Env") or []:
        key, _, value = item.partition("=")
        env.append({"key": key, "value": value})
    ports = []
    for port, bindings in sorted((net.get("Ports") or {}).items()):
        for b in bindings or [None]:
            ports.append(
                {
                    "container": port,
                    "host_ip": (b or {}).get("HostIp", ""),
                    "host_port": (b or {}).get("HostPort", ""),
                }
            )
    return {
        "state": {
            "status": state.get("Status", ""),
            "exit_code": state.get("ExitCode"),
            "error": state.get("Error", ""),
            "health": (state.get("Health") or {}).get("Status", ""),
            "restart_count": attrs.get("RestartCount", 0),
            "started_at": _iso(state.get("StartedAt")),
            "finished_at": _iso(state.get("FinishedAt")),
            "pid": state.get("Pid", 0),
            "oom_killed": state.get("OOMKilled", False),
        },
        "created": _iso(attrs.get("Created")),
        "command": shlex.join(config.get("Cmd") or []),
        "entrypoint": shlex.join(config.get("Entrypoint") or []),
        "working_dir": config.get("WorkingDir", ""),
        "user": config.get("User", ""),
        "hostname": config.get("Hostname", ""),
        "env": env,
        "mounts": attrs.get("Mounts") or [],
        "networks": [
            {
                "name": name,
                "ip": n.get("IPAddress", ""),
                "gateway": n.get("Gateway", ""),
                "mac": n.get("MacAddress", ""),
                "aliases": n.get("Aliases") or [],
            }
            for name, n in sorted((net.get("Networks") or {}).items())
        ],
        "ports": ports,
        "labels": sorted((config.get("Labels") or {}).items()),
        "limits": {
            "memory": host.get("Memory") or 0,
            "nano_cpus": host.get("NanoCpus") or 0,
            "cpus": (host.get("NanoCpus") or 0) / 1e9,
            "pids_limit": host.get("PidsLimit") or 0,
            "restart_policy": restart.get("Name") or "no",
            "restart_retries": restart.get("MaximumRetryCount", 0),
            "auto_remove": host.get("AutoRemove", False),
            "privileged": host.get("Privileged", False),
        },
    }


def api_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A container as the API gives it (DESIGN.md): `state` the engine's word ("running",
    "exited", ...), `status` the phrase `docker ps` shows ("Up 5 minutes", ...)."""
    return {k: row[k] for k in API_CONTAINER_KEYS}


def container_row_from_inspect(attrs: dict[str, Any]) -> dict[str, Any]:
    """The API's container from one `docker inspect`, as `api_row` gives a list row."""
    config, state, net = _objects(attrs, "Config", "State", "NetworkSettings")
    labels = config.get("Labels") or {}
    ports = []
    for port, bindings in (net.get("Ports") or {}).items():
        private, _, protocol = port.partition("/")
        for b in bindings or [{}]:
            ports.append(
                {
                    "ip": b.get("HostIp", ""),
                    "public": int(b.get("HostPort") or 0) or None,
                    "private": int(private),
                    "protocol": protocol or "tcp",
                }
            )
    created = _iso(attrs.get("Created"))
    return api_row(
        {
            "id": attrs["Id"],
            "name": attrs.get("Name", "").lstrip("/"),
            "image": config.get("Image", ""),
            "state": state.get("Status", ""),
            "status": status_phrase(state),
            # Whole seconds, as the list call gives it.
            "created": created.replace(microsecond=0) if created else None,
            "ports": _port_rows(ports),
            "labels": labels,
            "owner": owner_of(labels),
        }
    )


# ---------------------------------------------------------------- records for the gate and rules


def resource_limits(host: Mapping[str, Any]) -> ResourceLimits:
    """HostConfig's resource fields, as Docker was given them."""
    pids = host.get("PidsLimit")
    return ResourceLimits(
        memory=int(host.get("Memory") or 0),
        memory_swap=int(host.get("MemorySwap") or 0),
        nano_cpus=int(host.get("NanoCpus") or 0),
        cpu_quota=int(host.get("CpuQuota") or 0),
        cpu_period=int(host.get("CpuPeriod") or 0),
        cpu_shares=int(host.get("CpuShares") or 0),
        cpuset_cpus=str(host.get("CpusetCpus") or ""),
        pids_limit=int(pids) if pids is not None else None,
        blkio_weight=int(host.get("BlkioWeight") or 0),
    )


def _nano_cpus(limits: ResourceLimits) -> int:
    """The CPUs a container may use, in billionths, whether set by `--cpus` or a CPU quota."""
    if limits.nano_cpus:
        return limits.nano_cpus
    period = limits.cpu_period or 100_000
    return int(limits.cpu_quota * NANO / period) if limits.cpu_quota > 0 else 0


def _spec(attrs: Mapping[str, Any]) -> ContainerSpec:
    """What an existing container was created with, as a spec the policy can check."""
    config, host = _objects(attrs, "Config", "HostConfig")
    mounts = []
    for bind in host.get("Binds") or []:
        source, _, rest = bind.partition(":")
        target, _, mode = rest.partition(":")
        mounts.append(
            MountSpec(
                source=source,
                target=target,
                read_only="ro" in mode.split(","),
                kind="bind" if "/" in source else "volume",
            )
        )
    for mount in attrs.get("Mounts") or []:
        kind = str(mount.get("Type", "volume"))
        target = str(mount.get("Destination", ""))
        read_only = not mount.get("RW", True)
        if kind == "bind":
            source = str(mount.get("Source", ""))
            mounts.append(MountSpec(source=source, target=target, read_only=read_only, kind=kind))
        elif kind == "volume" and mount.get("Name"):
            mounts.append(MountSpec(source=str(mount["Name"]), target=target, read_only=read_only))
    return ContainerSpec(
        image=str(config.get("Image", "")),
        network=str(host.get("NetworkMode") or ""),
        mounts=mounts,
        labels=dict(config.get("Labels") or {}),
        privileged=bool(host.get("Privileged")),
        cap_add=list(host.get("CapAdd") or []),
        devices=[str(d.get("PathOnHost", d)) for d in host.get("Devices") or []],
        pid_mode=str(host.get("PidMode") or ""),
        ipc_mode=str(host.get("IpcMode") or ""),
        uts_mode=str(host.get("UTSMode") or ""),
        userns_mode=str(host.get("UsernsMode") or ""),
        security_opt=list(host.get("SecurityOpt") or []),
        sysctls=dict(host.get("Sysctls") or {}),
        cgroup_parent=str(host.get("CgroupParent") or ""),
    )


def container_record(attrs: Mapping[str, Any]) -> ContainerRecord:
    """A container's `docker inspect`, as the record the gate, the rules and the pages use."""
    config, state, host = _objects(attrs, "Config", "State", "HostConfig")
    resources = resource_limits(host)
    exit_code = state.get("ExitCode")
    return ContainerRecord(
        id=str(attrs["Id"]),
        name=str(attrs.get("Name", "")).lstrip("/"),
        state=str(state.get("Status", "")),
        spec=_spec(attrs),
        memory=resources.memory,
        nano_cpus=_nano_cpus(resources),
        pids_limit=resources.pids_limit or None,
        pid=int(state.get("Pid") or 0),
        exit_code=int(exit_code) if exit_code is not None else None,
        oom_killed=bool(state.get("OOMKilled")),
        restart_count=int(attrs.get("RestartCount") or 0),
        tty=bool(config.get("Tty")),
        hostname=str(config.get("Hostname") or ""),
        namespace_modes={
            kind: str(host.get(option) or "")
            for kind, option in NAMESPACE_OPTIONS.items()
            if option is not None
        },
        resources=resources,
    )


def network_record(attrs: Mapping[str, Any]) -> NetworkRecord:
    return NetworkRecord(
        name=str(attrs.get("Name", "")),
        owner=owner_of(attrs.get("Labels")),
        driver=str(attrs.get("Driver", "")),
        id=str(attrs.get("Id", "")),
        containers={
            cid: str(c.get("Name", "")) for cid, c in (attrs.get("Containers") or {}).items()
        },
    )


def volume_record(attrs: Mapping[str, Any]) -> VolumeRecord:
    return VolumeRecord(
        name=str(attrs.get("Name", "")),
        owner=owner_of(attrs.get("Labels")),
        driver=str(attrs.get("Driver", "")),
        options=dict(attrs.get("Options") or {}),
    )


def image_record(attrs: Mapping[str, Any]) -> ImageRecord:
    return ImageRecord(
        id=str(attrs["Id"]),
        tags=tuple(t for t in attrs.get("RepoTags") or [] if t != "<none>:<none>"),
        owner=owner_of((attrs.get("Config") or {}).get("Labels")),
    )


# ---------------------------------------------------------------- rows of images, networks, volumes


def image_row(raw: Mapping[str, Any], used_by: list[str]) -> dict[str, Any]:
    tags = [t for t in raw.get("RepoTags") or [] if t != "<none>:<none>"]
    return {
        "id": raw["Id"],
        "short_id": raw["Id"].removeprefix("sha256:")[:12],
        "tags": tags,
        "digests": [d for d in raw.get("RepoDigests") or [] if not d.startswith("<none>")],
        "size": raw.get("Size", 0),
        "created": _when(raw.get("Created")),
        "labels": raw.get("Labels") or {},
        "owner": owner_of(raw.get("Labels")),
        "used_by": sorted(used_by),
        "dangling": not tags,
    }


def history_row(h: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": h.get("Id", ""),
        "created": _when(h.get("Created")),
        "created_by": h.get("CreatedBy", ""),
        "size": h.get("Size", 0),
        "comment": h.get("Comment", ""),
    }


def network_row(raw: Mapping[str, Any], containers: list[str]) -> dict[str, Any]:
    pools = (raw.get("IPAM") or {}).get("Config") or []
    return {
        "id": raw["Id"],
        "short_id": raw["Id"][:12],
        "name": raw["Name"],
        "driver": raw.get("Driver", ""),
        "scope": raw.get("Scope", ""),
        "subnet": ", ".join(p.get("Subnet", "") for p in pools if p.get("Subnet")),
        "gateway": ", ".join(p.get("Gateway", "") for p in pools if p.get("Gateway")),
        "internal": raw.get("Internal", False),
        "labels": raw.get("Labels") or {},
        "owner": owner_of(raw.get("Labels")),
        "created": _iso(raw.get("Created")),
        "containers": sorted(containers),
        "predefined": raw["Name"] in PREDEFINED_NETWORKS,
    }


def network_with_containers(raw: Mapping[str, Any], keep: set[str] | None) -> dict[str, Any]:
    """A network's inspect data with only the attached containers in `keep` (None: all)."""
    if keep is None:
        return dict(raw)
    attached = raw.get("Containers") or {}
    return {**raw, "Containers": {cid: c for cid, c in attached.items() if cid in keep}}


def volume_row(raw: Mapping[str, Any], size: int | None, used_by: list[str]) -> dict[str, Any]:
    return {
        "name": raw["Name"],
        "driver": raw.get("Driver", ""),
        "mountpoint": raw.get("Mountpoint", ""),
        "created": _iso(raw.get("CreatedAt")),
        "labels": raw.get("Labels") or {},
        "owner": owner_of(raw.get("Labels")),
        "used_by": sorted(used_by),
        "size": size if size is not None and size >= 0 else None,
    }


def pruned(kind: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """What a prune answered: the names or ids it removed and the bytes it freed."""
    deleted: list[str]
    if kind == "image":
        deleted = [next(iter(d.values())) for d in result.get("ImagesDeleted") or []]
    elif kind == "network":
        deleted = list(result.get("NetworksDeleted") or [])
    else:
        deleted = list(result.get("VolumesDeleted") or [])
    return {"deleted": deleted, "reclaimed": result.get("SpaceReclaimed", 0)}


# ---------------------------------------------------------------- the runtime's spec


def oci_summary(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The runtime bundle's config.json (the OCI spec dockerd wrote for runc), summarised."""
    linux, process = _objects(spec, "linux", "process")
    (caps,) = _objects(process, "capabilities")
    (resources,) = _objects(linux, "resources")
    memory, cpu = _objects(resources, "memory", "cpu")
    return {
        "oci_version": spec.get("ociVersion", ""),
        "args": process.get("args") or [],
        "cwd": process.get("cwd", ""),
        "user": process.get("user") or {},
        "hostname": spec.get("hostname", ""),
        "root": spec.get("root") or {},
        "namespaces": [
            {"type": ns.get("type", ""), "path": ns.get("path", "")}
            for ns in linux.get("namespaces") or []
        ],
        "cgroups_path": linux.get("cgroupsPath", ""),
        "mounts": [
            {
                "destination": m.get("destination", ""),
                "type": m.get("type", ""),
                "source": m.get("source", ""),
                "options": ",".join(m.get("options") or []),
            }
            for m in spec.get("mounts") or []
        ],
        "capabilities": sorted(caps.get("bounding") or caps.get("effective") or []),
        "no_new_privileges": bool(process.get("noNewPrivileges")),
        "seccomp": bool(linux.get("seccomp")),
        "seccomp_default_action": (linux.get("seccomp") or {}).get("defaultAction", ""),
        "apparmor": process.get("apparmorProfile", ""),
        "masked_paths": len(linux.get("maskedPaths") or []),
        "readonly_paths": len(linux.get("readonlyPaths") or []),
        "memory_limit": memory.get("limit"),
        "cpu_quota": cpu.get("quota"),
        "cpu_period": cpu.get("period"),
        "cpu_shares": cpu.get("shares"),
        "pids_limit": (resources.get("pids") or {}).get("limit"),
    }


def exec_ids(attrs: Mapping[str, Any]) -> list[str]:
    """The exec sessions a container's inspect lists (running or not yet cleaned up)."""
    return list(attrs.get("ExecIDs") or [])


def exec_running(attrs: Mapping[str, Any]) -> bool:
    """Whether an exec (its inspect) still runs."""
    return bool(attrs.get("Running"))


# ---------------------------------------------------------------- Swarm


def node_record(attrs: Mapping[str, Any]) -> NodeRecord:
    description = attrs.get("Description") or {}
    resources = description.get("Resources") or {}
    spec = attrs.get("Spec") or {}
    status = attrs.get("Status") or {}
    manager = attrs.get("ManagerStatus") or {}
    return NodeRecord(
        id=str(attrs.get("ID", "")),
        hostname=str(description.get("Hostname", "")),
        role=str(spec.get("Role", "")),
        availability=str(spec.get("Availability", "")),
        state=str(status.get("State", "")),
        address=str(status.get("Addr", "")),
        leader=bool(manager.get("Leader")),
        cpus=int(resources.get("NanoCPUs") or 0) / NANO,
        memory=int(resources.get("MemoryBytes") or 0),
        engine_version=str((description.get("Engine") or {}).get("EngineVersion", "")),
        labels=dict(spec.get("Labels") or {}),
    )


def _published(endpoint: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        f"{p.get('PublishedPort')}:{p.get('TargetPort')}/{p.get('Protocol', 'tcp')}"
        for p in endpoint.get("Ports") or []
    )


def service_record(attrs: Mapping[str, Any]) -> ServiceRecord:
    spec = attrs.get("Spec") or {}
    mode = spec.get("Mode") or {}
    image = str(((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", ""))
    status = attrs.get("ServiceStatus") or {}
    return ServiceRecord(
        id=str(attrs.get("ID", "")),
        name=str(spec.get("Name", "")),
        owner=owner_of(spec.get("Labels")),
        image=image.split("@sha256:", 1)[0],
        mode="global" if "Global" in mode else "replicated",
        desired=None
        if "Global" in mode
        else int((mode.get("Replicated") or {}).get("Replicas", 0)),
        running=int(status.get("RunningTasks") or 0),
        ports=_published(attrs.get("Endpoint") or {}),
        update_state=str((attrs.get("UpdateStatus") or {}).get("State", "")),
        labels=dict(spec.get("Labels") or {}),
    )


# The label the engine gives the container of a service's task: its service's id.
TASK_SERVICE_LABEL = "com.docker.swarm.service.id"
# A task's states on its way to running (started again, it would only start over).
TASK_UNDER_WAY = frozenset(
    {"new", "pending", "assigned", "accepted", "preparing", "ready", "starting"}
)


def service_containers(attrs: Mapping[str, Any]) -> list[ContainerRecord]:
    """A service as the containers its tasks are, for the quotas: one per replica asked for
    (one stopped when it is scaled to none, as a stopped container still counts), each
    with the service's labels and limits."""
    spec = attrs.get("Spec") or {}
    template = spec.get("TaskTemplate") or {}
    limits = (template.get("Resources") or {}).get("Limits") or {}
    record = service_record(attrs)
    made = ContainerRecord(
        id=record.id,
        name=record.name,
        state="running",
        spec=ContainerSpec(image=record.image, name=record.name, labels=dict(record.labels)),
        memory=int(limits.get("MemoryBytes") or 0),
        nano_cpus=int(limits.get("NanoCPUs") or 0),
        pids_limit=int(limits.get("Pids") or 0) or None,
    )
    if record.desired == 0:
        return [replace(made, state="exited")]
    return [made] * (record.desired or 1)


def service_row(
    attrs: Mapping[str, Any], tasks: list[TaskRecord], node_names: Mapping[str, str]
) -> dict[str, Any]:
    """A one-replica service as a row beside containers' (a lab's container run as a
    service): its task's state and node, and the id of that task's container."""
    record = service_record(attrs)
    task = max(tasks, key=lambda t: t.updated, default=None)
    state = "exited" if record.desired == 0 else (task.state if task else "pending")
    return {
        "kind": "service",
        "id": record.id,
        "name": record.name,
        "image": record.image,
        "state": state,
        "status": task.message if task else "",
        "labels": dict(record.labels),
        "ports": [
            {
                "public": p.get("PublishedPort"),
                "private": p.get("TargetPort"),
                "protocol": p.get("Protocol", "tcp"),
            }
            for p in (attrs.get("Endpoint") or {}).get("Ports") or []
        ],
        "node": node_names.get(task.node_id, task.node_id[:12]) if task else "",
        "container_id": task.container_id if task else "",
    }


def task_record(attrs: Mapping[str, Any]) -> TaskRecord:
    status = attrs.get("Status") or {}
    slot = attrs.get("Slot")
    return TaskRecord(
        id=str(attrs.get("ID", "")),
        service_id=str(attrs.get("ServiceID", "")),
        slot=int(slot) if slot is not None else None,
        node_id=str(attrs.get("NodeID", "")),
        state=str(status.get("State", "")),
        desired_state=str(attrs.get("DesiredState", "")),
        message=str(status.get("Err") or status.get("Message") or ""),
        container_id=str((status.get("ContainerStatus") or {}).get("ContainerID", "")),
        updated=str(attrs.get("UpdatedAt", ""))[:19].replace("T", " "),
    )


def swarm_role(state: Mapping[str, Any]) -> str:
    """What the engine is in Swarm mode: "manager", "worker", or "" (not in a swarm)."""
    if state.get("LocalNodeState") != "active":
        return ""
    return "manager" if state.get("ControlAvailable") else "worker"
