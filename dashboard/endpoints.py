"""Routes from tables: an app's pages and its JSON API endpoints, each a read or a change.

A page row (`Page`) is its route, view, name and whether it reads or changes
something; `pages()` makes them path()s. An API row (`Endpoint`) names the route
and, per method, an `Op`: the summary, the request serializer and query parameters
the OpenAPI schema shows, the status of a good answer, and the function that
answers. `routes()` makes each row one DRF view, documented with extend_schema, and
its path(). Errors are the API's exception handler's (dashboard.api).

`route_kinds()` says of every route of an app whether it reads or changes; every
change goes through a gate, and tests/integration/test_gate_coverage.py tries each.
A route is a regular expression when it starts with "^".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.http import HttpResponseBase
from django.urls import URLPattern, path, re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

READ, CHANGE = "read", "change"

# route, view, name, and whether any of its methods changes something (READ or CHANGE)
Page = tuple[str, Callable[..., Any], str, str]


@dataclass(frozen=True)
class Op:
    """One method of an endpoint.

    `call(request, **url_kwargs)` parses what it needs of the request (after any check
    that must come first), calls the operation and answers the body of a `status`
    response (none for a 204), or a response of its own (an error shaped its way, a text).
    """

    summary: str
    call: Callable[..., Any]
    request: Any = None
    parameters: Sequence[OpenApiParameter] = ()
    status: int = 200
    response: Any = OpenApiTypes.OBJECT
    operation_id: str | None = None


@dataclass(frozen=True)
class Endpoint:
    route: str  # a regular expression when it starts with "^"
    name: str
    get: Op | None = None
    post: Op | None = None
    patch: Op | None = None
    delete: Op | None = None

    @property
    def ops(self) -> dict[str, Op]:
        methods = {"GET": self.get, "POST": self.post, "PATCH": self.patch, "DELETE": self.delete}
        return {method: op for method, op in methods.items() if op is not None}

    @property
    def changes(self) -> bool:
        """Whether any of its methods changes something (then it goes through a gate)."""
        return any(method != "GET" for method in self.ops)


def _answer(op: Op, request: Request, kwargs: dict[str, Any]) -> HttpResponseBase:
    result = op.call(request, **kwargs)
    if isinstance(result, HttpResponseBase):
        return result
    return Response(None if op.status == 204 else result, status=op.status)  # 204: no body


def _view(endpoint: Endpoint) -> Callable[..., Any]:
    ops = endpoint.ops

    def answer(request: Request, **kwargs: Any) -> HttpResponseBase:
        return _answer(ops[str(request.method)], request, kwargs)

    # DRF and the test of the engine side's routes name a view by its function.
    answer.__name__ = answer.__qualname__ = endpoint.name.replace("-", "_")
    answer.__module__ = next(iter(ops.values())).call.__module__
    view = api_view(list(ops))(answer)
    for method, op in ops.items():
        view = extend_schema(
            methods=[method],
            operation_id=op.operation_id,
            summary=op.summary,
            request=op.request,
            parameters=list(op.parameters),
            responses={op.status: None if op.status == 204 else op.response},
        )(view)
    return view


def _pattern(route: str, view: Callable[..., Any], name: str) -> URLPattern:
    return (re_path if route.startswith("^") else path)(route, view, name=name)


def routes(endpoints: Iterable[Endpoint]) -> list[URLPattern]:
    return [_pattern(e.route, _view(e), e.name) for e in endpoints]


def pages(rows: Iterable[Page]) -> list[URLPattern]:
    return [_pattern(route, view, name) for route, view, name, _ in rows]


def route_kinds(rows: Iterable[Page], endpoints: Iterable[Endpoint]) -> dict[str, str]:
    """Each route's name and whether it reads or changes (an endpoint changes when it
    answers any method but GET)."""
    return {name: kind for _, _, name, kind in rows} | {
        e.name: CHANGE if e.changes else READ for e in endpoints
    }
