"""Labs written as Compose files: what a lab honours of one, and the rest refused by name.

A Compose file is read with PyYAML's safe loader (a key given twice is refused,
not overwritten), checked against the Compose Specification's JSON schema
(`schemas/compose-spec.json`, vendored with its licence) and translated into
the fields of a lab (classes_app.labs): a container create body (DESIGN.md) per
service, the lab's network per student, its working volume. The bodies then go
the way of every lab's containers: parsed as creates when the lab is saved, and
judged by each student's policy and quotas when it is provisioned.

What a lab honours is the tables below, key by key; any other key is refused
by its path ("services.web.cap_add: a lab cannot honour this key"), never
dropped. Choices:
- Values are taken as written: no variable is substituted (`$NAME`, `${NAME}`
  are refused); `$$` is a `$`, as in Compose.
- `version` is ignored, as Compose ignores it; top-level `x-` keys (the home
  of YAML anchors) are ignored too. An `x-` key inside a service is meant for
  some other tool: refused.
- At most one network, of any name, with no options, and every service on it:
  it becomes the lab's network, one per student, where each container answers
  to its service's name. Without one, the lab still has its network, as a
  Compose project has `default`.
- At most one named volume, declared under `volumes:` with no options and
  mounted read-write by every service at the same path: it becomes the lab's
  working volume, one per student. Bind mounts, anonymous volumes and tmpfs
  are refused.
- `ports` give container ports only: host ports come from the class's range.
- `depends_on` orders the containers (a service after those it depends on);
  only the condition `service_started` can be honoured.
- A `pids_limit` (or `deploy.resources.limits.pids`) of -1 is no limit, as in
  Compose; a limit given twice (`mem_limit` and its `deploy` twin) is refused.

Pure: text in, a `ComposeLab` or `Invalid` out.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from containers_app import validation
from dashboard.refusals import Invalid

FIELD = "compose"  # the field of a lab's body (and of the page's form) a Compose file is in
MAX_CHARS = 200_000
MAX_VALUES = 20_000  # values in the file once its YAML aliases are expanded
MAX_DEPTH = 32  # mappings and lists within each other (a Compose file needs about 6)
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
CANNOT = "a lab cannot honour this key"

Item = tuple[str, Any, str]  # a create body's key, its value, and where in the file it was
Honour = Callable[[Any, str], list[Item]]


def _as(key: str) -> Honour:
    return lambda value, at: [(key, value, at)]


def _no_limit_as(key: str) -> Honour:
    """A pids limit; -1 is Compose's "no limit", which a create body says by leaving it out."""
    return lambda value, at: [] if str(value).strip() == "-1" else [(key, value, at)]


# ---------------------------------------------------------------- what a lab honours

TOP_LEVEL = frozenset({"version", "services", "networks", "volumes"})  # and x- keys, ignored
# A service's keys and the create body keys they become. None: read with the whole file
# (the lab's network, working volume and order), into no body key.
SERVICE: dict[str, Honour | None] = {
    "image": _as("image"),
    "command": _as("command"),
    "environment": lambda value, at: _environment(value, at),
    "labels": lambda value, at: _labels(value, at),
    "ports": lambda value, at: _ports(value, at),
    "mem_limit": _as("memory"),
    "cpus": _as("cpus"),
    "pids_limit": _no_limit_as("pids_limit"),
    "deploy": lambda value, at: _deploy(value, at),
    "working_dir": _as("working_dir"),
    "user": _as("user"),
    "restart": _as("restart_policy"),
    "networks": None,
    "volumes": None,
    "depends_on": None,
}
PORT = {"target": "container_port", "published": "host_port", "protocol": "protocol"} | {
    "host_ip": "host_ip"
}
LIMITS: dict[str, Honour] = {  # deploy.resources.limits; nothing else of deploy
    "cpus": _as("cpus"),
    "memory": _as("memory"),
    "pids": _no_limit_as("pids_limit"),
}
MOUNT = frozenset({"type", "source", "target", "read_only"})  # with type: volume
DEPENDENCY = frozenset({"condition", "required"})  # with condition: service_started
# Why some keys cannot be honoured, where the key's name does not say it.
WHY = {
    "build": "a lab builds no image: build it first and name it in image",
    "container_name": "a lab names each container <class>-<lab>-<student>-<service>",
    "entrypoint": "a container's create body has no entrypoint",
    "env_file": "a lab has no files beside its Compose file; write environment",
    "network_mode": "a student's containers share their lab's network",
    "expose": "on the lab's network every port of a container is open to the others",
}
for _power in ("privileged", "cap_add", "devices", "pid", "uts", "userns_mode"):
    WHY[_power] = "it would give each student's container powers over the host"


