"""Parsing and validating what a user asks for, into specs the engine layer trusts.

The create form and the API serializer both call `parse_create`; nothing
downstream checks these values again. Each problem is reported against the
field it came from, in words a person can act on.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import shlex
from collections.abc import Callable, Mapping
from typing import Any

from containers_app import imageref
from dashboard.access import OWNER_LABEL
from dashboard.specs import ContainerSpec, MountSpec, PortSpec

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")  # containers, volumes, networks
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?$")
MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)b?\s*$", re.IGNORECASE)
PORT_RE = re.compile(
    # `docker run -p` forms: [ip:][host:]container[/proto], an IPv6 ip in brackets.
    r"^(?:(?:(?:\[(?P<ip6>[^\]]*)\]|(?P<ip>[\d.]+)):)?(?P<host>\d*):)?(?P<container>\d+)"
    r"(?:/(?P<proto>[a-z]+))?$"
)
PROTOCOLS = ("tcp", "udp", "sctp")
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
MIN_MEMORY = 6 * 1024 * 1024  # the engine refuses less ("Minimum memory limit allowed is 6MB")
MIN_CPUS = 0.01  # the engine's NanoCPUs floor
_HOST_IP = "a host IP address, IPv4 or IPv6, like 127.0.0.1 or ::"
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


class SpecInvalid(ValueError):
    """Every field that failed, field name -> message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _lines(value: Any) -> list[str]:
    """Text with one item per line (or comma-separated on one line), or a list of strings."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        parts = value.splitlines() if "\n" in value else value.split(",")
        return [p.strip() for p in parts if p.strip()]
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    raise ValueError("expected text or a list")


def _tag(value: str) -> str:
    try:
        return imageref.check_tag(value)
    except imageref.BadReference:
        raise ValueError(
            f"{value!r} is not a valid tag (letters, digits, _ . -; up to 128)"
        ) from None


def parse_image(value: Any, tag: Any = "") -> str:
    """A reference as typed (an image id reads as name:tag, so it passes too)."""
    ref = str(value or "").strip()
    if not ref:
        raise ValueError("an image is required")
    tag = str(tag or "").strip()
    if tag:
        ref = f"{ref}:{_tag(tag)}"
    try:
        imageref.parse(ref)
    except imageref.BadReference:
        raise ValueError(
            f"{ref!r} is not a valid image reference "
            "(lowercase name, optional registry/ and :tag, e.g. busybox:latest)"
        ) from None
    return ref


def parse_name(value: Any, what: str = "container") -> str:
    name = str(value or "").strip()
    if name and not NAME_RE.match(name):
        raise ValueError(
            f"{name!r} is not a valid {what} name: at least 2 characters, starting with a "
            "letter or digit, then letters, digits, _ . -"
        )
    return name


def parse_command(value: Any) -> list[str] | None:
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split the command like a shell would: {exc}") from None
    raise ValueError("expected a string or a list of strings")


def _pairs(value: Any, *, per_line: bool = False) -> dict[str, str]:
    """KEY=VALUE items (a mapping, a list, or text); `per_line`: a value may hold commas."""
    if isinstance(value, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    if per_line and isinstance(value, str):
        value = value.splitlines()
    pairs: dict[str, str] = {}
    for line in _lines(value):
        key, sep, val = line.partition("=")
        if not sep:
            raise ValueError(f"{line!r} is not KEY=VALUE")
        pairs[key.strip()] = val
    return pairs


def parse_env(value: Any) -> dict[str, str]:
    env = _pairs(value, per_line=True)
    for key in env:
        if not ENV_KEY_RE.match(key):
            raise ValueError(
                f"{key!r} is not a valid variable name (letters, digits, _ . -; not first a digit)"
            )
    return env


def parse_labels(value: Any) -> dict[str, str]:
    labels = _pairs(value, per_line=True)
    for key in labels:
        if not key or any(ch.isspace() for ch in key):
            raise ValueError(f"{key!r} is not a valid label key (no spaces, not empty)")
        if key == OWNER_LABEL:
            raise ValueError(f"{OWNER_LABEL} is set by the dashboard, not by hand")
    return labels


def _port_number(text: Any, what: str) -> int:
    try:
        number = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not 1 <= number <= 65535:
        raise ValueError(f"{what} {number} is out of range (1-65535)")
    return number


def _one_port(item: Any) -> PortSpec:
    if isinstance(item, Mapping):
        proto = str(item.get("protocol") or "tcp").lower()
        host = item.get("host_port")
        spec = PortSpec(
            container_port=_port_number(item.get("container_port"), "container port"),
            host_port=None if host in (None, "") else _port_number(host, "host port"),
            protocol=proto,
            host_ip=parse_address(item.get("host_ip"), _HOST_IP),
        )
    else:
        match = PORT_RE.match(str(item).strip())
        if not match:
            raise ValueError(f"{item!r} is not host:container/protocol (e.g. 8080:80/tcp)")
        spec = PortSpec(
            container_port=_port_number(match["container"], "container port"),
            host_port=_port_number(match["host"], "host port") if match["host"] else None,
            protocol=(match["proto"] or "tcp"),
            host_ip=parse_address(match["ip6"] or match["ip"], _HOST_IP),
        )
    if spec.protocol not in PROTOCOLS:
        raise ValueError(f"protocol {spec.protocol!r} is not one of {', '.join(PROTOCOLS)}")
    return spec


def parse_ports(value: Any) -> list[PortSpec]:
    items = value if isinstance(value, list) else _lines(value)
    ports = [_one_port(item) for item in items]
    seen: set[tuple[str, int, str]] = set()
    for p in ports:
        if p.host_port is None:
            continue
        key = (p.host_ip, p.host_port, p.protocol)
        if key in seen:
            raise ValueError(f"host port {p.host_port}/{p.protocol} is given twice")
        seen.add(key)
    return ports


def _one_mount(item: Any) -> MountSpec:
    if isinstance(item, Mapping):
        source = str(item.get("source") or "").strip()
        target = str(item.get("target") or "").strip()
        read_only = bool(item.get("read_only", False))
    else:
        parts = str(item).strip().split(":")
        mode = ""
        if len(parts) == 3:
            source, target, mode = parts
        elif len(parts) == 2:
            source, target = parts
        else:
            raise ValueError(f"{item!r} is not source:/target[:ro]")
        if mode not in ("", "ro", "rw"):
            raise ValueError(f"mode {mode!r} in {item!r} is not ro or rw")
        read_only = mode == "ro"
    if source.startswith("/"):
        kind = "bind"
        if ".." in source.split("/"):
            raise ValueError(f"bind source {source!r} may not contain ..")
    else:
        kind = "volume"
        if not NAME_RE.match(source):
            raise ValueError(
                f"{source!r} is neither a volume name (letters, digits, _ . -) nor an absolute path"
            )
    if not target.startswith("/") or target == "/" or ":" in target:
        raise ValueError(f"target {target!r} must be an absolute path inside the container, not /")
    return MountSpec(source=source, target=target, read_only=read_only, kind=kind)


def parse_volumes(value: Any) -> list[MountSpec]:
    items = value if isinstance(value, list) else _lines(value)
    mounts = [_one_mount(item) for item in items]
    targets = [m.target for m in mounts]
    for t in targets:
        if targets.count(t) > 1:
            raise ValueError(f"target {t} is mounted twice")
    return mounts


def _no_value(value: Any, expected: str) -> bool:
    """Whether a number field was left empty; true/false (JSON booleans) is no number."""
    if isinstance(value, bool):
        raise ValueError(f"expected {expected}")
    return value is None or value == ""


def parse_memory(value: Any) -> int | None:
    """`256m`, `1g`, `1.5g`, `300000000` (bytes), as `docker run --memory` reads them."""
    if _no_value(value, "a size like 256m or 1g"):
        return None
    if isinstance(value, int):
        size = value
    else:
        match = MEMORY_RE.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a size like 256m, 1g or 512k")
        size = int(float(match[1]) * _UNITS[match[2].lower()])
    if size < MIN_MEMORY:
        raise ValueError("must be at least 6m (the engine's minimum)")
    return size


def parse_cpus(value: Any, host_cpus: int) -> float | None:
    if _no_value(value, "a number of CPUs like 0.5"):
        return None
    try:
        cpus = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number of CPUs like 0.5") from None
    if not cpus >= MIN_CPUS:  # also refuses NaN
        raise ValueError(f"must be at least {MIN_CPUS}")
    if cpus > host_cpus:
        raise ValueError(f"this host has {host_cpus} CPUs; ask for at most {host_cpus}")
    if round(cpus * 1e9) != cpus * 1e9 and len(repr(cpus).split(".")[-1]) > 9:
        raise ValueError("use at most 9 decimals")
    return cpus


def parse_pids_limit(value: Any) -> int | None:
    if _no_value(value, "a whole number"):
        return None
    try:
        limit = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number") from None
    if limit < 1:
        raise ValueError("must be at least 1 (leave empty for no limit)")
    return limit


def parse_restart_policy(value: Any) -> str:
    policy = str(value or "no").strip()
    name, sep, retries = policy.partition(":")
    if name not in RESTART_POLICIES:
        raise ValueError(f"{policy!r} is not one of {', '.join(RESTART_POLICIES)}[:N]")
    if sep and (name != "on-failure" or not retries.isdigit()):
        raise ValueError("only on-failure takes a retry count, as on-failure:N")
    return policy


def parse_working_dir(value: Any) -> str:
    path = _text(value, "working_dir")
    if path and not path.startswith("/"):
        raise ValueError(f"{path!r} is not an absolute path inside the container, like /work")
    return path


def parse_user(value: Any) -> str:
    """A user as `docker run --user` takes it: name or uid, optionally :group or :gid."""
    user = _text(value, "user")
    if user and not USER_RE.match(user):
        raise ValueError(f"{user!r} is not a user like 1000, app or 1000:1000")
    return user


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    return value.strip()


# The keys of a create request (API body): anything else is refused, not ignored.
CREATE_KEYS = frozenset(
    {
        "image",
        "tag",
        "name",
        "command",
        "env",
        "ports",
        "volumes",
        "network",
        "memory",
        "cpus",
        "pids_limit",
        "restart_policy",
        "labels",
        "working_dir",
        "user",
        "auto_remove",
        "start",
        "privileged",
        "cap_add",
        "devices",
        "security_opt",
        "pid_mode",
        "ipc_mode",
        "uts_mode",
        "userns_mode",
        "cgroup_parent",
        "sysctls",
    }
)


def unknown_create_keys(data: Mapping[str, Any]) -> dict[str, str]:
    """An error per key of `data` that a create request does not know."""
    return {
        str(key): "unknown field; a container is created only with the fields it names "
        "(" + ", ".join(sorted(CREATE_KEYS)) + ")"
        for key in data
        if key not in CREATE_KEYS
    }


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in ("1", "true", "on", "yes"):
        return True
    if text in ("", "0", "false", "off", "no"):
        return False
    raise ValueError(f"{value!r} is not true or false")


def parse_network(value: Any) -> str:
    network = str(value or "").strip()
    if network and network not in ("bridge", "host", "none") and not NAME_RE.match(network):
        raise ValueError(f"{network!r} is not a network name")
    return network


def parse_create(data: Mapping[str, Any], *, host_cpus: int) -> ContainerSpec:
    """A ContainerSpec from a create form or API body, or SpecInvalid naming each bad field."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}

    def take(key: str, parse: Callable[[], Any]) -> None:
        try:
            values[key] = parse()
        except ValueError as exc:
            errors[key] = str(exc)

    take("image", lambda: parse_image(data.get("image"), data.get("tag")))
    take("name", lambda: parse_name(data.get("name")))
    take("command", lambda: parse_command(data.get("command")))
    take("env", lambda: parse_env(data.get("env")))
    take("ports", lambda: parse_ports(data.get("ports")))
    take("mounts", lambda: parse_volumes(data.get("volumes")))
    take("network", lambda: parse_network(data.get("network")))
    take("memory", lambda: parse_memory(data.get("memory")))
    take("cpus", lambda: parse_cpus(data.get("cpus"), host_cpus))
    take("pids_limit", lambda: parse_pids_limit(data.get("pids_limit")))
    take("restart_policy", lambda: parse_restart_policy(data.get("restart_policy")))
    take("labels", lambda: parse_labels(data.get("labels")))
    take("working_dir", lambda: parse_working_dir(data.get("working_dir")))
    take("user", lambda: parse_user(data.get("user")))
    take("auto_remove", lambda: parse_bool(data.get("auto_remove")))
    start = data.get("start")
    take("start", lambda: True if start is None else parse_bool(start))
    # The powers only admins may use: parsed (never dropped) so that the shared-host
    # policy refuses them by name instead of a container being made without them.
    take("privileged", lambda: parse_bool(data.get("privileged")))
    for key in ("cap_add", "devices", "security_opt"):
        take(key, functools.partial(_lines, data.get(key)))
    for key in ("pid_mode", "ipc_mode", "uts_mode", "userns_mode", "cgroup_parent"):
        take(key, functools.partial(_text, data.get(key), key))
    take("sysctls", lambda: _pairs(data.get("sysctls")))
    if "mounts" in errors:
        errors["volumes"] = errors.pop("mounts")
    if not errors and values["auto_remove"] and values["restart_policy"] != "no":
        errors["auto_remove"] = "a container removed when it stops cannot also restart"
    if values.get("network") in ("host", "none") and values.get("ports"):
        errors["ports"] = f"ports cannot be published with network {values['network']}"
    if errors:
        raise SpecInvalid(errors)
    return ContainerSpec(**values)


