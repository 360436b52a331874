"""The holes found when the shared host was attacked as a student, each tried again through
the URL a student would hit, with the Docker CLI as the judge: start skipping the quotas,
the symlink swap to the host's root, volume and network quotas, a refused create leaving
its volume, one answer for missing and invisible objects, and prune as an admin power."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from dashboard.models import AuditEntry, Quota
from tests.rig import LABELS, RUN_ID, docker_cli

pytestmark = [pytest.mark.django_db, pytest.mark.engine]

STUDENT = f"gate{RUN_ID}"
MIB = 2**20


@pytest.fixture
def student(make_user: Callable[..., Any]) -> Any:
    return make_user(STUDENT, "student")


def owned(kind: str = "container", *, running: bool = False) -> list[str]:
    label = f"label=dockdash.owner={STUDENT}"
    if kind == "container":
        return docker_cli("ps", "-q" if running else "-aq", "--filter", label).split()
    return docker_cli(kind, "ls", "-q", "--filter", label).split()


@pytest.fixture(autouse=True)
def cleanup() -> Iterator[None]:
    yield
    for kind, rm in (("container", ("rm", "-f")), ("volume", ("volume", "rm", "-f"))):
        ids = owned(kind)
        if ids:
            docker_cli(*rm, *ids, check=False)
    ids = owned("network")
    if ids:
        docker_cli("network", "rm", *ids, check=False)


def create_stopped(student_api: APIClient, test_image: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        body = {
            "image": test_image,
            "name": f"gate{RUN_ID}-{i}",
            "command": ["sleep", "3600"],
            "labels": LABELS,
            "start": False,
        }
        response = student_api.post("/api/v1/containers/", body, format="json")
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])
    return ids


# ---------------------------------------------------------------- hole 1: start and the quotas


def test_starting_stopped_containers_through_the_api_holds_the_running_quota(
    student_api: APIClient, student: Any, test_image: str
) -> None:
    # Role defaults: 3 running, 768 MiB and 1.5 CPUs of running containers.
    ids = create_stopped(student_api, test_image, 5)
    answers = [student_api.post(f"/api/v1/containers/{cid}/start/").status_code for cid in ids]
    assert answers == [200, 200, 200, 403, 403]
    assert len(owned(running=True)) == 3
    refused = student_api.post(f"/api/v1/containers/{ids[3]}/start/").json()
    assert refused["error"] == "You use 3 of 3 running containers; stop one first."
    assert refused["field"] == "start"
    assert AuditEntry.objects.filter(
        action="container.start", target_id=ids[3], result="error"
    ).exists()


def test_the_page_route_and_bulk_start_hold_the_quota_too(
    client: Any, student_api: APIClient, student: Any, test_image: str
) -> None:
    ids = create_stopped(student_api, test_image, 5)
    client.force_login(student)
    for cid in ids[:3]:
        client.post(f"/containers/{cid}/action/start/")
    assert len(owned(running=True)) == 3
    response = client.post(f"/containers/{ids[3]}/action/start/", follow=True)
    texts = [str(m) for m in response.context["messages"]]
    assert any("3 of 3 running containers" in t for t in texts), texts
    response = client.post("/containers/bulk/", {"action": "start", "ids": ids[3:]}, follow=True)
    texts = [str(m) for m in response.context["messages"]]
    assert sum("3 of 3 running containers" in t for t in texts) == 2, texts
    # Each refused item is named as the user knows it, not by its id.
    for i in (3, 4):
        assert any(t.startswith(f"gate{RUN_ID}-{i}: start failed") for t in texts), texts
    assert len(owned(running=True)) == 3


def test_restart_and_unpause_are_judged_as_starts(
    student_api: APIClient, student: Any, test_image: str
) -> None:
    ids = create_stopped(student_api, test_image, 4)
    for cid in ids[:3]:
        assert student_api.post(f"/api/v1/containers/{cid}/start/").status_code == 200
    # A restart of a stopped container starts it: over the quota, refused.
    assert student_api.post(f"/api/v1/containers/{ids[3]}/restart/").status_code == 403
    assert len(owned(running=True)) == 3
    # Pausing and unpausing a container that fits still works.
    assert student_api.post(f"/api/v1/containers/{ids[0]}/pause/").status_code == 200
    assert student_api.post(f"/api/v1/containers/{ids[0]}/unpause/").status_code == 200
    # The quota shrinks under a paused container: unpausing it is refused.
    Quota.objects.update_or_create(user=student, defaults={"max_running": 2})
    assert student_api.post(f"/api/v1/containers/{ids[0]}/pause/").status_code == 200
    answer = student_api.post(f"/api/v1/containers/{ids[0]}/unpause/")
    assert answer.status_code == 403, answer.content
    assert docker_cli("inspect", "-f", "{{.State.Status}}", ids[0]).strip() == "paused"


def test_a_start_over_the_memory_total_is_refused_with_the_numbers(
    student_api: APIClient, student: Any, test_image: str
) -> None:
    Quota.objects.update_or_create(
        user=student, defaults={"max_running": 10, "memory_total": 512 * MIB}
    )
    ids = create_stopped(student_api, test_image, 3)  # 256 MiB each, by the role's default
    answers = [student_api.post(f"/api/v1/containers/{cid}/start/").status_code for cid in ids]
    assert answers == [200, 200, 403]
    error = student_api.post(f"/api/v1/containers/{ids[2]}/start/").json()["error"]
    assert "use 512 MiB of 512 MiB memory" in error


# ---------------------------------------------------------------- hole 2: the symlink swap


@pytest.fixture
def allow_list(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "allow"
    (root / STUDENT / "evil").mkdir(parents=True)
    settings.BIND_ALLOWLIST = [str(root)]
    return root


def test_a_writable_bind_of_an_allowed_folder_is_refused(
    student_api: APIClient, test_image: str, allow_list: Path
) -> None:
    body = {
        "image": test_image,
        "command": ["sleep", "3600"],
        "labels": LABELS,
        "volumes": [{"source": str(allow_list / STUDENT), "target": "/w"}],
    }
    response = student_api.post("/api/v1/containers/", body, format="json")
    assert response.status_code == 403
    assert response.json()["field"] == "volumes"
    assert "read-only" in response.json()["error"]
    assert owned() == []


def test_the_symlink_swap_cannot_reach_the_hosts_root(
    student_api: APIClient, test_image: str, allow_list: Path
) -> None:
    folder = allow_list / STUDENT

    def create(name: str, source: Path, start: bool) -> str:
        body = {
            "image": test_image,
            "name": name,
            "command": ["sleep", "3600"],
            "labels": LABELS,
            "start": start,
            "volumes": [{"source": str(source), "target": "/w", "read_only": True}],
        }
        response = student_api.post("/api/v1/containers/", body, format="json")
        assert response.status_code == 201, response.content
        return str(response.json()["id"])

    a = create(f"gate{RUN_ID}-a", folder, True)
    b = create(f"gate{RUN_ID}-b", folder / "evil", False)
    # In A's shell, the swap the attack used: the bind is read-only, so it fails.
    swap = docker_cli(
        "exec", a, "sh", "-c", "rmdir /w/evil 2>&1; ln -s / /w/evil 2>&1", check=False
    )
    assert "Read-only file system" in swap
    assert (folder / "evil").is_dir() and not (folder / "evil").is_symlink()
    assert student_api.post(f"/api/v1/containers/{b}/start/").status_code == 200
    # B sees the empty folder it was made with, not the host's /.
    assert docker_cli("exec", b, "ls", "-a", "/w").split() == [".", ".."]


def test_a_volume_that_binds_a_host_folder_is_refused(
    student_api: APIClient, test_image: str, allow_list: Path, docker_client: Any
) -> None:
    # Made by an admin (or an earlier version): a student may not mount it.
    volume = docker_client.volumes.create(
        f"gate{RUN_ID}-bindvol",
        driver_opts={"type": "none", "o": "bind", "device": str(allow_list / STUDENT)},
        labels={**LABELS, "dockdash.owner": STUDENT},
    )
    try:
        body = {
            "image": test_image,
            "command": ["sleep", "3600"],
            "labels": LABELS,
            "volumes": [{"source": volume.name, "target": "/w"}],
        }
        response = student_api.post("/api/v1/containers/", body, format="json")
        assert response.status_code == 403
        assert "binds a host folder" in response.json()["error"]
        assert owned() == []
    finally:
        volume.remove(force=True)


# ---------------------------------------------------------------- hole 8: volumes and networks


def statuses_of_creating(api: APIClient, kind: str, names: list[str]) -> list[int]:
    body = {"labels": LABELS}
    return [
        api.post(f"/api/v1/{kind}/", {**body, "name": n}, format="json").status_code for n in names
    ]


def test_volumes_and_networks_count_against_quotas(student_api: APIClient, student: Any) -> None:
    Quota.objects.update_or_create(user=student, defaults={"max_volumes": 2, "max_networks": 1})
    names = [f"gate{RUN_ID}-v{i}" for i in range(3)]
    answers = statuses_of_creating(student_api, "volumes", names)
    assert answers == [201, 201, 403]
    assert len(owned("volume")) == 2
    refused = student_api.post("/api/v1/volumes/", {"name": names[2]}, format="json").json()
    assert refused == {"error": "You have 2 of 2 volumes; remove one first.", "field": "volumes"}
    nets = [f"gate{RUN_ID}-n{i}" for i in range(2)]
    answers = statuses_of_creating(student_api, "networks", nets)
    assert answers == [201, 403]
    assert len(owned("network")) == 1


def test_a_container_whose_new_volume_passes_the_volume_quota_is_refused(
    student_api: APIClient, student: Any, test_image: str
) -> None:
    Quota.objects.update_or_create(user=student, defaults={"max_volumes": 0})
    body = {
        "image": test_image,
        "command": ["sleep", "3600"],
        "labels": LABELS,
        "volumes": [{"source": f"gate{RUN_ID}-data", "target": "/data"}],
    }
    response = student_api.post("/api/v1/containers/", body, format="json")
    assert response.status_code == 403
    assert "0 of 0 volumes" in response.json()["error"]
    assert owned() == [] and owned("volume") == []


# ---------------------------------------------------------------- hole 10: the smaller ones


def test_a_refused_create_leaves_no_volume_behind(student_api: APIClient) -> None:
    body = {
        "image": f"dockdash-missing-{RUN_ID}:latest",
        "labels": LABELS,
        "volumes": [{"source": f"gate{RUN_ID}-left", "target": "/data"}],
    }
    response = student_api.post("/api/v1/containers/", body, format="json")
    assert response.status_code == 404, response.content
    assert owned() == []
    assert docker_cli("volume", "ls", "-q", "--filter", f"name=gate{RUN_ID}-left") == ""


def test_another_users_container_answers_as_a_missing_one(
    student_api: APIClient, make_container: Callable[..., Any]
) -> None:
    theirs = make_container(labels={"dockdash.owner": f"other{RUN_ID}"})
    for ref in (theirs.id, theirs.name, f"nothing-{RUN_ID}"):
        for method, path in (
            ("get", f"/api/v1/containers/{ref}/"),
            ("post", f"/api/v1/containers/{ref}/start/"),
            ("delete", f"/api/v1/containers/{ref}/"),
        ):
            response = getattr(student_api, method)(path)
            assert response.status_code == 404
            assert response.json() == {"error": f"No such container: {ref}"}
    theirs.reload()
    assert theirs.status == "running"


def test_prune_is_an_admin_power(
    make_user: Callable[..., Any], docker_client: Any, admin_user: Any
) -> None:
    volume = docker_client.volumes.create(f"gate{RUN_ID}-unused", labels=LABELS)
    try:
        for role in ("instructor", "student"):
            client = APIClient()
            client.force_authenticate(make_user(f"pr{role}{RUN_ID}", role))
            for kind in ("images", "networks", "volumes"):
                response = client.post(f"/api/v1/{kind}/prune/?label=dockdash.test={RUN_ID}")
                assert response.status_code == 403, (role, kind, response.content)
        assert docker_cli("volume", "ls", "-q", "--filter", f"name={volume.name}").strip()
        client = APIClient()
        client.force_authenticate(admin_user)
        response = client.post(f"/api/v1/volumes/prune/?label=dockdash.test={RUN_ID}")
        assert response.status_code == 200
        assert volume.name in response.json()["deleted"]
    finally:
        with contextlib.suppress(Exception):
            volume.remove(force=True)
