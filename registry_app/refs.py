"""Image references (`[registry/]repository[:tag][@digest]`) checked with Docker's grammar.

Bad references are refused here, before any engine call, with a message saying
which part is wrong, so a job never starts on a name the engine would reject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dashboard.refusals import Refusal

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DOMAIN_RE = re.compile(
    r"^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$"
)
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
MAX_NAME = 255


class InputError(Refusal):
    """Any bad input of the registry features: a message in words and the field at fault."""


class InvalidReference(InputError):
    def __init__(self, message: str, field: str = "image"):
        super().__init__(message, field)


@dataclass(frozen=True)
class Reference:
    domain: str  # "" when the reference names no registry (Docker Hub)
    repository: str
    tag: str  # "" when only a digest was given
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.repository}" if self.domain else self.repository

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def check_repository(name: str, field: str = "repository") -> str:
    if not name:
        raise InvalidReference("The repository name is empty.", field)
    if len(name) > MAX_NAME:
        raise InvalidReference(f"The repository name is longer than {MAX_NAME} characters.", field)
    if name != name.lower():
        raise InvalidReference(
            f"{name!r} is not a valid repository name: it must be lowercase.", field
        )
    if not _REPOSITORY_RE.match(name):
        raise InvalidReference(
            f"{name!r} is not a valid repository name: use lowercase letters, digits and "
            "separators (. _ -) between them, with / between path parts.",
            field,
        )
    return name


def check_tag(tag: str, field: str = "tag") -> str:
    if not tag:
        raise InvalidReference("The tag is empty.", field)
    if not _TAG_RE.match(tag):
        raise InvalidReference(
            f"{tag!r} is not a valid tag: up to 128 letters, digits, _ . - "
            "(not starting with . or -).",
            field,
        )
    return tag


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "", name


def parse(text: str, *, field: str = "image", default_tag: str = "latest") -> Reference:
    """Parse an image reference; raise InvalidReference with the reason when it is not one."""
    text = (text or "").strip()
    if not text:
        raise InvalidReference("The image reference is empty.", field)
    name, at, digest = text.partition("@")
    if at and not _DIGEST_RE.match(digest):
        raise InvalidReference(f"{digest!r} is not a valid digest (algorithm:hex).", field)
    domain, remainder = _split_domain(name)
    repository, tag = remainder, ""
    last = remainder.rsplit("/", 1)[-1]
    if ":" in last:
        repository, _, tag = remainder.rpartition(":")
        if not tag:
            raise InvalidReference(f"{text!r} has an empty tag after ':'.", field)
        check_tag(tag, field)
    if ":" in repository:
        raise InvalidReference(
            f"{text!r} is not a valid reference: only one ':' may separate name and tag.", field
        )
    if domain and not _DOMAIN_RE.match(domain):
        raise InvalidReference(f"{domain!r} is not a valid registry host.", field)
    try:
        check_repository(repository, field)
    except InvalidReference as exc:
        where = "" if repository == text else f"In {text!r}: "
        raise InvalidReference(where + exc.message, field) from None
    if not tag and not digest:
        tag = default_tag
    return Reference(domain=domain, repository=repository, tag=tag, digest=digest)
