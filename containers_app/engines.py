"""The engines this dashboard drives: their rows, the one a request names, and how each is.

The first row is DOCKDASH_DOCKER_HOST's engine, made here when none is stored, so a
single-host install has it without a step of its own. A request without `?engine=` works
on it exactly as before engines were rows: the setting's endpoint, no row read to reach it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from django.conf import settings

from containers_app import kernel, stats
from containers_app.engine.client import EngineTarget, scoped
from containers_app.engine.errors import EngineUnavailable
from containers_app.engine.system import probe
from containers_app.internals import engine_is_local
from containers_app.models import FIRST_ENGINE, Engine
from dashboard.crypto import UndecryptableSecret
from dashboard.refusals import Invalid, NotVisible

PROBE_WORKERS = 8
T = TypeVar("T")


def first() -> Engine:
    found = Engine.objects.order_by("pk").first()
    if found is None:
        found, _ = Engine.objects.get_or_create(name=FIRST_ENGINE)
    return found


def all_engines() -> list[Engine]:
    first()
    return list(Engine.objects.order_by("pk"))


def is_first(engine: Engine) -> bool:
    return engine.pk == first().pk


def named(name: str) -> Engine:
    first()  # a database emptied since its migration still knows the first engine
    found = Engine.objects.filter(name=name).first() if name else None
    if found is None:
        raise NotVisible(f"There is no engine named {name!r}.", "engine")
    return found


def target_url(engine: Engine) -> str:
    return str(settings.DOCKER_HOST) if is_first(engine) else engine.endpoint


def target_of(engine: Engine) -> EngineTarget:
    """Where to reach `engine`, its TLS material decrypted."""
    if is_first(engine):
        return EngineTarget(engine.name, target_url(engine))
    try:
        cert, key, ca = engine.tls()
    except UndecryptableSecret as exc:
        raise EngineUnavailable(engine.endpoint, str(exc).rstrip(".")) from None
    return EngineTarget(engine.name, engine.endpoint, cert, key, ca)


def scope_named(name: str) -> EngineTarget | None:
    """The engine `?engine=<name>` chooses; None for the first one (the default)."""
    engine = named(name)
    return None if is_first(engine) else target_of(engine)


def check_endpoint(url: str) -> str:
    """`url` if the dashboard can reach an engine there, else Invalid in words."""
    parts = urlsplit(url.strip())
    if parts.scheme == "unix" and parts.path.startswith("/") and not parts.netloc:
        return url.strip()
    if parts.scheme == "tcp" and parts.hostname:
        try:
            port = parts.port
        except ValueError:
            port = None
        if port and not parts.path.strip("/"):
            return url.strip()
        raise Invalid("A tcp:// endpoint needs a host and a port: tcp://HOST:2376.", "endpoint")
    if parts.scheme == "ssh" and parts.hostname:
        return url.strip()
    raise Invalid(
        "The endpoint must be unix:///path/to/docker.sock, tcp://HOST:PORT or ssh://USER@HOST.",
        "endpoint",
    )


def check_tls(url: str, cert: str, key: str, ca: str) -> None:
    """Certificates only for tcp://, and a certificate with its key."""
    if (cert or key or ca) and not url.startswith("tcp://"):
        raise Invalid("TLS certificates are only for tcp:// endpoints.", "tls_cert")
    if bool(cert) != bool(key):
        raise Invalid("A client certificate needs its key, and a key its certificate.", "tls_key")
    for field, text in (("tls_cert", cert), ("tls_key", key), ("tls_ca", ca)):
        if text and "-----BEGIN " not in text:
            raise Invalid(f"{field} must be PEM text (-----BEGIN ...).", field)


def host_load(url: str, proc: Path = kernel.PROC) -> dict[str, Any]:
    """The load average and memory use of the machine of an engine on this one (its /proc
    is ours); {} for an engine elsewhere, or when they cannot be read."""
    if not engine_is_local(url):
        return {}
    try:
        load = float((proc / "loadavg").read_text().split()[0])
        used, total = stats.parse_meminfo((proc / "meminfo").read_text())
    except (OSError, ValueError, IndexError):
        return {}
    return {"load1": load, "host_mem_used": used, "host_mem_total": total}


def status_of(engine: Engine) -> dict[str, Any]:
    try:
        target = target_of(engine)
    except EngineUnavailable as exc:
        return {"reachable": False, "endpoint": exc.endpoint, "error": exc.message}
    status = probe(target, settings.ENGINE_PROBE_TIMEOUT)
    return {**status, **host_load(target.url)} if status["reachable"] else status


def statuses(engines: list[Engine]) -> list[dict[str, Any]]:
    """Each engine's reachability, version and load, all asked at once with a short timeout,
    so an engine that is down costs the page that timeout and no more."""
    if not engines:
        return []
    with ThreadPoolExecutor(max_workers=min(PROBE_WORKERS, len(engines))) as pool:
        return list(pool.map(status_of, engines))


def _targets() -> list[EngineTarget | None]:
    """Every engine to ask, the first as None (the default)."""
    rows = all_engines()
    others: list[EngineTarget | None] = []
    for engine in rows[1:]:
        try:
            others.append(target_of(engine))
        except EngineUnavailable:
            continue  # its key cannot be read: as good as down
    return [None, *others]


def on_each(fn: Callable[[], T]) -> list[T]:
    """`fn()` on every engine at once, each answer in engine order. An engine that is
    down is left out: one engine down must not stop the work on the others."""
    targets = _targets()
    if len(targets) == 1:  # one engine: as before there were several, its errors raised
        return [fn()]

    def on(target: EngineTarget | None) -> list[T]:
        with scoped(target):
            try:
                return [fn()]
            except EngineUnavailable:
                return []

    # Each worker starts from this context (the request's), then scopes its own engine.
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=min(PROBE_WORKERS, len(targets))) as pool:
        answers = pool.map(lambda t: context.copy().run(on, t), targets)
        return [answer for found in answers for answer in found]
