"""What the pages and the API do with containers, images, networks and volumes.

Each function takes the acting user (or the request, for mutations), asks the
access policy, calls the engine and, for mutations, writes an audit row. Input
is already parsed and validated (containers_app.validation); nothing here checks
it again. Results are plain dicts shaped for templates and JSON alike.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404

from containers_app import engine
from containers_app.lookup import container_for_user
from containers_app.specs import ContainerSpec
from dashboard import access, policy, quotas
from dashboard.access import Perm
from dashboard.audit import audited
from dashboard.policy import PolicyViolation
from registry_app import ownership

PREDEFINED_NETWORKS = ("bridge", "host", "none")
CONTAINER_STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")


def _when(epoch: int | float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=UTC) if epoch else None


def _iso(text: str | None) -> datetime | None:
    if not text or text.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(text[:26].rstrip("Z") + "+00:00" if "." in text else text)
    except ValueError:
        return None


# ---------------------------------------------------------------- containers


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
        "owner": access.owner_of(labels),
        "networks": sorted((raw.get("NetworkSettings") or {}).get("Networks") or {}),
        "mounts": [
            {"type": m.get("Type", ""), "name": m.get("Name", ""), "target": m.get("Destination")}
            for m in raw.get("Mounts") or []
        ],
    }


def _visible_rows(user: Any, *, all: bool = True) -> list[dict[str, Any]]:  # noqa: A002
    rows = [container_row(raw) for raw in engine.list_containers(all=all)]
    return access.visible(user, rows, lambda r: r["labels"])


SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "name": lambda r: r["name"].lower(),
    "image": lambda r: r["image"].lower(),
    "state": lambda r: (r["state"], r["name"].lower()),
    "created": lambda r: r["created"] or datetime.min.replace(tzinfo=UTC),
    "owner": lambda r: ((r["owner"] or ""), r["name"].lower()),
}


def list_containers(
    user: Any,
    *,
    all: bool = True,  # noqa: A002
    text: str = "",
    state: str = "",
    label: str = "",
    sort: str = "name",
) -> list[dict[str, Any]]:
    """The containers `user` may see, filtered and sorted as the list page asks."""
    rows = _visible_rows(user, all=all)
    needle = text.strip().lower()
    if needle:
        rows = [
            r
            for r in rows
            if needle in r["name"].lower()
            or needle in r["image"].lower()
            or r["id"].startswith(needle)
        ]
    if state:
        rows = [r for r in rows if r["state"] == state]
    if label:
        key, sep, value = label.partition("=")
        rows = [r for r in rows if key in r["labels"] and (not sep or r["labels"][key] == value)]
    descending = sort.startswith("-")
    sort_key = SORT_KEYS.get(sort.lstrip("-"), SORT_KEYS["name"])
    return sorted(rows, key=sort_key, reverse=descending)


def owned_spec(user: Any, spec: ContainerSpec) -> ContainerSpec:
    """`spec` as it will be created for `user`: their owner label, their quota's default limits.

    What the shared-host policy refuses is refused in `create_container`
    (dashboard.policy), so the shown `docker run` line is the real one.
    """
    access.require_global(user, Perm.CREATE)
    spec = dataclasses.replace(spec, labels={**spec.labels, **access.owner_labels(user)})
    return quotas.apply_defaults(user, spec)


def _create_missing_volumes(user: Any, spec: ContainerSpec) -> None:
    # The engine would create a missing named volume without an owner; create it
    # first with the user's label so it is theirs (see dashboard.policy).
    for mount in spec.mounts:
        if mount.kind != "volume":
            continue
        try:
            engine.inspect_volume(mount.source)
        except engine.NotFound:
            engine.create_volume(mount.source, labels=access.owner_labels(user))


def create_container(request: Any, spec: ContainerSpec) -> str:
    user = request.user
    spec = owned_spec(user, spec)
    params = {"image": spec.image, "start": spec.start}
    with audited(
        request, "container.create", target_kind="container", target_name=spec.name, params=params
    ) as extra:
        policy.check_create(user, spec)
        _create_missing_volumes(user, spec)
        try:
            container_id = quotas.create_within_quota(user, spec, engine.create_container)
        except engine.Conflict as exc:
            # The engine names the container holding the name: it may be another user's.
            if "is already in use by container" not in exc.message:
                raise
            raise engine.Conflict(
                f"The name {spec.name} is already in use by another container; pick another."
            ) from None
        extra["target_id"] = container_id
    return container_id


def docker_command(action: str, name: str, **options: Any) -> str:
    """The Docker CLI line that does what the dashboard's `action` does."""
    if action == "remove":
        flags = [
            *(["-f"] if options.get("force") else []),
            *(["-v"] if options.get("volumes") else []),
        ]
        return shlex.join(["docker", "rm", *flags, name])
    if action == "rename":
        return shlex.join(["docker", "rename", name, options.get("new_name") or "NEW_NAME"])
    return shlex.join(["docker", action, name])


