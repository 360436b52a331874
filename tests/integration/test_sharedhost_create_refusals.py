"""A student's create requests that the shared-host policy or the quotas refuse, through the
create form and the API: each answers with the reason, and the Docker CLI confirms that no
container was made. Quotas through the API, two creates at once, and the audit rows of
container actions (refusals included)."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from dashboard.models import AuditEntry, Quota
from tests.rig import LABELS, RUN_ID, docker_cli, docker_run_labelled

PORTS = "{}-{}".format(*settings.STUDENT_PORT_RANGE)  # this worker's (tests/settings.py)

pytestmark = [pytest.mark.django_db, pytest.mark.engine]

STUDENT, OTHER = f"pra{RUN_ID}", f"prb{RUN_ID}"
MIB = 2**20


@pytest.fixture(scope="module")
def others_volume(docker_client: Any) -> Iterator[str]:
    volume = docker_client.volumes.create(
        f"dd-pr-{RUN_ID}-bobs", labels={**LABELS, "dockdash.owner": OTHER}
    )
    yield volume.name
    volume.remove(force=True)


@pytest.fixture
def student(make_user: Callable[..., Any]) -> Any:
    return make_user(STUDENT, "student")


def owned_containers(owner: str = STUDENT) -> list[str]:
    return docker_cli("ps", "-aq", "--filter", f"label=dockdash.owner={owner}").split()


@pytest.fixture
def cleanup() -> Iterator[None]:
    yield
    ids = owned_containers()
    if ids:
        docker_cli("rm", "-f", *ids, check=False)


# (what, API body fields, the field named, words of the message)
API_REFUSALS = [
    ("privileged", {"privileged": True}, "privileged", "Privileged containers are for admins"),
    ("cap_add", {"cap_add": ["SYS_ADMIN"]}, "cap_add", "Adding capabilities (SYS_ADMIN)"),
    ("devices", {"devices": ["/dev/sda"]}, "devices", "Host devices (/dev/sda)"),
    ("pid host", {"pid_mode": "host"}, "pid_mode", "pid namespace mode 'host'"),
    ("ipc host", {"ipc_mode": "host"}, "ipc_mode", "ipc namespace mode 'host'"),
    ("uts host", {"uts_mode": "host"}, "uts_mode", "uts namespace mode 'host'"),
    ("userns host", {"userns_mode": "host"}, "userns_mode", "userns namespace mode 'host'"),
    ("seccomp", {"security_opt": ["seccomp=unconfined"]}, "security_opt", "disables"),
    ("sysctls", {"sysctls": {"net.ipv4.ip_forward": "1"}}, "sysctls", "net.ipv4.ip_forward"),
    ("cgroup parent", {"cgroup_parent": "/"}, "cgroup_parent", "cgroup parent"),
    ("bind /", {"volumes": [{"source": "/", "target": "/host"}]}, "volumes", "'/'"),
    (
        "docker socket",
        {"volumes": [{"source": "/var/run/docker.sock", "target": "/s"}]},
        "volumes",
        "docker.sock",
    ),
    (
        "port 8080",
        {"ports": [{"container_port": 80, "host_port": 8080}]},
        "ports",
        "Host port 8080 (for container port 80/tcp) is outside the range you may publish on, "
        f"{PORTS}",
    ),
    ("network host", {"network": "host"}, "network", "Network mode 'host'"),
]


@pytest.mark.parametrize(
    ("what", "fields", "field", "words"), API_REFUSALS, ids=[r[0] for r in API_REFUSALS]
)
def test_the_api_refuses_with_the_reason_and_creates_nothing(
    student_api: APIClient,
    test_image: str,
    what: str,
    fields: dict[str, Any],
    field: str,
    words: str,
) -> None:
    body = {"image": test_image, "labels": LABELS, **fields}
    response = student_api.post("/api/v1/containers/", body, format="json")
    assert response.status_code == 403, response.content
    assert response.json()["field"] == field
    assert words in response.json()["error"]
    assert owned_containers() == []


def test_the_api_refuses_another_students_volume(
    student_api: APIClient, test_image: str, others_volume: str
) -> None:
    body = {"image": test_image, "volumes": [{"source": others_volume, "target": "/data"}]}
    response = student_api.post("/api/v1/containers/", body, format="json")
    assert response.status_code == 403
    assert response.json() == {
        "error": f"You may mount only volumes you own; {others_volume!r} is not yours.",
        "field": "volumes",
    }
    assert owned_containers() == []


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"volumes_from": ["web1"]}, "volumes_from", "unknown field"),
        ({"host_config": {"Privileged": True}}, "host_config", "unknown field"),
        ({"labels": {"dockdash.owner": OTHER}}, "labels", "set by the dashboard"),
    ],
    ids=["volumes_from", "host_config", "owner label"],
)
def test_the_api_refuses_keys_it_would_otherwise_drop_and_the_owner_label(
    student_api: APIClient, test_image: str, body: dict[str, Any], field: str, words: str
) -> None:
    response = student_api.post("/api/v1/containers/", {"image": test_image, **body}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field and words in response.json()["error"]
    assert owned_containers() == [] and owned_containers(OTHER) == []


# (what, form fields, words shown on the form)
FORM_REFUSALS = [
    ("bind /", {"volumes": "/:/host"}, "'/'"),
    ("docker socket", {"volumes": "/var/run/docker.sock:/s"}, "docker.sock"),
    ("port 8080", {"ports": "8080:80"}, f"outside the range you may publish on, {PORTS}"),
    ("network host", {"network": "host"}, "Network mode &#x27;host&#x27;"),
    ("owner label", {"labels": f"dockdash.owner={OTHER}"}, "set by the dashboard"),
]


@pytest.mark.parametrize(
    ("what", "fields", "words"), FORM_REFUSALS, ids=[r[0] for r in FORM_REFUSALS]
)
def test_the_create_form_refuses_with_the_reason_and_creates_nothing(
    client: Any, student: Any, test_image: str, what: str, fields: dict[str, str], words: str
) -> None:
    client.force_login(student)
    data = {"image": test_image, "restart_policy": "no", "start": "on", **fields}
    response = client.post("/containers/create/", data)
    assert response.status_code == 200
    assert words.replace("'", "&#x27;") in response.content.decode()
    assert owned_containers() == []


def test_a_create_over_the_running_quota_says_why_at_the_top_and_next_to_start_now(
    client: Any, student: Any, test_image: str, cleanup: None
) -> None:
    Quota.objects.create(user=student, max_running=1)
    running = docker_run_labelled(f"dd-pr-{RUN_ID}-run", test_image, "sleep", "60", owner=STUDENT)
    client.force_login(student)
    data = {"image": test_image, "restart_policy": "no", "command": "sleep 60", "start": "on"}
    body = client.post("/containers/create/", data).content.decode()
    words = "You use 1 of 1 running containers; stop one first."
    top = re.search(r'id="form-error">(.*?)</div>', body, re.S)
    assert top is not None and words in top.group(1)
    assert f'<span class="field-error" data-error-for="start">{words}</span>' in body
    assert owned_containers() == [running[:12]]


def test_the_create_form_refuses_another_students_volume(
    client: Any, student: Any, test_image: str, others_volume: str
) -> None:
    client.force_login(student)
    data = {"image": test_image, "restart_policy": "no", "volumes": f"{others_volume}:/data"}
    body = client.post("/containers/create/", data).content.decode()
    assert f"{others_volume}&#x27; is not yours" in body
    assert owned_containers() == []
    row = AuditEntry.objects.get(action="container.create", username=STUDENT)
    assert (row.role, row.result) == ("student", "error") and "is not yours" in row.error


def test_refusals_are_audited_with_the_student_and_the_reason(
    student_api: APIClient, test_image: str
) -> None:
    student_api.post(
        "/api/v1/containers/", {"image": test_image, "privileged": True}, format="json"
    )
    row = AuditEntry.objects.get(action="container.create", username=STUDENT)
    assert (row.role, row.result, row.target_kind) == ("student", "error", "container")
    assert "Privileged containers are for admins" in row.error


# ---------------------------------------------------------------- quotas through the API


def create(api: APIClient, image: str, name: str, **fields: Any) -> Any:
    body = {"image": image, "name": f"dd-pr-{RUN_ID}-{name}", "labels": LABELS, **fields}
    return api.post("/api/v1/containers/", {**body, "command": ["sleep", "3600"]}, format="json")


def test_the_running_quota_is_refused_with_the_numbers(
    student_api: APIClient, student: Any, test_image: str, cleanup: None
) -> None:
    Quota.objects.create(user=student, max_running=1)
    assert create(student_api, test_image, "r1").status_code == 201
    refused = create(student_api, test_image, "r2")
    assert refused.status_code == 403
    assert refused.json()["error"] == "You use 1 of 1 running containers; stop one first."
    assert len(owned_containers()) == 1


def test_the_total_quota_counts_stopped_containers(
    student_api: APIClient, student: Any, test_image: str, cleanup: None
) -> None:
    Quota.objects.create(user=student, max_containers=1)
    assert create(student_api, test_image, "t1", start=False).status_code == 201
    refused = create(student_api, test_image, "t2", start=False)
    assert refused.status_code == 403
    assert "1 of 1" in refused.json()["error"]
    assert len(owned_containers()) == 1


def test_memory_per_container_and_in_total_are_refused_with_the_numbers(
    student_api: APIClient, student: Any, test_image: str, cleanup: None
) -> None:
    Quota.objects.create(user=student, memory_per_container=64 * MIB, memory_total=100 * MIB)
    too_big = create(student_api, test_image, "m0", memory="128m")
    assert too_big.status_code == 403
    assert too_big.json() == {
        "error": "Memory 128 MiB for this container is above your limit of 64 MiB per container.",
        "field": "memory",
    }
    assert create(student_api, test_image, "m1", memory="64m").status_code == 201
    over_total = create(student_api, test_image, "m2", memory="64m")
    assert over_total.status_code == 403
    assert over_total.json()["error"] == (
        "Your running containers use 64 MiB of 100 MiB memory; this one needs 64 MiB more."
    )
    assert len(owned_containers()) == 1


@pytest.mark.django_db(transaction=True)
def test_two_api_creates_at_once_cannot_together_pass_the_running_quota(
    make_user: Callable[..., Any], test_image: str, cleanup: None
) -> None:
    student = make_user(STUDENT, "student")
    Quota.objects.create(user=student, max_running=1)
    ready = threading.Barrier(2)
    statuses: list[int] = []

    def attempt(n: int) -> None:
        client = APIClient()
        client.force_authenticate(student)
        ready.wait(timeout=10)
        statuses.append(create(client, test_image, f"c{n}").status_code)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses) == [201, 403]
    assert len(docker_cli("ps", "-q", "--filter", f"label=dockdash.owner={STUDENT}").split()) == 1


def test_names_taken_by_other_users_are_refused_without_naming_their_objects(
    student_api: APIClient, docker_client: Any, test_image: str, others_volume: str
) -> None:
    theirs = {**LABELS, "dockdash.owner": OTHER}
    container = docker_client.containers.create(
        test_image, ["sleep", "1"], name=f"dd-pr-{RUN_ID}-taken", labels=theirs
    )
    network = docker_client.networks.create(f"dd-pr-{RUN_ID}-takennet", labels=theirs)
    try:
        body = {"image": test_image, "name": container.name, "start": False}
        response = student_api.post("/api/v1/containers/", body, format="json")
        assert response.status_code == 409 and container.id not in response.json()["error"]
        assert response.json()["field"] == "name"
        # The engine would answer with the other user's volume, or make a second network
        # of the same name (making the first one's name ambiguous).
        response = student_api.post("/api/v1/volumes/", {"name": others_volume}, format="json")
        assert response.json() == {
            "error": f"A volume named {others_volume} already exists; pick another name."
        }
        response = student_api.post("/api/v1/networks/", {"name": network.name}, format="json")
        assert response.status_code == 409
        assert len(docker_client.networks.list(names=[network.name])) == 1
        assert owned_containers() == []
    finally:
        container.remove(force=True)
        network.remove()


def test_a_student_cannot_move_a_shared_tag_onto_another_image(
    student_api: APIClient, docker_client: Any, test_image: str
) -> None:
    base = docker_client.containers.create(test_image, ["true"], labels=LABELS)
    repository = f"dd-pr-{RUN_ID}-shared"
    try:
        # Another image (an admin's: no owner label) that others run as repository:v1.
        other = base.commit(repository=repository, tag="v1", conf={"Labels": LABELS})
        response = student_api.post(
            f"/api/v1/images/{test_image}/tag/",
            {"repository": repository, "tag": "v1"},
            format="json",
        )
        assert response.status_code == 403
        assert "already names another image" in response.json()["error"]
        assert docker_client.images.get(f"{repository}:v1").id == other.id
        fresh = student_api.post(
            f"/api/v1/images/{test_image}/tag/",
            {"repository": repository, "tag": "mine"},
            format="json",
        )
        assert fresh.status_code == 200
        assert (
            docker_client.images.get(f"{repository}:mine").id
            == docker_client.images.get(test_image).id
        )
    finally:
        base.remove(force=True)
        for tag in ("v1", "mine"):
            with contextlib.suppress(Exception):
                docker_client.images.remove(f"{repository}:{tag}")
