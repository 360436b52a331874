"""What the registry pages and API do: resolve registries, test logins, start jobs, search.

Views call these plain functions; each checks its input first and raises
`Invalid` (with the form field at fault) before anything is changed, so a bad
request never leaves half-done work behind.
"""

from __future__ import annotations

import io
import re
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import QuerySet

from containers_app import gate
from containers_app.engine.errors import EngineError, EngineUnavailable, NoAnswerInTime, NotFound
from containers_app.engine.images import (
    build_stream,
    image_summary,
    pull_stream,
    push_stream,
    tag_image,
    untag_image,
)
from containers_app.engine.registries import registry_login, search_images
from containers_app.engine.system import engine_overview
from containers_app.gate import Action, Change
from containers_app.imageref import Reference
from dashboard import access, policy, quotas
from dashboard.access import Perm, owner_labels
from dashboard.audit import audited, written_when_done
from dashboard.crypto import UndecryptableSecret
from dashboard.models import Role
from dashboard.ownership import record_owner
from dashboard.records import NANO, ContainerRecord
from dashboard.specs import ContainerSpec
from registry_app import buildctx, jobs, refs, rules
from registry_app.models import DOCKER_HUB_URL, Credential, Job, Registry, split_url
from registry_app.v2client import RegistryClient, RegistryError

LOGIN_TIMEOUT = 20.0
SEARCH_TIMEOUT = 5.0
_BUILD_ARG_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Invalid(refs.InputError):
    """Bad input, told in words, with the field it concerns."""

    status = 400


class Refused(Invalid):
    """Well-formed, but this user may not do it (403), told in words with the field."""

    status = 403


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


def is_admin(user: Any) -> bool:
    return access.role_of(user) == Role.ADMIN


def usable_registries(user: Any) -> QuerySet[Registry]:
    """The registries this user may pull from and push to (loopback ones are refused later)."""
    found = Registry.objects.all()
    if is_admin(user):
        return found
    hub = [r.pk for r in found if r.is_docker_hub]
    return found.filter(pk__in=hub) | found.filter(allow_non_admins=True)


def _addresses(host: str) -> list[str]:
    """What `host` resolves to now ([] when it does not: the engine will say unreachable)."""
    name = rules.host_name(host)
    try:
        return [str(info[4][0]) for info in socket.getaddrinfo(name, None)]
    except (OSError, UnicodeError):
        return []


def registry_facts(user: Any, host: str, registry: Registry | None) -> rules.RegistryFacts:
    """What the registry rule judges of `host` ("" for Docker Hub), served by `registry`."""
    host = host or rules.DOCKER_HUB
    resolve = not is_admin(user) and host != rules.DOCKER_HUB  # admins reach any address
    return rules.RegistryFacts(
        host,
        registered=registry is not None,
        allow_non_admins=bool(registry and registry.allow_non_admins),
        addresses=tuple(_addresses(host)) if resolve else (),
    )


def check_registry_use(user: Any, host: str, registry: Registry | None, field: str) -> None:
    """Refused (403, on `field`) unless this user may reach `host` through the dashboard."""
    facts = registry_facts(user, host, registry)
    why = rules.registry_refusal(is_admin=is_admin(user), registry=facts)
    if why:
        raise Refused(why, field)


def _stored_credentials(registry: Registry) -> tuple[list[rules.CredentialFacts], dict[int, Any]]:
    rows = list(registry.credentials.all())
    facts = [rules.CredentialFacts(c.pk, c.owner_id, c.scope) for c in rows]
    return facts, {c.pk: c for c in rows}


def credential_for(
    user: Any, registry: Registry | None, purpose: rules.Purpose
) -> Credential | None:
    """The stored login this user's pull or push sends (None: anonymous), by `rules`."""
    if registry is None:
        return None
    facts, rows = _stored_credentials(registry)
    chosen = rules.pick_credential(
        user_id=getattr(user, "pk", None), is_admin=is_admin(user), purpose=purpose, stored=facts
    )
    return rows[chosen.id] if chosen else None


def credentials(
    registry: Registry | None, user: Any = None, purpose: rules.Purpose = "pull"
) -> dict[str, str] | None:
    """The engine's auth config for this user's pull or push (None: anonymous)."""
    found = credential_for(user, registry, purpose)
    if found is None:
        return None
    try:
        return found.auth_config()
    except UndecryptableSecret as exc:
        raise Invalid(str(exc), "password") from None


