"""The one module that talks to the Docker engine (docker-py).

Everything else calls the plain functions here and gets plain data back. Engine
errors leave this module only as the exceptions below, each carrying a message a
person can act on and the HTTP status the dashboard answers with.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import docker
import docker.errors
import requests.exceptions
from django.conf import settings

T = TypeVar("T")


class EngineError(Exception):
    status = 502

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(EngineError):
    status = 404


class Conflict(EngineError):
    status = 409


class BadRequest(EngineError):
    status = 400


class EngineUnavailable(EngineError):
    status = 503

    def __init__(self, endpoint: str, reason: str):
        self.endpoint = endpoint
        self.reason = reason
        self.hint = start_hint(endpoint)
        super().__init__(f"The Docker engine at {endpoint} is unreachable: {reason}.")


def endpoint() -> str:
    return str(settings.DOCKER_HOST)


def start_hint(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme in {"unix", ""}:
        return (
            f"Start the Docker daemon so that it listens on {parts.path or url} "
            "(`sudo systemctl start docker`, or `sudo dockerd &`), and make sure the "
            "dashboard's user may open that socket (root or the docker group)."
        )
    return (
        f"Check that a Docker daemon listens on {parts.hostname}:{parts.port} "
        "and that DOCKER_TLS_VERIFY/DOCKER_CERT_PATH match its TLS setup."
    )


def _unreachable_reason(exc: BaseException) -> str:
    text = str(exc)
    if "FileNotFoundError" in text or "No such file" in text:
        return "the socket does not exist (is the daemon running?)"
    if "PermissionError" in text or "Permission denied" in text:
        return "permission denied on the socket"
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "connection refused (the daemon is not running)"
    if isinstance(exc, requests.exceptions.Timeout) or "timed out" in text.lower():
        return f"no answer within {settings.DOCKER_TIMEOUT} s"
    return text or type(exc).__name__


_clients: dict[str, docker.DockerClient] = {}
_clients_lock = threading.Lock()


def _tls_kwargs(url: str) -> dict[str, Any]:
    if not url.startswith("tcp://") or not os.environ.get("DOCKER_TLS_VERIFY"):
        return {}
    env = {
        "DOCKER_HOST": url,
        "DOCKER_TLS_VERIFY": os.environ["DOCKER_TLS_VERIFY"],
        "DOCKER_CERT_PATH": os.environ.get("DOCKER_CERT_PATH", ""),
    }
    return {"tls": docker.utils.kwargs_from_env(environment=env).get("tls")}


def client() -> docker.DockerClient:
    """The client for the configured endpoint, created on first use.

    A client is only kept once the engine answered, so a dashboard started
    while the daemon is down connects by itself once it comes up.
    """
    url = endpoint()
    found = _clients.get(url)
    if found is not None:
        return found
    with _clients_lock:
        if url not in _clients:
            try:
                _clients[url] = docker.DockerClient(
                    base_url=url,
                    version="auto",
                    timeout=settings.DOCKER_TIMEOUT,
                    **_tls_kwargs(url),
                )
            except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
                raise EngineUnavailable(url, _unreachable_reason(exc)) from exc
        return _clients[url]


def _explanation(exc: docker.errors.APIError) -> str:
    text = exc.explanation
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return str(text or exc).strip()


def translate(exc: BaseException) -> EngineError:
    """Our exception for anything docker-py or the transport raised."""
    if isinstance(exc, EngineError):
        return exc
    if isinstance(exc, docker.errors.NotFound):
        return NotFound(_explanation(exc))
    if isinstance(exc, docker.errors.APIError):
        code = exc.status_code or 500
        if code == 409:
            return Conflict(_explanation(exc))
        if code == 404:
            return NotFound(_explanation(exc))
        if 400 <= code < 500:
            return BadRequest(_explanation(exc))
        # The engine failed to carry the request out (port already allocated,
        # OCI runtime refused, ...): a Docker-side condition, told in its words.
        return Conflict(_explanation(exc))
    if isinstance(exc, requests.exceptions.RequestException | ConnectionError | OSError):
        return EngineUnavailable(endpoint(), _unreachable_reason(exc))
    if isinstance(exc, docker.errors.DockerException):
        return BadRequest(str(exc))
    raise exc


@contextmanager
def engine_errors() -> Iterator[None]:
    try:
        yield
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise translate(exc) from exc


def call(fn: Callable[[docker.DockerClient], T]) -> T:
    """Run `fn(client)` with docker errors translated."""
    with engine_errors():
        return fn(client())


def ping() -> dict[str, Any]:
    """Reachability of the engine, for /healthz and the banner; never raises."""
    try:
        version = call(lambda c: c.api.version())
    except EngineUnavailable as exc:
        return {"reachable": False, "endpoint": exc.endpoint, "error": exc.message}
    except EngineError as exc:
        return {"reachable": False, "endpoint": endpoint(), "error": exc.message}
    return {"reachable": True, "endpoint": endpoint(), "version": version.get("Version", "")}


def _component_versions(version: dict[str, Any]) -> dict[str, str]:
    return {c.get("Name", ""): c.get("Version", "") for c in version.get("Components") or []}


def _security_options(raw: list[str]) -> list[dict[str, str]]:
    options = []
    for item in raw or []:
        fields = dict(part.split("=", 1) for part in item.split(",") if "=" in part)
        name = fields.pop("name", item)
        options.append({"name": name, "details": ", ".join(f"{k}={v}" for k, v in fields.items())})
    return options


def _df_summary(df: dict[str, Any]) -> list[dict[str, Any]]:
    images = df.get("Images") or []
    containers = df.get("Containers") or []
    volumes = df.get("Volumes") or []
    cache = df.get("BuildCache") or []
    # As `docker system df`: images take the size of their layers, each layer once;
    # what is reclaimable is all of it but the unshared part of images in use.
    image_size = df.get("LayersSize") or 0
    in_use = sum(
        max(img.get("Size", 0) - max(img.get("SharedSize", 0), 0), 0)
        for img in images
        if img.get("Containers", 0) > 0
    )
    vol_sizes = [(v.get("UsageData") or {}) for v in volumes]
    return [
        {
            "kind": "Images",
            "total": len(images),
            "active": sum(1 for i in images if i.get("Containers", 0) > 0),
            "size": image_size,
            "reclaimable": max(image_size - in_use, 0),
        },
        {
            "kind": "Containers",
            "total": len(containers),
            "active": sum(1 for c in containers if c.get("State") == "running"),
            "size": sum(c.get("SizeRw", 0) or 0 for c in containers),
            "reclaimable": sum(
                c.get("SizeRw", 0) or 0 for c in containers if c.get("State") != "running"
            ),
        },
        {
            "kind": "Local volumes",
            "total": len(volumes),
            "active": sum(1 for u in vol_sizes if u.get("RefCount", 0) > 0),
            "size": sum(max(u.get("Size", 0), 0) for u in vol_sizes),
            "reclaimable": sum(
                max(u.get("Size", 0), 0) for u in vol_sizes if u.get("RefCount", 0) == 0
            ),
        },
        {
            "kind": "Build cache",
            "total": len(cache),
            "active": sum(1 for b in cache if b.get("InUse")),
            "size": sum(b.get("Size", 0) for b in cache),
            "reclaimable": sum(b.get("Size", 0) for b in cache if not b.get("InUse")),
        },
    ]


def engine_overview(*, disk_usage: bool = True) -> dict[str, Any]:
    """What the engine page and GET /api/v1/engine/ show, from this host's real engine."""

    def gather(c: docker.DockerClient) -> dict[str, Any]:
        return {
            "version": c.api.version(),
            "info": c.api.info(),
            "networks": len(c.api.networks()),
            "volumes": len(c.api.volumes().get("Volumes") or []),
            "df": c.api.df() if disk_usage else None,
            "client_api": c.api.api_version,
        }

    raw = call(gather)
    version, info = raw["version"], raw["info"]
    components = _component_versions(version)
    registry = info.get("RegistryConfig") or {}
    insecure = list(registry.get("InsecureRegistryCIDRs") or [])
    insecure += [
        name
        for name, cfg in (registry.get("IndexConfigs") or {}).items()
        if not cfg.get("Secure", True)
    ]
    return {
        "endpoint": endpoint(),
        "name": info.get("Name", ""),
        "client": {
            "library": "docker-py",
            "library_version": docker.__version__,
            "api_version": raw["client_api"],
        },
        "engine": {
            "version": version.get("Version", ""),
            "api_version": version.get("ApiVersion", ""),
            "min_api_version": version.get("MinAPIVersion", ""),
            "go_version": version.get("GoVersion", ""),
            "git_commit": version.get("GitCommit", ""),
            "built": version.get("BuildTime", "")[:19].replace("T", " "),
            "experimental": bool(version.get("Experimental", False)),
        },
        "components": {
            "containerd": components.get("containerd", ""),
            "runc": components.get("runc", ""),
            "docker_init": components.get("docker-init", ""),
        },
        "os": {
            "name": info.get("OperatingSystem", ""),
            "type": info.get("OSType", ""),
            "kernel": info.get("KernelVersion", ""),
            "architecture": info.get("Architecture", ""),
        },
        "cpus": info.get("NCPU", 0),
        "memory": info.get("MemTotal", 0),
        "storage_driver": info.get("Driver", ""),
        "storage_status": [list(pair) for pair in info.get("DriverStatus") or []],
        "docker_root_dir": info.get("DockerRootDir", ""),
        "logging_driver": info.get("LoggingDriver", ""),
        "cgroup_driver": info.get("CgroupDriver", ""),
        "cgroup_version": str(info.get("CgroupVersion", "1")),
        "default_runtime": info.get("DefaultRuntime", ""),
        "runtimes": sorted((info.get("Runtimes") or {}).keys()),
        "security_options": _security_options(info.get("SecurityOptions") or []),
        "registry": {
            "index_server": info.get("IndexServerAddress", ""),
            "mirrors": list(registry.get("Mirrors") or []),
            "insecure": insecure,
        },
        "counts": {
            "containers": info.get("Containers", 0),
            "running": info.get("ContainersRunning", 0),
            "paused": info.get("ContainersPaused", 0),
            "stopped": info.get("ContainersStopped", 0),
            "images": info.get("Images", 0),
            "networks": raw["networks"],
            "volumes": raw["volumes"],
        },
        "disk_usage": _df_summary(raw["df"]) if raw["df"] is not None else None,
        "warnings": list(info.get("Warnings") or []),
    }


