"""Quotas against the real engine: limits, usage read from labelled containers, the numbers
in each refusal, and two requests at once that together would pass a quota."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from rest_framework.test import APIClient

from containers_app import gate
from dashboard import quotas
from dashboard.models import Quota, RoleQuota
from dashboard.quotas import Limits, QuotaExceeded, Usage
from dashboard.specs import ContainerSpec
from tests.rig import LABELS, RUN_ID, docker_cli

pytestmark = pytest.mark.engine
MIB = 2**20


@pytest.fixture
def owner_name() -> str:
    # Unique per run, so other runs' containers on the shared engine never count.
    return f"q{RUN_ID}"


@pytest.fixture
def student(make_user: Callable[..., Any], owner_name: str) -> Any:
    return make_user(owner_name, "student")


@pytest.fixture
def owned(make_container: Callable[..., Any], owner_name: str) -> Callable[..., Any]:
    """A container of the student, made with docker-py (not our code), with given limits."""

    def make(*, start: bool = True, memory: int = 64 * MIB, cpus: float = 0.25, **kw: Any) -> Any:
        return make_container(
            start=start,
            labels={"dockdash.owner": owner_name},
            mem_limit=memory,
            nano_cpus=int(cpus * 1e9),
            pids_limit=64,
            **kw,
        )

    return make


def test_a_student_gets_the_role_defaults_and_an_own_quota_overrides_field_by_field(
    student: Any,
) -> None:
    defaults = RoleQuota.objects.get(role="student")
    assert quotas.limits_for(student) == Limits(
        **{name: getattr(defaults, name) for name in Quota.LIMIT_FIELDS}
    )
    Quota.objects.create(user=student, max_running=7, memory_total=None)
    limits = quotas.limits_for(student)
    assert limits.max_running == 7
    assert limits.memory_total == defaults.memory_total


def test_admins_have_no_limits_and_their_specs_are_left_alone(admin_user: Any) -> None:
    assert quotas.limits_for(admin_user).unlimited
    spec = ContainerSpec(image="x")
    assert quotas.apply_defaults(admin_user, spec) is spec


def test_apply_defaults_fills_only_the_empty_limits(student: Any) -> None:
    limits = quotas.limits_for(student)
    filled = quotas.apply_defaults(student, ContainerSpec(image="x", cpus=0.2, pids_limit=0))
    assert filled.memory == limits.memory_per_container
    assert filled.cpus == 0.2
    assert filled.pids_limit == limits.pids_per_container


def test_usage_counts_the_owners_containers_on_the_engine(
    student: Any, owned: Callable[..., Any], owner_name: str
) -> None:
    owned(memory=64 * MIB, cpus=0.25)
    owned(memory=32 * MIB, cpus=0.5)
    paused = owned(memory=16 * MIB, cpus=0.1)
    paused.pause()
    owned(start=False, memory=128 * MIB)
    usage = gate.usage_of(owner_name)
    # the judge: the Docker CLI's view of the same label
    listed = docker_cli("ps", "-aq", "--filter", f"label=dockdash.owner={owner_name}").split()
    up = docker_cli("ps", "-q", "--filter", f"label=dockdash.owner={owner_name}").split()
    assert usage.containers == len(listed) == 4
    assert usage.running == len(up) == 3  # a paused container still holds its memory
    assert usage.memory == (64 + 32 + 16) * MIB
    assert usage.nano_cpus == int(0.85e9)
    assert usage.unlimited_running == []


def test_create_is_refused_with_the_numbers_when_the_running_quota_is_full(
    student: Any, owned: Callable[..., Any]
) -> None:
    Quota.objects.create(user=student, max_running=2)
    owned()
    owned()
    spec = quotas.apply_defaults(student, ContainerSpec(image="x"))
    with pytest.raises(QuotaExceeded) as info:
        quotas.check_create(quotas.limits_for(student), spec, gate.usage_of(student.username))
    assert info.value.message == "You use 2 of 2 running containers; stop one first."
    # not starting it is fine: only the total counts then
    quotas.check_create(
        quotas.limits_for(student), replace(spec, start=False), gate.usage_of(student.username)
    )


def test_create_is_refused_when_the_container_total_is_reached(
    student: Any, owned: Callable[..., Any]
) -> None:
    Quota.objects.create(user=student, max_containers=2)
    owned(start=False)
    owned(start=False)
    spec = quotas.apply_defaults(student, ContainerSpec(image="x", start=False))
    with pytest.raises(QuotaExceeded, match="You have 2 of 2 containers; remove one first."):
        quotas.check_create(quotas.limits_for(student), spec, gate.usage_of(student.username))


def test_memory_and_cpus_in_total_count_the_running_containers(
    student: Any, owned: Callable[..., Any]
) -> None:
    Quota.objects.create(
        user=student,
        memory_total=100 * MIB,
        cpus_total=1.0,
        memory_per_container=100 * MIB,
        cpus_per_container=1.0,
    )
    owned(memory=64 * MIB, cpus=0.5)
    owned(start=False, memory=64 * MIB, cpus=0.5)  # stopped: holds nothing
    spec = quotas.apply_defaults(student, ContainerSpec(image="x", memory=48 * MIB, cpus=0.25))
    with pytest.raises(QuotaExceeded) as info:
        quotas.check_create(quotas.limits_for(student), spec, gate.usage_of(student.username))
    assert info.value.message == (
        "Your running containers use 64 MiB of 100 MiB memory; this one needs 48 MiB more."
    )
    spec = replace(spec, memory=32 * MIB, cpus=0.75)
    with pytest.raises(QuotaExceeded) as info:
        quotas.check_create(quotas.limits_for(student), spec, gate.usage_of(student.username))
    assert info.value.message == (
        "Your running containers use 0.5 of 1 CPUs; this one needs 0.75 more."
    )
    quotas.check_create(
        quotas.limits_for(student), replace(spec, cpus=0.5), gate.usage_of(student.username)
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            {"memory": 1024 * MIB},
            "Memory 1 GiB for this container is above your limit of 256 MiB",
        ),
        ({"cpus": 2.0}, "2 CPUs for this container is above your limit of 0.5 per container"),
        (
            {"pids_limit": 100000},
            "pids limit of 100000 for this container is above your limit of 256",
        ),
    ],
)
def test_per_container_limits_are_refused_with_the_numbers(
    student: Any, change: dict[str, Any], words: str
) -> None:
    spec = quotas.apply_defaults(student, replace(ContainerSpec(image="x"), **change))
    with pytest.raises(QuotaExceeded, match=words):
        quotas.check_create(quotas.limits_for(student), spec, Usage())


def test_start_counts_against_the_owners_quota_whoever_starts_it(
    student: Any, owned: Callable[..., Any], make_user: Callable[..., Any], teach: Any
) -> None:
    Quota.objects.create(user=student, max_running=1)
    owned()
    stopped = owned(start=False)
    instructor = make_user(f"i{RUN_ID}", "instructor")
    teach(instructor, student)
    for who in (student, instructor):
        api = APIClient()
        api.force_authenticate(who)
        response = api.post(f"/api/v1/containers/{stopped.id}/start/")
        assert response.status_code == 403
        assert "You use 1 of 1 running containers" in response.json()["error"]
    api = APIClient()
    api.force_authenticate(make_user(f"a{RUN_ID}", "admin"))
    assert api.post(f"/api/v1/containers/{stopped.id}/start/").status_code == 200
    stopped.reload()
    assert stopped.status == "running"


def test_start_of_a_container_without_limits_is_refused(
    student: Any, make_container: Callable[..., Any], owner_name: str
) -> None:
    bare = make_container(start=False, labels={"dockdash.owner": owner_name})
    api = APIClient()
    api.force_authenticate(student)
    response = api.post(f"/api/v1/containers/{bare.id}/start/")
    assert response.status_code == 403
    assert "has no memory limit" in response.json()["error"]


@pytest.fixture
def lock_dir(settings: Any, tmp_path: Any) -> Iterator[Any]:
    settings.LOCK_DIR = tmp_path / "locks"
    yield settings.LOCK_DIR


@pytest.mark.django_db(transaction=True)
def test_two_creates_at_once_cannot_together_pass_the_running_quota(
    make_user: Callable[..., Any],
    docker_client: Any,
    test_image: str,
    owner_name: str,
    lock_dir: Any,
) -> None:
    student = make_user(owner_name, "student")
    Quota.objects.create(user=student, max_running=1)
    spec = ContainerSpec(image=test_image, command=["sleep", "3600"], labels=dict(LABELS))
    both_ready = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt() -> None:
        both_ready.wait(timeout=10)
        try:
            gate.perform(SimpleNamespace(user=student, META={}), "container.create", spec=spec)
            outcomes.append("created")
        except QuotaExceeded as exc:
            outcomes.append(exc.message)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["You use 1 of 1 running containers; stop one first.", "created"]
    running = docker_cli("ps", "-q", "--filter", f"label=dockdash.owner={owner_name}").split()
    assert len(running) == 1


def test_the_lock_serializes_two_processes(lock_dir: Any, tmp_path: Any) -> None:
    """A second process waits for the first one's block to end (flock, not a thread lock)."""
    import subprocess
    import sys
    import time

    code = (
        "import fcntl,sys,time;"
        "f=open(sys.argv[1],'a+b');fcntl.flock(f,fcntl.LOCK_EX);"
        "print('locked',flush=True);time.sleep(1.0)"
    )
    with quotas.serialized("someone"):
        path = next(lock_dir.iterdir())
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
        )
        time.sleep(0.5)  # the other process must still be waiting now
        assert proc.poll() is None
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    assert time.monotonic() - started >= 0.5
    proc.wait(timeout=10)
