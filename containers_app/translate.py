"""Docker's JSON, translated once: the one module that knows the Engine API's field names.

Inspect and list answers come in here and leave as typed records
(dashboard.records) for the gate and the rules, or as the plain rows the pages
and the API show. Nothing above this module reads `attrs["HostConfig"]`.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dashboard.records import (
    NANO,
    ContainerRecord,
    ImageRecord,
    NetworkRecord,
    VolumeRecord,
    owner_of,
)
from dashboard.specs import ContainerSpec, MountSpec

PREDEFINED_NETWORKS = ("bridge", "host", "none")


def _when(epoch: int | float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=UTC) if epoch else None


def _iso(text: str | None) -> datetime | None:
    if not text or text.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(text[:26].rstrip("Z") + "+00:00" if "." in text else text)
    except ValueError:
        return None


def container_row(raw: dict[str, Any]) -> dict[str, Any]:
    """One `docker ps` line, from the list call (no per-container inspect)."""
    labels = raw.get("Labels") or {}
    names = raw.get("Names") or [""]
    ports = []
    for p in sorted(
        raw.get("Ports") or [], key=lambda p: (p.get("PrivatePort", 0), p.get("IP", ""))
    ):
        # The engine lists a published port once per address family; one link is enough.
        if p.get("IP") == "::" and any(
            q.get("PublicPort") == p.get("PublicPort") and q.get("IP") == "0.0.0.0"  # noqa: S104 - an address read, not bound
            for q in raw.get("Ports") or []
        ):
            continue
        ports.append(
            {
                "ip": p.get("IP", ""),
                "public": p.get("PublicPort"),
                "private": p.get("PrivatePort"),
                "protocol": p.get("Type", "tcp"),
            }
        )
    return {
        "id": raw["Id"],
        "short_id": raw["Id"][:12],
        "name": names[0].lstrip("/"),
        "image": raw.get("Image", ""),
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
    config = attrs.get("Config") or {}
    state = attrs.get("State") or {}
    host = attrs.get("HostConfig") or {}
    net = attrs.get("NetworkSettings") or {}
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


def api_row(row: dict[str, Any]) -> dict[str, Any]:
    """A list row as the API gives it (DESIGN.md: id, name, image, state, status, ...)."""
    keys = ("id", "name", "image", "state", "status", "created", "ports", "labels", "owner")
    return {k: row[k] for k in keys}


def container_row_from_inspect(attrs: dict[str, Any]) -> dict[str, Any]:
    config = attrs.get("Config") or {}
    state = attrs.get("State") or {}
    ports = [
        {
            "ip": (b or {}).get("HostIp", ""),
            "public": int((b or {}).get("HostPort") or 0) or None,
            "private": int(port.split("/")[0]),
            "protocol": port.split("/")[1],
        }
        for port, bindings in sorted(
            ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).items()
        )
        for b in bindings or [None]
    ]
    return {
        "id": attrs["Id"],
        "name": attrs.get("Name", "").lstrip("/"),
        "image": config.get("Image", ""),
        "state": state.get("Status", ""),
        "status": state.get("Status", ""),
        "created": _iso(attrs.get("Created")),
        "ports": ports,
        "labels": config.get("Labels") or {},
        "owner": owner_of(config.get("Labels")),
    }


# ---------------------------------------------------------------- records for the gate and rules


def _nano_cpus(host: Mapping[str, Any]) -> int:
    if host.get("NanoCpus"):
        return int(host["NanoCpus"])
    quota, period = host.get("CpuQuota") or 0, host.get("CpuPeriod") or 100_000
    return int(quota * NANO / period) if quota > 0 else 0


def _spec(attrs: Mapping[str, Any]) -> ContainerSpec:
    """What an existing container was created with, as a spec the policy can check."""
    config = attrs.get("Config") or {}
    host = attrs.get("HostConfig") or {}
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
    """A container's `docker inspect`, as the record the gate and the rules judge."""
    host = attrs.get("HostConfig") or {}
    pids = host.get("PidsLimit")
    return ContainerRecord(
        id=str(attrs["Id"]),
        name=str(attrs.get("Name", "")).lstrip("/"),
        state=str((attrs.get("State") or {}).get("Status", "")),
        spec=_spec(attrs),
        memory=int(host.get("Memory") or 0),
        nano_cpus=_nano_cpus(host),
        pids_limit=int(pids) if pids else None,
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
