"""The tabs of a container's pages, each shown once the URL that serves it exists."""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse

# (key, label, URL name taking the container id)
CONTAINER_TABS = [
    ("overview", "Overview", "container-detail"),
    ("logs", "Logs", "container-logs"),
    ("stats", "Stats", "container-stats"),
    ("terminal", "Terminal", "container-terminal"),
    ("internals", "Under the hood", "container-internals"),
]


def container_tabs(container_id: str) -> list[dict[str, Any]]:
    tabs = []
    for key, label, name in CONTAINER_TABS:
        try:
            url = reverse(name, args=[container_id])
        except NoReverseMatch:
            continue
        tabs.append({"key": key, "label": label, "url": url})
    return tabs
