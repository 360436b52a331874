"""cgroup discovery against a real container on this host (cgroup v1, cgroupfs driver).

The judge is the engine: the container id and limits docker-py reports, and the
process ids the kernel lists in the found cgroup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from containers_app import cgroups
from tests.rig import wait_for


def test_running_container_cgroup_is_found_from_its_pid(
    make_container: Callable[..., Any],
) -> None:
    container = make_container(mem_limit="64m", pids_limit=50)
    pid = container.attrs["State"]["Pid"]
    dirs = cgroups.container_cgroup_dirs(pid)

    version = cgroups.cgroup_version()
    if version == 1:
        memory_dir = dirs["memory"]
        assert container.id in str(memory_dir)
        procs = (memory_dir / "cgroup.procs").read_text().split()
        assert str(pid) in procs
        assert cgroups.read_int(memory_dir / "memory.limit_in_bytes") == 64 * 1024 * 1024
    else:
        assert str(pid) in (dirs[""] / "cgroup.procs").read_text().split()

    # Once runc's helpers of the start have left the cgroup (slower on a loaded machine).
    usage = wait_for(
        lambda: (u := cgroups.read_usage(dirs)).pids == 1 and u, timeout=10, what="one process"
    )
    assert usage.mem_limit == 64 * 1024 * 1024
    assert usage.pids_limit == 50
    assert usage.cpu_ns is not None and usage.cpu_ns > 0
    assert usage.mem_usage is not None and 0 < usage.mem_usage < 64 * 1024 * 1024


def test_host_cgroup_version_matches_the_engine(docker_client: Any) -> None:
    assert str(cgroups.cgroup_version()) == str(docker_client.info().get("CgroupVersion", "1"))
