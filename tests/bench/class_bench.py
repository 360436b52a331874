"""A class's jobs against the Docker CLI doing the same in parallel, in the same run.

Provisioning: 30 students x a two-container lab (a network, a working volume and
two containers with a published port each per student) through the dashboard's
job, against a parallel shell loop of `docker network create`, `docker volume
create` and `docker run`. Stop-all: the class's 60 containers stopped by the
dashboard's job, against `docker stop` of 60 equal containers in parallel.
Target: at most 1.5x for both.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from classes_app.class_jobs import PARALLEL
from tests import rig
from tests.bench.conftest import bench_count
from tests.rig import LABELS, RUN_ID, TEST_LABEL

pytestmark = pytest.mark.django_db(transaction=True)
SLEEPER = "trap 'exit 0' TERM; sleep 3600 & wait"
TARGET = 1.5


def _post(client: Client, path: str, body: Any) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json")


def _job_seconds(client: Client, answer: Any) -> float:
    started = time.perf_counter()
    job_id = answer.json()["job"]

    def finished() -> dict[str, Any] | None:
        job = client.get(f"/api/v1/jobs/{job_id}/").json()
        return job if job["state"] != "running" else None

    job = rig.wait_for(finished, timeout=600, interval=0.1, what="the job")
    assert job["state"] == "succeeded", job["error"]
    return time.perf_counter() - started


def _cli_loop(lines: list[str]) -> float:
    """Run each shell line, PARALLEL at a time (xargs -P), as a teacher's script would."""
    started = time.perf_counter()
    done = subprocess.run(
        ["xargs", "-d", "\n", "-P", str(PARALLEL), "-I", "{}", "sh", "-c", "{}"],
        input="\n".join(lines) + "\n",
        text=True,
        check=False,
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr
    return time.perf_counter() - started


def _cli_student(prefix: str, index: int, image: str, ports: tuple[int, int]) -> str:
    label = f"--label {TEST_LABEL}={RUN_ID}"
    runs = [
        f"docker run -d --name {prefix}-{name} {label} --network {prefix} -v {prefix}-work:/data "
        f'-p {port}:{inner} --memory 32m {image} sh -c "{SLEEPER}"'
        for name, port, inner in (("shell", ports[0], 80), ("web", ports[1], 8080))
    ]
    return " && ".join(
        [
            f"docker network create {label} --subnet 10.90.{index}.0/28 {prefix}",
            f"docker volume create {label} {prefix}-work",
            *runs,
        ]
    )


def _report(what: str, ours: float, cli: float) -> None:
    ratio = ours / cli
    print(
        f"\n[bench] {what}: dashboard {ours:.2f} s, docker CLI {cli:.2f} s, "
        f"ratio {ratio:.2f} (target <= {TARGET})"
    )
    assert ratio <= TARGET, f"{what}: {ratio:.2f}x the CLI"


def test_provisioning_and_stopping_a_class_against_the_docker_cli(
    make_user: Callable[..., Any], test_image: str, docker_client: Any
) -> None:
    students = bench_count("STUDENTS", 30)
    teacher = make_user(f"bt{RUN_ID}", "instructor")
    client = Client()
    client.force_login(teacher)
    slug = f"bench{RUN_ID}"
    assert _post(client, "/api/v1/classes/", {"name": "bench", "slug": slug}).status_code == 201
    csv = "".join(f"b{i:02d}{RUN_ID}\n" for i in range(students))
    assert _post(client, f"/api/v1/classes/{slug}/roster/", {"csv": csv}).status_code == 200
    lab = {
        "name": "bench lab",
        "slug": "lab",
        "containers": [
            {
                "name": name,
                "image": test_image,
                "command": ["sh", "-c", SLEEPER],
                "memory": "32m",
                "ports": [{"container_port": port}],
            }
            for name, port in (("shell", 80), ("web", 8080))
        ],
        "network": True,
        "volume": "/data",
        "labels": LABELS,
    }
    assert _post(client, f"/api/v1/classes/{slug}/labs/", lab).status_code == 201

    ours = _job_seconds(client, _post(client, f"/api/v1/classes/{slug}/labs/lab/provision/", {}))
    running = rig.docker_cli("ps", "-q", "--filter", f"label=dockdash.class={slug}").split()
    assert len(running) == 2 * students

    base = 29000 - 2 * students  # the top of the range, away from the dashboard's seats
    lines = [
        _cli_student(f"cli{RUN_ID}-{i:02d}", i, test_image, (base + 2 * i, base + 2 * i + 1))
        for i in range(students)
    ]
    cli = _cli_loop(lines)
    cli_ids = rig.docker_cli("ps", "-q", "--filter", f"name=cli{RUN_ID}-").split()
    assert len(cli_ids) == 2 * students
    _report(f"provision {students} two-container labs", ours, cli)

    ours = _job_seconds(client, _post(client, f"/api/v1/classes/{slug}/stop/", {}))
    assert rig.docker_cli("ps", "-q", "--filter", f"label=dockdash.class={slug}").split() == []
    cli = _cli_loop([f"docker stop {cid}" for cid in cli_ids])
    _report(f"stop-all of {2 * students} containers", ours, cli)
