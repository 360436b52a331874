# ruff: noqa: E501 - mountinfo fixture lines are kept exactly as the kernel prints them
"""cgroup v2 limits, usage and events with the systemd driver, on file fixtures in the real formats.

This host runs cgroup v1 with cgroupfs; a v2 host with the systemd driver is laid out
as files: /proc/<pid>/cgroup, /proc/self/mountinfo and the unified cgroup directory.
"""

from __future__ import annotations

from pathlib import Path

from containers_app import cgroup_limits, translate
from tests.rig import by_file

CID = "4f1c2b3a5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081"
PID = 4242

V2_FILES = {
    "memory.max": "67108864\n",
    "memory.swap.max": "max\n",
    "memory.current": "5267456\n",
    "memory.peak": "9437184\n",
    "memory.events": "low 0\nhigh 0\nmax 37\noom 2\noom_kill 2\noom_group_kill 0\n",
    "cpu.max": "50000 100000\n",
    "cpu.weight": "100\n",
    "cpu.stat": "usage_usec 1523000\nuser_usec 1200000\nsystem_usec 323000\nnr_periods 120\nnr_throttled 31\nthrottled_usec 2250000\nnr_bursts 0\nburst_usec 0\n",
    "cpuset.cpus.effective": "0-1\n",
    "pids.max": "50\n",
    "pids.current": "3\n",
    "pids.events": "max 4\n",
    "io.weight": "default 100\n",
}


def systemd_v2_host(tmp_path: Path) -> tuple[Path, Path]:
    proc, cgroup_root = tmp_path / "proc", tmp_path / "sys" / "fs" / "cgroup"
    scope = cgroup_root / "system.slice" / f"docker-{CID}.scope"
    scope.mkdir(parents=True)
    for name, text in V2_FILES.items():
        (scope / name).write_text(text)
    (proc / str(PID)).mkdir(parents=True)
    (proc / str(PID) / "cgroup").write_text(f"0::/system.slice/docker-{CID}.scope\n")
    (proc / "self").mkdir()
    (proc / "self" / "mountinfo").write_text(
        "24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
        f"27 24 0:25 / {cgroup_root} rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
    )
    return proc, scope


HOST_CONFIG = {
    "Memory": 67108864,
    "MemorySwap": -1,
    "NanoCpus": 500000000,
    "CpuShares": 0,
    "CpusetCpus": "",
    "PidsLimit": 50,
    "BlkioWeight": 0,
}
LIMITS = translate.resource_limits(HOST_CONFIG)


def test_v2_systemd_limits_are_read_from_the_scope_directory(tmp_path: Path) -> None:
    proc, scope = systemd_v2_host(tmp_path)
    report = cgroup_limits.cgroup_report(PID, LIMITS, proc)
    assert report["problem"] == ""
    assert report["version"] == 2
    assert report["paths"] == [{"controller": "(unified)", "dir": str(scope)}]
    limits = by_file(report["limits"])
    assert limits["memory.max"]["value"] == 67108864
    assert limits["memory.max"]["kernel"] == "64.0 MiB"
    assert limits["memory.swap.max"]["raw"] == "max"
    assert limits["memory.swap.max"]["kernel"] == "unlimited"
    assert limits["cpu.max"]["raw"] == "50000 100000"
    assert limits["cpu.max"]["kernel"].startswith("0.5 CPUs")
    assert limits["cpu.max"]["docker"] == "NanoCpus=500000000 (0.5 CPUs)"
    assert limits["cpu.weight"]["raw"] == "100"
    assert limits["cpuset.cpus.effective"]["raw"] == "0-1"
    assert limits["pids.max"]["value"] == 50
    assert limits["io.weight"]["raw"] == "default 100"
    assert all(r["file"].startswith(str(scope)) for r in report["limits"])


def test_v2_memory_events_and_cpu_throttling_come_from_their_lines(tmp_path: Path) -> None:
    proc, _ = systemd_v2_host(tmp_path)
    report = cgroup_limits.cgroup_report(PID, LIMITS, proc)
    events = by_file(report["events"])
    assert events["memory.events:oom_kill"]["value"] == 2
    assert events["memory.events:max"]["value"] == 37
    assert events["cpu.stat:nr_throttled"]["value"] == 31
    assert events["cpu.stat:throttled_usec"]["kernel"] == "2.250 s"
    assert events["pids.events:max"]["raw"] == "max 4"
    usage = by_file(report["usage"])
    assert usage["memory.current"]["value"] == 5267456
    assert usage["cpu.stat:usage_usec"]["kernel"] == "1.523 s"


def test_missing_v2_file_says_so_instead_of_a_number(tmp_path: Path) -> None:
    proc, scope = systemd_v2_host(tmp_path)
    (scope / "memory.swap.max").unlink()  # a kernel without swap accounting
    (scope / "cpu.stat").write_text("usage_usec 10\n")  # no CPU quota: no throttling lines
    report = cgroup_limits.cgroup_report(PID, LIMITS, proc)
    swap = by_file(report["limits"])["memory.swap.max"]
    assert swap["raw"] is None and swap["value"] is None
    assert "does not provide" in swap["error"]
    throttled = by_file(report["events"])["cpu.stat:nr_throttled"]
    assert throttled["raw"] is None and "no nr_throttled line" in throttled["error"]


def test_process_without_a_reachable_cgroup_gives_a_problem_not_numbers(tmp_path: Path) -> None:
    proc, _ = systemd_v2_host(tmp_path)
    report = cgroup_limits.cgroup_report(PID + 1, LIMITS, proc)
    assert "No cgroup directory" in report["problem"]
    assert "limits" not in report


def test_docker_values_in_words() -> None:
    asked = cgroup_limits.docker_limits(
        translate.resource_limits(
            {
                "Memory": 8388608,
                "MemorySwap": 0,
                "CpuQuota": 25000,
                "CpuPeriod": 50000,
                "PidsLimit": None,
            }
        )
    )
    assert asked["swap"] == "MemorySwap=0 (default: twice Memory, 16.0 MiB)"
    assert asked["cpu"] == "CpuQuota=25000, CpuPeriod=50000"
    assert asked["pids"] == "PidsLimit=None (no limit)"
