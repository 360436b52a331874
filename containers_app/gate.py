"""The one door every change passes: pages, the API, websockets, bulk actions and jobs.

`perform(actor, "container.start", ref)` runs, in this order and for every action:

1. find the target for this user: a missing object and one the user may not see
   get the same 404 (`NotVisible`);
2. permission (dashboard.access);
3. policy (dashboard.policy), with the facts gathered here from the engine;
4. quota, under the owner's lock (dashboard.quotas.serialized), with the usage
   gathered here; the engine call runs inside the same lock;
5. the engine call;
6. one audit row, whether it was done or refused (dashboard.audit).

An action is a row of `ACTIONS`, not a code path: adding one means naming its
target kind, permission, rule, quota and engine call. `check()` runs steps
1-3 alone, for previews. The rules take the facts as arguments; this module
is where they are fetched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model

from containers_app import engines, sessions, translate
from containers_app.engine import client as engine_client
from containers_app.engine.containers import (
    act_on_container,
    create_container,
    inspect_container,
    inspect_labelled_containers,
    list_containers,
    remove_container,
    rename_container,
)
from containers_app.engine.errors import Conflict, EngineError, EngineUnavailable, NotFound
from containers_app.engine.images import inspect_image, prune_images, remove_image, tag_image
from containers_app.engine.networks import (
    connect_network,
    create_network,
    disconnect_network,
    inspect_network,
    list_networks,
    prune_networks,
    remove_network,
)
from containers_app.engine.swarm import (
    create_service,
    inspect_node,
    inspect_service,
    owned_services,
    remove_service,
    scale_service,
    set_node_availability,
)
from containers_app.engine.volumes import (
    create_volume,
    inspect_volume,
    list_volumes,
    prune_volumes,
    remove_volume,
)
from containers_app.models import Engine
from containers_app.terminal import ExecSession
from containers_app.translate import PREDEFINED_NETWORKS
from dashboard import access, ownership, policy, quotas
from dashboard.access import OWNER_LABEL, Perm
from dashboard.audit import audited
from dashboard.records import (
    ContainerRecord,
    ImageRecord,
    NetworkRecord,
    VolumeRecord,
)
from dashboard.refusals import Invalid, NotVisible, QuotaExceeded, Refusal
from dashboard.specs import ContainerSpec


@dataclass(frozen=True)
class Target:
    """What an action is done to: an object on the engine, a new one, or the whole host."""

    kind: str
    ref: str
    id: str = ""
    name: str = ""
    owner: str | None = None
    shared: bool = False
    record: Any = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)  # to show, not to judge


@dataclass
class Change:
    """One action under way: who, to what, with which parameters; `audit` adds to its row."""

    user: Any
    target: Target
    params: Mapping[str, Any]
    audit: dict[str, Any] = field(default_factory=dict)
    other: Target | None = None  # a second object the action changes (connect: the container)

    @property
    def owner(self) -> Any:
        """Whose change it is: whose policy and quotas judge it, whose a new object becomes.
        The acting user, unless the action is done for another (see `for_owner`)."""
        return self.params.get(FOR_USER) or self.user


@dataclass(frozen=True)
class Done:
    """What `perform` did: to which target, and what the engine call answered."""

    target: Target
    result: Any = None


FOR_USER = "for_user"  # the params key of the user an action is done for (`for_owner`)
Finder = Callable[[Any, str, Mapping[str, Any]], Target]
Step = Callable[[Change], Any]


@dataclass(frozen=True)
class Action:
    name: str  # the audit row's action
    kind: str  # what the target is: container, image, network, volume
    perm: Perm
    find: Finder
    run: Step
    policy: Step | None = None
    quota: Step | None = None  # runs with the engine call, under the owner's lock
    describe: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None  # audit params


# ---------------------------------------------------------------- facts from the engine


def network_lookup(ref: str) -> NetworkRecord | None:
    try:
        return translate.network_record(inspect_network(ref))
    except NotFound:
        return None


def volume_lookup(name: str) -> VolumeRecord | None:
    try:
        return translate.volume_record(inspect_volume(name))
    except NotFound:
        return None


def image_lookup(ref: str) -> ImageRecord | None:
    try:
        return _image_record(inspect_image(ref))
    except NotFound:
        return None


def _image_record(attrs: Mapping[str, Any]) -> ImageRecord:
    # An image's owner: its owner label (built here), else the one user who pulled or
    # built it here. An image several users brought in belongs to nobody but admins.
    record = translate.image_record(attrs)
    if record.owner is None:
        owner = ownership.sole_owners([record.id]).get(record.id)
        if owner is not None:
            record = dataclasses.replace(record, owner=owner)
    return record


# What else runs for an owner besides their containers (registry_app's builds): each
# source answers records that count as running containers in the quotas.
USAGE_SOURCES: list[Callable[[str], list[ContainerRecord]]] = []


def count_in_usage(source: Callable[[str], list[ContainerRecord]]) -> None:
    """Count what `source(owner)` answers in every quota check (an app above adds its own)."""
    USAGE_SOURCES.append(source)


def usage_of(owner: str, *, leaving_out: str = "") -> quotas.Usage:
    """What `owner` holds now on all engines together (without container `leaving_out`):
    a quota is theirs on every engine at once."""
    label = f"{OWNER_LABEL}={owner}"
    here = engine_client.address().name
    containers: list[ContainerRecord] = []
    volumes = networks = 0
    for engine in engines.each():
        try:
            records = [translate.container_record(a) for a in inspect_labelled_containers(label)]
            # A service counts as its replicas (wherever its tasks run), not by the
            # containers of its tasks this engine happens to hold.
            records += [r for s in owned_services(label) for r in translate.service_containers(s)]
            containers += [
                r
                for r in records
                if r.id != leaving_out and translate.TASK_SERVICE_LABEL not in r.labels
            ]
            volumes += sum(access.owner_of(v.get("Labels")) == owner for v in list_volumes())
            networks += sum(access.owner_of(n.get("Labels")) == owner for n in list_networks())
        except EngineUnavailable as exc:
            if engine.name == here:
                raise
            raise QuotaExceeded(
                "engine",
                f"What {owner} holds on engine {engine.name} cannot be counted now "
                f"({exc.reason}); quotas hold on all engines together, so this has to "
                "wait until that engine answers.",
            ) from exc
    containers += [record for source in USAGE_SOURCES for record in source(owner)]
    return quotas.usage_from(containers, volumes=volumes, networks=networks)


def _missing_volumes(spec: ContainerSpec) -> list[str]:
    return [
        m.source
        for m in spec.mounts
        if m.kind == "volume" and m.source and volume_lookup(m.source) is None
    ]


# ---------------------------------------------------------------- finding targets


def find_container(user: Any, ref: str, params: Mapping[str, Any] | None = None) -> Target:
    try:
        raw = inspect_container(ref)
    except NotFound:
        raise access.not_found("container", ref) from None
    record = translate.container_record(raw)
    return Target("container", ref, record.id, record.name, record.owner, record=record, raw=raw)


def find_image(user: Any, ref: str, params: Mapping[str, Any] | None = None) -> Target:
    try:
        raw = inspect_image(ref)
    except NotFound:
        raise access.not_found("image", ref) from None
    record = _image_record(raw)
    return Target("image", ref, record.id, ref, record.owner, True, record, raw)


def find_network(user: Any, ref: str, params: Mapping[str, Any] | None = None) -> Target:
    try:
        raw = inspect_network(ref)
    except NotFound:
        raise access.not_found("network", ref) from None
    record = translate.network_record(raw)
    predefined = record.name in PREDEFINED_NETWORKS
    return Target("network", ref, record.id, record.name, record.owner, predefined, record, raw)


def find_volume(user: Any, ref: str, params: Mapping[str, Any] | None = None) -> Target:
    try:
        raw = inspect_volume(ref)
    except NotFound:
        raise access.not_found("volume", ref) from None
    record = translate.volume_record(raw)
    return Target("volume", ref, record.name, record.name, record.owner, record=record, raw=raw)


def find_node(user: Any, ref: str, params: Mapping[str, Any] | None = None) -> Target:
    try:
        raw = inspect_node(ref)
    except NotFound:
        raise access.not_found("node", ref) from None
    record = translate.node_record(raw)
    return Target("node", ref, record.id, record.hostname, None, record=record, raw=raw)


def find_service(user: Any, ref: str, params: Mapping[str, Any] | None = None) -> Target:
    try:
        raw = inspect_service(ref)
    except NotFound:
        raise access.not_found("service", ref) from None
    record = translate.service_record(raw)
    return Target("service", ref, record.id, record.name, record.owner, record=record, raw=raw)


def find_engine(user: Any, ref: str, params: Mapping[str, Any] | None = None) -> Target:
    engine = engines.named(ref)
    if engine is None:
        raise access.not_found("engine", ref)
    # The school's, shared: everyone sees it; only admins change it (it has no owner).
    return Target("engine", ref, engine.name, engine.name, None, shared=True, record=engine)


def _new_engine(user: Any, ref: str, params: Mapping[str, Any]) -> Target:
    return Target("engine", ref, ref, ref, None, shared=True)


FINDERS: dict[str, Finder] = {
    "container": find_container,
    "image": find_image,
    "network": find_network,
    "volume": find_volume,
    "node": find_node,
    "service": find_service,
    "engine": find_engine,
}


def visible(user: Any, kind: str, ref: str) -> Target:
    """Object `ref` of `kind`, if `user` may see it (reads ask here too): else NotVisible."""
    target = FINDERS[kind](user, ref, {})
    access.require(user, Perm.VIEW, target.owner, shared=target.shared, what=kind, ref=ref)
    return target


def new_object(kind: str) -> Finder:
    """A target that does not exist yet: it will be the acting user's."""

    def find(user: Any, ref: str, params: Mapping[str, Any]) -> Target:
        return Target(kind, ref, name=ref, owner=user.get_username())

    return find


