# ruff: noqa: E501 - mountinfo fixture lines are kept exactly as the kernel prints them
"""cgroup discovery and readers on file fixtures in the kernel's real formats.

This host runs cgroup v1 with the cgroupfs driver; v2 with the systemd driver
(docker-<id>.scope under system.slice) cannot be booted here, so both layouts are
laid out as files, copied from what those kernels print.
"""

from __future__ import annotations

from pathlib import Path

from containers_app import cgroups

CID = "9d0e7bd71eb245d415ffa71982fbbf75f0e405cb15cd38a1f362fadb34402fa4"

# /proc/self/mountinfo on a v1 host (Debian 10 style, cpu and cpuacct co-mounted),
# plus a non-cgroup line and a hybrid unified mount.
V1_MOUNTINFO = """\
22 27 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
31 23 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:30 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
36 31 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpu,cpuacct
37 31 0:34 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,pids
"""

V1_PROC_CGROUP = f"""\
12:pids:/docker/{CID}
8:blkio:/docker/{CID}
5:memory:/docker/{CID}
3:cpu,cpuacct:/docker/{CID}
1:name=systemd:/docker/{CID}
0::/docker/{CID}
"""

# Debian 12 / Ubuntu 22.04: pure v2, systemd driver.
V2_MOUNTINFO = """\
24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
27 24 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
"""
V2_PROC_CGROUP = f"0::/system.slice/docker-{CID}.scope\n"

V1_MEMORY_STAT = """\
cache 438272
rss 49152
inactive_file 352256
active_file 86016
hierarchical_memory_limit 67108864
total_cache 438272
total_rss 49152
total_inactive_file 352256
total_active_file 86016
"""

V2_MEMORY_STAT = """\
anon 4214784
file 1052672
kernel_stack 16384
inactive_anon 4206592
active_anon 8192
inactive_file 1044480
active_file 8192
"""

V2_CPU_STAT = """\
usage_usec 1534567
user_usec 1034567
system_usec 500000
nr_periods 40
nr_throttled 12
throttled_usec 300000
"""

V2_IO_STAT = """\
8:0 rbytes=1048576 wbytes=4096 rios=3 wios=1 dbytes=0 dios=0
253:0 rbytes=2048 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0
"""

