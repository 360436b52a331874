"""What the registry pages and API do: resolve registries, test logins, start jobs, search.

Views call these plain functions; each checks its input first and raises
`Invalid` (with the form field at fault) before anything is changed, so a bad
request never leaves half-done work behind.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

from django.db import connection

from containers_app import engine
from containers_app.imageref import Reference
from dashboard import access
from dashboard.access import Perm, owner_labels
from dashboard.audit import audited
from registry_app import jobs, refs
from registry_app.crypto import UndecryptableSecret
from registry_app.models import DOCKER_HUB_URL, Job, Registry, split_url
from registry_app.ownership import record_owner
from registry_app.v2client import RegistryClient, RegistryError

LOGIN_TIMEOUT = 20.0
SEARCH_TIMEOUT = 5.0
_BUILD_ARG_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Invalid(refs.InputError):
    """Bad input, told in words, with the field it concerns."""


def check_registry_url(url: str) -> str:
    """A registry URL (`https://host`, `http://host:port` or `host:port`), or Invalid."""
    url = (url or "").strip()
    scheme, host = split_url(url)
    if scheme not in {"http", "https"}:
        raise Invalid("Use an http:// or https:// URL, or host:port.", "url")
    if not host or any(c in host for c in " /@"):
        raise Invalid(f"{url!r} names no registry host.", "url")
    return url


def registry_by_id(registry_id: Any, field: str = "registry") -> Registry:
    try:
        pk = int(registry_id)
    except (TypeError, ValueError):
        raise Invalid(f"Unknown registry {registry_id!r}.", field) from None
    found = Registry.objects.filter(pk=pk).first()
    if found is None:
        raise Invalid(f"Unknown registry {registry_id!r}: it may have been deleted.", field)
    return found


def registry_for_host(host: str) -> Registry | None:
    """The configured registry serving image references on `host` ("" for Docker Hub)."""
    for registry in Registry.objects.all():
        if registry.host == (host or "docker.io"):
            return registry
    return None


def credentials(registry: Registry | None) -> dict[str, str] | None:
    if registry is None:
        return None
    try:
        return registry.auth_config()
    except UndecryptableSecret as exc:
        raise Invalid(str(exc), "password") from None


# ---------------------------------------------------------------- test connection


@dataclass
class Outcome:
    ok: bool
    message: str


def explain_registry_error(text: str, host: str) -> str:
    """The engine's (Go) error text about a registry, in words a person can act on."""
    low = text.lower()
    if "server gave http response to https client" in low:
        return (
            f"TLS problem: {host} speaks plain HTTP but the engine expects HTTPS. Add it to "
            "the engine's insecure-registries, or serve the registry over TLS."
        )
    if "x509" in low or "certificate" in low or "tls:" in low or "tls handshake" in low:
        return f"TLS problem with {host}: the engine does not trust its certificate ({text})."
    if "unauthorized" in low or "incorrect username or password" in low or " 401" in low:
        return f"Wrong username or password: {host} refused the login (401 Unauthorized)."
    if "denied" in low or " 403" in low:
        return f"{host} denied access for this account: {text}"
    if "connection refused" in low:
        return f"Unreachable: nothing answers at {host} (connection refused)."
    if "no such host" in low or "server misbehaving" in low:
        return (
            f"Unreachable: the name {host} does not resolve (no such host); this host may "
            "have no internet access."
        )
    if "timeout" in low or "timed out" in low or "no answer within" in low:
        return f"Unreachable: {host} gave no answer in time."
    if "no route to host" in low or "network is unreachable" in low:
        return f"Unreachable: no network route to {host}."
    return f"The login to {host} failed: {text}"


def test_connection(registry: Registry) -> Outcome:
    """Log in through the engine with the stored credentials and say how it went."""
    server = DOCKER_HUB_URL if registry.is_docker_hub else registry.host
    if not registry.username:
        try:
            RegistryClient.for_registry(registry).ping()
        except RegistryError as exc:
            return Outcome(False, exc.message)
        return Outcome(True, f"{registry.host} answers and allows anonymous access.")
    try:
        password = registry.get_password()
    except UndecryptableSecret as exc:
        return Outcome(False, str(exc))
    try:
        answer = engine.registry_login(registry.username, password, server, timeout=LOGIN_TIMEOUT)
    except engine.EngineUnavailable:
        raise
    except engine.EngineError as exc:
        return Outcome(False, explain_registry_error(exc.message, registry.host))
    status = str(answer.get("Status") or "Login Succeeded")
    return Outcome(True, f"{status}: {registry.username} may log in to {registry.host}.")