def _new_from_spec(kind: str) -> Finder:
    """A new container (or service) of `params["spec"]`, as it will be made for the user."""

    def find(user: Any, ref: str, params: Mapping[str, Any]) -> Target:
        spec = owned_spec(user, params["spec"])
        return Target(kind, spec.name, name=spec.name, owner=user.get_username(), record=spec)

    return find


def _host(kind: str) -> Finder:
    """Every object of `kind` on the host, of every owner (prune)."""

    def find(user: Any, ref: str, params: Mapping[str, Any]) -> Target:
        return Target(kind, ref, shared=True)

    return find


def owned_spec(user: Any, spec: ContainerSpec) -> ContainerSpec:
    """`spec` as it will be created for `user`: their owner label, their quota's default limits."""
    access.require_global(user, Perm.CREATE)
    spec = dataclasses.replace(spec, labels={**spec.labels, **access.owner_labels(user)})
    return quotas.apply_defaults(user, spec)


# ---------------------------------------------------------------- containers


def _policy_create(change: Change) -> None:
    spec: ContainerSpec = change.target.record
    policy.check_create(change.owner, spec, networks=network_lookup, volumes=volume_lookup)
    allowed = getattr(change.owner, "allowed_images", None)
    if allowed is not None and not policy.is_exempt(change.owner):
        policy.check_image_allowed(
            change.owner, spec.image, _built_image(spec.image), _image_ids(allowed)
        )


