"""The one module that talks to the Docker engine (docker-py).

Everything else calls the plain functions here and gets plain data back. Engine
errors leave this module only as the exceptions below, each carrying a message a
person can act on and the HTTP status the dashboard answers with.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import docker
import docker.errors
import requests.exceptions
from django.conf import settings

from containers_app.singleflight import SingleFlight
from dashboard.refusals import Refusal
from dashboard.specs import ContainerSpec

T = TypeVar("T")


class EngineError(Refusal):
    """What the engine refused or could not do, in its words (a refusal like the rules')."""

    status = 502

    def __init__(self, message: str):
        super().__init__(message)


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
            _install_api_call_recorder(_clients[url])
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


# The engine computes one `/system/df` at a time and answers any other asked meanwhile
# with this error (a 500 on 20.10, a 409 on some versions), whoever asked.
DISK_USAGE_BUSY = "disk usage operation is already running"
DISK_USAGE_PATIENCE = 5.0  # seconds to wait for another client's df before going without
DISK_USAGE_NOTE = (
    "Disk use is not shown: the engine is busy computing it for another client. "
    "Reload in a few seconds."
)
_disk_usage: SingleFlight[dict[str, Any] | None] = SingleFlight(
    lambda: float(settings.DISK_USAGE_CACHE_SECONDS)
)


def _system_df_patiently() -> dict[str, Any] | None:
    deadline = time.monotonic() + DISK_USAGE_PATIENCE
    delay = 0.05
    while True:
        try:
            return call(lambda c: c.api.df())
        except Conflict as exc:
            if DISK_USAGE_BUSY not in exc.message:
                raise
        if time.monotonic() + delay > deadline:
            return None
        time.sleep(delay)  # the other df ends by itself: ask again, less and less often
        delay = min(delay * 2, 0.5)


def system_df() -> dict[str, Any] | None:
    """The engine's `/system/df`, or None while another client keeps the engine busy with one.

    One call at a time per process, shared by every page that asks meanwhile and
    kept DOCKDASH_DISK_USAGE_CACHE seconds: concurrent calls would be refused.
    """
    return _disk_usage.run(endpoint(), _system_df_patiently)


def engine_overview(*, disk_usage: bool = True) -> dict[str, Any]:
    """What the engine page and GET /api/v1/engine/ show, from this host's real engine."""

    def gather(c: docker.DockerClient) -> dict[str, Any]:
        return {
            "version": c.api.version(),
            "info": c.api.info(),
            "networks": len(c.api.networks()),
            "volumes": len(c.api.volumes().get("Volumes") or []),
            "client_api": c.api.api_version,
        }

    raw = call(gather)
    df = system_df() if disk_usage else None
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
        "disk_usage": _df_summary(df) if df is not None else None,
        "disk_usage_note": DISK_USAGE_NOTE if disk_usage and df is None else "",
        "warnings": list(info.get("Warnings") or []),
    }


def inspect_container(ref: str) -> dict[str, Any]:
    """`docker inspect` of one container, by id, short id or name."""
    return call(lambda c: c.api.inspect_container(ref))


# ---------------------------------------------------------------- under the hood (issue 7):
# writable layer, changes, image history, running containers' PIDs, and a record of the
# HTTP calls this dashboard makes to the engine.


def inspect_container_with_size(ref: str) -> dict[str, Any]:
    """Inspect with `?size=1` (SizeRw, SizeRootFs): slow on big layers, so one container only."""

    def fetch(c: docker.DockerClient) -> dict[str, Any]:
        api = c.api
        result: dict[str, Any] = api._result(
            api._get(api._url("/containers/{0}/json", ref), params={"size": 1}), True
        )
        return result

    return call(fetch)


# Kind in GET /containers/{id}/changes
CHANGE_KINDS = {0: "changed", 1: "added", 2: "deleted"}


def container_changes(ref: str) -> list[dict[str, str]]:
    """`docker diff`: what the container's writable layer changed, as {"path", "kind"}."""
    raw = call(lambda c: c.api.diff(ref)) or []
    return [{"path": item["Path"], "kind": CHANGE_KINDS.get(item["Kind"], "?")} for item in raw]