# ---------------------------------------------------------------- Docker Hub search


def search_hub(term: str, limit: int = 25) -> list[dict[str, Any]]:
    """Docker Hub search through the engine; Invalid with the reason when it cannot answer."""
    term = term.strip()
    if not term:
        raise Invalid("Enter a search term.", "q")
    try:
        rows = engine.search_images(term, limit=limit, timeout=SEARCH_TIMEOUT)
    except engine.NoAnswerInTime:
        raise Invalid(
            f"Docker Hub gave no answer within {SEARCH_TIMEOUT:g} s: this host has no internet "
            "access (or Docker Hub is very slow).",
            "q",
        ) from None
    except engine.EngineUnavailable:
        raise
    except engine.EngineError as exc:
        low = exc.message.lower()
        if any(s in low for s in ("no such host", "dial tcp", "i/o timeout", "network")):
            raise Invalid(
                f"This host has no internet access: the engine could not reach Docker Hub "
                f"({exc.message}).",
                "q",
            ) from None
        raise Invalid(f"Docker Hub search failed: {exc.message}", "q") from None
    return [
        {
            "name": r.get("name", ""),
            "description": r.get("description", ""),
            "stars": r.get("star_count", 0),
            "official": bool(r.get("is_official")),
        }
        for r in rows
    ]


# ---------------------------------------------------------------- jobs


def _closing_db(body: jobs.JobBody) -> jobs.JobBody:
    """Pool threads touch the ORM: close their connection when the job's work ends."""

    def run(emit: Any) -> dict[str, str]:
        try:
            return body(emit)
        finally:
            connection.close()

    return run


def pull_target(image: str, registry_id: Any = None) -> tuple[Reference, Registry | None]:
    """The full reference to pull and the registry whose credentials to use."""
    ref = refs.parse(image)
    registry = None
    if registry_id not in (None, ""):
        registry = registry_by_id(registry_id)
        if ref.domain and ref.domain != registry.host:
            raise Invalid(
                f"{image!r} names the registry {ref.domain}, but you chose {registry.name} "
                f"({registry.host}). Leave the registry out of the name, or pick the other one.",
                "image",
            )
        if not ref.domain and not registry.is_docker_hub:
            ref = Reference(registry.host, ref.repository, ref.tag, ref.digest)
    else:
        registry = registry_for_host(ref.domain)
    return ref, registry


def _registry_target(registry: Registry) -> dict[str, str]:
    return {"target_kind": "registry", "target_id": str(registry.pk), "target_name": registry.name}


def delete_registry(request: Any, registry: Registry) -> None:
    """Remove a stored registry, audited (for the page and the API alike)."""
    with audited(request, "registry.delete", **_registry_target(registry)):
        registry.delete()


def probe_registry(request: Any, registry: Registry) -> Outcome:
    """`test_connection`, audited with its outcome (for the page and the API alike)."""
    with audited(request, "registry.test", **_registry_target(registry)) as extra:
        outcome = test_connection(registry)
        extra["params"] = {"ok": outcome.ok}
    return outcome


def _registry_label(registry_id: Any) -> str:
    """How an audit row names the registry a request chose (its name, else what was sent)."""
    found = Registry.objects.filter(pk=registry_id).first() if str(registry_id).isdigit() else None
    return found.name if found else str(registry_id or "")


def pull(request: Any, image: str, registry_id: Any = None) -> Job:
    """`start_pull` for a page or API request, audited, refusals included."""
    with audited(
        request,
        "image.pull",
        target_kind="image",
        target_name=image,
        params={"registry": _registry_label(registry_id)},
    ) as extra:
        job = start_pull(request.user, image, registry_id)
        extra["target_id"] = f"job {job.pk}"
    return job


def push(request: Any, source: str, registry_id: Any, repository: str, tag: str) -> Job:
    """`start_push` for a page or API request, audited, refusals included."""
    with audited(
        request,
        "image.push",
        target_kind="image",
        target_name=source,
        params={"registry": _registry_label(registry_id), "repository": repository, "tag": tag},
    ) as extra:
        job = start_push(request.user, source, registry_id, repository, tag)
        extra["target_id"] = f"job {job.pk}"
    return job