def inspect_container(ref: str) -> dict[str, Any]:
    """`docker inspect` of one container, by id, short id or name."""
    return call(lambda c: c.api.inspect_container(ref))


# ---------------------------------------------------------------- live stats, logs and exec
# (issue 4) Blocking calls and streams for the stats sampler, the log view and
# the terminal. Streams come back as `Stream`: iterate it on a worker thread,
# `close()` it from any thread to end it (the reader then stops at once).


class Stream:
    """A blocking iterator over an engine stream that another thread may close."""

    def __init__(self, items: Iterator[Any], response: Any):
        self._items = items
        self._response = response

    def __iter__(self) -> Iterator[Any]:
        with engine_errors():
            yield from self._items

    def close(self) -> None:
        # Shutting the socket down wakes a reader blocked in recv(); closing the
        # response alone would leave it waiting for the next byte.
        import contextlib
        import socket as socket_module

        with contextlib.suppress(Exception):  # already closed is what we want
            sock = client().api._get_raw_response_socket(self._response)
            for candidate in (sock, getattr(sock, "_sock", None)):
                if candidate is not None and hasattr(candidate, "shutdown"):
                    candidate.shutdown(socket_module.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self._response.close()


def running_containers() -> list[dict[str, Any]]:
    """Id, name and labels of every running container (one cheap list call)."""
    raw = call(lambda c: c.api.containers(filters={"status": "running"}))
    return [
        {
            "id": item["Id"],
            "name": ((item.get("Names") or ["/"])[0]).lstrip("/"),
            "labels": item.get("Labels") or {},
        }
        for item in raw
    ]


def _open_stream(path: str, *refs: str, params: dict[str, Any]) -> Any:
    def open_(c: docker.DockerClient) -> Any:
        api = c.api
        response = api._get(api._url(path, *refs), params=params, stream=True)
        api._raise_for_status(response)
        api._disable_socket_timeout(api._get_raw_response_socket(response))
        return response

    return call(open_)


def container_events() -> Stream:
    """Container start/die/... events as decoded dicts, until closed."""
    import json

    response = _open_stream("/events", params={"filters": json.dumps({"type": ["container"]})})

    def items() -> Iterator[dict[str, Any]]:
        for line in response.iter_lines():
            if line:
                yield json.loads(line)

    return Stream(items(), response)


def stats_stream(ref: str) -> Stream:
    """The engine's own stats of one container, a decoded dict about every second."""
    import json

    response = _open_stream("/containers/{0}/stats", ref, params={"stream": True})

    def items() -> Iterator[dict[str, Any]]:
        for line in response.iter_lines():
            if line:
                yield json.loads(line)

    return Stream(items(), response)


def stats_once(ref: str) -> dict[str, Any]:
    """One stats sample from the engine (it waits for two readings, ~2 s)."""
    return call(lambda c: c.api.stats(ref, stream=False))


STDOUT, STDERR = 1, 2


def log_stream(
    ref: str,
    *,
    tail: int | str = 100,
    follow: bool = True,
    timestamps: bool = False,
    since: float | None = None,
    tty: bool = False,
) -> Stream:
    """The log of a container as (stream, bytes) pairs, stream being STDOUT or STDERR.

    A TTY container has one stream only (its output arrives as STDOUT).
    """
    import struct

    params: dict[str, Any] = {
        "stdout": 1,
        "stderr": 1,
        "follow": int(follow),
        "timestamps": int(timestamps),
        "tail": str(tail),
    }
    if since is not None:
        params["since"] = since
    response = _open_stream("/containers/{0}/logs", ref, params=params)

    def chunks() -> Iterator[bytes]:
        # Whatever has arrived, as it arrives: a live log is not held back waiting
        # for a full buffer, and a long one is not read frame by frame.
        if response.raw.chunked:
            yield from response.raw.read_chunked(None, decode_content=False)
        else:
            while data := response.raw.read1(1 << 16):
                yield data

    def multiplexed() -> Iterator[tuple[int, bytes]]:
        # Frames: 1 byte stream id, 3 padding, 4 bytes big-endian length, payload.
        # Consecutive frames of one stream are handed on joined.
        buf = b""
        for chunk in chunks():
            buf = buf + chunk if buf else chunk
            at, end = 0, len(buf)
            current = 0
            parts: list[bytes] = []
            while end - at >= 8:
                stream, length = struct.unpack_from(">BxxxL", buf, at)
                if end - at - 8 < length:
                    break
                stream = STDERR if stream == 2 else STDOUT
                if stream != current and parts:
                    yield current, b"".join(parts)
                    parts = []
                current = stream
                parts.append(buf[at + 8 : at + 8 + length])
                at += 8 + length
            if parts:
                yield current, b"".join(parts)
            buf = buf[at:]

    def raw() -> Iterator[tuple[int, bytes]]:
        for chunk in chunks():
            yield STDOUT, chunk

    return Stream(raw() if tty else multiplexed(), response)


def exec_open(ref: str, command: list[str], *, width: int, height: int) -> tuple[str, Any]:
    """Start `command` in the container with a TTY; its id and the raw socket (both ways)."""

    import contextlib

    def open_(c: docker.DockerClient) -> tuple[str, Any]:
        created = c.api.exec_create(
            ref,
            command,
            stdin=True,
            stdout=True,
            stderr=True,
            tty=True,
            environment={"TERM": "xterm-256color"},
        )
        exec_id = created["Id"]
        sock = c.api.exec_start(exec_id, tty=True, socket=True)
        raw_sock = getattr(sock, "_sock", sock)
        raw_sock.settimeout(None)
        # The process may not have its TTY yet; the browser's next resize will do.
        with contextlib.suppress(docker.errors.APIError):
            c.api.exec_resize(exec_id, height=height, width=width)
        return exec_id, raw_sock

    return call(open_)


def exec_resize(exec_id: str, *, width: int, height: int) -> None:
    call(lambda c: c.api.exec_resize(exec_id, height=height, width=width))


def exec_inspect(exec_id: str) -> dict[str, Any]:
    return call(lambda c: c.api.exec_inspect(exec_id))