V1_BLKIO = """\
8:0 Read 1048576
8:0 Write 4096
8:0 Sync 1052672
8:0 Async 0
8:0 Discard 0
8:0 Total 1052672
Total 1052672
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_mountinfo_of_v1_host_lists_each_hierarchy_with_its_controllers() -> None:
    mounts = cgroups.parse_mountinfo(V1_MOUNTINFO)
    by_point = {str(m.mount_point): m for m in mounts}
    assert "/proc" not in by_point and "/sys/fs/cgroup" not in by_point
    assert by_point["/sys/fs/cgroup/cpu,cpuacct"].controllers == ("cpu", "cpuacct")
    assert by_point["/sys/fs/cgroup/memory"] == cgroups.CgroupMount(
        Path("/sys/fs/cgroup/memory"), "/", 1, ("memory",)
    )
    assert by_point["/sys/fs/cgroup/systemd"].controllers == ("name=systemd",)
    assert by_point["/sys/fs/cgroup/unified"].version == 2


def test_mountinfo_unescapes_spaces_in_mount_points() -> None:
    line = r"40 31 0:37 /sub /mnt/my\040cgroups rw - cgroup2 cgroup2 rw" + "\n"
    (mount,) = cgroups.parse_mountinfo(line)
    assert mount.mount_point == Path("/mnt/my cgroups")
    assert mount.root == "/sub"


def test_proc_cgroup_splits_co_mounted_controllers_and_keeps_unified_under_empty_key() -> None:
    paths = cgroups.parse_proc_cgroup(V1_PROC_CGROUP)
    assert paths["cpu"] == paths["cpuacct"] == f"/docker/{CID}"
    assert paths["name=systemd"] == f"/docker/{CID}"
    assert paths[""] == f"/docker/{CID}"
    assert cgroups.parse_proc_cgroup(V2_PROC_CGROUP) == {"": f"/system.slice/docker-{CID}.scope"}


def _proc(tmp_path: Path, pid: int, proc_cgroup: str, mountinfo: str) -> Path:
    proc = tmp_path / "proc"
    _write(proc / str(pid) / "cgroup", proc_cgroup)
    _write(proc / "self" / "mountinfo", mountinfo)
    return proc


def test_v1_cgroupfs_container_dirs_come_from_proc_and_mounts(tmp_path: Path) -> None:
    proc = _proc(tmp_path, 4242, V1_PROC_CGROUP, V1_MOUNTINFO)
    dirs = cgroups.container_cgroup_dirs(4242, proc)
    assert dirs["memory"] == Path(f"/sys/fs/cgroup/memory/docker/{CID}")
    assert dirs["cpuacct"] == Path(f"/sys/fs/cgroup/cpu,cpuacct/docker/{CID}")
    assert dirs["pids"] == Path(f"/sys/fs/cgroup/pids/docker/{CID}")
    assert dirs[""] == Path(f"/sys/fs/cgroup/unified/docker/{CID}")


def test_v2_systemd_container_dir_is_its_scope_under_system_slice(tmp_path: Path) -> None:
    proc = _proc(tmp_path, 77, V2_PROC_CGROUP, V2_MOUNTINFO)
    assert cgroups.container_cgroup_dirs(77, proc) == {
        "": Path(f"/sys/fs/cgroup/system.slice/docker-{CID}.scope")
    }


def test_mount_root_is_taken_into_account(tmp_path: Path) -> None:
    # Inside a container that bind-mounts only part of the hierarchy: the mount's
    # root is /system.slice, so the scope sits right below the mount point, and a
    # cgroup outside that root cannot be reached at all.
    mountinfo = "27 24 0:25 /system.slice /host/cgroup rw - cgroup2 cgroup2 rw\n"
    proc = _proc(tmp_path, 5, V2_PROC_CGROUP, mountinfo)
    assert cgroups.container_cgroup_dirs(5, proc) == {"": Path(f"/host/cgroup/docker-{CID}.scope")}
    _write(proc / "6" / "cgroup", "0::/user.slice/session-1.scope\n")
    assert cgroups.container_cgroup_dirs(6, proc) == {}


def test_gone_process_has_no_dirs(tmp_path: Path) -> None:
    proc = _proc(tmp_path, 1, V2_PROC_CGROUP, V2_MOUNTINFO)
    assert cgroups.container_cgroup_dirs(999999, proc) == {}


def test_cgroup_version_of_a_tree_copy(tmp_path: Path) -> None:
    v2 = tmp_path / "v2"
    _write(v2 / "cgroup.controllers", "cpuset cpu io memory pids\n")
    hybrid = tmp_path / "hybrid"
    _write(hybrid / "unified" / "cgroup.controllers", "")
    _write(hybrid / "memory" / "memory.stat", V1_MEMORY_STAT)
    assert cgroups.cgroup_version(v2) == 2
    assert cgroups.cgroup_version(hybrid) == 1


def test_readers_answer_none_or_empty_for_missing_and_unlimited(tmp_path: Path) -> None:
    _write(tmp_path / "pids.max", "max\n")
    _write(tmp_path / "pids.current", "3\n")
    assert cgroups.read_int(tmp_path / "pids.max") is None
    assert cgroups.read_int(tmp_path / "pids.current") == 3
    assert cgroups.read_int(tmp_path / "absent") is None
    assert cgroups.read_kv(tmp_path / "absent") == {}


def test_v1_usage_from_cgroupfs_files(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    dirs = {
        "memory": root / "memory" / "docker" / CID,
        "cpuacct": root / "cpu,cpuacct" / "docker" / CID,
        "cpu": root / "cpu,cpuacct" / "docker" / CID,
        "blkio": root / "blkio" / "docker" / CID,
        "pids": root / "pids" / "docker" / CID,
    }
    _write(dirs["memory"] / "memory.usage_in_bytes", "1032192\n")
    _write(dirs["memory"] / "memory.limit_in_bytes", "67108864\n")
    _write(dirs["memory"] / "memory.stat", V1_MEMORY_STAT)
    _write(dirs["cpuacct"] / "cpuacct.usage", "37458583\n")
    _write(dirs["blkio"] / "blkio.io_service_bytes_recursive", "Total 0\n")
    _write(dirs["blkio"] / "blkio.throttle.io_service_bytes_recursive", V1_BLKIO)
    _write(dirs["pids"] / "pids.current", "1\n")
    _write(dirs["pids"] / "pids.max", "max\n")
    _write(dirs["cpu"] / "cpu.stat", "nr_periods 20\nnr_throttled 7\nthrottled_time 9000\n")
    _write(dirs["memory"] / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    usage = cgroups.read_usage(dirs)
    assert usage == cgroups.CgroupUsage(
        cpu_ns=37458583,
        mem_usage=1032192 - 352256,
        mem_limit=67108864,
        blk_read=1048576,
        blk_write=4096,
        pids=1,
        pids_limit=None,
        throttled=7,
        oom_kills=2,
    )


def test_v1_unlimited_memory_reads_as_no_limit(tmp_path: Path) -> None:
    mem = tmp_path / "memory"
    _write(mem / "memory.usage_in_bytes", "100\n")
    _write(mem / "memory.limit_in_bytes", "9223372036854771712\n")
    assert cgroups.read_usage({"memory": mem}).mem_limit is None


def test_v2_usage_from_unified_files(tmp_path: Path) -> None:
    scope = tmp_path / "system.slice" / f"docker-{CID}.scope"
    _write(scope / "cgroup.controllers", "cpu io memory pids\n")
    _write(scope / "cpu.stat", V2_CPU_STAT)
    _write(scope / "memory.current", "5267456\n")
    _write(scope / "memory.max", "67108864\n")
    _write(scope / "memory.stat", V2_MEMORY_STAT)
    _write(scope / "io.stat", V2_IO_STAT)
    _write(scope / "pids.current", "2\n")
    _write(scope / "pids.max", "100\n")
    _write(scope / "memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n")
    usage = cgroups.read_usage({"": scope})
    assert usage == cgroups.CgroupUsage(
        cpu_ns=1534567000,
        mem_usage=5267456 - 1044480,
        mem_limit=67108864,
        blk_read=1048576 + 2048,
        blk_write=4096 + 8192,
        pids=2,
        pids_limit=100,
        throttled=12,
        oom_kills=1,
    )
    _write(scope / "memory.max", "max\n")
    assert cgroups.read_usage({"": scope}).mem_limit is None