def image_history(ref: str) -> list[dict[str, Any]]:
    """`docker history`: the image's layers, newest first."""
    return list(call(lambda c: c.api.history(ref)) or [])


def running_container_pids() -> list[dict[str, Any]]:
    """id, name, labels and host PID of every running container."""

    def gather(c: docker.DockerClient) -> list[dict[str, Any]]:
        found = []
        for summary in c.api.containers(filters={"status": "running"}):
            try:
                attrs = c.api.inspect_container(summary["Id"])
            except docker.errors.NotFound:
                continue  # removed between the list and the inspect
            found.append(
                {
                    "id": attrs["Id"],
                    "name": attrs.get("Name", "").lstrip("/"),
                    "labels": (attrs.get("Config") or {}).get("Labels") or {},
                    "pid": (attrs.get("State") or {}).get("Pid", 0),
                }
            )
        return found

    return call(gather)


API_CALL_HISTORY = 200
_api_calls: deque[dict[str, Any]] = deque(maxlen=API_CALL_HISTORY)


def _record_api_call(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    # A requests response hook: runs once the engine's answer headers arrived, so for
    # streams (logs, events, exec) the duration is the time to the first byte.
    request = response.request
    _api_calls.append(
        {
            "at": time.time(),
            "method": request.method or "",
            "path": request.path_url,
            "status": response.status_code,
            "duration_ms": round(response.elapsed.total_seconds() * 1000, 1),
        }
    )


def _install_api_call_recorder(c: docker.DockerClient) -> None:
    hooks = c.api.hooks.setdefault("response", [])
    if _record_api_call not in hooks:
        hooks.append(_record_api_call)


def recent_api_calls(limit: int = 50) -> list[dict[str, Any]]:
    """The HTTP calls this process made to the engine, newest first."""
    return list(reversed(list(_api_calls)))[:limit]


# ---------------------------------------------------------------- registries and jobs
# Pull, push, tag, build, registry login and Docker Hub search, for registry_app.
# Streams yield the engine's decoded progress messages as they come; errors are
# translated while iterating, so a job sees EngineError and nothing else.


def _translated_stream(stream: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    with engine_errors():
        yield from stream


def _transfer_stream(
    send: Callable[..., Iterator[dict[str, Any]]],
    repository: str,
    tag: str,
    auth_config: dict[str, str] | None,
) -> Iterator[dict[str, Any]]:
    with engine_errors():
        raw = send(repository, tag=tag, stream=True, decode=True, auth_config=auth_config)
    return _translated_stream(raw)


def pull_stream(
    repository: str, tag: str, auth_config: dict[str, str] | None
) -> Iterator[dict[str, Any]]:
    """`docker pull repository:tag`, as its progress messages."""
    return _transfer_stream(client().api.pull, repository, tag, auth_config)


def push_stream(
    repository: str, tag: str, auth_config: dict[str, str] | None
) -> Iterator[dict[str, Any]]:
    """`docker push repository:tag`, as its progress messages."""
    return _transfer_stream(client().api.push, repository, tag, auth_config)


def build_stream(
    context: Any,
    *,
    tag: str,
    buildargs: dict[str, str],
    labels: dict[str, str],
    dockerfile: str,
    container_limits: dict[str, Any] | None = None,
    shmsize: int | None = None,
    network_mode: str | None = None,
) -> Iterator[dict[str, Any]]:
    """`docker build` of an uncompressed tar context (a file object), as its output messages.

    `container_limits` (memory, memswap, cpushares, cpusetcpus), `shmsize` and
    `network_mode` bound the container of every RUN step.
    """
    with engine_errors():
        raw = client().api.build(
            fileobj=context,
            custom_context=True,
            tag=tag,
            buildargs=buildargs or None,
            labels=labels,
            dockerfile=dockerfile or None,
            rm=True,
            forcerm=True,
            decode=True,
            container_limits=container_limits or None,
            shmsize=shmsize,
            network_mode=network_mode,
        )
    return _translated_stream(raw)


def tag_image(source: str, repository: str, tag: str) -> None:
    """`docker tag source repository:tag`."""
    ok = call(lambda c: c.api.tag(source, repository, tag=tag))
    if not ok:
        raise Conflict(f"The engine did not tag {source} as {repository}:{tag}.")


def untag_image(ref: str) -> None:
    """Remove the name `ref` only; the image stays while other names or containers use it."""
    call(lambda c: c.api.remove_image(ref, noprune=True))


def image_summary(ref: str) -> dict[str, Any]:
    """Id, names, repo digests, size and labels of one local image."""
    attrs = call(lambda c: c.api.inspect_image(ref))
    return {
        "id": attrs.get("Id", ""),
        "tags": list(attrs.get("RepoTags") or []),
        "digests": list(attrs.get("RepoDigests") or []),
        "size": attrs.get("Size", 0),
        "labels": (attrs.get("Config") or {}).get("Labels") or {},
        "created": attrs.get("Created", ""),
    }


def local_image_names() -> list[dict[str, Any]]:
    """Every local `repository:tag` with its image id, newest image first (for pick lists)."""
    images = call(lambda c: c.api.images())
    rows = []
    for img in sorted(images, key=lambda i: i.get("Created", 0), reverse=True):
        for name in img.get("RepoTags") or []:
            if name != "<none>:<none>":
                rows.append({"ref": name, "id": img.get("Id", ""), "labels": img.get("Labels")})
    return rows


class NoAnswerInTime(EngineError):
    """The engine took longer than we wait (it is itself waiting on a registry)."""

    status = 504


@contextmanager
def _bounded(timeout: float, doing: str) -> Iterator[None]:
    try:
        with engine_errors():
            yield
    except EngineUnavailable as exc:
        if isinstance(exc.__cause__, requests.exceptions.ReadTimeout):
            raise NoAnswerInTime(
                f"The engine gave no answer within {timeout:g} s {doing}."
            ) from exc
        raise


def _short_lived_client(timeout: float) -> docker.APIClient:
    """A separate low-level client with its own timeout.

    Logins go through it so that credentials are never cached in the shared
    client (docker-py remembers successful logins and would reuse them for
    other users' pulls); searches so they give up after `timeout` seconds.
    """
    url = endpoint()
    version = call(lambda c: c.api.api_version)
    with engine_errors():
        return docker.APIClient(base_url=url, version=version, timeout=timeout, **_tls_kwargs(url))


def registry_login(username: str, password: str, server: str, *, timeout: float) -> dict[str, Any]:
    """Ask the engine to log in to `server`; the engine's answer, or EngineError with its reason."""
    api = _short_lived_client(timeout)
    try:
        with _bounded(timeout, f"while logging in to {server}"):
            return dict(
                api._result(
                    api._post_json(
                        api._url("/auth"),
                        data={"username": username, "password": password, "serveraddress": server},
                    ),
                    json=True,
                )
            )
    finally:
        api.close()


def search_images(term: str, *, limit: int, timeout: float) -> list[dict[str, Any]]:
    """`docker search term` through the engine, giving up after `timeout` seconds."""
    api = _short_lived_client(timeout)
    try:
        with _bounded(timeout, "while searching Docker Hub"):
            return list(api.search(term, limit=limit))
    finally:
        api.close()


# ------------------------------------------------------- shared host: quota usage (issue 6)


def inspect_labelled_containers(label: str) -> list[dict[str, Any]]:
    """`docker inspect` of every container carrying `label` ("key=value"), stopped ones too.

    One list call filtered by the label, then an inspect of only those containers
    (the list lacks the HostConfig limits the quotas add up).
    """

    def gather(c: docker.DockerClient) -> list[dict[str, Any]]:
        found = []
        for item in c.api.containers(all=True, filters={"label": label}):
            try:
                found.append(c.api.inspect_container(item["Id"]))
            except docker.errors.NotFound:
                continue  # removed between the list and the inspect
        return found

    return call(gather)


# ---------------------------------------------------------------- containers, images, networks,
# volumes and the events stream (containers feature). Raw Engine API data in, raw data out; the
# services in containers_app.services shape it for pages and the API.


def list_containers(*, all: bool = True) -> list[dict[str, Any]]:  # noqa: A002 - the API's word
    """`docker ps [-a]`: one engine call for every container, never `size=true`."""
    return call(lambda c: c.api.containers(all=all))


def _restart_policy(policy: str) -> dict[str, Any]:
    name, _, retries = policy.partition(":")
    return {"Name": name, "MaximumRetryCount": int(retries) if retries else 0}


def _binds(spec: ContainerSpec) -> list[str]:
    # Binds (not Mounts), as `docker run -v source:target[:ro]` writes them, so the
    # dashboard and the shown command line create the same container.
    return [f"{m.source}:{m.target}{':ro' if m.read_only else ''}" for m in spec.mounts]


def _port_bindings(spec: ContainerSpec) -> dict[str, list[tuple[str, int | None]]]:
    bindings: dict[str, list[tuple[str, int | None]]] = {}
    for p in spec.ports:
        bindings.setdefault(f"{p.container_port}/{p.protocol}", []).append((p.host_ip, p.host_port))
    return bindings


def create_container(spec: ContainerSpec) -> str:
    """Create (and start, if `spec.start`) the container `spec` describes; returns its id.

    `spec` is already validated and carries every label it should (the owner's too).
    """

    def create(c: docker.DockerClient) -> str:
        host_config = c.api.create_host_config(
            binds=_binds(spec) or None,
            port_bindings=_port_bindings(spec) or None,
            mem_limit=spec.memory,
            nano_cpus=round(spec.cpus * 1e9) if spec.cpus else None,
            pids_limit=spec.pids_limit,
            restart_policy=_restart_policy(spec.restart_policy),
            auto_remove=spec.auto_remove,
            network_mode=spec.network or None,
            privileged=spec.privileged,
            cap_add=spec.cap_add or None,
            devices=spec.devices or None,
            pid_mode=spec.pid_mode or None,
            ipc_mode=spec.ipc_mode or None,
            uts_mode=spec.uts_mode or None,
            userns_mode=spec.userns_mode or None,
            security_opt=spec.security_opt or None,
            sysctls=spec.sysctls or None,
            cgroup_parent=spec.cgroup_parent or None,
        )
        created = c.api.create_container(
            spec.image,
            command=spec.command,
            entrypoint=spec.entrypoint,
            name=spec.name or None,
            environment=[f"{k}={v}" for k, v in spec.env.items()] or None,
            labels=dict(spec.labels),
            ports=[(p.container_port, p.protocol) for p in spec.ports] or None,
            working_dir=spec.working_dir or None,
            user=spec.user or None,
            tty=spec.tty,
            host_config=host_config,
        )
        container_id = str(created["Id"])
        if spec.start:
            try:
                c.api.start(container_id)
            except docker.errors.APIError:
                # A container that could not start (port taken, ...) is not left behind:
                # the host stays as it was before the request.
                c.api.remove_container(container_id, force=True, v=True)
                raise
        return container_id

    return call(create)


def start_container(ref: str) -> None:
    call(lambda c: c.api.start(ref))


def stop_container(ref: str) -> None:
    call(lambda c: c.api.stop(ref))


def restart_container(ref: str) -> None:
    call(lambda c: c.api.restart(ref))


def pause_container(ref: str) -> None:
    call(lambda c: c.api.pause(ref))


def unpause_container(ref: str) -> None:
    call(lambda c: c.api.unpause(ref))


def kill_container(ref: str) -> None:
    call(lambda c: c.api.kill(ref))


# The actions a request may name, each an explicit function (never getattr on a request string).
CONTAINER_ACTIONS: dict[str, Callable[[str], None]] = {
    "start": start_container,
    "stop": stop_container,
    "restart": restart_container,
    "pause": pause_container,
    "unpause": unpause_container,
    "kill": kill_container,
}


def remove_container(ref: str, *, force: bool = False, volumes: bool = False) -> None:
    call(lambda c: c.api.remove_container(ref, force=force, v=volumes))


def rename_container(ref: str, name: str) -> None:
    call(lambda c: c.api.rename(ref, name))


def list_images() -> list[dict[str, Any]]:
    """`docker images`: every image with all its tags, one call."""
    return call(lambda c: c.api.images())


def inspect_image(ref: str) -> dict[str, Any]:
    return call(lambda c: c.api.inspect_image(ref))


def remove_image(ref: str, *, force: bool = False) -> list[dict[str, str]]:
    """`docker rmi [-f]`: what was untagged and deleted."""
    return call(lambda c: c.api.remove_image(ref, force=force)) or []


def _prune_filters(label: str) -> dict[str, Any]:
    return {"label": [label]} if label else {}


def prune_images(*, label: str = "") -> dict[str, Any]:
    """`docker image prune [--filter label=...]`: dangling images only."""
    return call(lambda c: c.api.prune_images(filters={"dangling": True, **_prune_filters(label)}))


def list_networks() -> list[dict[str, Any]]:
    return call(lambda c: c.api.networks())


def inspect_network(ref: str) -> dict[str, Any]:
    return call(lambda c: c.api.inspect_network(ref))


def create_network(
    name: str,
    *,
    driver: str = "bridge",
    subnet: str = "",
    gateway: str = "",
    internal: bool = False,
    labels: dict[str, str] | None = None,
) -> str:
    def create(c: docker.DockerClient) -> str:
        ipam = None
        if subnet or gateway:
            pool = docker.types.IPAMPool(subnet=subnet or None, gateway=gateway or None)
            ipam = docker.types.IPAMConfig(pool_configs=[pool])
        made = c.api.create_network(
            name, driver=driver, ipam=ipam, internal=internal, labels=labels or None
        )
        return str(made["Id"])

    return call(create)


def connect_network(network: str, container: str, *, aliases: list[str] | None = None) -> None:
    call(lambda c: c.api.connect_container_to_network(container, network, aliases=aliases or None))


def disconnect_network(network: str, container: str, *, force: bool = False) -> None:
    call(lambda c: c.api.disconnect_container_from_network(container, network, force=force))


def remove_network(ref: str) -> None:
    call(lambda c: c.api.remove_network(ref))


def prune_networks(*, label: str = "") -> dict[str, Any]:
    return call(lambda c: c.api.prune_networks(filters=_prune_filters(label) or None))


def list_volumes() -> list[dict[str, Any]]:
    return call(lambda c: c.api.volumes().get("Volumes") or [])


def volume_usage() -> dict[str, dict[str, int]]:
    """Size and reference count of each local volume, from `/system/df` (empty while busy)."""
    df = system_df() or {}
    return {v["Name"]: v.get("UsageData") or {} for v in df.get("Volumes") or []}


def inspect_volume(name: str) -> dict[str, Any]:
    return call(lambda c: c.api.inspect_volume(name))


def create_volume(
    name: str, *, driver: str = "local", labels: dict[str, str] | None = None
) -> dict[str, Any]:
    return call(lambda c: c.api.create_volume(name or None, driver=driver, labels=labels or None))


def remove_volume(name: str) -> None:
    call(lambda c: c.api.remove_volume(name))


def prune_volumes(*, label: str = "") -> dict[str, Any]:
    return call(lambda c: c.api.prune_volumes(filters=_prune_filters(label) or None))


def host_cpus() -> int:
    """How many CPUs the engine's host has (the ceiling of a container's `cpus`)."""
    return int(call(lambda c: c.api.info()).get("NCPU") or 1)


class EventStream:
    """`docker events` as decoded dicts; `close()` from any thread ends the iteration."""

    def __init__(self, since: int | None = None):
        self._stream = call(lambda c: c.api.events(since=since, decode=True))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with engine_errors():
            yield from self._stream

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already closed by the engine going away
            self._stream.close()


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


def stats_stream(ref: str) -> Stream:
    """The engine's own stats of one container, a decoded dict about every second."""
    import json

    response = _open_stream("/containers/{0}/stats", ref, params={"stream": True})

    def items() -> Iterator[dict[str, Any]]:
        for line in response.iter_lines():
            if line:
                yield json.loads(line)

    return Stream(items(), response)


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
