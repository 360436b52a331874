"""The safe-create policy of a shared host: what everyone but admins may ask the engine for.

Whoever can use the Docker socket without limits is root on the host (a bind
mount of `/`, `--privileged`, `--pid host`, ...). Every path that creates a
container, connects one to a network, creates a volume or network, or opens an
exec session asks here first; a refusal is a `PolicyViolation` naming the field
and the reason in words. Admins are never refused.

The checks are plain functions of the user and the facts they judge: the
request, and the records (dashboard.records) of what exists on the engine, or
lookups that answer them (`networks=`, `volumes=`), which the gate
(containers_app.gate) hands in. Nothing here reads the engine. Bind paths are
also resolved through symlinks on this host, because the engine follows them
when it mounts.

Bind mounts of non-admins are read-only, always: no container of a non-admin
can write into an allow-listed folder, so none can swap a folder there for a
symlink (to `/`, say) between our check and the engine's mount, at create or
at any later start. Volumes that bind a host folder are admins' for the same
reason.

Choices, where the issue leaves room:
- Network mode `none` is allowed (it takes the network away, gives nothing).
  `host`, `container:<id>` and networks owned by others are refused; the
  predefined `bridge` (also spelled `default` or left empty) and the user's own
  networks are allowed.
- A published port must name its host port inside DOCKDASH_STUDENT_PORT_RANGE
  (default 20000-29999, never below 1024). A port left empty or 0 is refused:
  the engine would pick any free port (its ephemeral range, 32768-60999 on
  Linux), which is outside the range.
- IPC modes `private`, `shareable` and `none` are the engine's ordinary
  choices and are allowed; every other pid/ipc/uts/userns mode is refused.
- A named volume that does not exist yet is allowed; the gate creates it with
  the owner label first (and counts it against the volume quota).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from dashboard import access
from dashboard.access import OWNER_LABEL, Perm
from dashboard.models import Role
from dashboard.records import ContainerRecord, ImageRecord, NetworkRecord, VolumeRecord
from dashboard.refusals import Forbidden, PolicyViolation
from dashboard.specs import ContainerSpec, MountSpec, PortSpec

# Sockets and state of the engine: whoever reaches one of these controls the host.
ENGINE_SOCKETS = (
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
)
ENGINE_DIRS = (
    "/run/docker",
    "/var/run/docker",
    "/run/containerd",
    "/var/run/containerd",
    "/var/lib/docker",
    "/var/lib/containerd",
)
PREDEFINED_BRIDGE = "bridge"
DEFAULT_NETWORK_NAMES = {"", "default", PREDEFINED_BRIDGE}
ALLOWED_IPC_MODES = {"", "private", "shareable", "none"}
VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]+$")
TMPFS_TYPES = {"tmpfs"}


NetworkLookup = Callable[[str], NetworkRecord | None]
VolumeLookup = Callable[[str], VolumeRecord | None]


# ---------------------------------------------------------------- the public checks


def is_exempt(user: Any) -> bool:
    return access.role_of(user) == Role.ADMIN


def check_create(
    user: Any,
    spec: ContainerSpec,
    *,
    networks: NetworkLookup,
    volumes: VolumeLookup,
) -> None:
    """Refuse `spec` unless `user` may create it on a shared host (admins: anything).

    `networks` and `volumes` answer what the engine would take a name in the spec
    for (None: no such object).
    """
    if is_exempt(user):
        return
    if not access.can(user, Perm.CREATE):
        raise PolicyViolation("", f"Your role ({access.role_of(user)}) may not create containers.")
    _check_powers(spec)
    _check_network(user, spec.network, networks)
    _check_mounts(user, spec.mounts, volumes, own_volumes=True)
    _check_ports(spec.ports)
    owner = spec.labels.get(OWNER_LABEL)
    if owner is not None and owner != user.get_username():
        raise PolicyViolation(
            "labels", f"The label {OWNER_LABEL} names the owner; it cannot be set to {owner!r}."
        )


def check_image_allowed(
    user: Any, ref: str, image: ImageRecord | None, allowed: frozenset[str]
) -> None:
    """Refuse image `ref` unless `user`'s classes allow it or `user` built it here.

    `image` is what `ref` names on the engine (its owner: who built it), None if
    nothing; `allowed` holds the references of the classes' allow-lists and the
    ids of the images they name.
    """
    if ref in allowed or (image is not None and image.id in allowed):
        return
    if image is not None and image.owner == user.get_username():
        return
    shown = ", ".join(sorted(r for r in allowed if not r.startswith("sha256:")))
    raise PolicyViolation(
        "image", f"Your classes allow only these images (and those you build): {shown}."
    )


def check_network_connect(user: Any, network: NetworkRecord, container: ContainerRecord) -> None:
    """Refuse connecting `container` to `network`.

    Non-admins may connect a container they control to the predefined bridge or
    to a network they own. Who may control the container is the access policy's
    question (`container_for_user(user, ref, Perm.CONTROL)`), asked before this.
    """
    if is_exempt(user):
        return
    name = network.name
    if name != PREDEFINED_BRIDGE and network.owner != user.get_username():
        raise PolicyViolation(
            "network",
            f"You may connect containers only to the {PREDEFINED_BRIDGE} network or to "
            f"networks you own; {name!r} is not yours.",
        )
    mode = container.spec.network
    if mode == "host" or mode.startswith("container:"):
        raise PolicyViolation(
            "container", f"The container uses network mode {mode!r}; it cannot join a network."
        )


def check_exec(
    user: Any,
    container: ContainerRecord,
    *,
    volumes: VolumeLookup,
    privileged: bool = False,
) -> None:
    """Refuse an exec session that would hand a non-admin powers the create policy refuses.

    `docker exec --privileged` is refused, and so is a shell in a container that
    has any such power (created by an admin, or before the policy): a shell in a
    privileged container or one with the Docker socket mounted is root on the host.
    """
    if is_exempt(user):
        return
    if privileged:
        raise PolicyViolation("privileged", "A privileged exec session is for admins only.")
    spec = container.spec
    try:
        _check_powers(spec)
        if spec.network == "host" or spec.network.startswith("container:"):
            raise PolicyViolation("network", f"network mode {spec.network!r}")
        _check_mounts(user, spec.mounts, volumes, own_volumes=False)
    except PolicyViolation as exc:
        raise PolicyViolation(
            exc.field,
            f"This container has powers reserved to admins ({exc.message}); "
            "only an admin may open a shell in it.",
        ) from None


def check_start(user: Any, container: ContainerRecord) -> None:
    """Refuse starting a non-admin's container whose bind mounts are not what a create allows.

    The engine resolves bind sources when it mounts, at each start. Binds of
    non-admins are read-only folders no non-admin container can write (see the
    module docstring), so none can have been swapped meanwhile; a container made
    before that rule, with a writable bind, is refused here. Containers without
    an owner are admins'.
    """
    if is_exempt(user) or container.owner is None:
        return
    for mount in container.spec.mounts:
        if mount.kind == "bind":
            _check_bind(mount)


def check_tag_move(user: Any, name: str, current: ImageRecord | None, image_id: str) -> None:
    """Refuse moving tag `name` (now on `current`) onto image `image_id`, unless the user
    may remove `current`: images are shared, and moving a tag others run (busybox:latest)
    onto another image would change what they run."""
    if current is None or current.id == image_id:
        return
    if not access.can(user, Perm.REMOVE, current.owner, shared=True):
        raise Forbidden(
            f"The tag {name} already names another image, which your role "
            f"({access.role_of(user)}) may not change; pick another tag."
        )


def check_volume_create(user: Any, driver: str, options: Mapping[str, str]) -> None:
    """Refuse a volume that mounts something from the host (the same rules as a bind)."""
    if is_exempt(user):
        return
    _check_volume_driver(VolumeRecord(name="", owner=None, driver=driver, options=options), "")


def check_network_create(user: Any, driver: str, options: Mapping[str, str]) -> None:
    """Non-admins create plain bridge networks, or overlay ones (a swarm's, between its
    nodes' containers: no host interface either); other drivers (macvlan, ipvlan: the
    host's interfaces) and driver options are admins'."""
    if is_exempt(user):
        return
    if driver not in {"", "bridge", "overlay"}:
        raise PolicyViolation(
            "driver",
            f"Only bridge and overlay networks may be created; the {driver!r} driver is for "
            "admins.",
        )
    if options:
        raise PolicyViolation(
            "options",
            "Network driver options (" + ", ".join(sorted(options)) + ") are for admins only.",
        )


# ---------------------------------------------------------------- the rules


def _check_powers(spec: ContainerSpec) -> None:
    """The options that, each alone, make a container root on the host."""
    if spec.privileged:
        raise PolicyViolation(
            "privileged", "Privileged containers are for admins only (they are root on the host)."
        )
    if spec.cap_add:
        raise PolicyViolation(
            "cap_add", "Adding capabilities (" + ", ".join(spec.cap_add) + ") is for admins only."
        )
    if spec.devices:
        raise PolicyViolation(
            "devices", "Host devices (" + ", ".join(spec.devices) + ") are for admins only."
        )
    for name, value, allowed in (
        ("pid_mode", spec.pid_mode, {""}),
        ("ipc_mode", spec.ipc_mode, ALLOWED_IPC_MODES),
        ("uts_mode", spec.uts_mode, {""}),
        ("userns_mode", spec.userns_mode, {""}),
    ):
        if value.strip() not in allowed:
            kind = name.removesuffix("_mode")
            raise PolicyViolation(
                name,
                f"The {kind} namespace mode {value!r} shares a namespace with the host or "
                "another container; it is for admins only.",
            )
    if spec.sysctls:
        raise PolicyViolation(
            "sysctls", "Kernel parameters (" + ", ".join(sorted(spec.sysctls)) + ") are admins'."
        )
    if spec.cgroup_parent.strip():
        raise PolicyViolation(
            "cgroup_parent", "A cgroup parent would escape your resource limits; admins only."
        )
    for option in spec.security_opt:
        _check_security_option(option)


def _check_security_option(option: str) -> None:
    text = option.strip()
    cut = min((i for i in (text.find("="), text.find(":")) if i >= 0), default=len(text))
    key, value = text[:cut].strip().lower(), text[cut + 1 :].strip()
    lowered = value.lower()
    if key == "no-new-privileges":
        return  # true tightens, false is the default: neither loosens anything
    if key == "apparmor" and lowered == "docker-default":
        return
    if key == "label" and lowered.split(":", 1)[0] in {"user", "role", "level", "filetype"}:
        return
    if lowered in {"unconfined", "disable"}:
        reason = f"{option!r} disables the {key} confinement"
    elif key == "seccomp":
        reason = f"a custom seccomp profile ({value[:40]!r}) may allow every system call"
    elif key == "apparmor":
        reason = f"the AppArmor profile {value!r} is not the default one"
    elif key == "label" and lowered.startswith("type:"):
        reason = f"the SELinux type {value[5:]!r} may be unconfined (as spc_t is)"
    else:
        reason = f"{option!r} is not a security option non-admins may set"
    raise PolicyViolation("security_opt", f"Refused security option: {reason}.")


def _check_network(user: Any, ref: str, lookup: NetworkLookup) -> None:
    ref = ref.strip()
    if ref in DEFAULT_NETWORK_NAMES or ref == "none":
        return
    if ref == "host" or ref.startswith("container:"):
        raise PolicyViolation(
            "network",
            f"Network mode {ref!r} shares the network of the host or of another container; "
            "it is for admins only.",
        )
    found = lookup(ref)
    if found is None:
        raise PolicyViolation("network", f"There is no network {ref!r}.")
    if found.name in {PREDEFINED_BRIDGE, "none"} or found.owner == user.get_username():
        return
    raise PolicyViolation(
        "network",
        f"You may use the {PREDEFINED_BRIDGE} network and networks you own; {ref!r} is not yours.",
    )


def _check_ports(ports: Iterable[PortSpec]) -> None:
    low, high = settings.STUDENT_PORT_RANGE
    for port in ports:
        where = f"container port {port.container_port}/{port.protocol}"
        if not port.host_port:
            raise PolicyViolation(
                "ports",
                f"Choose a host port between {low} and {high} for {where}; "
                "a port left empty could be any free port on the host.",
            )
        if not low <= port.host_port <= high:
            raise PolicyViolation(
                "ports",
                f"Host port {port.host_port} (for {where}) is outside the range you may "
                f"publish on, {low}-{high}.",
            )


def _check_mounts(
    user: Any, mounts: Iterable[MountSpec], lookup: VolumeLookup, *, own_volumes: bool
) -> None:
    for mount in mounts:
        source = mount.source.strip()
        if mount.kind not in {"volume", "bind"}:
            raise PolicyViolation("mounts", f"Mounts of type {mount.kind!r} are for admins only.")
        if mount.kind == "bind" or not _is_volume_name(source):
            if not source.startswith("/"):
                raise PolicyViolation(
                    "mounts", f"{source!r} is neither a volume name nor an absolute host path."
                )
            _check_bind(mount)
            continue
        if not source:
            continue  # an anonymous volume: a new empty one
        info = lookup(source)
        if info is None:
            continue  # the engine creates an empty local volume
        if own_volumes and info.owner != user.get_username():
            raise PolicyViolation(
                "mounts", f"You may mount only volumes you own; {source!r} is not yours."
            )
        _check_volume_driver(info, source)


def _check_bind(mount: MountSpec) -> None:
    check_host_path(mount.source.strip(), field="mounts")
    if not mount.read_only:
        raise PolicyViolation(
            "mounts",
            f"Host folders are mounted read-only for non-admins: mount {mount.source!r} "
            "read-only (read_only, or :ro), or keep your data in a named volume.",
        )


def _is_volume_name(source: str) -> bool:
    return source == "" or bool(VOLUME_NAME.match(source))


def _check_volume_driver(info: VolumeRecord, name: str) -> None:
    label = f"The volume {name!r}" if name else "A volume"
    if info.driver not in {"", "local"}:
        raise PolicyViolation(
            "mounts" if name else "driver",
            f"{label} uses the {info.driver!r} driver; volume plugins are for admins only.",
        )
    options = {k.lower(): str(v) for k, v in info.options.items()}
    if not options:
        return
    mount_opts = {o.strip().lower() for o in options.get("o", "").split(",")}
    fstype = options.get("type", "").lower()
    device = options.get("device", "")
    if fstype == "none" or mount_opts & {"bind", "rbind"}:
        try:
            check_host_path(device, field="mounts")
        except PolicyViolation as exc:
            raise PolicyViolation(
                exc.field if name else "options", f"{label} binds a host folder: {exc.message}"
            ) from None
        raise PolicyViolation(
            "mounts" if name else "options",
            f"{label} binds a host folder ({device!r}); such volumes are for admins only, "
            "since a container writing into it could swap a folder there for a symlink. "
            "Bind-mount the folder read-only instead.",
        )
    if fstype in TMPFS_TYPES:
        return
    raise PolicyViolation(
        "mounts" if name else "options",
        f"{label} mounts {device or fstype!r} from the host (type {fstype or '?'}); "
        "only tmpfs volume options are allowed for non-admins.",
    )


def check_host_path(source: str, *, field: str = "mounts") -> None:
    """Refuse a host path a non-admin may not mount: the engine's files always, and
    anything outside DOCKDASH_BIND_ALLOWLIST (empty by default: no bind mounts).

    The path is checked as written (with `..` folded) and with symlinks resolved on
    this host, as the engine resolves them when it mounts.
    """
    if not source.startswith("/"):
        raise PolicyViolation(field, f"{source!r} is not an absolute host path.")
    candidates = {os.path.normpath(source), os.path.realpath(source)}
    for path in candidates:
        protected = _touches_engine(path)
        if protected:
            raise PolicyViolation(
                field,
                f"Mounting {source!r} would expose {protected}, which controls the host; "
                "refused for everyone but admins.",
            )
    allowed = _allow_list()
    if not allowed:
        raise PolicyViolation(
            field,
            f"Bind mounts of host paths ({source!r}) are for admins only; "
            "use a named volume of yours instead.",
        )
    if not all(any(_inside(path, root) for root in allowed) for path in candidates):
        raise PolicyViolation(
            field,
            f"{source!r} is outside the host folders you may mount: " + ", ".join(sorted(allowed)),
        )


def _allow_list() -> set[str]:
    roots = set()
    for root in settings.BIND_ALLOWLIST:
        roots.add(os.path.normpath(root))
        roots.add(os.path.realpath(root))
    return roots


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _protected_paths() -> list[tuple[str, str]]:
    sockets = list(ENGINE_SOCKETS)
    parts = urlsplit(str(settings.DOCKER_HOST))
    if parts.scheme in {"unix", ""} and parts.path:
        sockets.append(parts.path)
    found = []
    for path in sockets:
        found += [
            (os.path.normpath(path), "the Docker socket"),
            (os.path.realpath(path), "the Docker socket"),
        ]
    for path in ENGINE_DIRS:
        found += [
            (os.path.normpath(path), "the engine's state"),
            (os.path.realpath(path), "the engine's state"),
        ]
    return found


def _touches_engine(path: str) -> str:
    """What of the engine `path` exposes: itself, a folder holding it, or a file inside it."""
    for protected, what in _protected_paths():
        if _inside(protected, path) or _inside(path, protected):
            return what
    return ""
