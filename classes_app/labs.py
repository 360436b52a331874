"""Lab templates, and each student's copy of one: its names, labels, ports and specs.

A lab's containers are create bodies as the API takes them (DESIGN.md); they are
validated once, when the lab is saved. A student's copy is derived from the
template: names prefixed by class, lab and student; the labels
`dockdash.owner`, `dockdash.class` and `dockdash.lab`; host ports from the
student's seat (a block of DOCKDASH_STUDENT_PORT_RANGE kept across
reprovisions); the student's own network and working volume.

Everything a copy needs is made through the gate as the student's
(`lab.container.create`, `lab.network.create`, `lab.volume.create`: the
gate's create rows done for another user): the student's policy and quotas
judge it as if the student had asked, and the audit row names who did it.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.dateparse import parse_datetime

from classes_app import compose
from classes_app.models import LabSeat
from containers_app import gate, swarm, translate, validation
from containers_app.engine.containers import list_containers
from containers_app.engine.networks import list_networks
from containers_app.engine.system import host_cpus
from containers_app.gate import FOR_USER
from dashboard.models import Course, Lab, User
from dashboard.records import CLASS_LABEL, OWNER_LABEL
from dashboard.refusals import Invalid, Refusal
from dashboard.specs import ContainerSpec, MountSpec

LAB_LABEL = "dockdash.lab"
LAB_KEYS = frozenset(
    {"name", "slug", "containers", "network", "volume", "allowed_images", "labels"}
    | {"idle_minutes", "ends_at", compose.FIELD}
    | {"extend_max_minutes", "runs_as"}
)
RUNS_AS = ("containers", "services")  # plain containers, or one Swarm service per container
TEMPLATE_KEYS = ("containers", "network", "volume")  # what a Compose file gives instead
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


def register_actions() -> None:
    """The gate's rows for what a lab makes for a student (see the module docstring)."""
    for name, base in (
        ("lab.container.create", "container.create"),
        ("lab.network.create", "network.create"),
        ("lab.volume.create", "volume.create"),
        ("lab.service.create", "service.create"),
    ):
        gate.register(gate.for_owner(name, base))


# ---------------------------------------------------------------- the template


def parse_slug(value: Any, field: str = "slug") -> str:
    slug = str(value or "").strip()
    if not _SLUG_RE.match(slug):
        raise Invalid("A slug is lower-case letters, digits and dashes (at most 50).", field)
    return slug


Where = Callable[[int, str], str]  # a body's index and key -> where the teacher wrote it


def _in_containers(index: int, key: str) -> str:
    return f"containers[{index}].{key}" if key else f"containers[{index}]"


def template_specs(
    containers: list[Any], where: Where = _in_containers, field: str = "containers"
) -> list[ContainerSpec]:
    """A lab's container bodies as specs (one engine call for the host's CPUs), or Invalid
    naming the body's key by `where` (a Compose file's lab: its path in the file)."""
    cpus = host_cpus()
    return [
        _template_spec(body, cpus, functools.partial(where, i), field)
        for i, body in enumerate(containers)
    ]


def _template_spec(
    body: Any, host_cpus: int, where: Callable[[str], str], field: str
) -> ContainerSpec:
    if not isinstance(body, Mapping):
        raise Invalid(f"{where('')} must be an object (a container's create body).", field)
    unknown = validation.unknown_create_keys(body)
    if unknown:
        key = next(iter(unknown))
        raise Invalid(f"{where(key)}: {unknown[key]}", field)
    try:
        spec = validation.parse_create(body, host_cpus=host_cpus)
    except validation.SpecInvalid as exc:
        key, message = next(iter(exc.errors.items()))
        raise Invalid(f"{where(key)}: {message}", field) from None
    if not spec.name:
        raise Invalid(f"{where('name')}: each lab container needs a name.", field)
    if any(p.host_port for p in spec.ports):
        raise Invalid(
            f"{where('ports')}: host ports come from the class's range, one set per student; "
            "give only container ports.",
            field,
        )
    return spec