def store_credential(
    user: Any, registry: Registry, username: str, password: str, scope: str
) -> Credential:
    """Save `user`'s own login for `registry` (replacing theirs), encrypted."""
    check_registry_use(user, registry.host, registry, "registry")
    username = (username or "").strip()
    if not username:
        raise Invalid("Enter the username of your login.", "username")
    if not password:
        raise Invalid("Enter the password (or access token) of your login.", "password")
    if scope not in Credential.Scope.values:
        raise Invalid(f"scope must be one of {', '.join(Credential.Scope.values)}.", "scope")
    cred = Credential.objects.filter(registry=registry, owner=user).first()
    cred = cred or Credential(registry=registry, owner=user)
    cred.username, cred.scope = username, scope
    cred.set_password(password)
    cred.save()
    return cred


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


def transfer_error(text: str, host: str, verb: str, *, detailed: bool) -> str:
    """What a person is told when a pull or push through `host` failed.

    The summary never repeats what the remote end answered: a refusal must not
    turn the dashboard into a way of reading (or port-scanning) an address the
    engine can reach. Admins get the engine's text after it, bounded.
    """
    low = text.lower()
    found = re.search(r"\b(401|403|404|405|429|500|502|503|504)\b", low)
    if "server gave http response to https client" in low:
        summary = f"TLS problem: {host} speaks plain HTTP but the engine expects HTTPS"
    elif "x509" in low or "certificate" in low or "tls" in low:
        summary = f"TLS problem: the engine does not trust the certificate of {host}"
    elif any(w in low for w in ("unauthorized", "authentication required", "no basic auth")) or (
        re.search(r"\b401\b", low)
    ):
        summary = f"the registry refused the {verb} (401): log in with credentials of yours"
    elif "denied" in low or "forbidden" in low:
        summary = f"the registry refused the {verb} (403): this login may not do it"
    elif "manifest unknown" in low or "not found" in low or "does not exist" in low:
        summary = f"the registry has no such image (404) at {host}"
    elif "connection refused" in low:
        summary = f"{host} is unreachable (connection refused)"
    elif "no such host" in low or "server misbehaving" in low:
        summary = f"{host} is unreachable (the name does not resolve)"
    elif "timeout" in low or "timed out" in low or "deadline exceeded" in low:
        summary = f"{host} is unreachable (no answer in time)"
    elif "no route to host" in low or "network is unreachable" in low:
        summary = f"{host} is unreachable (no network route)"
    elif found:
        summary = f"the {verb} through {host} failed: it answered {found.group(1)}"
    elif "error parsing http" in low or "invalid character" in low:
        summary = f"the {verb} through {host} failed: it did not answer as a registry"
    else:
        summary = f"the {verb} through {host} failed"
    summary = summary[0].upper() + summary[1:] + "."
    if detailed:
        return f"{summary} The engine said: {rules.bounded(text)}"
    return summary


def test_connection(registry: Registry) -> Outcome:
    """Log in through the engine with the stored credentials and say how it went."""
    server = DOCKER_HUB_URL if registry.is_docker_hub else registry.host
    own = registry.own_credential()
    if own is None:
        try:
            RegistryClient.for_registry(registry, None).ping()
        except RegistryError as exc:
            return Outcome(False, exc.message)
        return Outcome(True, f"{registry.host} answers and allows anonymous access.")
    try:
        password = own.get_password()
    except UndecryptableSecret as exc:
        return Outcome(False, str(exc))
    try:
        answer = registry_login(own.username, password, server, timeout=LOGIN_TIMEOUT)
    except EngineUnavailable:
        raise
    except EngineError as exc:
        return Outcome(False, explain_registry_error(exc.message, registry.host))
    status = str(answer.get("Status") or "Login Succeeded")
    return Outcome(True, f"{status}: {own.username} may log in to {registry.host}.")


# ---------------------------------------------------------------- Docker Hub search


def search_hub(term: str, limit: int = 25) -> list[dict[str, Any]]:
    """Docker Hub search through the engine; Invalid with the reason when it cannot answer."""
    term = term.strip()
    if not term:
        raise Invalid("Enter a search term.", "q")
    try:
        rows = search_images(term, limit=limit, timeout=SEARCH_TIMEOUT)
    except NoAnswerInTime:
        raise Invalid(
            f"Docker Hub gave no answer within {SEARCH_TIMEOUT:g} s: this host has no internet "
            "access (or Docker Hub is very slow).",
            "q",
        ) from None
    except EngineUnavailable:
        raise
    except EngineError as exc:
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


