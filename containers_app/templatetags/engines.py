"""Links that keep the engine of the page: `{% scoped_url 'name' arg ... %}` is `{% url %}`
with `?engine=<name>` added while the request works on an engine other than the first;
after a query of its own, a link ends with `{% engine_param %}` (`&engine=<name>`)."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from containers_app.engine.client import current

register = template.Library()


def with_engine(url: str) -> str:
    """`url` keeping the current engine (unchanged on the first one)."""
    target = current()
    if target is None:
        return url
    return f"{url}{'&' if '?' in url else '?'}engine={target.name}"


@register.simple_tag
def scoped_url(name: str, *args: Any, **kwargs: Any) -> str:
    return with_engine(reverse(name, args=args, kwargs=kwargs))


@register.simple_tag
def engine_param() -> str:
    target = current()
    return "" if target is None else f"&engine={target.name}"
