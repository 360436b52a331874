"""The registry features' bad input: image references refused as InputError of a field.

The grammar is containers_app.imageref's; here a bad reference becomes the
registry surfaces' refusal, naming the field at fault, before any engine call,
so a job never starts on a name the engine would reject.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from containers_app import imageref
from containers_app.imageref import Reference
from dashboard.refusals import Refusal


class InputError(Refusal):
    """Any bad input of the registry features: a message in words and the field at fault."""


class InvalidReference(InputError):
    def __init__(self, message: str, field: str = "image"):
        super().__init__(message, field)


@contextmanager
def _refused_as(field: str) -> Iterator[None]:
    """A bad reference is refused as bad input of `field`, with the grammar's reason."""
    try:
        yield
    except imageref.BadReference as exc:
        raise InvalidReference(exc.message, field) from None


def check_repository(name: str, field: str = "repository") -> str:
    with _refused_as(field):
        return imageref.check_path(name)


def check_tag(tag: str, field: str = "tag") -> str:
    with _refused_as(field):
        return imageref.check_tag(tag)


def parse(text: str, *, field: str = "image", default_tag: str = "latest") -> Reference:
    """Parse an image reference; raise InvalidReference with the reason when it is not one."""
    with _refused_as(field):
        return imageref.parse(text, default_tag=default_tag)