@dataclass(frozen=True)
class Transfer:
    """What a pull or push moves: the full reference, through which registry, from where."""

    ref: Reference  # a pull: what is pulled; a push: the name:tag pushed
    registry: Registry | None  # None: a registry nobody registered (admins only reach it)
    source: str = ""  # a push: the local image


def pull_target(image: str, registry_id: Any = None) -> Transfer:
    """The full reference to pull and the registry it comes through (Invalid when unknown)."""
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
    return Transfer(ref, registry)


def push_target(source: str, registry_id: Any, repository: str, tag: str) -> Transfer:
    """The name:tag a push of local image `source` makes, and its registry; Invalid if bad."""
    registry = registry_by_id(registry_id)
    repository = refs.check_repository((repository or "").strip())
    tag = refs.check_tag((tag or "").strip())
    if not (source or "").strip():
        raise Invalid("Pick a local image to push.", "image")
    domain = "" if registry.is_docker_hub else registry.host
    return Transfer(Reference(domain, repository, tag), registry, source.strip())


def _told(
    stream: Iterator[dict[str, Any]], host: str, verb: str, detailed: bool
) -> Iterator[dict[str, Any]]:
    """The engine's messages, its errors replaced by what `transfer_error` tells this user."""
    try:
        for msg in stream:
            if "error" in msg:
                detail = msg.get("errorDetail") or {}
                raw = str(detail.get("message") or msg["error"])
                told = transfer_error(raw, host, verb, detailed=detailed)
                msg = {"error": told, "errorDetail": {"message": told}}
            yield msg
    except EngineUnavailable:
        raise
    except EngineError as exc:
        raise jobs.JobFailed(transfer_error(exc.message, host, verb, detailed=detailed)) from None


def _transfer(
    start: Callable[[], Iterator[dict[str, Any]]], host: str, verb: str, detailed: bool
) -> Iterator[dict[str, Any]]:
    try:
        stream = start()
    except EngineUnavailable:
        raise
    except EngineError as exc:
        raise jobs.JobFailed(transfer_error(exc.message, host, verb, detailed=detailed)) from None
    return _told(stream, host, verb, detailed)


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
    """Pull `image` as a job, through the gate (audited, refusals included)."""
    done = gate.perform(request, "image.pull", image, registry=registry_id)
    return done.result  # type: ignore[no-any-return]


def push(request: Any, source: str, registry_id: Any, repository: str, tag: str) -> Job:
    """Tag and push `source` as a job, through the gate (audited, refusals included)."""
    done = gate.perform(
        request, "image.push", source, registry=registry_id, repository=repository, tag=tag
    )
    return done.result  # type: ignore[no-any-return]


def build(
    request: Any, *, tag: str, context: io.BytesIO, build_args: dict[str, str], dockerfile: str
) -> Job:
    """Build `tag` as a job, through the gate: the tag rule, the quotas, one audit row."""
    done = gate.perform(
        request,
        "image.build",
        tag,
        context=context,
        build_args=build_args,
        dockerfile=dockerfile,
    )
    return done.result  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the gate's rows


def _start(
    change: Change, job: Job, body: jobs.JobBody, cleanup: jobs.JobFinally | None = None
) -> Job:
    """Run `body` as `job`. The action's audit row names the job and is written when the job
    ends, with its outcome: a failed pull is audited as failed, with the reason it was told.
    The row is kept on the job meanwhile, for the process that finds it cut short."""
    change.audit["target_id"] = f"job {job.pk}"

    def keep(row: dict[str, Any]) -> None:
        Job.objects.filter(pk=job.pk).update(audit_row=row)

    ended = written_when_done(change.audit, keep)
    jobs.start(job, _closing_db(body), cleanup, ended)
    return job


def _new_job(change: Change, target: str, **fields: Any) -> Job:
    """The job row of `change` (kind, registry, source in `fields`), running from now."""
    user = change.user
    return Job.objects.create(user=user, username=user.get_username(), target=target, **fields)