def parse_lab(data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a new Lab from an API body (DESIGN.md), or Invalid naming the field."""
    unknown = sorted(set(data) - LAB_KEYS)
    if unknown:
        raise Invalid(f"Unknown field {unknown[0]!r}; a lab has {', '.join(sorted(LAB_KEYS))}.")
    name = str(data.get("name") or "").strip()
    if not name:
        raise Invalid("A lab needs a name.", "name")
    source = data.get(compose.FIELD) or None  # "": a lab written as JSON (lab_dict's)
    where, field = _in_containers, "containers"
    if source is not None:
        from_compose = compose.parse(source)
        made = from_compose.lab_fields()
        # What lab_dict shows a Compose lab with may come back with it; anything else clashes.
        given = [key for key in TEMPLATE_KEYS if key in data and data[key] != made[key]]
        if given:
            raise Invalid(
                f"A lab is a Compose file or {', '.join(TEMPLATE_KEYS)}, not both "
                f"(this one also has {', '.join(given)}).",
                compose.FIELD,
            )
        data = {**data, **made}
        where, field = from_compose.where, compose.FIELD
    containers = data.get("containers")
    if not isinstance(containers, list) or not containers:
        raise Invalid("A lab needs at least one container.", "containers")
    specs = template_specs(containers, where, field)
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise Invalid("Each container of a lab needs its own name.", "containers")
    volume = str(data.get("volume") or "").strip()
    if volume and not volume.startswith("/"):
        raise Invalid("The working volume is mounted at an absolute path, e.g. /data.", "volume")
    allowed = data.get("allowed_images") or []
    if not isinstance(allowed, list) or not all(isinstance(i, str) and i for i in allowed):
        raise Invalid("allowed_images is a list of image references.", "allowed_images")
    labels = _parsed(validation.parse_labels, data.get("labels"), "labels")
    network = _parsed(validation.parse_bool, data.get("network", True), "network")
    return {
        "name": name,
        "slug": parse_slug(data.get("slug")),
        "containers": containers,
        "labels": labels,
        "network": network,
        "volume": volume,
        "allowed_images": [*allowed],
        "idle_minutes": _minutes(data.get("idle_minutes")),
        "ends_at": _moment(data.get("ends_at")),
        "compose": source or "",
        "extend_max_minutes": _minutes(data.get("extend_max_minutes"), "extend_max_minutes", 0),
        "runs_as": _runs_as(data.get("runs_as")),
    }


def as_services(lab: Lab) -> bool:
    """Its containers are Swarm services: the swarm places them on its nodes."""
    return lab.runs_as == "services"


def _runs_as(value: Any) -> str:
    runs_as = value or RUNS_AS[0]
    if runs_as not in RUNS_AS:
        raise Invalid(f"runs_as is one of {', '.join(RUNS_AS)}, not {runs_as!r}.", "runs_as")
    return str(runs_as)


def _parsed(parse: Callable[[Any], Any], value: Any, field: str) -> Any:
    try:
        return parse(value)
    except ValueError as exc:
        raise Invalid(str(exc), field) from None


def _minutes(value: Any, field: str = "idle_minutes", least: int = 1) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise Invalid(f"{field} is a whole number of minutes, at least {least}.", field)
    return value


def _moment(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    moment = parse_datetime(str(value))
    if moment is None or moment.tzinfo is None:
        raise Invalid("ends_at is a date and time with its zone (ISO 8601), or null.", "ends_at")
    return moment


def port_count(lab: Lab) -> int:
    return sum(len(body.get("ports") or []) for body in lab.containers)


def lab_dict(lab: Lab) -> dict[str, Any]:
    return {
        "name": lab.name,
        "slug": lab.slug,
        "containers": lab.containers,
        "network": lab.network,
        "volume": lab.volume,
        "allowed_images": lab.allowed_images,
        "labels": lab.labels,
        "idle_minutes": lab.idle_minutes,
        "ends_at": lab.ends_at.isoformat() if lab.ends_at else None,
        "compose": lab.compose,
        "extend_max_minutes": lab.extend_max_minutes,
        "runs_as": lab.runs_as,
    }


def as_written(lab: Lab) -> dict[str, Any]:
    """The body `lab` was written as: a Compose lab's file without the containers made of
    it, a JSON lab without an empty "compose" (parse_lab takes one or the other)."""
    body = lab_dict(lab)
    for key in TEMPLATE_KEYS if lab.compose else (compose.FIELD,):
        del body[key]
    return body


def changed(lab: Lab, data: Mapping[str, Any]) -> dict[str, Any]:
    """The body of `lab` changed by `data`: the keys given replace the written ones, and a
    template given in the other form (a Compose file, or containers) replaces the old one."""
    body = as_written(lab)
    if data.get(compose.FIELD):
        body = {k: v for k, v in body.items() if k not in TEMPLATE_KEYS}
    elif any(key in data for key in TEMPLATE_KEYS):
        body.pop(compose.FIELD, None)
    return {**body, **data}


# ---------------------------------------------------------------- seats: each student's ports


SUBNET_PREFIX = 28  # 14 addresses: a lab's containers on a student's network


def seats_for(lab: Lab, students: Iterable[User], taken: Taken) -> dict[str, LabSeat]:
    """Each student's seat in `lab`, giving new ones free host ports and a free subnet.

    Free: in no seat of any lab, and not used on the host now (`taken`). A seat made
    before the lab was changed gets a new block when the lab's ports are more or fewer
    now, and a subnet when the lab has gained its network.
    """
    count = port_count(lab)
    with transaction.atomic():
        seats = {s.student.username: s for s in lab.seats.select_related("student")}
        ports, subnets = set(taken.ports), list(taken.subnets)
        for seat in LabSeat.objects.all():
            ports.update(seat.port_numbers())
            if seat.subnet:
                subnets.append(ipaddress.IPv4Network(seat.subnet))
        free_ports = _free_ports(count, ports, lab)
        free_subnets = _free_subnets(subnets, lab) if lab.network else None
        for student in students:
            seat = seats.get(student.username)
            if seat is None:
                seat = LabSeat(lab=lab, student=student)
            elif seat.ports == count and (seat.subnet or free_subnets is None):
                continue
            if seat.pk is None or seat.ports != count:
                seat.first_port, seat.ports = (next(free_ports) if count else None), count
            if free_subnets is not None and not seat.subnet:
                seat.subnet = str(next(free_subnets))
            seat.save()
            seats[student.username] = seat
    return seats


def _free_ports(count: int, taken: set[int], lab: Lab) -> Iterator[int]:
    """First ports of blocks of `count` free ports, lowest first."""
    low, high = settings.STUDENT_PORT_RANGE
    port = low
    while port + count - 1 <= high:
        clash = [p for p in range(port, port + count) if p in taken]
        if clash:
            port = clash[-1] + 1
            continue
        yield port
        port += count
    raise Invalid(f"The host port range {low}-{high} has no {count} free ports left for {lab}.")


def _free_subnets(taken: list[ipaddress.IPv4Network], lab: Lab) -> Iterator[ipaddress.IPv4Network]:
    pool = ipaddress.IPv4Network(settings.LAB_SUBNETS)
    for subnet in pool.subnets(new_prefix=SUBNET_PREFIX):
        if not any(subnet.overlaps(other) for other in taken):
            yield subnet
    raise Invalid(f"DOCKDASH_LAB_SUBNETS ({pool}) has no free /{SUBNET_PREFIX} left for {lab}.")


@dataclass(frozen=True)
class Taken:
    """What the host uses now, that new seats must avoid."""

    ports: frozenset[int] = frozenset()
    subnets: tuple[ipaddress.IPv4Network, ...] = ()


def taken_on_host() -> Taken:
    """Host ports containers publish and subnets networks use now (two list calls)."""
    ports = {
        port["public"]
        for raw in list_containers(all=True)
        for port in translate.container_row(raw)["ports"]
        if port["public"]
    }
    subnets = [
        ipaddress.ip_network(text, strict=False)
        for raw in list_networks()
        for text in translate.network_row(raw, [])["subnet"].split(", ")
        if text
    ]
    return Taken(frozenset(ports), tuple(n for n in subnets if n.version == 4))


# ---------------------------------------------------------------- one student's copy


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text)


@dataclass(frozen=True)
class Copy:
    """One student's copy of a lab: what it is named, labelled and where it publishes."""

    lab: Lab
    course: Course
    student: User
    templates: tuple[ContainerSpec, ...]  # the lab's containers, parsed once per job
    ports: tuple[int, ...] = ()
    subnet: str = ""

    @property
    def prefix(self) -> str:
        return f"{self.course.slug}-{self.lab.slug}-{_safe(self.student.username)}"

    @property
    def as_services(self) -> bool:
        return as_services(self.lab)

    @property
    def network_name(self) -> str:
        return self.prefix if self.lab.network else ""

    @property
    def volume_name(self) -> str:
        return f"{self.prefix}-work" if self.lab.volume else ""

    @property
    def made_volume(self) -> str:
        """The working volume made before its containers: a service's is made by the node
        that runs its task (with the service's labels, so the student's)."""
        return "" if self.as_services else self.volume_name

    @property
    def labels(self) -> dict[str, str]:
        """The labels of everything it makes (the gate adds the owner's)."""
        return {**self.lab.labels, CLASS_LABEL: self.course.slug, LAB_LABEL: self.lab.slug}

    def container_name(self, template_name: str) -> str:
        return f"{self.prefix}-{template_name}"

    def specs(self) -> list[ContainerSpec]:
        """The student's containers, in template order, each with its share of the ports."""
        free = iter(self.ports)
        made = []
        for spec in self.templates:
            mounts = list(spec.mounts)
            if self.volume_name:
                mounts.append(MountSpec(self.volume_name, self.lab.volume))
            made.append(
                dataclasses.replace(
                    spec,
                    name=self.container_name(spec.name),
                    labels={**spec.labels, **self.labels},
                    ports=[dataclasses.replace(p, host_port=next(free)) for p in spec.ports],
                    network=self.network_name or spec.network,
                    # On the student's own network each container also answers to its
                    # name in the lab (as a Compose service does to its service name).
                    aliases=[spec.name] if self.network_name else [],
                    mounts=mounts,
                    start=True,
                )
            )
        return made


def copies(lab: Lab, students: Iterable[User]) -> list[Copy]:
    """The copies of `lab` for `students`, each with its seat's ports and subnet."""
    students = list(students)
    if as_services(lab) and (role := swarm.role()) != "manager":
        raise Invalid(f"Lab {lab} runs as Swarm services. {swarm.NOT_A_MANAGER[role]}", "runs_as")
    seats = seats_for(lab, students, taken_on_host())
    templates = tuple(template_specs(lab.containers))
    return [
        Copy(
            lab,
            lab.course,
            s,
            templates,
            tuple(seats[s.username].port_numbers()),
            seats[s.username].subnet,
        )
        for s in students
    ]


def class_containers(course: Course, owner: str = "", lab: str = "") -> list[dict[str, Any]]:
    """The containers a class's labs made (of one student, of one lab), as list rows; a
    lab's containers run as Swarm services, as one row each (`kind` says which).

    Only its students' count: anyone may write the class's labels on a container of
    theirs (or inherit them from an image's LABEL), which must not hold the class's
    lab changes or reach its pages, jobs and grid."""
    students = set(course.students.values_list("username", flat=True))
    rows = [
        {**row, "kind": "container", "node": "", "container_id": row["id"]}
        for row in map(translate.container_row, list_containers(all=True))
        if translate.TASK_SERVICE_LABEL not in row["labels"]  # a service's: its row below
    ]
    rows += swarm.labelled_service_rows(f"{CLASS_LABEL}={course.slug}")
    return [
        row
        for row in sorted(rows, key=lambda r: r["name"])
        if row["labels"].get(CLASS_LABEL) == course.slug
        and row["labels"].get(OWNER_LABEL) in students
        and (not owner or row["labels"].get(OWNER_LABEL) == owner)
        and (not lab or row["labels"].get(LAB_LABEL) == lab)
    ]


# ---------------------------------------------------------------- what a job does per student


def provision(actor: Any, copy: Copy, existing: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Make what is missing of `copy` and start what is stopped; `existing`: rows by name."""
    student = copy.student
    done: dict[str, Any] = {"created": [], "started": [], "kept": []}
    kind = "service" if copy.as_services else "container"
    if copy.network_name and gate.network_lookup(copy.network_name) is None:
        # A swarm's network spans its nodes (the swarm gives it a subnet of its pool).
        where = {"driver": "overlay"} if copy.as_services else {"subnet": copy.subnet}
        gate.perform(
            actor,
            "lab.network.create",
            copy.network_name,
            labels=copy.labels,
            **where,
            **{FOR_USER: student},
        )
        done["created"].append(copy.network_name)
    if copy.made_volume and gate.volume_lookup(copy.made_volume) is None:
        gate.perform(
            actor, "lab.volume.create", copy.made_volume, labels=copy.labels, **{FOR_USER: student}
        )
        done["created"].append(copy.made_volume)
    for spec in copy.specs():
        row = existing.get(spec.name)
        if row is None:
            gate.perform(actor, f"lab.{kind}.create", spec.name, spec=spec, **{FOR_USER: student})
            done["created"].append(spec.name)
        elif row["state"] not in {"running", *translate.TASK_UNDER_WAY}:
            gate.perform(actor, f"{row['kind']}.start", row["id"])
            done["started"].append(spec.name)
        else:
            done["kept"].append(spec.name)
    done["ports"] = list(copy.ports)
    return done


def check_wipe(lab: Lab, wipe: bool) -> None:
    """A reset that wipes the working volume: not of a lab run as services."""
    if wipe and as_services(lab):
        raise Invalid(
            f"The working volumes of {lab}'s services are on the nodes that ran their tasks, "
            "out of the dashboard's reach: reset without wiping, and wipe them there.",
            "wipe",
        )


def reset(
    actor: Any, copy: Copy, existing: Iterable[dict[str, Any]], *, wipe: bool
) -> dict[str, Any]:
    """Recreate `copy`'s containers from the template; its working volume kept unless `wipe`."""
    removed = []
    for row in existing:
        gate.perform(actor, f"{row['kind']}.remove", row["id"], **REMOVE_PARAMS[row["kind"]])
        removed.append(row["name"])
    wiped = bool(wipe and copy.volume_name and gate.volume_lookup(copy.volume_name))
    if wiped:
        gate.perform(actor, "volume.remove", copy.volume_name)
    done = provision(actor, copy, {})
    return {**done, "removed": removed, "wiped": wiped}


DONE_WORDS = {"stop": "stopped", "start": "started", "remove": "removed"}
# A container is removed with its anonymous volumes kept; a service has no such choice.
REMOVE_PARAMS: dict[str, dict[str, Any]] = {
    "container": {"force": True, "volumes": False},
    "service": {},
}


def act_on(actor: Any, action: str, row: dict[str, Any]) -> str:
    """Stop, start or remove one container (or service) of a class, through the gate; "" or
    the refusal."""
    params = REMOVE_PARAMS[row["kind"]] if action == "remove" else {}
    try:
        gate.perform(actor, f"{row['kind']}.{action}", row["id"], **params)
    except Refusal as exc:
        return exc.message
    return ""