def format_memory(size: int) -> str:
    """Bytes back into the shortest form `docker run --memory` reads."""
    for unit, factor in (("g", 1024**3), ("m", 1024**2), ("k", 1024)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}b"


def docker_run_command(spec: ContainerSpec) -> str:
    """The `docker run` line that creates the same container as `spec`."""
    args = ["docker", "run" if spec.start else "create"]
    if spec.start:
        args.append("-d")
    if spec.name:
        args += ["--name", spec.name]
    for key, value in spec.env.items():
        args += ["-e", f"{key}={value}"]
    for p in spec.ports:
        host = f"{p.host_port or ''}:" if p.host_port or p.host_ip else ""
        ip = f"[{p.host_ip}]" if ":" in p.host_ip else p.host_ip  # IPv6 in brackets
        host = f"{ip}:{host}" if p.host_ip else host
        args += ["-p", f"{host}{p.container_port}/{p.protocol}"]
    for m in spec.mounts:
        args += ["-v", f"{m.source}:{m.target}{':ro' if m.read_only else ''}"]
    if spec.network:
        args += ["--network", spec.network]
    if spec.memory is not None:
        args += ["--memory", format_memory(spec.memory)]
    if spec.cpus is not None:
        args += [
            "--cpus",
            f"{spec.cpus:g}" if spec.cpus == float(f"{spec.cpus:g}") else repr(spec.cpus),
        ]
    if spec.pids_limit is not None:
        args += ["--pids-limit", str(spec.pids_limit)]
    if spec.restart_policy != "no":
        args += ["--restart", spec.restart_policy]
    if spec.auto_remove:
        args.append("--rm")
    if spec.working_dir:
        args += ["--workdir", spec.working_dir]
    if spec.user:
        args += ["--user", spec.user]
    for key, value in spec.labels.items():
        args += ["--label", f"{key}={value}"]
    args.append(spec.image)
    args += spec.command or []
    return shlex.join(args)


