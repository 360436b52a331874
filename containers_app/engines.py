"""The engines this dashboard drives: the configured one first, then those admins added.

The first engine is DOCKDASH_DOCKER_HOST under the name DOCKDASH_ENGINE_NAME ("local"):
it has no row, so a single-host install changes nothing. Admins add others (rows of
containers_app.models.Engine, through the gate's `engine.*` actions): a unix:// socket,
tcp:// (with TLS: the CA, the client certificate and its key, the key stored encrypted),
or ssh:// (docker-py's, with paramiko installed: `pip install dockdash[ssh]`).

`chosen(name)` is the engine a request, API call or websocket asked for (`?engine=`);
`engine_client.using(address_of(engine))` scopes the code that serves it. Ownership and
quotas hold across engines: the gate counts an owner's objects on every engine.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
from django.conf import settings

from containers_app.engine import client as engine_client
from containers_app.engine.containers import list_containers
from containers_app.engine.errors import EngineError, EngineUnavailable
from containers_app.engine.system import version
from containers_app.models import Engine
from dashboard import crypto
from dashboard.refusals import Invalid, NotVisible

SCHEMES = ("unix", "tcp", "ssh")
NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")  # a name goes in URLs (?engine=) as it is
# Seconds the engines' page waits for each engine's answer: one that is down must not
# hold the others' rows.
STATUS_WAIT = 3.0


def configured() -> Engine:
    """The first engine: DOCKDASH_DOCKER_HOST, never a row (`pk` None)."""
    return Engine(
        name=settings.ENGINE_NAME, endpoint=settings.DOCKER_HOST, agent=settings.STATS_AGENT
    )


def every() -> list[Engine]:
    """All engines, the first one first."""
    return [configured(), *Engine.objects.all()]


def named(name: str) -> Engine | None:
    if name == settings.ENGINE_NAME:
        return configured()
    return Engine.objects.filter(name=name).first()


def chosen(name: str | None) -> Engine:
    """The engine `?engine=name` asked for; the first one without a name."""
    if not name:
        return configured()
    found = named(name)
    if found is None:
        raise NotVisible(f"No such engine: {name}")
    return found


def address_of(engine: Engine) -> engine_client.Address:
    return engine_client.Address(engine.name, engine.endpoint, _tls(engine), agent=engine.agent)


def _tls(engine: Engine) -> docker.tls.TLSConfig | None:
    """docker-py's TLS for an engine with certificates: their files, written once to a
    folder only this process's user may read (docker-py takes paths, not PEM text)."""
    if not engine.client_cert:
        return None
    folder = Path(settings.LOCAL_DIR) / "engines" / engine.name
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = {
        "ca.pem": engine.ca_cert,
        "cert.pem": engine.client_cert,
        "key.pem": crypto.decrypt(engine.client_key_encrypted),
    }
    for name, text in files.items():
        path = folder / name
        if not path.exists() or path.read_text() != text:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(text)
    return docker.tls.TLSConfig(
        client_cert=(str(folder / "cert.pem"), str(folder / "key.pem")),
        ca_cert=str(folder / "ca.pem"),
        verify=True,
    )


# ---------------------------------------------------------------- what admins may set


@dataclass(frozen=True)
class EngineFields:
    """An engine's settings as an admin gives them (the API's, the page's form)."""

    endpoint: str
    ca_cert: str = ""
    client_cert: str = ""
    client_key: str = ""
    agent: bool = False


def check_fields(fields: EngineFields) -> None:
    """Refuse an endpoint the dashboard cannot use, with what would do."""
    parts = urlsplit(fields.endpoint)
    if parts.scheme not in SCHEMES:
        raise Invalid(
            f"Endpoint {fields.endpoint!r}: use unix:///path/to/docker.sock, "
            "tcp://host:2376 or ssh://user@host",
            "endpoint",
        )
    if parts.scheme == "unix" and not parts.path:
        raise Invalid(
            "A unix:// endpoint needs the socket's path (unix:///var/run/docker.sock)", "endpoint"
        )
    if parts.scheme in ("tcp", "ssh") and not parts.hostname:
        raise Invalid(
            f"A {parts.scheme}:// endpoint needs a host ({parts.scheme}://host:port)", "endpoint"
        )
    certs = [fields.ca_cert, fields.client_cert, fields.client_key]
    if any(certs) and not all(certs):
        raise Invalid("TLS needs all three: ca_cert, client_cert and client_key (PEM)", "ca_cert")
    if any(certs) and parts.scheme != "tcp":
        raise Invalid("TLS certificates are for tcp:// endpoints only", "ca_cert")
    for label, text in zip(("ca_cert", "client_cert", "client_key"), certs, strict=True):
        if text and "-----BEGIN " not in text:
            raise Invalid(f"{label} must be PEM text (-----BEGIN ...)", label)


def fill(engine: Engine, fields: EngineFields) -> Engine:
    engine.endpoint = fields.endpoint
    engine.ca_cert = fields.ca_cert
    engine.client_cert = fields.client_cert
    engine.client_key_encrypted = crypto.encrypt(fields.client_key)
    engine.agent = fields.agent
    return engine


# ---------------------------------------------------------------- how each one is


def status(engine: Engine) -> dict[str, Any]:
    """Reachability, version and load of one engine (never raises)."""
    row = describe(engine)
    try:
        with engine_client.using(address_of(engine)):
            found = version()
            containers = list_containers(all=True)
    except EngineUnavailable as exc:
        return {**row, "reachable": False, "error": exc.reason}
    except (EngineError, crypto.UndecryptableSecret) as exc:
        return {**row, "reachable": False, "error": str(exc)}
    running = sum(1 for c in containers if c.get("State") == "running")
    return {
        **row,
        "reachable": True,
        "version": found.get("Version", ""),
        "api_version": found.get("ApiVersion", ""),
        "containers": len(containers),
        "running": running,
        "error": "",
    }


def statuses(engines: list[Engine]) -> list[dict[str, Any]]:
    """`status` of each engine, asked at once: one that does not answer within
    STATUS_WAIT seconds says so, and holds no other row."""
    pool = ThreadPoolExecutor(max(len(engines), 1), thread_name_prefix="engine-status")
    futures = [pool.submit(status, engine) for engine in engines]
    wait(futures, timeout=STATUS_WAIT)
    pool.shutdown(wait=False)
    rows = []
    for engine, future in zip(engines, futures, strict=True):
        if future.done():
            rows.append(future.result())
        else:
            late = f"no answer within {STATUS_WAIT:g} s"
            rows.append({**describe(engine), "reachable": False, "error": late})
    return rows


def describe(engine: Engine) -> dict[str, Any]:
    """What an engine's row says of it (never its key)."""
    return {
        "name": engine.name,
        "endpoint": engine.endpoint,
        "first": engine.pk is None,
        "tls": bool(engine.client_cert),
        "agent": engine.agent,
    }


def each() -> Iterator[Engine]:
    """Every engine in turn, the loop's body talking to the one it holds."""
    for engine in every():
        with engine_client.using(address_of(engine)):
            yield engine
