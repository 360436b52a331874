"""Who pulled, built or pushed which image through the dashboard (for the shared-host policy)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from dashboard.models import ImageOwnership


def record_owner(image_id: str, ref: str, username: str) -> None:
    ImageOwnership.objects.get_or_create(image_id=image_id, ref=ref, username=username)


def sole_owners(image_ids: Iterable[str]) -> dict[str, str]:
    """For a list of images, in one query: the owner of each image one user alone brought in
    (as the gate judges one image: several users make it nobody's but admins')."""
    found: dict[str, set[str]] = defaultdict(set)
    rows = ImageOwnership.objects.filter(image_id__in=list(image_ids))
    for image_id, username in rows.values_list("image_id", "username"):
        found[image_id].add(username)
    return {image_id: next(iter(names)) for image_id, names in found.items() if len(names) == 1}