# Actions that may take a stopped container to running: checked against quotas.
STARTING_ACTIONS = ("start", "restart")


@contextmanager
def _audited_container(
    request: Any, action: str, ref: str, perm: Perm, **params: Any
) -> Iterator[tuple[dict[str, Any], str]]:
    """Audit `action` on container `ref`, refusals included; yields its inspect data and name."""
    with audited(request, action, target_kind="container", target_id=ref, params=params) as target:
        attrs = container_for_user(request.user, ref, perm)
        name = attrs.get("Name", "").lstrip("/")
        target.update(target_id=attrs["Id"], target_name=name)
        yield attrs, name


def container_action(request: Any, ref: str, action: str) -> dict[str, Any]:
    """Start/stop/... one container. `action` must be a key of engine.CONTAINER_ACTIONS."""
    run = engine.CONTAINER_ACTIONS.get(action)
    if run is None:
        raise Http404(f"No such action: {action}")
    with _audited_container(request, f"container.{action}", ref, Perm.CONTROL) as (
        attrs,
        name,
    ):
        run(attrs["Id"])
    return {"id": attrs["Id"], "name": name, "command": docker_command(action, name)}


def remove_container(request: Any, ref: str, *, force: bool, volumes: bool) -> dict[str, Any]:
    with _audited_container(
        request, "container.remove", ref, Perm.REMOVE, force=force, volumes=volumes
    ) as (attrs, name):
        engine.remove_container(attrs["Id"], force=force, volumes=volumes)
    return {
        "id": attrs["Id"],
        "name": name,
        "command": docker_command("remove", name, force=force, volumes=volumes),
    }


def rename_container(request: Any, ref: str, new_name: str) -> dict[str, Any]:
    with _audited_container(request, "container.rename", ref, Perm.CONTROL, new_name=new_name) as (
        attrs,
        name,
    ):
        engine.rename_container(attrs["Id"], new_name)
    return {
        "id": attrs["Id"],
        "name": new_name,
        "command": docker_command("rename", name, new_name=new_name),
    }


BULK_ACTIONS = (*engine.CONTAINER_ACTIONS, "remove")


def bulk_action(request: Any, refs: Iterable[str], action: str) -> list[dict[str, Any]]:
    """Run `action` on each container; one result per item, never one opaque error."""
    results = []
    for ref in refs:
        try:
            if action == "remove":
                done = remove_container(request, ref, force=True, volumes=False)
            else:
                done = container_action(request, ref, action)
            results.append(
                {
                    "ref": ref,
                    "name": done["name"],
                    "ok": True,
                    "error": "",
                    "command": done["command"],
                }
            )
        except Http404:
            results.append(
                {
                    "ref": ref,
                    "name": ref,
                    "ok": False,
                    "error": "no such container (already removed?)",
                    "command": "",
                }
            )
        except PermissionDenied as exc:
            results.append({"ref": ref, "name": ref, "ok": False, "error": str(exc), "command": ""})
        except PolicyViolation as exc:
            results.append(
                {"ref": ref, "name": ref, "ok": False, "error": exc.message, "command": ""}
            )
        except engine.EngineError as exc:
            results.append(
                {"ref": ref, "name": ref, "ok": False, "error": exc.message, "command": ""}
            )
    return results


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


# ---------------------------------------------------------------- images


def _containers_by(
    raw_rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], Iterable[str]]
) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for row in raw_rows:
        for k in key(row):
            found[k].append(row["name"])
    return found


def list_images(user: Any, *, dangling_only: bool = False) -> list[dict[str, Any]]:
    users = _containers_by(_visible_rows(user), lambda r: [r["image_id"]])
    rows = []
    for raw in engine.list_images():
        tags = [t for t in raw.get("RepoTags") or [] if t != "<none>:<none>"]
        row = {
            "id": raw["Id"],
            "short_id": raw["Id"].removeprefix("sha256:")[:12],
            "tags": tags,
            "digests": [d for d in raw.get("RepoDigests") or [] if not d.startswith("<none>")],
            "size": raw.get("Size", 0),
            "created": _when(raw.get("Created")),
            "labels": raw.get("Labels") or {},
            "used_by": sorted(users.get(raw["Id"], [])),
            "dangling": not tags,
        }
        if dangling_only and not row["dangling"]:
            continue
        rows.append(row)
    rows = access.visible(user, rows, lambda r: r["labels"], shared=lambda r: True)
    return sorted(rows, key=lambda r: (r["tags"][0] if r["tags"] else "~", r["id"]))


