"""Pure rules of the registry features: who may reach which registry, with whose credentials.

Each rule takes the facts it judges as arguments (the services gather them:
the registry row, the addresses its host resolves to, the stored credentials)
and touches no database, network or engine, so the gate can call them as they
are.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

DOCKER_HUB = "docker.io"
PERSONAL, SHARED_PULL = "personal", "shared-pull"
Purpose = Literal["pull", "push"]

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def host_name(host: str) -> str:
    """The name part of `host[:port]` (`[::1]:5000` -> `::1`), lowercased."""
    text = host.strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    if text.count(":") == 1:
        return text.partition(":")[0]
    return text


def is_internal_address(address: str) -> bool:
    """Loopback, link-local or unspecified: addresses that reach this host or its metadata."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified


def registry_refusal(
    *,
    is_admin: bool,
    host: str,
    registered: bool,
    allow_non_admins: bool,
    addresses: Iterable[str] = (),
) -> str:
    """Why this user may not pull from or push to `host` ("" when they may).

    Admins reach any registry. Everyone else reaches Docker Hub, and the
    registered registries an admin marked usable by non-admins, but never one
    whose name or resolved address is loopback or link-local (the dashboard's
    own host, the cloud metadata service), registered or not.
    """
    if is_admin:
        return ""
    if host == DOCKER_HUB:
        return ""
    name = host_name(host)
    if name in _LOOPBACK_NAMES or name.endswith(".localhost") or is_internal_address(name):
        return f"{host} is an address on this host (loopback or link-local): only admins use it."
    if not registered or not allow_non_admins:
        return (
            f"{host} is not a registry an admin allowed for you. Use Docker Hub or one of the "
            "registries listed on the Registries page."
        )
    if any(is_internal_address(a) for a in addresses):
        return f"{host} resolves to an address on this host (loopback or link-local): refused."
    return ""


@dataclass(frozen=True)
class CredentialFacts:
    """One stored login for a registry: whose it is and who else may use it."""

    id: int
    owner_id: int | None  # None: the registry's own, stored by an admin in the registry form
    scope: str  # PERSONAL or SHARED_PULL


def pick_credential(
    *, user_id: int | None, is_admin: bool, purpose: Purpose, stored: Sequence[CredentialFacts]
) -> CredentialFacts | None:
    """The credentials to send for `purpose`, or None for anonymous access.

    First the user's own. Admins then use the registry's own credentials. For a
    pull anyone may use credentials shared for pulling (the registry's own
    first). A push never uses credentials the user does not own (admins: the
    registry's own).
    """
    own = [c for c in stored if c.owner_id is not None and c.owner_id == user_id]
    if own:
        return own[0]
    registry_own = [c for c in stored if c.owner_id is None]
    if is_admin and registry_own:
        return registry_own[0]
    if purpose == "pull":
        shared = sorted(
            (c for c in stored if c.scope == SHARED_PULL), key=lambda c: c.owner_id is not None
        )
        if shared:
            return shared[0]
    return None


def push_refusal(*, user_id: int | None, is_admin: bool, stored: Sequence[CredentialFacts]) -> str:
    """Why a push must not start ("" when it may): the registry needs a login the user lacks."""
    if pick_credential(user_id=user_id, is_admin=is_admin, purpose="push", stored=stored):
        return ""
    if stored:  # the registry takes logins, and none of them is this user's
        return (
            "No credentials of yours for this registry: add your own under My credentials "
            "on the Registries page (a push never uses someone else's)."
        )
    return ""


# ---------------------------------------------------------------- builds


def build_limits(
    *, is_admin: bool, memory: int | None, cpus: float | None, host_cpus: int = 0
) -> dict[str, object]:
    """The Engine API's build parameters that bound every RUN step of a build.

    Memory and swap are the per-container memory limit (no swap beyond it). The
    classic builder takes no CPU quota through docker-py, so CPUs are bounded by
    pinning to whole cores (never more than the per-container CPUs, at least
    one) and weighted with cpushares. Non-admins never build on the host network.
    """
    if is_admin:
        return {}
    limits: dict[str, object] = {"network_mode": "default", "shmsize": 64 * 1024 * 1024}
    container: dict[str, object] = {}
    if memory:
        container["memory"] = int(memory)
        container["memswap"] = int(memory)
        limits["shmsize"] = min(64 * 1024 * 1024, int(memory) // 2)
    if cpus:
        cores = max(1, math.floor(cpus))
        if not host_cpus or cores < host_cpus:
            container["cpusetcpus"] = "0" if cores == 1 else f"0-{cores - 1}"
        container["cpushares"] = max(2, int(1024 * cpus))
    limits["container_limits"] = container
    return limits


# ---------------------------------------------------------------- error texts

_ERROR_MAX = 300


def bounded(text: str, limit: int = _ERROR_MAX) -> str:
    """`text` on one line, without control characters, at most `limit` characters."""
    flat = "".join(ch if ch.isprintable() else " " for ch in text)
    flat = " ".join(flat.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
