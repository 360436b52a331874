"""What the pages and the API do with images:
lists and details for a user, changes through the gate."""

from __future__ import annotations

from typing import Any

from containers_app import containers, gate, translate
from containers_app.engine import images as engine_images
from dashboard import access, ownership


def list_images(user: Any, *, dangling_only: bool = False) -> list[dict[str, Any]]:
    users = containers.rows_by(containers.visible_rows(user), lambda r: [r["image_id"]])
    rows = [
        translate.image_row(raw, users.get(raw["Id"], [])) for raw in engine_images.list_images()
    ]
    if dangling_only:
        rows = [r for r in rows if r["dangling"]]
    rows = access.visible(user, rows, lambda r: r["labels"], shared=lambda r: True)
    # As the gate judges a remove: the owner label, else the one user who brought it in.
    recorded = ownership.sole_owners(r["id"] for r in rows if r["owner"] is None)
    rows = [{**r, "owner": r["owner"] or recorded.get(r["id"])} for r in rows]
    return sorted(rows, key=lambda r: (r["tags"][0] if r["tags"] else "~", r["id"]))


def image_detail(user: Any, ref: str) -> dict[str, Any]:
    target = gate.visible(user, "image", ref)
    history = [translate.history_row(h) for h in engine_images.image_history(target.id)]
    return {"attrs": dict(target.raw), "history": history, "owner": target.owner}


def remove_image(request: Any, ref: str, *, force: bool) -> list[dict[str, str]]:
    return list(gate.perform(request, "image.remove", ref, force=force).result)


def tag_image(request: Any, ref: str, repository: str, tag: str) -> str:
    gate.perform(request, "image.tag", ref, repository=repository, tag=tag)
    return f"{repository}:{tag}"


def prune_images(request: Any, *, label: str = "") -> dict[str, Any]:
    return translate.pruned("image", gate.perform(request, "image.prune", label=label).result)