def _image_made(
    stream: Iterator[dict[str, Any]], emit: Any, ref: str, username: str
) -> dict[str, str]:
    """Hand the engine's messages on; the image `ref` names at the end is `username`'s."""
    jobs.drain(stream, emit)
    summary = image_summary(ref)
    record_owner(summary["id"], ref, username)
    return {"image_id": summary["id"]}


def _transfer_target(user: Any, ref: str, name: str, transfer: Transfer) -> gate.Target:
    return gate.Target("image", ref, name=name, owner=user.get_username(), record=transfer)


# pull: the finder resolves the reference and its registry, the policy judges them


def _find_pull(user: Any, image: str, params: Mapping[str, Any]) -> gate.Target:
    transfer = pull_target(image, params.get("registry"))
    return _transfer_target(user, image, str(transfer.ref), transfer)


def _policy_pull(change: Change) -> None:
    transfer: Transfer = change.target.record
    check_registry_use(change.user, transfer.ref.domain, transfer.registry, "image")


def _run_pull(change: Change) -> Job:
    user, transfer = change.user, change.target.record
    ref, registry = transfer.ref, transfer.registry
    auth = credentials(registry, user, "pull")
    host, detailed = ref.domain or rules.DOCKER_HUB, is_admin(user)
    job = _new_job(change, str(ref), kind=Job.Kind.PULL, registry=registry)

    def body(emit: Any) -> dict[str, str]:
        stream = _transfer(
            lambda: pull_stream(ref.name, ref.digest or ref.tag, auth),
            host,
            "pull",
            detailed,
        )
        return _image_made(stream, emit, str(ref), job.username)

    return _start(change, job, body)


# push: the finder reads the target name and registry, the policy judges who may push there


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


def _find_push(user: Any, source: str, params: Mapping[str, Any]) -> gate.Target:
    transfer = push_target(source, params["registry"], params["repository"], params["tag"])
    return _transfer_target(user, source, transfer.source, transfer)


def _policy_push(change: Change) -> None:
    user, transfer = change.user, change.target.record
    registry: Registry = transfer.registry
    check_push_allowed(user, transfer.ref.repository)
    check_registry_use(user, registry.host, registry, "registry")
    facts, _ = _stored_credentials(registry)
    why = rules.push_refusal(user_id=user.pk, is_admin=is_admin(user), stored=facts)
    if why:
        raise Refused(why, "registry")


def _run_push(change: Change) -> Job:
    user, transfer = change.user, change.target.record
    registry: Registry = transfer.registry
    name, tag, target = transfer.ref.name, transfer.ref.tag, str(transfer.ref)
    try:
        image = image_summary(transfer.source)
    except NotFound:
        raise Invalid(f"There is no local image {transfer.source!r}.", "image") from None
    auth = credentials(registry, user, "push")
    detailed = is_admin(user)
    try:
        previous: str | None = image_summary(target)["id"]
    except NotFound:
        previous = None
    job = _new_job(change, target, kind=Job.Kind.PUSH, registry=registry, source=transfer.source)

    def body(emit: Any) -> dict[str, str]:
        if previous != image["id"]:
            tag_image(image["id"], name, tag)
            emit({"status": f"Tagged {image['id'][:19]} as {target}"})
        stream = _transfer(lambda: push_stream(name, tag, auth), registry.host, "push", detailed)
        return _image_made(stream, emit, target, job.username)

    def cleanup(job: Job, succeeded: bool) -> None:
        # A failed push leaves no tag behind that we made (and puts back one we moved).
        if succeeded or previous == image["id"]:
            return
        try:
            if previous is None:
                untag_image(target)
            else:
                tag_image(previous, name, tag)
        except NotFound:
            pass

    return _start(change, job, body, cleanup)


# build: the finder reads what the Dockerfile fetches, the policy judges it like pulls


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


def build_limits_for(user: Any) -> dict[str, Any]:
    """The engine's build parameters bounding every RUN step by `user`'s limits."""
    if is_admin(user):
        return {}
    limits = quotas.limits_for(user)
    return rules.build_limits(
        is_admin=False,
        memory=limits.memory_per_container,
        cpus=limits.cpus_per_container,
        host_cpus=int(engine_overview(disk_usage=False).get("cpus") or 0),
    )


