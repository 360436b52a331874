"""Filters on every page (template builtins): `bytes` ({{ size|bytes }} gives "64.0 MiB") and
`epoch` (epoch seconds as a datetime, for `date` and `timesince`).

Django's filesizeformat divides by 1024 but writes "MB"; the live pages' script
(static/js/format.js) and the cgroup views write "MiB". This keeps one spelling.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import template

from dashboard.units import human_bytes

register = template.Library()


@register.filter(name="bytes")
def bytes_filter(value: Any) -> str:
    try:
        return human_bytes(int(value))
    except (TypeError, ValueError):
        return ""


@register.filter(name="epoch")
def epoch_filter(value: Any) -> datetime | None:
    """Epoch seconds as a datetime (for `date` and `timesince`); None for no value."""
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(float(value), tz=UTC)