def _built_image(ref: str) -> ImageRecord | None:
    """The image `ref` names, owned by whoever built it here (its owner label) or nobody."""
    try:
        return translate.image_record(inspect_image(ref))
    except NotFound:
        return None


def _image_ids(refs: Iterable[str]) -> frozenset[str]:
    """The references of an allow-list and the ids of the images they name here now."""
    found = (image_lookup(ref) for ref in refs)
    return frozenset(refs) | {record.id for record in found if record is not None}


def _quota_create(change: Change) -> None:
    spec = change.target.record
    limits = quotas.limits_for(change.owner)
    if limits.unlimited:
        return
    usage = usage_of(change.owner.get_username())
    quotas.check_create(limits, spec, usage)
    quotas.check_new_objects(limits, usage, volumes=len(_missing_volumes(spec)))


def _create(change: Change) -> str:
    spec: ContainerSpec = change.target.record
    made = []
    try:
        # The engine would create a missing named volume without an owner; create it
        # first with the user's label so it is theirs (and counted).
        for name in _missing_volumes(spec):
            create_volume(name, labels=access.owner_labels(change.owner))
            made.append(name)
        container_id = create_container(spec)
    except EngineError as exc:
        for name in made:  # a refused create leaves nothing behind
            remove_volume(name)
        if isinstance(exc, Conflict) and "is already in use by container" in exc.message:
            # The engine names the container holding the name: it may be another user's.
            raise Conflict(
                f"The name {spec.name} is already in use by another container; pick another."
            ) from None
        raise
    change.audit["target_id"] = container_id
    return container_id


def _policy_start(change: Change) -> None:
    policy.check_start(change.user, change.target.record)


def _quota_start(change: Change) -> None:
    _judge_start(change.user, change.target.record)


