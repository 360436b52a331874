"""Pure rules of the registry features: who may reach which registry, with whose credentials,
and what a build's Dockerfile fetches.

Each rule takes the facts it judges as arguments (the services gather them:
the registry row, the addresses its host resolves to, the stored credentials,
the Dockerfile's text) and touches no database, network or engine, so the
gate's policy steps call them as they are.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from containers_app import imageref

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


@dataclass(frozen=True)
class RegistryFacts:
    """What the registry rule judges of one registry host (gathered by the services)."""

    host: str  # as in image references: `registry.example.org:5000`, `docker.io`
    registered: bool = False
    allow_non_admins: bool = False
    addresses: tuple[str, ...] = ()  # what the host resolves to now (not asked for admins)


def registry_refusal(*, is_admin: bool, registry: RegistryFacts) -> str:
    """Why this user may not pull from or push to `registry` ("" when they may).

    Admins reach any registry. Everyone else reaches Docker Hub, and the
    registered registries an admin marked usable by non-admins, but never one
    whose name or resolved address is loopback or link-local (the dashboard's
    own host, the cloud metadata service), registered or not.
    """
    host = registry.host
    if is_admin or host == DOCKER_HUB:
        return ""
    name = host_name(host)
    if name in _LOOPBACK_NAMES or name.endswith(".localhost") or is_internal_address(name):
        return f"{host} is an address on this host (loopback or link-local): only admins use it."
    if not registry.registered or not registry.allow_non_admins:
        return (
            f"{host} is not a registry an admin allowed for you. Use Docker Hub or one of the "
            "registries listed on the Registries page."
        )
    if any(is_internal_address(a) for a in registry.addresses):
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


# ---------------------------------------------------------------- what a build fetches

# Read as the engine's Dockerfile parser reads them (moby/buildkit frontend/dockerfile).
_DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_DIRECTIVES = {"syntax", "escape", "check"}
_VAR_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_NESTED = 8  # ${A:-${B:-...}} deeper than this is not read (each level recurses)
Args = Mapping[str, str | None]  # ARG values; None: one that cannot be read


@dataclass(frozen=True)
class Instruction:
    line: int  # where it starts, from 1
    keyword: str  # lowercased: from, arg, copy, ...
    args: str  # the rest, its continuation lines joined


@dataclass(frozen=True)
class BaseImage:
    """An image a build fetches: a FROM (or COPY --from) naming neither scratch nor a stage."""

    line: int
    instruction: str  # as written, e.g. "FROM --platform=$P ${BASE} AS build"
    reference: str  # what the builder fetches, ARG values substituted
    host: str = ""  # its registry, DOCKER_HUB for none ("" when `problem`)
    problem: str = ""  # why what it fetches cannot be told ("" when it can)


@dataclass(frozen=True)
class Download:
    """A source an ADD line names that the engine itself would fetch (a URL), or that cannot be
    told from the text (a variable): the engine fetches from the host's own network."""

    line: int
    instruction: str
    source: str
    remote: bool  # a URL; else a variable names it


class _Unreadable(ValueError):
    """A word whose value cannot be told without running the builder."""


def _escape_of(lines: Sequence[str]) -> str:
    """The escape character: `\\`, or what an `# escape=` parser directive at the top says."""
    escape = "\\"
    for line in lines:
        found = _DIRECTIVE_RE.match(line)
        if not found or found.group(1).lower() not in _DIRECTIVES:
            break
        if found.group(1).lower() == "escape":
            escape = found.group(2)
    return escape


def dockerfile_instructions(text: str) -> tuple[str, list[Instruction]]:
    """The escape character and the instructions of a Dockerfile: comment lines dropped,
    continued lines joined onto the line they start on."""
    lines = text.removeprefix("\ufeff").splitlines()
    escape = _escape_of(lines)
    continued = re.compile(re.escape(escape) + r"[ \t]*$")
    found: list[Instruction] = []
    index = 0
    while index < len(lines):
        start, joined = index + 1, lines[index].strip()
        index += 1
        if not joined or joined.startswith("#"):
            continue
        going_on = bool(continued.search(joined))
        joined = continued.sub("", joined)
        while going_on and index < len(lines):
            following = lines[index]
            index += 1
            if following.strip() and not following.lstrip().startswith("#"):
                going_on = bool(continued.search(following))
                joined += continued.sub("", following)
        parts = re.split(r"\s+", joined.strip(), maxsplit=1)
        found.append(Instruction(start, parts[0].lower(), parts[1] if len(parts) > 1 else ""))
    return escape, found