@dataclass(frozen=True)
class BuildPlan:
    """What a build makes (the full tag), fetches (each FROM line's image, each ADD the
    engine would download) and labels."""

    tag: str
    bases: list[rules.BaseImage]
    downloads: list[rules.Download]
    labels: list[rules.LabelKey]


def _find_build(user: Any, tag: str, params: Mapping[str, Any]) -> gate.Target:
    ref = refs.parse(tag, field="tag")
    if ref.digest:
        raise Invalid("A build tag cannot carry a digest.", "tag")
    dockerfile = buildctx.dockerfile_text(params["context"], params["dockerfile"])
    plan = BuildPlan(
        str(ref),
        rules.base_images(dockerfile, params["build_args"]),
        rules.downloads(dockerfile),
        rules.label_keys(dockerfile),
    )
    return gate.Target("image", tag, name=plan.tag, owner=user.get_username(), record=plan)


def _policy_build(change: Change) -> None:
    user, plan = change.user, change.target.record
    hosts = {base.host for base in plan.bases if base.host}
    registries = {host: registry_facts(user, host, registry_for_host(host)) for host in hosts}
    why = rules.build_refusal(
        is_admin=is_admin(user),
        bases=plan.bases,
        downloads=plan.downloads,
        labels=plan.labels,
        registries=registries,
    )
    if why:
        raise Refused(why, "dockerfile")
    try:
        # The new image has no id yet: any image the tag names now counts as another.
        policy.check_tag_move(user, plan.tag, gate.image_lookup(plan.tag), "")
    except PermissionDenied as exc:
        raise Refused(str(exc), "tag") from None


def _build_record(owner: str, job_id: int, target: str, limits: quotas.Limits) -> ContainerRecord:
    """A running build, as the quotas count it: a container with the owner's limits."""
    return ContainerRecord(
        id=f"build-{job_id}",
        name=f"the build of {target}",
        state="running",
        spec=ContainerSpec(image=target, labels={access.OWNER_LABEL: owner}),
        memory=limits.memory_per_container or 0,
        nano_cpus=round((limits.cpus_per_container or 0) * NANO),
        pids_limit=limits.pids_per_container,
    )


def running_builds(owner: str) -> list[ContainerRecord]:
    """The builds of `owner` that run now: each counts as a running container."""
    running = Job.objects.filter(kind=Job.Kind.BUILD, state=Job.State.RUNNING, username=owner)
    user = running[0].user if running else None
    limits = quotas.limits_for(user) if user is not None else quotas.Limits()
    return [_build_record(owner, job.pk, job.target, limits) for job in running]


def _quota_build(change: Change) -> None:
    limits = quotas.limits_for(change.user)
    if limits.unlimited:
        return
    owner = change.user.get_username()
    record = _build_record(owner, 0, change.target.record.tag, limits)
    quotas.check_start(limits, record, gate.usage_of(owner))


def _run_build(change: Change) -> Job:
    user, p, tag = change.user, change.params, change.target.record.tag
    limits = build_limits_for(user)
    job = _new_job(change, tag, kind=Job.Kind.BUILD)
    labels = owner_labels(user)

    def body(emit: Any) -> dict[str, str]:
        stream = build_stream(
            p["context"],
            tag=tag,
            buildargs=p["build_args"],
            labels=labels,
            dockerfile=p["dockerfile"],
            **limits,
        )
        return _image_made(stream, emit, tag, job.username)

    return _start(change, job, body)


def _describe_transfer(params: Any) -> dict[str, Any]:
    described = {"registry": _registry_label(params.get("registry"))}
    return {**described, **{k: params[k] for k in ("repository", "tag") if k in params}}


for _action in (
    Action(
        "image.pull",
        "image",
        Perm.CREATE,
        _find_pull,
        _run_pull,
        policy=_policy_pull,
        describe=_describe_transfer,
    ),
    Action(
        "image.push",
        "image",
        Perm.CREATE,
        _find_push,
        _run_push,  # names a missing local image as bad input
        policy=_policy_push,
        describe=_describe_transfer,
    ),
    Action(
        "image.build",
        "image",
        Perm.CREATE,
        _find_build,
        _run_build,
        policy=_policy_build,
        quota=_quota_build,
        describe=lambda p: {"build_args": sorted(p["build_args"]), "dockerfile": p["dockerfile"]},
    ),
):
    gate.register(_action)
gate.count_in_usage(running_builds)
