"""The engine as a whole (`docker version`, `docker info`, `docker system df`, `docker events`)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import docker
from django.conf import settings

from containers_app.engine.client import call, endpoint, engine_errors
from containers_app.engine.errors import Conflict, EngineError, EngineUnavailable
from containers_app.singleflight import SingleFlight


def version() -> dict[str, Any]:
    """`docker version` of the engine (EngineUnavailable when it does not answer)."""
    return call(lambda c: c.api.version())  # type: ignore[no-any-return]


def ping() -> dict[str, Any]:
    """Reachability of the engine, for /healthz and the banner; never raises."""
    try:
        engine = version()
    except EngineUnavailable as exc:
        return {"reachable": False, "endpoint": exc.endpoint, "error": exc.message}
    except EngineError as exc:
        return {"reachable": False, "endpoint": endpoint(), "error": exc.message}
    return {"reachable": True, "endpoint": endpoint(), "version": engine.get("Version", "")}


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