def _image_for_user(user: Any, ref: str, perm: Perm) -> dict[str, Any]:
    try:
        attrs = engine.inspect_image(ref)
    except engine.NotFound:
        raise Http404(f"No such image: {ref}") from None
    # An image's owner: its owner label (built here), else the one user who pulled or
    # built it here. An image several users brought in belongs to nobody but admins.
    owner = access.owner_of((attrs.get("Config") or {}).get("Labels"))
    if owner is None:
        recorded = ownership.owners_of(attrs["Id"])
        owner = next(iter(recorded)) if len(recorded) == 1 else None
    access.require(user, perm, owner, shared=True, what="image")
    return attrs


def image_detail(user: Any, ref: str) -> dict[str, Any]:
    attrs = _image_for_user(user, ref, Perm.VIEW)
    history = [
        {
            "id": h.get("Id", ""),
            "created": _when(h.get("Created")),
            "created_by": h.get("CreatedBy", ""),
            "size": h.get("Size", 0),
            "comment": h.get("Comment", ""),
        }
        for h in engine.image_history(attrs["Id"])
    ]
    return {"attrs": attrs, "history": history}


def remove_image(request: Any, ref: str, *, force: bool) -> list[dict[str, str]]:
    with audited(
        request, "image.remove", target_kind="image", target_name=ref, params={"force": force}
    ) as target:
        # Inside the audit block: a refused attempt is recorded too.
        attrs = _image_for_user(request.user, ref, Perm.REMOVE)
        target["target_id"] = attrs["Id"]
        return engine.remove_image(ref, force=force)


def tag_image(request: Any, ref: str, repository: str, tag: str) -> str:
    attrs = _image_for_user(request.user, ref, Perm.VIEW)
    access.require_global(request.user, Perm.CREATE)
    with audited(
        request,
        "image.tag",
        target_kind="image",
        target_id=attrs["Id"],
        target_name=ref,
        params={"repository": repository, "tag": tag},
    ):
        _require_free_tag(request.user, f"{repository}:{tag}", attrs["Id"])
        engine.tag_image(attrs["Id"], repository, tag)
    return f"{repository}:{tag}"


def _require_free_tag(user: Any, name: str, image_id: str) -> None:
    # Images are shared: moving a tag others run (busybox:latest) onto another image
    # would change what they run. Only who may remove the tagged image may move its tag.
    try:
        current = engine.inspect_image(name)
    except engine.NotFound:
        return
    owner = access.owner_of((current.get("Config") or {}).get("Labels"))
    if current["Id"] != image_id and not access.can(user, Perm.REMOVE, owner, shared=True):
        raise PermissionDenied(
            f"The tag {name} already names another image, which your role "
            f"({access.role_of(user)}) may not change; pick another tag."
        )


def _require_prune(user: Any, what: str) -> None:
    # Pruning removes objects of every owner: only who may remove an admin's objects.
    access.require(user, Perm.REMOVE, None, shared=True, what=what)


def prune_images(request: Any, *, label: str = "") -> dict[str, Any]:
    _require_prune(request.user, "image")
    with audited(request, "image.prune", target_kind="image", params={"label": label}) as extra:
        result = engine.prune_images(label=label)
        extra["params"] = {"label": label, "reclaimed": result.get("SpaceReclaimed", 0)}
    return {
        "deleted": [next(iter(d.values())) for d in result.get("ImagesDeleted") or []],
        "reclaimed": result.get("SpaceReclaimed", 0),
    }


# ---------------------------------------------------------------- networks


def list_networks(user: Any) -> list[dict[str, Any]]:
    attached = _containers_by(_visible_rows(user), lambda r: r["networks"])
    rows = []
    for raw in engine.list_networks():
        pools = (raw.get("IPAM") or {}).get("Config") or []
        rows.append(
            {
                "id": raw["Id"],
                "short_id": raw["Id"][:12],
                "name": raw["Name"],
                "driver": raw.get("Driver", ""),
                "scope": raw.get("Scope", ""),
                "subnet": ", ".join(p.get("Subnet", "") for p in pools if p.get("Subnet")),
                "gateway": ", ".join(p.get("Gateway", "") for p in pools if p.get("Gateway")),
                "internal": raw.get("Internal", False),
                "labels": raw.get("Labels") or {},
                "owner": access.owner_of(raw.get("Labels")),
                "created": _iso(raw.get("Created")),
                "containers": sorted(attached.get(raw["Name"], [])),
                "predefined": raw["Name"] in PREDEFINED_NETWORKS,
            }
        )
    rows = access.visible(user, rows, lambda r: r["labels"], shared=lambda r: r["predefined"])
    return sorted(rows, key=lambda r: (not r["predefined"], r["name"]))


