"""Registries through the engine: logging in and searching Docker Hub, each with its own timeout."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import docker
import requests.exceptions

from containers_app.engine.client import call, endpoint, engine_errors, tls_kwargs
from containers_app.engine.errors import EngineUnavailable, NoAnswerInTime


@contextmanager
def _bounded(timeout: float, doing: str) -> Iterator[None]:
    try:
        with engine_errors():
            yield
    except EngineUnavailable as exc:
        if isinstance(exc.__cause__, requests.exceptions.ReadTimeout):
            raise NoAnswerInTime(
                f"The engine gave no answer within {timeout:g} s {doing}."
            ) from exc
        raise


def _short_lived_client(timeout: float) -> docker.APIClient:
    """A separate low-level client with its own timeout.

    Logins go through it so that credentials are never cached in the shared
    client (docker-py remembers successful logins and would reuse them for
    other users' pulls); searches so they give up after `timeout` seconds.
    """
    url = endpoint()
    version = call(lambda c: c.api.api_version)
    with engine_errors():
        return docker.APIClient(base_url=url, version=version, timeout=timeout, **tls_kwargs(url))


def registry_login(username: str, password: str, server: str, *, timeout: float) -> dict[str, Any]:
    """Ask the engine to log in to `server`; the engine's answer, or EngineError with its reason."""
    api = _short_lived_client(timeout)
    try:
        with _bounded(timeout, f"while logging in to {server}"):
            return dict(
                api._result(
                    api._post_json(
                        api._url("/auth"),
                        data={"username": username, "password": password, "serveraddress": server},
                    ),
                    json=True,
                )
            )
    finally:
        api.close()


def search_images(term: str, *, limit: int, timeout: float) -> list[dict[str, Any]]:
    """`docker search term` through the engine, giving up after `timeout` seconds."""
    api = _short_lived_client(timeout)
    try:
        with _bounded(timeout, "while searching Docker Hub"):
            return list(api.search(term, limit=limit))
    finally:
        api.close()
