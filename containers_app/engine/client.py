"""The connection to the Docker engine: the docker-py client, its errors, its recent calls
and how long they took.

Every other part of containers_app.engine runs its calls through `call()` (or
`engine_errors()` around a stream), so docker-py and transport errors leave
this package only as containers_app.engine.errors.

Which engine: the one `using(address)` chose for the code it runs (a request, a
websocket, a job: containers_app.engines picks it from `?engine=`), else the
configured one (DOCKDASH_DOCKER_HOST). A thread or worker pool does not inherit the
choice: hand it `carrying(fn)`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import docker
import docker.errors
import requests.exceptions
from django.conf import settings
from prometheus_client import Histogram

from containers_app.engine.errors import (
    BadRequest,
    Conflict,
    EngineError,
    EngineUnavailable,
    NotFound,
)

T = TypeVar("T")
P = ParamSpec("P")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Address:
    """Where an engine listens, and how to reach it: its name (the one people see), its URL
    and, for tcp:// with TLS, docker-py's TLS configuration."""

    name: str
    url: str
    tls: docker.tls.TLSConfig | None = None
    # Its cgroups are read by a stats agent on its node (containers_app.agent), whose frames
    # reach this process through Redis: this process never samples it itself.
    agent: bool = False


_chosen: ContextVar[Address | None] = ContextVar("dockdash_engine", default=None)


def configured() -> Address:
    """The engine of DOCKDASH_DOCKER_HOST: the first, and the only one of a single-host install."""
    return Address(
        str(settings.ENGINE_NAME), str(settings.DOCKER_HOST), agent=bool(settings.STATS_AGENT)
    )


def address() -> Address:
    """The engine the running code talks to."""
    return _chosen.get() or configured()


def endpoint() -> str:
    return address().url


@contextmanager
def using(chosen: Address) -> Iterator[Address]:
    """Talk to `chosen` in this block (and in the tasks it starts)."""
    token = _chosen.set(chosen)
    try:
        yield chosen
    finally:
        _chosen.reset(token)


def carrying(fn: Callable[P, T]) -> Callable[P, T]:
    """`fn`, talking to the engine of the caller wherever it runs (a thread, a worker pool)."""
    chosen = address()

    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        with using(chosen):
            return fn(*args, **kwargs)

    return run


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


def tls_kwargs(url: str) -> dict[str, Any]:
    """docker-py's TLS arguments for `url`, from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH."""
    if not url.startswith("tcp://") or not os.environ.get("DOCKER_TLS_VERIFY"):
        return {}
    env = {
        "DOCKER_HOST": url,
        "DOCKER_TLS_VERIFY": os.environ["DOCKER_TLS_VERIFY"],
        "DOCKER_CERT_PATH": os.environ.get("DOCKER_CERT_PATH", ""),
    }
    return {"tls": docker.utils.kwargs_from_env(environment=env).get("tls")}


def client() -> docker.DockerClient:
    """The client for the chosen engine, created on first use.

    A client is only kept once the engine answered, so a dashboard started
    while the daemon is down connects by itself once it comes up.
    """
    chosen = address()
    url = chosen.url
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
                    **({"tls": chosen.tls} if chosen.tls else tls_kwargs(url)),
                )
            except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
                raise EngineUnavailable(url, _unreachable_reason(exc), chosen.name) from exc
            _install_api_call_recorder(_clients[url], chosen.name)
        return _clients[url]


def _explanation(exc: docker.errors.APIError) -> str:
    text = exc.explanation
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return str(text or exc).strip()


def _engine_error(exc: BaseException) -> EngineError:
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
        chosen = address()
        return EngineUnavailable(chosen.url, _unreachable_reason(exc), chosen.name)
    if isinstance(exc, docker.errors.DockerException):
        return BadRequest(str(exc))
    raise exc


@contextmanager
def engine_errors() -> Iterator[None]:
    try:
        yield
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise _engine_error(exc) from exc


def call(fn: Callable[[docker.DockerClient], T]) -> T:
    """Run `fn(client)` with docker errors translated."""
    with engine_errors():
        return fn(client())


def label_filters(label: str) -> dict[str, Any]:
    """The list or prune filter keeping what carries `label` ("key" or "key=value"); {}: all."""
    return {"label": [label]} if label else {}


# A record of the HTTP calls this dashboard makes to the engine (the architecture page).
API_CALL_HISTORY = 200
_api_calls: deque[dict[str, Any]] = deque(maxlen=API_CALL_HISTORY)
# Every call's latency, for /metrics (containers_app.metrics registers it).
CALL_SECONDS = Histogram(
    "dockdash_engine_call_seconds",
    "Seconds from a request to the engine's answer (for a stream: to its first byte).",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=None,
)


# With REDIS_URL the record is shared: every dashboard process and stats agent adds its calls
# to one Redis list per engine, so the page shows them all, whichever process serves it.
SHARED_CALLS_KEY = "dockdash:api-calls:{engine}"
# Who makes the calls of this process, as the record shows it ("agent" in a stats agent).
role = "web"
_shared: Any = None  # the Redis client of the shared record, made on first use


def _shared_record() -> Any:
    global _shared
    if _shared is None and settings.REDIS_URL:
        import redis  # the optional scale-out install

        _shared = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1)
    return _shared


def _recorder(engine: str) -> Callable[..., None]:
    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # A requests response hook: runs once the engine's answer headers arrived, so for
        # streams (logs, events, exec) the duration is the time to the first byte.
        request = response.request
        CALL_SECONDS.labels(request.method or "").observe(response.elapsed.total_seconds())
        call = {
            "at": time.time(),
            "engine": engine,
            "by": f"{role} {os.getpid()}",
            "method": request.method or "",
            "path": request.path_url,
            "status": response.status_code,
            "duration_ms": round(response.elapsed.total_seconds() * 1000, 1),
        }
        _api_calls.append(call)
        shared = _shared_record()
        if shared is not None:
            key = SHARED_CALLS_KEY.format(engine=engine)
            try:
                shared.pipeline().lpush(key, json.dumps(call)).ltrim(
                    key, 0, API_CALL_HISTORY - 1
                ).execute()
            except Exception as exc:  # noqa: BLE001 - Redis away: the engine call matters
                log.debug("API call not recorded in Redis: %s", exc)

    record.dockdash_recorder = True  # type: ignore[attr-defined]
    return record


def _install_api_call_recorder(c: docker.DockerClient, engine: str) -> None:
    hooks = c.api.hooks.setdefault("response", [])
    if not any(getattr(hook, "dockdash_recorder", False) for hook in hooks):
        hooks.append(_recorder(engine))


def recent_api_calls(limit: int = 50) -> list[dict[str, Any]]:
    """The HTTP calls made to the chosen engine, newest first: by every dashboard process and
    stats agent with REDIS_URL (`shared_api_calls()`), else by this process."""
    engine = address().name
    shared = _shared_record()
    if shared is not None:
        try:
            raw = shared.lrange(SHARED_CALLS_KEY.format(engine=engine), 0, limit - 1)
        except Exception as exc:  # noqa: BLE001 - Redis away: this process's own, as without it
            log.debug("API calls not read from Redis: %s", exc)
        else:
            return [json.loads(item) for item in raw]
    return [c for c in reversed(list(_api_calls)) if c["engine"] == engine][:limit]


def shared_api_calls() -> bool:
    """Whether `recent_api_calls` tells every process's calls (REDIS_URL), not this one's."""
    return bool(settings.REDIS_URL)