def parse_subnet(value: Any, what: str = "subnet") -> str:
    text = str(value or "").strip()
    if not text:
        return ""
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a {what} like 172.30.0.0/16 ({exc})") from None


def parse_address(value: Any, what: str = "an IP address like 172.30.0.1") -> str:
    """An IPv4 or IPv6 address in its usual spelling ("" stays "")."""
    text = str(value or "").strip()
    if not text:
        return ""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"{text!r} is not {what}") from None


def _collect(parsers: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, parse in parsers.items():
        try:
            values[key] = parse()
        except ValueError as exc:
            errors[key] = str(exc)
    if errors:
        raise SpecInvalid(errors)
    return values


def parse_network_create(data: Mapping[str, Any]) -> dict[str, Any]:
    """name, subnet, gateway, internal, labels for a new bridge network."""

    def name() -> str:
        value = parse_name(data.get("name"), "network")
        if not value:
            raise ValueError("a name is required")
        if value in ("bridge", "host", "none"):
            raise ValueError(f"{value} is a predefined network name")
        return value

    values = _collect(
        {
            "name": name,
            "subnet": lambda: parse_subnet(data.get("subnet")),
            "gateway": lambda: parse_address(data.get("gateway")),
            "internal": lambda: parse_bool(data.get("internal")),
            "labels": lambda: parse_labels(data.get("labels")),
        }
    )
    if values["gateway"] and not values["subnet"]:
        raise SpecInvalid({"gateway": "a gateway needs a subnet"})
    if values["gateway"] and ipaddress.ip_address(values["gateway"]) not in ipaddress.ip_network(
        values["subnet"]
    ):
        raise SpecInvalid({"gateway": f"{values['gateway']} is not inside {values['subnet']}"})
    return values


def parse_volume_create(data: Mapping[str, Any]) -> dict[str, Any]:
    """name (empty: the engine picks one) and labels for a new local volume."""
    return _collect(
        {
            "name": lambda: parse_name(data.get("name"), "volume"),
            "labels": lambda: parse_labels(data.get("labels")),
        }
    )


def parse_tag(data: Mapping[str, Any]) -> dict[str, str]:
    """repository and tag for `docker tag`."""

    def repository() -> str:
        repo = str(data.get("repository") or "").strip()
        try:
            imageref.check_name(repo)
        except imageref.BadReference:
            raise ValueError(
                f"{repo!r} is not a repository name (lowercase, optional registry/, e.g. team/app)"
            ) from None
        return repo

    def tag() -> str:
        return _tag(str(data.get("tag") or "latest").strip())

    return _collect({"repository": repository, "tag": tag})


def parse_rename(data: Mapping[str, Any]) -> str:
    def name() -> str:
        value = parse_name(data.get("name"))
        if not value:
            raise ValueError("a new name is required")
        return value

    return str(_collect({"name": name})["name"])


def parse_connect(data: Mapping[str, Any]) -> dict[str, Any]:
    def container() -> str:
        value = str(data.get("container") or "").strip()
        if not value:
            raise ValueError("a container is required")
        return value

    def aliases() -> list[str]:
        found = _lines(data.get("aliases") or data.get("alias"))
        for alias in found:
            if not NAME_RE.match(alias):
                raise ValueError(f"{alias!r} is not a valid alias (letters, digits, _ . -)")
        return found

    return _collect({"container": container, "aliases": aliases})