def _judge_start(user: Any, record: ContainerRecord) -> None:
    """The owner's quota counts, whoever starts it; admins starting anything are not refused."""
    if record.state == "running" or policy.is_exempt(user) or record.owner is None:
        return  # a running container stays in its owner's usage: nothing to add
    if record.owner == user.get_username():
        owner = user
    else:
        owner = get_user_model().objects.filter(username=record.owner).first()
    if owner is None:
        return  # its owner is gone: nobody's quota to count it in
    limits = quotas.limits_for(owner)
    if not limits.unlimited:
        quotas.check_start(limits, record, usage_of(record.owner, leaving_out=record.id))


def _engine_action(action: str) -> Step:
    def act(change: Change) -> None:
        act_on_container(action, change.target.id)

    return act


def _remove_container(change: Change) -> None:
    remove_container(
        change.target.id, force=change.params["force"], volumes=change.params["volumes"]
    )


def _rename(change: Change) -> None:
    rename_container(change.target.id, change.params["new_name"])


def _policy_exec(change: Change) -> None:
    policy.check_exec(
        change.user,
        change.target.record,
        volumes=volume_lookup,
        privileged=bool(change.params.get("privileged")),
    )


def _exec(change: Change) -> ExecSession:
    p = change.params
    session = ExecSession(change.target.id, p["shell"], cols=p["cols"], rows=p["rows"])
    session.open()
    change.audit["params"] = {"shell": p["shell"], "exec_id": session.exec_id}
    return session


def find_session(user: Any, key: str, params: Mapping[str, Any] | None = None) -> Target:
    """The container of open terminal session `key`: who may watch it is decided by its owner."""
    session = sessions.get(key)
    if session is None:
        raise access.not_found("terminal session", key)
    found = find_container(user, session.container_id)
    return dataclasses.replace(found, ref=key, raw={})


def _session(change: Change) -> sessions.OpenSession:
    session = sessions.get(change.target.ref)
    if session is None:  # it ended between finding it and now
        raise access.not_found("terminal session", change.target.ref)
    change.audit["params"] = {
        **change.audit.get("params", {}),
        "exec_id": session.exec_id,
        "opened_by": session.opened_by,
    }
    return session


def _watch_action(name: str, policy: Step | None = None) -> Action:
    """Watching a terminal session, or typing into it: a shell's powers over the container."""
    return Action(
        name, "container", Perm.EXEC, find_session, _session, policy=policy, describe=lambda p: {}
    )


# ---------------------------------------------------------------- images


def _policy_tag(change: Change) -> None:
    access.require_global(change.user, Perm.CREATE)
    name = f"{change.params['repository']}:{change.params['tag']}"
    policy.check_tag_move(change.user, name, image_lookup(name), change.target.id)


def _tag(change: Change) -> None:
    tag_image(change.target.id, change.params["repository"], change.params["tag"])


def _remove_image(change: Change) -> list[dict[str, str]]:
    return remove_image(change.target.ref, force=change.params["force"])


def _pruned(prune: Callable[..., dict[str, Any]]) -> Step:
    def run(change: Change) -> dict[str, Any]:
        result = prune(label=change.params.get("label", ""))
        change.audit["params"] = {
            "label": change.params.get("label", ""),
            "reclaimed": result.get("SpaceReclaimed", 0),
        }
        return result

    return run


# ---------------------------------------------------------------- networks


def _policy_network_create(change: Change) -> None:
    policy.check_network_create(change.owner, change.params.get("driver") or "bridge", {})


def _create_network(change: Change) -> str:
    name, p = change.target.name, change.params
    # The engine allows two networks of one name; the second would make the name of
    # the first (perhaps another user's) ambiguous wherever it is used.
    if any(n.get("Name") == name for n in list_networks()):
        raise Conflict(f"A network named {name} already exists; pick another name.")
    network_id = create_network(
        name,
        driver=p.get("driver") or "bridge",
        subnet=p.get("subnet", ""),
        gateway=p.get("gateway", ""),
        internal=p.get("internal", False),
        labels={**(p.get("labels") or {}), **access.owner_labels(change.owner)},
    )
    change.audit["target_id"] = network_id
    return network_id