def _expand(word: str, args: Args, escape: str) -> str:
    """`word` as the builder's shell-word processor reads it: quotes removed, `$NAME`,
    `${NAME}`, `${NAME:-word}`, `${NAME:+word}` (and without `:`) substituted from `args`."""
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(word):
        ch = word[i]
        if ch == "$" and quote != "'":
            value, i = _dollar(word, i + 1, args, escape)
            out.append(value)
            continue
        if quote == "'" and ch != "'":
            out.append(ch)
        elif ch == escape and quote != "'" and i + 1 < len(word):
            i += 1
            if quote == '"' and word[i] not in {'"', "$", escape}:
                out.append(escape)
            out.append(word[i])
        elif ch in {"'", '"'} and quote in {"", ch}:
            quote = "" if quote else ch
        else:
            out.append(ch)
        i += 1
    if quote:
        raise _Unreadable(f"an unclosed {quote} quote")
    return "".join(out)


def _value(args: Args, name: str) -> str | None:
    if name in args and args[name] is None:
        raise _Unreadable(f"the value of {name}")
    return args.get(name)


def _dollar(word: str, i: int, args: Args, escape: str) -> tuple[str, int]:
    """The value of the variable that starts at word[i] (after its `$`), and where it ends."""
    if not word.startswith("{", i):
        name = _VAR_NAME_RE.match(word, i)
        if name is None:
            return "$", i
        return _value(args, name.group()) or "", name.end()
    end, depth = i + 1, 1
    while end < len(word) and depth:
        depth += {"{": 1, "}": -1}.get(word[end], 0)
        end += 1
    inner = word[i + 1 : end - 1]
    name = _VAR_NAME_RE.match(inner)
    if depth or name is None or inner.count("${") > _MAX_NESTED:
        raise _Unreadable(f"${{{inner}")
    value, rest = _value(args, name.group()), inner[name.end() :]
    colon = rest.startswith(":")
    modifier, alternative = rest[colon : colon + 1], rest[colon + 1 :]
    is_set = bool(value) if colon else value is not None
    if not rest:
        return value or "", end
    if modifier == "-":
        return (value or "") if is_set else _expand(alternative, args, escape), end
    if modifier == "+":
        return _expand(alternative, args, escape) if is_set else "", end
    raise _Unreadable(f"${{{inner}}}")


def _flags_and_words(args: str) -> tuple[dict[str, str], list[str]]:
    """An instruction's leading `--name=value` flags, and the words after them."""
    words = args.split()
    flags: dict[str, str] = {}
    while words and words[0].startswith("--"):
        flag = words.pop(0)[2:]
        if not flag:
            break
        name, _, value = flag.partition("=")
        flags[name.lower()] = value
    return flags, words


def _base(line: Instruction, reference: str, problem: str = "") -> BaseImage:
    written = bounded(f"{line.keyword.upper()} {line.args}", 200)
    if not problem:
        try:
            ref = imageref.parse(reference, default_tag="latest")
        except imageref.BadReference as exc:
            problem = exc.message
        else:
            return BaseImage(line.line, written, str(ref), ref.domain or DOCKER_HUB)
    return BaseImage(line.line, written, bounded(reference, 200), problem=bounded(problem, 200))


def _from_image(line: Instruction, args: Args, escape: str) -> tuple[str, str, str]:
    """(what a FROM line names, its stage name, why it cannot be read)."""
    words = _flags_and_words(line.args)[1]
    if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
        return line.args, "", "it is not FROM image [AS name]"
    stage = words[2].lower() if len(words) == 3 else f"#{line.line}"  # unnamed: never named
    try:
        return _expand(words[0], args, escape), stage, ""
    except _Unreadable as exc:
        return words[0], stage, f"cannot read {exc}"


def _declare(
    line: Instruction, args: dict[str, str | None], given: Mapping[str, str], escape: str
) -> None:
    """An ARG before the first FROM: its value for the FROM lines (a build argument wins)."""
    for word in line.args.split():
        name, has_default, default = word.partition("=")
        if name in given:
            args[name] = given[name]
        elif has_default:
            try:
                args[name] = _expand(default, args, escape)
            except _Unreadable:
                args[name] = None
        else:
            args.pop(name, None)


def base_images(dockerfile: str, build_args: Mapping[str, str]) -> list[BaseImage]:
    """Every image a build of `dockerfile` with `build_args` fetches, in order.

    FROM lines read the ARGs declared before the first FROM (a build argument
    replaces the default); `scratch` and the name of an earlier stage fetch
    nothing, nor does COPY --from an earlier stage (by name or number).
    """
    escape, instructions = dockerfile_instructions(dockerfile)
    args: dict[str, str | None] = {}
    stages: set[str] = set()  # the names of the stages so far
    in_stage = False
    fetched: list[BaseImage] = []
    for line in instructions:
        if line.keyword == "arg" and not in_stage:
            _declare(line, args, build_args, escape)
        elif line.keyword == "from":
            name, stage, problem = _from_image(line, args, escape)
            if problem or (name.lower() != "scratch" and name.lower() not in stages):
                fetched.append(_base(line, name, problem))
            stages.add(stage)
            in_stage = True
        elif line.keyword == "copy":
            source = _flags_and_words(line.args)[0].get("from")
            if source is None or source.isdigit() or source.lower() in stages:
                continue
            fetched.append(_base(line, source, "a variable names it" if "$" in source else ""))
    return fetched


