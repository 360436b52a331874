"""Images on the engine: list, inspect, history, tag, remove, prune; pull, push, build.

The pull, push and build streams yield the engine's decoded progress messages as
they come; errors are translated while iterating, so a job sees EngineError and
nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from containers_app.engine.client import call, client, engine_errors, label_filters
from containers_app.engine.errors import Conflict


def list_images() -> list[dict[str, Any]]:
    """`docker images`: every image with all its tags, one call."""
    return call(lambda c: c.api.images())


def inspect_image(ref: str) -> dict[str, Any]:
    return call(lambda c: c.api.inspect_image(ref))


def image_summary(ref: str) -> dict[str, Any]:
    """Id, names, repo digests, size and labels of one local image."""
    attrs = call(lambda c: c.api.inspect_image(ref))
    return {
        "id": attrs.get("Id", ""),
        "tags": list(attrs.get("RepoTags") or []),
        "digests": list(attrs.get("RepoDigests") or []),
        "size": attrs.get("Size", 0),
        "labels": (attrs.get("Config") or {}).get("Labels") or {},
        "created": attrs.get("Created", ""),
    }


def local_image_names() -> list[dict[str, Any]]:
    """Every local `repository:tag` with its image id, newest image first (for pick lists)."""
    images = call(lambda c: c.api.images())
    rows = []
    for img in sorted(images, key=lambda i: i.get("Created", 0), reverse=True):
        for name in img.get("RepoTags") or []:
            if name != "<none>:<none>":
                rows.append({"ref": name, "id": img.get("Id", ""), "labels": img.get("Labels")})
    return rows


def image_history(ref: str) -> list[dict[str, Any]]:
    """`docker history`: the image's layers, newest first."""
    return list(call(lambda c: c.api.history(ref)) or [])


def remove_image(ref: str, *, force: bool = False) -> list[dict[str, str]]:
    """`docker rmi [-f]`: what was untagged and deleted."""
    return call(lambda c: c.api.remove_image(ref, force=force)) or []


def prune_images(*, label: str = "") -> dict[str, Any]:
    """`docker image prune [--filter label=...]`: dangling images only."""
    return call(lambda c: c.api.prune_images(filters={"dangling": True, **label_filters(label)}))


def tag_image(source: str, repository: str, tag: str) -> None:
    """`docker tag source repository:tag`."""
    ok = call(lambda c: c.api.tag(source, repository, tag=tag))
    if not ok:
        raise Conflict(f"The engine did not tag {source} as {repository}:{tag}.")


def untag_image(ref: str) -> None:
    """Remove the name `ref` only; the image stays while other names or containers use it."""
    call(lambda c: c.api.remove_image(ref, noprune=True))


def _translated_stream(stream: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    with engine_errors():
        yield from stream


def _transfer_stream(
    send: Callable[..., Iterator[dict[str, Any]]],
    repository: str,
    tag: str,
    auth_config: dict[str, str] | None,
) -> Iterator[dict[str, Any]]:
    with engine_errors():
        raw = send(repository, tag=tag, stream=True, decode=True, auth_config=auth_config)
    return _translated_stream(raw)


def pull_stream(
    repository: str, tag: str, auth_config: dict[str, str] | None
) -> Iterator[dict[str, Any]]:
    """`docker pull repository:tag`, as its progress messages."""
    return _transfer_stream(client().api.pull, repository, tag, auth_config)


def push_stream(
    repository: str, tag: str, auth_config: dict[str, str] | None
) -> Iterator[dict[str, Any]]:
    """`docker push repository:tag`, as its progress messages."""
    return _transfer_stream(client().api.push, repository, tag, auth_config)


def build_stream(
    context: Any,
    *,
    tag: str,
    buildargs: dict[str, str],
    labels: dict[str, str],
    dockerfile: str,
    container_limits: dict[str, Any] | None = None,
    shmsize: int | None = None,
    network_mode: str | None = None,
) -> Iterator[dict[str, Any]]:
    """`docker build` of an uncompressed tar context (a file object), as its output messages.

    `container_limits` (memory, memswap, cpushares, cpusetcpus), `shmsize` and
    `network_mode` bound the container of every RUN step.
    """
    with engine_errors():
        raw = client().api.build(
            fileobj=context,
            custom_context=True,
            tag=tag,
            buildargs=buildargs or None,
            labels=labels,
            dockerfile=dockerfile or None,
            rm=True,
            forcerm=True,
            decode=True,
            container_limits=container_limits or None,
            shmsize=shmsize,
            network_mode=network_mode,
        )
    return _translated_stream(raw)