def _remove_network(change: Change) -> str:
    record: NetworkRecord = change.target.record
    if record.name in PREDEFINED_NETWORKS:
        raise Conflict(
            f"{record.name} is one of the engine's predefined networks (bridge, host, none); "
            "Docker needs them and refuses to remove them."
        )
    if record.containers:
        raise Conflict(
            f"Network {record.name} still has containers attached "
            f"({', '.join(sorted(record.containers.values()))}); disconnect or remove them first."
        )
    remove_network(record.id)
    return record.name


def _find_connected(change: Change) -> None:
    """The container a connect or disconnect changes, so it is what the user must control."""
    ref = change.params["container"]
    container = find_container(change.user, ref)
    access.require(change.user, Perm.CONTROL, container.owner, what="container", ref=ref)
    change.other = container
    change.audit["params"] = {
        "container": container.name,
        "aliases": list(change.params.get("aliases") or []),
    }


def _connected(change: Change) -> Target:
    assert change.other is not None, "the policy step finds the container"
    return change.other


def _policy_connect(change: Change) -> None:
    _find_connected(change)
    policy.check_network_connect(change.user, change.target.record, _connected(change).record)


def _connect(change: Change) -> str:
    container = _connected(change)
    connect_network(change.target.id, container.id, aliases=change.params.get("aliases"))
    return container.name


def _disconnect(change: Change) -> str:
    container = _connected(change)
    disconnect_network(change.target.id, container.id)
    return container.name


# ---------------------------------------------------------------- volumes


def _policy_volume_create(change: Change) -> None:
    policy.check_volume_create(change.owner, "local", {})


def _quota_one_more(kind: str) -> Step:
    """The quota of a create that adds one `kind` ("volumes", "networks") to its owner's."""

    def check(change: Change) -> None:
        limits = quotas.limits_for(change.owner)
        if getattr(limits, f"max_{kind}") is not None:
            usage = usage_of(change.owner.get_username())
            quotas.check_new_objects(limits, usage, **{kind: 1})

    return check


def _create_volume(change: Change) -> str:
    name = change.target.name
    # The engine answers a create of an existing name with that volume, whoever owns it.
    if name and volume_lookup(name) is not None:
        raise Conflict(f"A volume named {name} already exists; pick another name.")
    labels = {**(change.params.get("labels") or {}), **access.owner_labels(change.owner)}
    made = create_volume(name, labels=labels)
    change.audit["target_id"] = change.audit["target_name"] = made["Name"]
    return str(made["Name"])


def _remove_volume(change: Change) -> None:
    name = change.target.name
    users = [
        translate.container_row(raw)
        for raw in list_containers(all=True)
        if name in translate.volume_names(raw)
    ]
    if users:
        # Name only the containers this user may see; count the others.
        seen = sorted(r["name"] for r in access.visible(change.user, users, lambda r: r["labels"]))
        hidden = len(users) - len(seen)
        who = ", ".join([*seen, *([f"{hidden} other containers"] if hidden else [])])
        raise Conflict(f"Volume {name} is in use by {who}; remove those containers first.")
    remove_volume(name)


# ---------------------------------------------------------------- services


def _create_service(change: Change) -> str:
    service_id = create_service(change.target.record)
    change.audit["target_id"] = service_id
    return service_id


def _quota_service_start(change: Change) -> None:
    """A service scaled up from none is judged as a container started: its owner's quota."""
    _judge_start(change.user, translate.service_containers(change.target.raw)[0])


def _scale(replicas: int) -> Step:
    def run(change: Change) -> None:
        scale_service(change.target.id, replicas)

    return run


def _remove_service(change: Change) -> None:
    remove_service(change.target.id)


# ---------------------------------------------------------------- the table


def _node_availability(availability: str) -> Step:
    def run(change: Change) -> str:
        set_node_availability(change.target.id, availability)
        return availability

    return run


def _policy_engine_add(change: Change) -> None:
    name = change.target.id
    if not engines.NAME.fullmatch(name):
        raise Invalid(f"Engine name {name!r}: letters, digits, - and _ only (at most 40)", "name")
    if engines.named(name) is not None:
        raise Conflict(f"An engine named {name} exists already; pick another name.")
    engines.check_fields(change.params["fields"])


def _policy_engine_change(change: Change) -> None:
    if change.target.record.pk is None:
        raise Conflict(
            f"Engine {change.target.name} is the configured one (DOCKDASH_DOCKER_HOST): "
            "change it where the dashboard is configured."
        )
    if "fields" in change.params:
        engines.check_fields(change.params["fields"])