@dataclass(frozen=True)
class ComposeLab:
    """A Compose file as a lab's fields, and where each body's keys came from in the file."""

    containers: list[dict[str, Any]]  # create bodies, a service's after those it depends on
    volume: str  # where every container mounts the working volume ("" for none)
    sources: tuple[Mapping[str, str], ...]  # per container: body key -> its path in the file

    def lab_fields(self) -> dict[str, Any]:
        return {"containers": self.containers, "network": True, "volume": self.volume}

    def where(self, index: int, key: str) -> str:
        """Where body `index`'s `key` came from, e.g. services.web.deploy.resources.limits.pids."""
        source = self.sources[index]
        return source.get(key, source["name"])


def parse(text: Any) -> ComposeLab:
    """The lab a Compose file describes, or Invalid naming the path of what is wrong."""
    if not isinstance(text, str):
        raise Invalid("compose is the text of a Compose file (YAML).", FIELD)
    if len(text) > MAX_CHARS:
        raise Invalid(f"A Compose file is at most {MAX_CHARS // 1000} kB.", FIELD)
    document = _literal(_load(text), "", [0])
    if not isinstance(document, Mapping):
        raise Invalid("A Compose file is a mapping, with services: at its top.", FIELD)
    _check_schema(document)
    for key in document:
        if key not in TOP_LEVEL and not key.startswith("x-"):
            raise _cannot(key)
    services = document.get("services") or {}
    if not services:
        raise Invalid("services: a lab needs at least one service.", FIELD)
    network = _declared("networks", document.get("networks")) or "default"
    volume = _declared("volumes", document.get("volumes"))
    made = {name: _service(name, spec, network, volume) for name, spec in services.items()}
    target = _working_volume_target(volume, {name: m[2] for name, m in made.items()})
    needs = {
        name: _dependencies(spec.get("depends_on"), name, services)
        for name, spec in services.items()
    }
    order = _ordered(list(services), needs)
    return ComposeLab(
        containers=[made[name][0] for name in order],
        volume=target,
        sources=tuple(made[name][1] for name in order),
    )


# ---------------------------------------------------------------- reading and the schema


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key given twice in one mapping is an error (PyYAML
    keeps the last one, so the first would be dropped without a word)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"the key {key_node.value!r} is given twice",
                        key_node.start_mark,
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def _load(text: str) -> Any:
    try:
        document = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise Invalid(f"The Compose file is not YAML: {exc.problem}{where}.", FIELD) from None
    except yaml.YAMLError as exc:
        raise Invalid(f"The Compose file is not YAML: {exc}.", FIELD) from None
    except RecursionError:  # PyYAML composes nested collections by recursion
        raise _too_deep() from None
    if document is None:
        raise Invalid("The Compose file is empty.", FIELD)
    return document


