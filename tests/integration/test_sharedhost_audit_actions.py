"""The audit rows of container actions from the API and the pages: the right user, role,
target and result, refused attempts included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from dashboard.models import AuditEntry
from tests.rig import LABELS, RUN_ID, docker_cli

pytestmark = [pytest.mark.django_db, pytest.mark.engine]

# Stops at once on SIGTERM, so stop and restart take no grace period.
QUICK_STOP = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]


def rows() -> list[tuple[str, str, str, str, str, str]]:
    return [
        (r.username, r.role, r.action, r.target_name, r.result, r.error)
        for r in AuditEntry.objects.filter(action__startswith="container.").order_by("id")
    ]


def test_container_actions_are_audited_with_who_what_and_how_they_ended(
    make_user: Callable[..., Any], teach: Any, test_image: str
) -> None:
    ann = make_user(f"aua{RUN_ID}", "student")
    bob = make_user(f"aub{RUN_ID}", "student")
    ivy = make_user(f"aui{RUN_ID}", "instructor")
    teach(ivy, ann, bob)
    vic = make_user(f"auv{RUN_ID}", "viewer")
    api = {u: APIClient() for u in (ann, bob, vic)}
    for user, client in api.items():
        client.force_authenticate(user)
    page = Client()
    page.force_login(ivy)
    name = f"dd-au-{RUN_ID}"
    try:
        body = {"image": test_image, "name": name, "command": QUICK_STOP, "labels": LABELS}
        created = api[ann].post("/api/v1/containers/", body, format="json")
        assert created.status_code == 201
        cid = created.json()["id"]
        assert api[ann].post(f"/api/v1/containers/{cid}/stop/").status_code == 200
        assert api[bob].post(f"/api/v1/containers/{cid}/start/").status_code == 404
        assert api[vic].post(f"/api/v1/containers/{cid}/start/").status_code == 403
        assert page.post(f"/containers/{cid}/action/start/").status_code == 302
        assert api[bob].delete(f"/api/v1/containers/{cid}/?force=1").status_code == 404
        assert page.post(f"/containers/{cid}/remove/", {"force": "on"}).status_code == 302
        assert docker_cli("ps", "-aq", "--filter", f"name=^{name}$") == ""
    finally:
        docker_cli("rm", "-f", name, check=False)
    refused_by_bob = (bob.username, "student")
    assert rows() == [
        (ann.username, "student", "container.create", name, "ok", ""),
        (ann.username, "student", "container.stop", name, "ok", ""),
        # A container bob may not see: recorded under the id he sent, with the words a
        # missing container gets.
        (*refused_by_bob, "container.start", "", "error", f"No such container: {cid}"),
        (
            vic.username,
            "viewer",
            "container.start",
            "",
            "error",
            "Your role (viewer) may not control this container.",
        ),
        (ivy.username, "instructor", "container.start", name, "ok", ""),
        (*refused_by_bob, "container.remove", "", "error", f"No such container: {cid}"),
        (ivy.username, "instructor", "container.remove", name, "ok", ""),
    ]
    assert set(
        AuditEntry.objects.filter(action="container.start").values_list("target_id", flat=True)
    ) == {cid}