def _add_engine(change: Change) -> str:
    engine = engines.fill(Engine(name=change.target.id), change.params["fields"])
    engine.save()
    return engine.name


def _change_engine(change: Change) -> str:
    engine: Engine = change.target.record
    engines.fill(engine, change.params["fields"]).save()
    return engine.name


def _remove_engine(change: Change) -> None:
    change.target.record.delete()


def _engine_fields(params: Mapping[str, Any]) -> dict[str, Any]:
    """An engine change's audit params: never its key."""
    fields = params["fields"]
    return {"endpoint": fields.endpoint, "tls": bool(fields.client_cert), "agent": fields.agent}


def _start_like(name: str, action: str) -> Action:
    """Actions that may take a container to running: the start policy and quotas judge them."""
    return Action(
        name,
        "container",
        Perm.CONTROL,
        find_container,
        _engine_action(action),
        policy=_policy_start,
        quota=_quota_start,
    )


def _create_like(name: str, kind: str, run: Step) -> Action:
    """Actions that make a container (or a service of one) from a spec: the create policy
    and quotas judge them."""
    return Action(
        name,
        kind,
        Perm.CREATE,
        _new_from_spec(kind),
        run,
        policy=_policy_create,
        quota=_quota_create,
        describe=lambda p: {"image": p["spec"].image, "start": p["spec"].start},
    )


def _control(name: str, action: str) -> Action:
    return Action(name, "container", Perm.CONTROL, find_container, _engine_action(action))


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        _create_like("container.create", "container", _create),
        _start_like("container.start", "start"),
        _start_like("container.restart", "restart"),
        _start_like("container.unpause", "unpause"),
        _control("container.stop", "stop"),
        _control("container.pause", "pause"),
        _control("container.kill", "kill"),
        Action("container.rename", "container", Perm.CONTROL, find_container, _rename),
        Action("container.remove", "container", Perm.REMOVE, find_container, _remove_container),
        Action(
            "exec.start",
            "container",
            Perm.EXEC,
            find_container,
            _exec,
            policy=_policy_exec,
            describe=lambda p: {"shell": p.get("shell", "")},
        ),
        _watch_action("exec.watch"),
        _watch_action("exec.takeover", policy=_policy_exec),
        _watch_action("exec.release"),
        Action("image.tag", "image", Perm.VIEW, find_image, _tag, policy=_policy_tag),
        Action("image.remove", "image", Perm.REMOVE, find_image, _remove_image),
        Action("image.prune", "image", Perm.PRUNE, _host("image"), _pruned(prune_images)),
        Action(
            "network.create",
            "network",
            Perm.CREATE,
            new_object("network"),
            _create_network,
            policy=_policy_network_create,
            quota=_quota_one_more("networks"),
        ),
        Action("network.remove", "network", Perm.REMOVE, find_network, _remove_network),
        Action(
            "network.connect", "network", Perm.VIEW, find_network, _connect, policy=_policy_connect
        ),
        Action(
            "network.disconnect",
            "network",
            Perm.VIEW,
            find_network,
            _disconnect,
            policy=_find_connected,
        ),
        Action(
            "network.prune",
            "network",
            Perm.PRUNE,
            _host("network"),
            _pruned(prune_networks),
        ),
        Action(
            "volume.create",
            "volume",
            Perm.CREATE,
            new_object("volume"),
            _create_volume,
            policy=_policy_volume_create,
            quota=_quota_one_more("volumes"),
        ),
        Action("volume.remove", "volume", Perm.REMOVE, find_volume, _remove_volume),
        Action("volume.prune", "volume", Perm.PRUNE, _host("volume"), _pruned(prune_volumes)),
        # A lab's container as a Swarm service (one replica): judged as a container is.
        _create_like("service.create", "service", _create_service),
        Action(
            "service.start",
            "service",
            Perm.CONTROL,
            find_service,
            _scale(1),
            quota=_quota_service_start,
        ),
        Action("service.stop", "service", Perm.CONTROL, find_service, _scale(0)),
        Action("service.remove", "service", Perm.REMOVE, find_service, _remove_service),
        # A node belongs to nobody: only admins control it (its tasks move to other nodes).
        Action("node.drain", "node", Perm.CONTROL, find_node, _node_availability("drain")),
        Action("node.activate", "node", Perm.CONTROL, find_node, _node_availability("active")),
        # The engines themselves: the school's, so only admins add, change or remove one.
        Action(
            "engine.add",
            "engine",
            Perm.CONTROL,
            _new_engine,
            _add_engine,
            policy=_policy_engine_add,
            describe=_engine_fields,
        ),
        Action(
            "engine.change",
            "engine",
            Perm.CONTROL,
            find_engine,
            _change_engine,
            policy=_policy_engine_change,
            describe=_engine_fields,
        ),
        Action(
            "engine.remove",
            "engine",
            Perm.CONTROL,
            find_engine,
            _remove_engine,
            policy=_policy_engine_change,
        ),
    )
}


