"""Who pulled, built or pushed which image through the dashboard (for the shared-host policy)."""

from __future__ import annotations

from registry_app.models import ImageOwnership


def record_owner(image_id: str, ref: str, username: str) -> None:
    ImageOwnership.objects.get_or_create(image_id=image_id, ref=ref, username=username)


def owners_of(image_id: str) -> set[str]:
    return set(ImageOwnership.objects.filter(image_id=image_id).values_list("username", flat=True))
