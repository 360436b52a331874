"""An image a student pulled or built through the dashboard is theirs to remove."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from dashboard.ownership import record_owner
from tests.rig import RUN_ID, docker_cli

pytestmark = pytest.mark.django_db


def _tagged(docker_client: Any, test_image: str, name: str) -> str:
    """A second tag of the test image (which carries no owner label), as pulled would be."""
    image = docker_client.images.get(test_image)
    image.tag(f"dd-own-{RUN_ID}", name)
    return str(image.id)


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_sole_recorded_owner_may_remove_their_image_and_others_may_not(
    make_user: Any, docker_client: Any, test_image: str
) -> None:
    ann, bob = make_user("own-ann"), make_user("own-bob")
    ref = f"dd-own-{RUN_ID}:ann"
    image_id = _tagged(docker_client, test_image, "ann")
    record_owner(image_id, ref, "own-ann")
    refused = _api(bob).delete(f"/api/v1/images/{ref}/")
    assert refused.status_code == 403, refused.content
    assert ref in docker_cli("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    removed = _api(ann).delete(f"/api/v1/images/{ref}/")
    assert removed.status_code == 200, removed.content
    assert ref not in docker_cli("images", "--format", "{{.Repository}}:{{.Tag}}").split()


def test_an_image_two_students_brought_in_is_left_to_admins(
    make_user: Any, docker_client: Any, test_image: str
) -> None:
    ann = make_user("own-ann2")
    make_user("own-bob2")
    ref = f"dd-own-{RUN_ID}:both"
    image_id = _tagged(docker_client, test_image, "both")
    record_owner(image_id, ref, "own-ann2")
    record_owner(image_id, ref, "own-bob2")
    try:
        assert _api(ann).delete(f"/api/v1/images/{ref}/").status_code == 403
        assert ref in docker_cli("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    finally:
        docker_cli("rmi", ref, check=False)