def register(action: Action) -> None:
    """Add an action of another app (registry_app's pull, push, build) to the table."""
    ACTIONS[action.name] = action


def for_owner(name: str, base: str) -> Action:
    """Create action `base` done by one user for another, `params[FOR_USER]`, who owns what
    it makes (an instructor making a student's lab). The actor must control that user's
    objects; that user's policy and quotas judge it, as if they had asked for it; the
    audit row names the actor."""
    made = ACTIONS[base]

    def find(user: Any, ref: str, params: Mapping[str, Any]) -> Target:
        return made.find(params[FOR_USER], ref, params)

    def describe(params: Mapping[str, Any]) -> dict[str, Any]:
        shown = {k: v for k, v in params.items() if k != FOR_USER}
        return {**_audit_params(made, shown), "owner": params[FOR_USER].get_username()}

    return dataclasses.replace(made, name=name, perm=Perm.CONTROL, find=find, describe=describe)


# ---------------------------------------------------------------- the door


def _user_of(actor: Any) -> Any:
    user = getattr(actor, "user", None)
    if user is None and hasattr(actor, "scope"):
        user = actor.scope.get("user")
    return user


def _audit_params(action: Action, params: Mapping[str, Any]) -> dict[str, Any]:
    if action.describe is not None:
        shown = action.describe(params)
    else:
        shown = {k: v for k, v in params.items() if isinstance(v, str | int | float | bool | list)}
    engine = engine_client.address()
    if engine != engine_client.configured():  # the row says which engine, where it was another
        shown["engine"] = engine.name
    return shown


@contextmanager
def _about(target: Target) -> Iterator[None]:
    """A refusal once the target is found names it (not the one that hides it: NotVisible)."""
    try:
        yield
    except Refusal as exc:
        if target.name and not exc.about and not isinstance(exc, NotVisible):
            exc.about = target.name
        raise


def _admitted(action: Action, user: Any, ref: str, params: Mapping[str, Any]) -> Change:
    """Steps 1-3: the target for this user, the permission, the policy."""
    target = action.find(user, ref, params)
    change = Change(user, target, params)
    with _about(target):
        access.require(
            user, action.perm, target.owner, shared=target.shared, what=action.kind, ref=ref
        )
        if action.policy is not None:
            action.policy(change)
    return change


def action(name: str) -> Action:
    try:
        return ACTIONS[name]
    except KeyError:
        raise NotVisible(f"No such action: {name}") from None


def check(user: Any, name: str, ref: str = "", **params: Any) -> Change:
    """Would `user` be let through to do `name`? Raises the refusal if not; changes nothing."""
    return _admitted(action(name), user, ref, params)


def perform(actor: Any, name: str, ref: str = "", **params: Any) -> Done:
    """Do action `name` to `ref` for the user of `actor` (a request or a websocket consumer)."""
    act = action(name)
    user = _user_of(actor)
    with audited(
        actor,
        act.name,
        target_kind=act.kind,
        target_id=ref,
        params=_audit_params(act, params),
    ) as audit:
        change = _admitted(act, user, ref, params)
        audit.update(target_id=change.target.id or ref, target_name=change.target.name)
        change.audit = audit
        with _about(change.target):
            if act.quota is None:
                return Done(change.target, act.run(change))
            with quotas.serialized(change.target.owner or user.get_username()):
                act.quota(change)
                return Done(change.target, act.run(change))


def perform_each(
    actor: Any, name: str, refs: Iterable[str], **params: Any
) -> list[tuple[str, Done | None, Refusal | None]]:
    """`perform` for each ref: (ref, done, None) when done, (ref, None, refusal) when not."""
    results: list[tuple[str, Done | None, Refusal | None]] = []
    for ref in refs:
        try:
            results.append((ref, perform(actor, name, ref, **params), None))
        except Refusal as exc:
            results.append((ref, None, exc))
    return results
