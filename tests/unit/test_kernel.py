# ruff: noqa: E501 - mountinfo fixture lines are kept exactly as the kernel prints them
"""The /proc readers on fixture trees in the kernel's formats (namespace links, net, mountinfo)."""

from __future__ import annotations

import os
from pathlib import Path

from containers_app import internals, kernel, translate

# Process 77's network namespace as the kernel shows it: proc/77/net/{dev,fib_trie,route,if_inet6}.
PROC_TREE = Path(__file__).parent / "proc"

MOUNTINFO = (
    "73 49 0:39 / / rw,relatime master:2 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/A:/var/lib/docker/overlay2/l/B\n"
    "74 73 0:42 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"
    "90 73 8:1 /data/with\\040space /mnt/my\\040dir rw,relatime - ext4 /dev/sda1 rw\n"
)


def fake_process(proc: Path, pid: int, ns: dict[str, int], status: str = "") -> None:
    (proc / str(pid) / "ns").mkdir(parents=True)
    for ns_type, inode in ns.items():
        os.symlink(f"{ns_type}:[{inode}]", proc / str(pid) / "ns" / ns_type)
    (proc / str(pid) / "status").write_text(status or f"Name:\tsh\nPPid:\t1\nNSpid:\t{pid}\n")


def test_network_of_a_process_lists_interfaces_with_their_addresses() -> None:
    interfaces, error = kernel.network_of(77, PROC_TREE)
    assert error == ""
    found = {i.name: i for i in interfaces}
    assert found["lo"].addresses == ["127.0.0.1", "::1/128"]
    assert found["eth0"].addresses == ["172.17.0.2", "fe80::42:acff:fe11:2/64"]
    assert (found["eth0"].rx_bytes, found["eth0"].tx_bytes) == (946, 516)


def test_network_of_a_gone_process_says_why(tmp_path: Path) -> None:
    interfaces, error = kernel.network_of(78, tmp_path)
    assert interfaces == [] and "cannot read" in error


def test_mountinfo_fields_are_unescaped() -> None:
    mounts = kernel.parse_mountinfo(MOUNTINFO)
    assert [m.mount_point for m in mounts] == ["/", "/proc", "/mnt/my dir"]
    assert mounts[0].fs_type == "overlay"
    assert mounts[2].source == "/dev/sda1"


def test_namespace_link_is_read_as_an_inode_and_absence_is_explained(tmp_path: Path) -> None:
    fake_process(tmp_path, 10, {"pid": 4026532183, "net": 4026532184})
    assert kernel.read_namespace(10, "pid", tmp_path).inode == 4026532183
    missing = kernel.read_namespace(10, "time", tmp_path)
    assert missing.inode is None and "no time namespaces" in missing.error
    gone = kernel.read_namespace(11, "pid", tmp_path)
    assert gone.inode is None and "does not exist" in gone.error


def test_processes_are_selected_by_their_pid_namespace(tmp_path: Path) -> None:
    fake_process(tmp_path, 500, {"pid": 1111}, "Name:\tsleep\nPPid:\t499\nNSpid:\t500\t1\n")
    fake_process(tmp_path, 501, {"pid": 1111}, "Name:\tsh\nPPid:\t500\nNSpid:\t501\t7\n")
    fake_process(tmp_path, 600, {"pid": 2222})
    found = kernel.processes_in_pid_namespace(1111, tmp_path)
    assert [(p.pid, p.ns_pid, p.ppid) for p in found] == [(500, 1, 499), (501, 7, 500)]


def test_host_reference_falls_back_to_dockerd_when_pid_1_cannot_be_read(tmp_path: Path) -> None:
    all_types = {t: 4026531000 + i for i, t in enumerate(kernel.NAMESPACE_TYPES)}
    (tmp_path / "self" / "ns").mkdir(parents=True)
    for t in all_types:
        (tmp_path / "self" / "ns" / t).touch()
    fake_process(tmp_path, 4661, all_types)
    (tmp_path / "4661" / "comm").write_text("dockerd\n")
    ref = internals.host_reference(tmp_path)
    assert ref["pid"] == 4661
    assert "PID 1's namespaces cannot be read" in ref["note"]
    assert ref["namespaces"]["net"] == all_types["net"]
    fake_process(tmp_path, 1, {t: 1 for t in all_types})
    assert internals.host_reference(tmp_path)["pid"] == 1


def test_docker_modes_in_words() -> None:
    assert internals.docker_asked("host", "pid")["meaning"] == "the host's"
    assert internals.docker_asked("container:abc", "net")["meaning"] == ("joins container abc")
    assert internals.docker_asked("none", "net")["meaning"].endswith("loopback")
    assert internals.docker_asked("", "mnt")["option"] == ""


RUNNING_ATTRS = {
    "Id": "c0ffee" * 10 + "abcd",
    "State": {"Running": True, "Pid": 321, "Status": "running"},
}
RUNNING = translate.container_record(RUNNING_ATTRS)


def test_remote_engine_gives_a_problem_instead_of_local_numbers(settings: object) -> None:
    settings.DOCKER_HOST = "tcp://10.1.2.3:2376"  # type: ignore[attr-defined]
    problem = internals.kernel_problem(RUNNING, Path("/proc"))
    assert "runs on another machine" in problem and "tcp://10.1.2.3:2376" in problem
    assert "another machine" in internals.oci_spec(RUNNING.id)["problem"]


def test_pid_that_is_not_the_containers_process_is_refused(
    tmp_path: Path, settings: object
) -> None:
    settings.DOCKER_HOST = "unix:///var/run/docker.sock"  # type: ignore[attr-defined]
    (tmp_path / "321").mkdir()
    (tmp_path / "321" / "cgroup").write_text("0::/user.slice/session-3.scope\n")
    assert "not the container's process" in internals.kernel_problem(RUNNING, tmp_path)
    (tmp_path / "321" / "cgroup").write_text(f"4:memory:/docker/{RUNNING.id}\n")
    assert internals.kernel_problem(RUNNING, tmp_path) == ""
    assert "does not exist here" in internals.kernel_problem(
        translate.container_record(
            {**RUNNING_ATTRS, "State": {**RUNNING_ATTRS["State"], "Pid": 999}}
        ),
        tmp_path,
    )