def start_pull(user: Any, image: str, registry_id: Any = None) -> Job:
    ref, registry = pull_target(image, registry_id)
    auth = credentials(registry)
    job = Job.objects.create(
        kind=Job.Kind.PULL,
        user=user,
        username=user.get_username(),
        registry=registry,
        target=str(ref),
    )
    username = user.get_username()

    def body(emit: Any) -> dict[str, str]:
        jobs.drain(engine.pull_stream(ref.name, ref.digest or ref.tag, auth), emit)
        summary = engine.image_summary(str(ref))
        record_owner(summary["id"], str(ref), username)
        return {"image_id": summary["id"]}

    jobs.start(job, _closing_db(body))
    return job


def check_push_allowed(user: Any, repository: str) -> None:
    """Students push only under their own name (`alice/...`); instructors and admins anywhere.

    The first path part of a repository is its owner, as on Docker Hub, so the
    usual ownership rule of the access policy applies to it.
    """
    namespace = repository.split("/", 1)[0] if "/" in repository else None
    if not access.can(user, Perm.CONTROL, namespace):
        name = user.get_username()
        raise Invalid(
            f"You may not push to {repository!r}: your role ({access.role_of(user)}) may push "
            f"only to repositories under {name}/ (e.g. {name}/{repository.rsplit('/', 1)[-1]}).",
            "repository",
        )


def start_push(user: Any, source: str, registry_id: Any, repository: str, tag: str) -> Job:
    registry = registry_by_id(registry_id)
    repository = refs.check_repository((repository or "").strip())
    tag = refs.check_tag((tag or "").strip())
    check_push_allowed(user, repository)
    if not (source or "").strip():
        raise Invalid("Pick a local image to push.", "image")
    try:
        image = engine.image_summary(source.strip())
    except engine.NotFound:
        raise Invalid(f"There is no local image {source!r}.", "image") from None
    name = repository if registry.is_docker_hub else f"{registry.host}/{repository}"
    target = f"{name}:{tag}"
    auth = credentials(registry)
    try:
        previous: str | None = engine.image_summary(target)["id"]
    except engine.NotFound:
        previous = None
    job = Job.objects.create(
        kind=Job.Kind.PUSH,
        user=user,
        username=user.get_username(),
        registry=registry,
        target=target,
        source=source.strip(),
    )
    username = user.get_username()

    def body(emit: Any) -> dict[str, str]:
        if previous != image["id"]:
            engine.tag_image(image["id"], name, tag)
            emit({"status": f"Tagged {image['id'][:19]} as {target}"})
        jobs.drain(engine.push_stream(name, tag, auth), emit)
        record_owner(image["id"], target, username)
        return {"image_id": image["id"]}

    def cleanup(job: Job, succeeded: bool) -> None:
        # A failed push leaves no tag behind that we made (and puts back one we moved).
        if succeeded or previous == image["id"]:
            return
        try:
            if previous is None:
                engine.untag_image(target)
            else:
                engine.tag_image(previous, name, tag)
        except engine.NotFound:
            pass

    jobs.start(job, _closing_db(body), cleanup)
    return job


def parse_build_args(text: str) -> dict[str, str]:
    """`KEY=VALUE` lines (or a dict already) into build args; Invalid names the bad line."""
    args: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.strip().partition("=")
        if not sep or not _BUILD_ARG_RE.match(key):
            raise Invalid(
                f"Build argument line {number} ({line.strip()!r}) is not NAME=value.", "build_args"
            )
        args[key] = value
    return args


def start_build(
    user: Any, *, tag: str, context: io.BytesIO, build_args: dict[str, str], dockerfile: str
) -> Job:
    ref = refs.parse(tag, field="tag")
    if ref.digest:
        raise Invalid("A build tag cannot carry a digest.", "tag")
    job = Job.objects.create(
        kind=Job.Kind.BUILD,
        user=user,
        username=user.get_username(),
        target=str(ref),
    )
    username = user.get_username()
    labels = owner_labels(user)

    def body(emit: Any) -> dict[str, str]:
        stream = engine.build_stream(
            context, tag=str(ref), buildargs=build_args, labels=labels, dockerfile=dockerfile
        )
        jobs.drain(stream, emit)
        summary = engine.image_summary(str(ref))
        record_owner(summary["id"], str(ref), username)
        return {"image_id": summary["id"]}

    jobs.start(job, _closing_db(body))
    return job