def downloads(dockerfile: str) -> list[Download]:
    """The ADD sources of `dockerfile` that are URLs or variables, also in ONBUILD triggers
    (they run in a later build FROM the image this one makes)."""
    found = []
    for line in dockerfile_instructions(dockerfile)[1]:
        keyword, args = line.keyword, line.args
        if keyword == "onbuild":
            trigger, *rest = re.split(r"\s+", args, maxsplit=1)
            keyword, args = trigger.lower(), "".join(rest)
        if keyword != "add":
            continue
        written = bounded(f"{line.keyword.upper()} {line.args}", 200)
        for source in _flags_and_words(args)[1][:-1]:
            if "://" in source or "$" in source:
                found.append(Download(line.line, written, bounded(source, 200), "://" in source))
    return found


OWN_LABELS = "dockdash."  # the dashboard's own labels: its owner, class and lab labels


@dataclass(frozen=True)
class LabelKey:
    """A label a LABEL line (or an ONBUILD LABEL trigger) sets: its key, as the builder reads it."""

    line: int
    instruction: str
    key: str  # "" when a variable (or a quote left open) hides it


def _words(text: str, escape: str) -> list[str]:
    """`text` split at blanks outside quotes, as the builder splits a LABEL line's words
    (quotes and escapes kept, for `_expand`)."""
    words, word, quote, i = [], "", "", 0
    while i < len(text):
        ch = text[i]
        if ch == escape and quote != "'" and i + 1 < len(text):
            word, i = word + text[i : i + 2], i + 2
            continue
        if ch.isspace() and not quote:
            words += [word] if word else []
            word, i = "", i + 1
            continue
        if ch in {"'", '"'} and quote in {"", ch}:
            quote = "" if quote else ch
        word, i = word + ch, i + 1
    return words + ([word] if word else [])


def label_keys(dockerfile: str) -> list[LabelKey]:
    """The keys the LABEL lines of `dockerfile` set, also in ONBUILD triggers (they run in a
    later build FROM the image this one makes)."""
    escape, instructions = dockerfile_instructions(dockerfile)
    found = []
    for line in instructions:
        keyword, args = line.keyword, line.args
        if keyword == "onbuild":
            trigger, *rest = re.split(r"\s+", args, maxsplit=1)
            keyword, args = trigger.lower(), "".join(rest)
        if keyword != "label":
            continue
        words = _words(args, escape)
        if not words:
            continue  # the builder refuses it
        # `LABEL key=value ...`, or the old `LABEL key value`: one key, the rest its value.
        written = [w.partition("=")[0] for w in words] if "=" in words[0] else words[:1]
        for key in written:
            try:
                read = "" if "$" in key else _expand(key, {}, escape)
            except _Unreadable:
                read = ""
            found.append(
                LabelKey(line.line, bounded(f"{line.keyword.upper()} {line.args}", 200), read)
            )
    return found


def build_refusal(
    *,
    is_admin: bool,
    bases: Sequence[BaseImage],
    downloads: Sequence[Download],
    labels: Sequence[LabelKey],
    registries: Mapping[str, RegistryFacts],
) -> str:
    """Why a build may not start ("" when it may): the first image it fetches from where a
    pull would be refused, an ADD the engine would download itself, or a label of the
    dashboard's own it would set (each RUN step's container carries the labels so far, and
    the owner label says whose a container is), named with its line. Admins build anything."""
    if is_admin:
        return ""
    for label in labels:
        where = f"Line {label.line} ({label.instruction})"
        if not label.key:
            return (
                f"{where}: cannot tell which label it sets (a variable names it); the "
                f"dashboard's own labels ({OWN_LABELS}*) are set by the dashboard alone."
            )
        if label.key.lower().startswith(OWN_LABELS):
            return (
                f"{where} sets {label.key}: the dashboard's own labels ({OWN_LABELS}*) are "
                "set by the dashboard alone."
            )
    for download in downloads:
        where = f"Line {download.line} ({download.instruction})"
        if download.remote:
            return (
                f"{where}: the engine would download {download.source} itself; only admins' "
                "builds may. Download it in a RUN step, or COPY it from the build context."
            )
        return f"{where}: cannot tell what it adds (a variable names it); use COPY for files."
    for base in bases:
        where = f"Line {base.line} ({base.instruction})"
        if base.problem:
            return f"{where}: cannot tell which image it fetches ({base.problem}); refused."
        why = registry_refusal(is_admin=False, registry=registries[base.host])
        if why:
            return f"{where} fetches {base.reference}: {why}"
    return ""


# ---------------------------------------------------------------- error texts

_ERROR_MAX = 300


def bounded(text: str, limit: int = _ERROR_MAX) -> str:
    """`text` on one line, without control characters, at most `limit` characters."""
    flat = "".join(ch if ch.isprintable() else " " for ch in text)
    flat = " ".join(flat.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
