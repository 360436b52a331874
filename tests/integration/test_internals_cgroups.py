"""A container's cgroup limits and events, read back from this host's kernel files (cgroup v1).

The judge is what `docker run` was given and what the kernel files say when read here
directly; the dashboard must report the same numbers and name those files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.rig import by_file, wait_for

pytestmark = pytest.mark.django_db


def cgroups_of(client: Any, ref: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/containers/{ref}/cgroups/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["problem"] == "", body["problem"]
    return body


def test_memory_cpus_and_pids_limits_read_back_from_the_kernel_files(
    admin_client: Any, make_container: Any
) -> None:
    container = make_container(mem_limit="64m", nano_cpus=500_000_000, pids_limit=50)
    body = cgroups_of(admin_client, container.id)
    assert body["version"] == 1
    limits = by_file(body["limits"])
    given = {  # what `docker run` was given, as the kernel files spell it
        "memory.limit_in_bytes": "67108864",
        "cpu.cfs_quota_us": "50000",
        "cpu.cfs_period_us": "100000",
        "pids.max": "50",
    }
    assert {name: limits[name]["raw"] for name in given} == given
    assert limits["memory.limit_in_bytes"]["docker"].startswith("Memory=67108864")
    assert limits["pids.max"]["docker"] == "PidsLimit=50"
    # Every value names a file that holds exactly that text.
    for row in body["limits"] + body["usage"]:
        if row["raw"] is not None and "key" not in row:
            assert container.id in row["file"]
            assert Path(row["file"]).read_text().strip() == row["raw"] or row["what"].endswith(
                ("in use", "used", "so far")  # usage moves between the two reads
            )


def test_container_exceeding_its_memory_limit_shows_an_oom_kill(
    admin_client: Any, make_container: Any
) -> None:
    # tail keeps the whole newline-free input in memory; the kernel kills it, sh sleeps on.
    # The subshell marks itself (and so head and tail) as the OOM killer's first choice,
    # or the kernel may pick the container's first process and end the container.
    hog = "(echo 1000 > /proc/self/oom_score_adj; head -c 50m /dev/zero | tail); sleep 3600"
    container = make_container(("sh", "-c", hog), mem_limit="8m")

    def oom_kills() -> int:
        events = by_file(cgroups_of(admin_client, container.id)["events"])
        return int(events["memory.oom_control:oom_kill"]["value"] or 0)

    assert wait_for(oom_kills, timeout=30, what="an OOM kill in memory.oom_control") >= 1
    events = by_file(cgroups_of(admin_client, container.id)["events"])
    assert int(events["memory.failcnt"]["raw"]) > 0
    page = admin_client.get(f"/containers/{container.id}/internals/").content.decode()
    assert "memory.oom_control" in page
    assert re.search(r"oom_kill [1-9]", page)


def test_stopped_container_cgroups_say_not_running_with_what_docker_was_given(
    admin_client: Any, make_container: Any
) -> None:
    container = make_container(start=False, mem_limit="64m")
    body = admin_client.get(f"/api/v1/containers/{container.id}/cgroups/").json()
    assert "not running" in body["problem"]
    assert body["asked"]["memory"].startswith("Memory=67108864")
    assert "limits" not in body


def test_busy_container_over_its_cpu_quota_shows_throttling(
    admin_client: Any, make_container: Any
) -> None:
    container = make_container(("sh", "-c", "while :; do :; done"), nano_cpus=100_000_000)

    def throttled() -> int:
        events = by_file(cgroups_of(admin_client, container.id)["events"])
        return int(events["cpu.stat:nr_throttled"]["value"] or 0)

    assert wait_for(throttled, timeout=20, interval=0.2, what="nr_throttled in cpu.stat") > 0
    events = by_file(cgroups_of(admin_client, container.id)["events"])
    assert events["cpu.stat:throttled_time"]["value"] > 0
    container.kill()  # stop burning a shared CPU as soon as the point is made
