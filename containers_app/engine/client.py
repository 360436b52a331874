"""The connection to the Docker engines: the docker-py client of each, its errors, its recent
calls and how long they took.

A request, a job or a websocket works on one engine: `scoped(target)` makes it the current
one for its context (a middleware does for each request); without one, the first engine,
DOCKDASH_DOCKER_HOST. Clients are kept per endpoint.

Every other part of containers_app.engine runs its calls through `call()` (or
`engine_errors()` around a stream), so docker-py and transport errors leave
this package only as containers_app.engine.errors.
"""

from __future__ import annotations

import contextvars
import hashlib
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

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


@dataclass(frozen=True)
class EngineTarget:
    """An engine to talk to: its name, its endpoint and, for tcp:// with TLS, the client
    certificate, its key and the CA (PEM text; "" when the endpoint needs none)."""

    name: str
    url: str
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""


# The engine of the running request, job or websocket; None: the first one.
_current: ContextVar[EngineTarget | None] = ContextVar("dockdash_engine", default=None)


def current() -> EngineTarget | None:
    """The engine chosen for this context, or None for the first (DOCKDASH_DOCKER_HOST)."""
    return _current.get()


@contextmanager
def scoped(target: EngineTarget | None) -> Iterator[None]:
    """Make `target` the engine of every call inside the block (None: the first engine)."""
    token = _current.set(target)
    try:
        yield
    finally:
        _current.reset(token)


def fresh_context() -> contextvars.Context:
    """A new context holding only the current engine: for work that outlives its request
    (a job) and must keep none of the request's other state."""
    context = contextvars.Context()
    context.run(_current.set, _current.get())
    return context


def endpoint() -> str:
    target = _current.get()
    return target.url if target is not None else str(settings.DOCKER_HOST)


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


_clients: dict[tuple[str, tuple[str, str, str]], docker.DockerClient] = {}
_clients_lock = threading.Lock()


def _pem_files(target: EngineTarget) -> tuple[str, str, str]:
    """The target's certificate, key and CA written to files only this user reads
    (docker-py takes paths), once per distinct set; named by their digest."""
    digest = hashlib.sha256(
        "\0".join((target.tls_cert, target.tls_key, target.tls_ca)).encode()
    ).hexdigest()[:24]
    folder = Path(tempfile.gettempdir()) / f"dockdash-tls-{os.getuid()}" / digest
    paths = (folder / "cert.pem", folder / "key.pem", folder / "ca.pem")
    if not all(p.exists() for p in paths):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path, text in zip(paths, (target.tls_cert, target.tls_key, target.tls_ca), strict=True):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(text)
    return str(paths[0]), str(paths[1]), str(paths[2])


def tls_kwargs(url: str) -> dict[str, Any]:
    """docker-py's TLS arguments for `url`: the current engine's certificates when it has
    them, else DOCKER_TLS_VERIFY and DOCKER_CERT_PATH."""
    target = _current.get()
    if target is not None and target.url == url and target.tls_cert:
        cert, key, ca = _pem_files(target)
        # The engine's certificate is always checked: against its CA, else the system's.
        ca_cert = ca if target.tls_ca else None
        return {"tls": docker.tls.TLSConfig(client_cert=(cert, key), ca_cert=ca_cert, verify=True)}
    if not url.startswith("tcp://") or not os.environ.get("DOCKER_TLS_VERIFY"):
        return {}
    env = {
        "DOCKER_HOST": url,
        "DOCKER_TLS_VERIFY": os.environ["DOCKER_TLS_VERIFY"],
        "DOCKER_CERT_PATH": os.environ.get("DOCKER_CERT_PATH", ""),
    }
    return {"tls": docker.utils.kwargs_from_env(environment=env).get("tls")}


class KeepsItsCa(docker.APIClient):
    """docker-py's low-level client, except that a CA file of its own wins: requests would
    check the engine against REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE when either is set."""

    def merge_environment_settings(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        merged: dict[str, Any] = super().merge_environment_settings(*args, **kwargs)
        if isinstance(self.verify, str):
            merged["verify"] = self.verify
        return merged


class _EngineClient(docker.DockerClient):
    def __init__(self, **kwargs: Any):
        self.api = KeepsItsCa(**kwargs)


def client() -> docker.DockerClient:
    """The client for the current engine's endpoint, created on first use.

    A client is only kept once the engine answered, so a dashboard started
    while the daemon is down connects by itself once it comes up.
    """
    url = endpoint()
    target = _current.get()
    # Changed certificates make a new client; the same ones share it.
    key = (url, (target.tls_cert, target.tls_key, target.tls_ca) if target else ("", "", ""))
    found = _clients.get(key)
    if found is not None:
        return found
    with _clients_lock:
        if key not in _clients:
            try:
                _clients[key] = _EngineClient(
                    base_url=url,
                    version="auto",
                    timeout=settings.DOCKER_TIMEOUT,
                    **tls_kwargs(url),
                )
            except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
                raise EngineUnavailable(url, _unreachable_reason(exc)) from exc
            _install_api_call_recorder(_clients[key])
        return _clients[key]


def probing_client(url: str, timeout: float) -> docker.APIClient:
    """A low-level client of its own for `url` that waits at most `timeout` seconds per call
    (the kept one waits DOCKDASH_DOCKER_TIMEOUT); EngineUnavailable when nothing answers."""
    try:
        return KeepsItsCa(base_url=url, version="auto", timeout=timeout, **tls_kwargs(url))
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineUnavailable(url, _unreachable_reason(exc)) from exc


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
        return EngineUnavailable(endpoint(), _unreachable_reason(exc))
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


def _record_api_call(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    # A requests response hook: runs once the engine's answer headers arrived, so for
    # streams (logs, events, exec) the duration is the time to the first byte.
    request = response.request
    CALL_SECONDS.labels(request.method or "").observe(response.elapsed.total_seconds())
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
