"""Image references, `[domain[:port]/]path[:tag][@digest]`, read with Docker's grammar.

The one place that knows the grammar of distribution/reference: the create form
and API (containers_app.validation) and the registry features (registry_app.refs)
both ask it. It imports nothing of the project, so any layer may use it; callers
turn `BadReference` into the refusal of their own surface, naming their field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A path component: lowercase letters and digits, with . _ __ or runs of - between them.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DOMAIN_RE = re.compile(rf"^{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
MAX_NAME = 255  # domain and path together, as the engine counts them


class BadReference(ValueError):
    """What is wrong with a reference or one of its parts, in words."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Reference:
    domain: str  # "" when the reference names no registry (Docker Hub)
    repository: str  # the path, without the domain
    tag: str  # "" when none was given (and no default asked for)
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


def check_path(path: str) -> str:
    """A repository path without a registry (`team/app`), or BadReference saying why not."""
    if not path:
        raise BadReference("The repository name is empty.")
    if len(path) > MAX_NAME:
        raise BadReference(f"The repository name is longer than {MAX_NAME} characters.")
    if path != path.lower():
        raise BadReference(f"{path!r} is not a valid repository name: it must be lowercase.")
    if not _PATH_RE.match(path):
        raise BadReference(
            f"{path!r} is not a valid repository name: use lowercase letters, digits and "
            "separators (. _ -) between them, with / between path parts."
        )
    return path


def check_tag(tag: str) -> str:
    if not tag:
        raise BadReference("The tag is empty.")
    if not _TAG_RE.match(tag):
        raise BadReference(
            f"{tag!r} is not a valid tag: up to 128 letters, digits, _ . - "
            "(not starting with . or -)."
        )
    return tag


def split_domain(name: str) -> tuple[str, str]:
    """(domain, path): the first part is a registry when it has a . or : or is localhost."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "", name


def check_name(name: str) -> tuple[str, str]:
    """A repository with an optional registry (`127.0.0.1:5000/team/app`): (domain, path)."""
    domain, path = split_domain(name)
    if domain and not _DOMAIN_RE.match(domain):
        raise BadReference(f"{domain!r} is not a valid registry host.")
    if len(name) > MAX_NAME:
        raise BadReference(f"The repository name is longer than {MAX_NAME} characters.")
    check_path(path)
    return domain, path


def parse(text: str, *, default_tag: str = "") -> Reference:
    """A Reference, or BadReference with the reason. No tag and no digest: `default_tag`."""
    text = (text or "").strip()
    if not text:
        raise BadReference("The image reference is empty.")
    name, at, digest = text.partition("@")
    if at and not _DIGEST_RE.match(digest):
        raise BadReference(f"{digest!r} is not a valid digest (algorithm:hex).")
    domain, remainder = split_domain(name)
    tag = ""
    if ":" in remainder.rsplit("/", 1)[-1]:
        remainder, _, tag = remainder.rpartition(":")
        if not tag:
            raise BadReference(f"{text!r} has an empty tag after ':'.")
        check_tag(tag)
    if ":" in remainder:
        raise BadReference(
            f"{text!r} is not a valid reference: only one ':' may separate name and tag."
        )
    try:
        domain, path = check_name(f"{domain}/{remainder}" if domain else remainder)
    except BadReference as exc:
        where = "" if remainder == text else f"In {text!r}: "
        raise BadReference(where + exc.message) from None
    return Reference(
        domain=domain, repository=path, tag=tag or ("" if digest else default_tag), digest=digest
    )