def _network_for_user(user: Any, ref: str, perm: Perm) -> dict[str, Any]:
    try:
        attrs = engine.inspect_network(ref)
    except engine.NotFound:
        raise Http404(f"No such network: {ref}") from None
    predefined = attrs.get("Name") in PREDEFINED_NETWORKS
    access.require(
        user, perm, access.owner_of(attrs.get("Labels")), shared=predefined, what="network"
    )
    return attrs


def network_detail(user: Any, ref: str) -> dict[str, Any]:
    """The network as the engine inspects it, with only the attached containers `user` may see.

    Everyone sees the predefined networks; what other students attached to them is theirs.
    """
    attrs = _network_for_user(user, ref, Perm.VIEW)
    if access.can(user, Perm.VIEW, None):  # sees every container
        return attrs
    seen = {row["id"] for row in _visible_rows(user)}
    attached = attrs.get("Containers") or {}
    return {**attrs, "Containers": {cid: c for cid, c in attached.items() if cid in seen}}


def create_network(
    request: Any,
    name: str,
    *,
    subnet: str = "",
    gateway: str = "",
    internal: bool = False,
    labels: dict[str, str] | None = None,
) -> str:
    access.require_global(request.user, Perm.CREATE)
    labels = {**(labels or {}), **access.owner_labels(request.user)}
    with audited(
        request,
        "network.create",
        target_kind="network",
        target_name=name,
        params={"subnet": subnet, "gateway": gateway, "internal": internal},
    ) as extra:
        policy.check_network_create(request.user, "bridge", {})
        # The engine allows two networks of one name; the second would make the name of
        # the first (perhaps another user's) ambiguous wherever it is used.
        if any(n.get("Name") == name for n in engine.list_networks()):
            raise engine.Conflict(f"A network named {name} already exists; pick another name.")
        network_id = engine.create_network(
            name, subnet=subnet, gateway=gateway, internal=internal, labels=labels
        )
        extra["target_id"] = network_id
    return network_id


def remove_network(request: Any, ref: str) -> str:
    with audited(
        request, "network.remove", target_kind="network", target_id=ref, target_name=ref
    ) as target:
        # Inside the audit block: a refused attempt is recorded too.
        attrs = _network_for_user(request.user, ref, Perm.REMOVE)
        name = attrs["Name"]
        target.update(target_id=attrs["Id"], target_name=name)
        if name in PREDEFINED_NETWORKS:
            raise engine.Conflict(
                f"{name} is one of the engine's predefined networks (bridge, host, none); "
                "Docker needs them and refuses to remove them."
            )
        attached = [c.get("Name", "") for c in (attrs.get("Containers") or {}).values()]
        if attached:
            raise engine.Conflict(
                f"Network {name} still has containers attached ({', '.join(sorted(attached))}); "
                "disconnect or remove them first."
            )
        engine.remove_network(attrs["Id"])
    return str(name)


def connect_network(
    request: Any,
    ref: str,
    container: str,
    *,
    aliases: list[str] | None = None,
    disconnect: bool = False,
) -> dict[str, Any]:
    # Connecting changes the container, so that is what the user must control.
    attrs = _network_for_user(request.user, ref, Perm.VIEW)
    target = container_for_user(request.user, container, Perm.CONTROL)
    cname = target.get("Name", "").lstrip("/")
    action = "network.disconnect" if disconnect else "network.connect"
    with audited(
        request,
        action,
        target_kind="network",
        target_id=attrs["Id"],
        target_name=attrs["Name"],
        params={"container": cname, "aliases": aliases or []},
    ):
        if disconnect:
            engine.disconnect_network(attrs["Id"], target["Id"])
        else:
            policy.check_network_connect(request.user, attrs, target)
            engine.connect_network(attrs["Id"], target["Id"], aliases=aliases)
    verb = "disconnect" if disconnect else "connect"
    alias_flags = [f"--alias={a}" for a in aliases or []] if not disconnect else []
    return {"command": shlex.join(["docker", "network", verb, *alias_flags, attrs["Name"], cname])}