def _at(at: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{at}[{key}]"
    return f"{at}.{key}" if at else key


def _too_deep() -> Invalid:
    return Invalid(
        f"The Compose file nests more than {MAX_DEPTH} levels deep (or an alias holds itself).",
        FIELD,
    )


def _literal(value: Any, at: str, count: list[int], depth: int = 0) -> Any:
    """`value` with `$$` read as `$`, refusing variables (a lab substitutes none); and
    refusing a file that its aliases expand past MAX_VALUES values, or nest past
    MAX_DEPTH levels (an alias within what it names never ends)."""
    count[0] += 1
    if count[0] > MAX_VALUES:
        raise Invalid(f"The Compose file holds more than {MAX_VALUES} values.", FIELD)
    if depth > MAX_DEPTH:
        raise _too_deep()
    if isinstance(value, str):
        parts = value.split("$$")
        if any("$" in part for part in parts):
            raise Invalid(
                f"{at}: a lab substitutes no variables ($NAME, ${{NAME}}); write the value "
                "itself, and $$ for a $.",
                FIELD,
            )
        return "$".join(parts)
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise Invalid(
                    f"{_at(at, str(key))}: write this key in quotes (keys are text).", FIELD
                )
        if not at:  # the top: x- keys are fragments for anchors, read where they are used
            return {
                k: v if k.startswith("x-") else _literal(v, k, count, 1) for k, v in value.items()
            }
        return {key: _literal(item, _at(at, key), count, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_literal(item, _at(at, i), count, depth + 1) for i, item in enumerate(value)]
    return value


@functools.cache
def _validator() -> Any:
    schema = json.loads(SCHEMA.read_text())
    return jsonschema.Draft7Validator(schema)  # the draft its $schema names


_KINDS = {
    "array": "a list",
    "object": "a mapping",
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "null": "empty",
}


def _kinds(types: Any) -> str:
    named = [_KINDS.get(t, t) for t in ([types] if isinstance(types, str) else types)]
    return " or ".join(dict.fromkeys(named))


def _kind_of(value: Any) -> str:
    for kind, python in (
        ("null", type(None)),
        ("boolean", bool),
        ("string", str),
        ("number", int | float),
        ("array", list),
        ("object", Mapping),
    ):
        if isinstance(value, python):
            return _KINDS[kind]
    return type(value).__name__


def _check_schema(document: Mapping[str, Any]) -> None:
    error = jsonschema.exceptions.best_match(_validator().iter_errors(document))
    if error is not None:
        raise Invalid(_schema_message(error), FIELD)


def _schema_message(error: Any) -> str:
    at = ""
    for part in error.absolute_path:
        at = _at(at, part)
    if error.validator == "additionalProperties":
        props = error.schema.get("properties", {})
        patterns = error.schema.get("patternProperties", {})
        extra = next(
            (
                k
                for k in error.instance
                if k not in props and not any(re.search(p, k) for p in patterns)
            ),
            None,
        )
        if extra is not None:
            return f"{_at(at, extra)}: the Compose Specification has no such key here."
    where = at or "The Compose file"
    if error.validator == "type":
        said = f"{where}: must be {_kinds(error.validator_value)}, not {_kind_of(error.instance)}"
        if isinstance(error.instance, bool) and "string" in _listed(error.validator_value):
            said += " (YAML reads a bare yes, no, on, off as true or false: quote the word)"
        return said + "."
    if error.validator in ("oneOf", "anyOf"):
        shallow = [e for e in error.context if e.validator == "type" and not e.relative_path]
        if len(shallow) == len(error.validator_value):
            kinds = _kinds([t for e in shallow for t in _listed(e.validator_value)])
            return f"{where}: must be {kinds}, not {_kind_of(error.instance)}."
        return f"{where}: is none of the forms the Compose Specification allows here."
    return f"{where}: {error.message}."


def _listed(types: Any) -> list[str]:
    return [types] if isinstance(types, str) else list(types)


# ---------------------------------------------------------------- translating


def _cannot(at: str) -> Invalid:
    why = WHY.get(at.rsplit(".", 1)[-1])
    return Invalid(f"{at}: {CANNOT}" + (f" ({why})." if why else "."), FIELD)


def _only(value: Any, allowed: Iterable[str], at: str) -> Mapping[str, Any]:
    """`value` (a mapping, or nothing) with no key but `allowed`."""
    value = value or {}
    for key in value:
        if key not in allowed:
            raise _cannot(_at(at, key))
    return value


def _declared(kind: str, declarations: Any) -> str:
    """The one network or volume the file declares ("" for none); options are refused."""
    names = list(declarations or {})
    if len(names) > 1:
        what = "network" if kind == "networks" else "working volume"
        raise Invalid(
            f"{kind}: a lab has one {what} per student; declare at most one "
            f"(this file declares {', '.join(names)}).",
            FIELD,
        )
    for name in names:
        _only(declarations[name], (), f"{kind}.{name}")
    return names[0] if names else ""


def _service(
    name: str, service: Mapping[str, Any], network: str, volume: str
) -> tuple[dict[str, Any], dict[str, str], str]:
    """Service `name` as a create body, where each of its keys came from, and where it
    mounts the working volume ("" for nowhere)."""
    at = f"services.{name}"
    body: dict[str, Any] = {"name": name}
    sources = {"name": at}
    for key, value in service.items():
        if key not in SERVICE:
            raise _cannot(_at(at, key))
        honour = SERVICE[key]
        for body_key, body_value, path in honour(value, _at(at, key)) if honour else []:
            if body_key in body:
                raise Invalid(f"{path}: {sources[body_key]} sets the same; keep one.", FIELD)
            body[body_key] = body_value
            sources[body_key] = path
    if "image" not in body:
        raise Invalid(f"{at}.image: each service of a lab needs an image to run.", FIELD)
    _on_network(service.get("networks"), network, f"{at}.networks")
    return body, sources, _mount(service.get("volumes"), volume, f"{at}.volumes")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as Compose writes them
    return str(value)


def _environment(value: Any, at: str) -> list[Item]:
    """A list of KEY=VALUE or a mapping; a variable without a value (Compose would take it
    from the shell it runs in) is refused."""
    if isinstance(value, Mapping):
        given = [(_at(at, k), k, None if v is None else _text(v)) for k, v in value.items()]
    else:
        given = []
        for i, item in enumerate(value):
            name, sep, text = item.partition("=")
            given.append((_at(at, i), name, text if sep else None))
    env: dict[str, str] = {}
    for where, name, text in given:
        if text is None:
            raise Invalid(
                f"{where}: {name} takes its value from where Compose runs; a lab has "
                f"no such place: write {name}=value.",
                FIELD,
            )
        env[name] = text
    return [("env", env, at)]


def _labels(value: Any, at: str) -> list[Item]:
    """A label given without a value has the value "", as in Compose."""
    if isinstance(value, Mapping):
        labels = {key: "" if item is None else _text(item) for key, item in value.items()}
    else:
        labels = dict(_split_pair(item) for item in value)
    return [("labels", labels, at)]


def _split_pair(item: str) -> tuple[str, str]:
    key, _, text = item.partition("=")
    return key, text


def _ports(value: Any, at: str) -> list[Item]:
    """Container ports as the create body takes them; a host port is left in, for the
    lab's rule to refuse in its own words."""
    ports: list[Any] = []
    for i, item in enumerate(value):
        if isinstance(item, Mapping):
            _only(item, PORT, _at(at, i))
            ports.append({PORT[key]: part for key, part in item.items()})
        else:
            ports.append(str(item))
    return [("ports", ports, at)]


def _deploy(value: Any, at: str) -> list[Item]:
    resources = _only(value, ("resources",), at).get("resources")
    limits = _only(resources, ("limits",), f"{at}.resources").get("limits")
    where = f"{at}.resources.limits"
    return [
        item
        for key, limit in _only(limits, LIMITS, where).items()
        for item in LIMITS[key](limit, _at(where, key))
    ]


def _on_network(value: Any, network: str, at: str) -> None:
    """A service's networks: the lab's one network (or none: `default`), with no options."""
    named = list(value or [])
    if not named and network != "default":
        raise Invalid(
            f"{at}: a lab puts every service on its one network; name {network} here too.", FIELD
        )
    for name in named:
        if name != network:
            raise Invalid(
                f"{at}: a lab puts every service on its one network ({network}); {name} is not it.",
                FIELD,
            )
        if isinstance(value, Mapping):
            _only(value[name], (), _at(at, name))


def _mount(value: Any, volume: str, at: str) -> str:
    """Where a service mounts the working volume `volume` ("" for nowhere)."""
    items = list(value or [])
    if len(items) > 1:
        raise Invalid(f"{_at(at, 1)}: a lab mounts one volume, its working volume.", FIELD)
    if not items:
        return ""
    item, at = items[0], _at(at, 0)
    if isinstance(item, Mapping):
        _only(item, MOUNT, at)
        if item["type"] != "volume":
            raise Invalid(
                f"{at}.type: a lab mounts only its working volume (type volume), "
                f"no {item['type']}.",
                FIELD,
            )
        source = str(item.get("source") or "")
        target = str(item.get("target") or "")
        try:
            read_only = validation.parse_bool(item.get("read_only"))
        except ValueError as exc:
            raise Invalid(f"{at}.read_only: {exc}.", FIELD) from None
        spelled = f"{source}:{target}{':ro' if read_only else ''}"
    else:
        source, _, target = item.partition(":")
        spelled = item if target else ""
        read_only = False
    if not source or not spelled:
        raise Invalid(
            f"{at}: an anonymous volume; a lab mounts only its working volume, by name.", FIELD
        )
    if source.startswith(("/", ".", "~")):
        raise Invalid(
            f"{at}: {source} is a folder of the host; a lab mounts only its working volume.",
            FIELD,
        )
    try:
        (mount,) = validation.parse_volumes([spelled])
    except ValueError as exc:
        raise Invalid(f"{at}: {exc}.", FIELD) from None
    if mount.source != volume:
        raise Invalid(
            f"{at}: the volume {mount.source} is not declared under the top-level volumes.", FIELD
        )
    if mount.read_only or read_only:
        raise Invalid(f"{at}: a lab mounts its working volume read-write.", FIELD)
    return mount.target


def _working_volume_target(volume: str, targets: Mapping[str, str]) -> str:
    """The one path every service mounts the working volume at ("" for no volume)."""
    if not volume:
        return ""
    mounted = {target for target in targets.values() if target}
    if len(mounted) > 1:
        raise Invalid(
            f"volumes.{volume}: a lab mounts its working volume at one path in every container "
            f"(this file: {', '.join(sorted(mounted))}).",
            FIELD,
        )
    path = next(iter(mounted), "")
    for name, target in targets.items():
        if not target:
            at = f" at {path}" if path else ""
            raise Invalid(
                f"services.{name}.volumes: a lab mounts its working volume in every container; "
                f"mount {volume}{at} here too.",
                FIELD,
            )
    return path


def _dependencies(value: Any, name: str, services: Mapping[str, Any]) -> list[str]:
    at = f"services.{name}.depends_on"
    needs = []
    for other in value or []:
        spec = _only(value[other], DEPENDENCY, _at(at, other)) if isinstance(value, Mapping) else {}
        condition = spec.get("condition", "service_started")
        if condition != "service_started":
            raise Invalid(
                f"{_at(at, other)}.condition: a lab starts a container after those it depends "
                f"on but waits for nothing more; {condition} cannot be honoured.",
                FIELD,
            )
        if other in services:
            needs.append(other)
        elif spec.get("required", True) is not False:
            raise Invalid(f"{at}: there is no service {other}.", FIELD)
    return needs


def _ordered(names: list[str], needs: Mapping[str, list[str]]) -> list[str]:
    """`names` in file order, but each after those it depends on."""
    done: list[str] = []
    left = list(names)
    while left:
        ready = next((n for n in left if all(d in done for d in needs[n])), None)
        if ready is None:
            raise Invalid(
                f"services.{left[0]}.depends_on: these services depend on each other in a "
                f"circle: {', '.join(left)}.",
                FIELD,
            )
        done.append(ready)
        left.remove(ready)
    return done
