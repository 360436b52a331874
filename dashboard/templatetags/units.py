"""The `bytes` filter, on every page (a template builtin): {{ size|bytes }} gives "64.0 MiB".

Django's filesizeformat divides by 1024 but writes "MB"; the live pages' script
(static/js/format.js) and the cgroup views write "MiB". This keeps one spelling.
"""

from __future__ import annotations

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