def prune_networks(request: Any, *, label: str = "") -> list[str]:
    _require_prune(request.user, "network")
    with audited(request, "network.prune", target_kind="network", params={"label": label}):
        result = engine.prune_networks(label=label)
    return list(result.get("NetworksDeleted") or [])


# ---------------------------------------------------------------- volumes


def list_volumes(user: Any, *, with_sizes: bool = True) -> list[dict[str, Any]]:
    users = _containers_by(
        _visible_rows(user), lambda r: [m["name"] for m in r["mounts"] if m["type"] == "volume"]
    )
    usage = engine.volume_usage() if with_sizes else {}
    rows = []
    for raw in engine.list_volumes():
        size = (usage.get(raw["Name"]) or {}).get("Size", -1)
        rows.append(
            {
                "name": raw["Name"],
                "driver": raw.get("Driver", ""),
                "mountpoint": raw.get("Mountpoint", ""),
                "created": _iso(raw.get("CreatedAt")),
                "labels": raw.get("Labels") or {},
                "owner": access.owner_of(raw.get("Labels")),
                "used_by": sorted(users.get(raw["Name"], [])),
                "size": size if size is not None and size >= 0 else None,
            }
        )
    rows = access.visible(user, rows, lambda r: r["labels"])
    return sorted(rows, key=lambda r: r["name"])


def _volume_for_user(user: Any, name: str, perm: Perm) -> dict[str, Any]:
    try:
        attrs = engine.inspect_volume(name)
    except engine.NotFound:
        raise Http404(f"No such volume: {name}") from None
    access.require(user, perm, access.owner_of(attrs.get("Labels")), what="volume")
    return attrs


def volume_detail(user: Any, name: str) -> dict[str, Any]:
    attrs = _volume_for_user(user, name, Perm.VIEW)
    used_by = [
        r["name"]
        for r in _visible_rows(user)
        if any(m["type"] == "volume" and m["name"] == name for m in r["mounts"])
    ]
    return {"attrs": attrs, "used_by": used_by}


def create_volume(request: Any, name: str, *, labels: dict[str, str] | None = None) -> str:
    access.require_global(request.user, Perm.CREATE)
    labels = {**(labels or {}), **access.owner_labels(request.user)}
    with audited(request, "volume.create", target_kind="volume", target_name=name) as extra:
        policy.check_volume_create(request.user, "local", {})
        # The engine answers a create of an existing name with that volume, whoever owns it.
        if name and _volume_exists(name):
            raise engine.Conflict(f"A volume named {name} already exists; pick another name.")
        made = engine.create_volume(name, labels=labels)
        extra["target_id"] = extra["target_name"] = made["Name"]
    return str(made["Name"])


def _volume_exists(name: str) -> bool:
    try:
        engine.inspect_volume(name)
    except engine.NotFound:
        return False
    return True


def remove_volume(request: Any, name: str) -> None:
    with audited(request, "volume.remove", target_kind="volume", target_id=name, target_name=name):
        # Inside the audit block: a refused attempt is recorded too.
        _volume_for_user(request.user, name, Perm.REMOVE)
        users = [
            container_row(raw)
            for raw in engine.list_containers(all=True)
            if any(
                m.get("Type") == "volume" and m.get("Name") == name for m in raw.get("Mounts") or []
            )
        ]
        if users:
            # Name only the containers this user may see; count the others.
            seen = sorted(
                r["name"] for r in access.visible(request.user, users, lambda r: r["labels"])
            )
            hidden = len(users) - len(seen)
            who = ", ".join([*seen, *([f"{hidden} other containers"] if hidden else [])])
            raise engine.Conflict(
                f"Volume {name} is in use by {who}; remove those containers first."
            )
        engine.remove_volume(name)


def prune_volumes(request: Any, *, label: str = "") -> dict[str, Any]:
    _require_prune(request.user, "volume")
    with audited(request, "volume.prune", target_kind="volume", params={"label": label}):
        result = engine.prune_volumes(label=label)
    return {
        "deleted": list(result.get("VolumesDeleted") or []),
        "reclaimed": result.get("SpaceReclaimed", 0),
    }


def engine_error_field(exc: engine.EngineError) -> str | None:
    """The create form field an engine refusal is about, if it names one."""
    text = exc.message.lower()
    if "no such image" in text or "pull access denied" in text or "invalid reference" in text:
        return "image"
    if "is already in use by" in text:
        return "name"
    if "port is already allocated" in text or "address already in use" in text:
        return "ports"
    if "network" in text and ("not found" in text or "no such" in text):
        return "network"
    return None


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
        "owner": access.owner_of(config.get("Labels")),
    }
