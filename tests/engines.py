"""Extra Docker engines for the tests: each a real `dockerd` in a network namespace of its own.

A second dockerd in the host's namespace would take `docker0` from the first engine, so
each extra one runs under `nsenter --net=/var/run/netns/<name>` (never `ip netns exec`,
which remounts /sys, and dockerd then finds no devices cgroup) with its own data root,
exec root, pid file, cgroup parent, bridge subnet (in 198.18.64.0/20, a benchmarking range
no network here uses) and unix socket. No veth: the tests reach it through its socket.

`netns_engine()` always stops the daemon, deletes the namespace, its cgroups and its
files, however the block ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests import rig
from tests.rig import RUN_ID

NETNS_PREFIX = "ddeng-"
CGROUP_ROOT = Path("/sys/fs/cgroup")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


@dataclass
class NetnsEngine:
    netns: str
    root: Path
    process: subprocess.Popen[bytes]

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def cli(self, *args: str, timeout: float = 60) -> str:
        return rig.docker_cli("-H", self.url, *args, timeout=timeout)

    def log(self) -> str:
        path = self.root / "dockerd.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def _answers(url: str) -> bool:
    done = subprocess.run(
        ["docker", "-H", url, "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        timeout=10,
    )
    return done.returncode == 0


def _require_tools() -> None:
    for tool in ("dockerd", "nsenter", "ip", "docker"):
        if not shutil.which(tool):
            rig.missing(f"{tool} is not installed (an extra engine needs it)")
    if os.geteuid() != 0:
        rig.missing("an extra engine needs root (network namespaces, dockerd)")


def _stop(engine: NetnsEngine) -> None:
    if engine.process.poll() is None:
        engine.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            engine.process.wait(STOP_TIMEOUT)
    # Whatever dockerd left (its containerd, a shim) is in its session: end all of it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(engine.process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        engine.process.wait(5)


def _unmount_under(root: Path) -> None:
    """Mounts a killed dockerd left (its overlays, its netns files), deepest first."""
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted((p for p in points if p.startswith(f"{root}/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def _remove_cgroups(name: str) -> None:
    for controller in CGROUP_ROOT.glob("*"):
        with contextlib.suppress(OSError):
            (controller / name).rmdir()


@contextlib.contextmanager
def netns_engine(index: int, *, images: tuple[str, ...] = ()) -> Iterator[NetnsEngine]:
    """A running extra engine (number `index`, 1-15: its bridge is 198.18.(64+index).0/24)
    with `images` copied into it from the first engine; gone again after the block."""
    _require_tools()
    netns = f"{NETNS_PREFIX}{RUN_ID}-{index}"
    root = Path(f"/tmp/{netns}")  # noqa: S108 - short: unix socket paths are at most 107 bytes
    root.mkdir(mode=0o700)
    subprocess.run(["ip", "netns", "add", netns], check=True, capture_output=True)
    engine: NetnsEngine | None = None
    try:
        subprocess.run(
            ["ip", "-n", netns, "link", "set", "lo", "up"], check=True, capture_output=True
        )
        argv = [
            "nsenter",
            f"--net=/var/run/netns/{netns}",
            "dockerd",
            "--data-root", str(root / "data"),
            "--exec-root", str(root / "x"),
            "--pidfile", str(root / "dockerd.pid"),
            "--cgroup-parent", netns,
            "--bip", f"198.18.{64 + index}.1/24",
            "--host", f"unix://{root / 'docker.sock'}",
            "--iptables=false",
            "--ip6tables=false",
            "--shutdown-timeout", "1",
        ]  # fmt: skip
        with open(root / "dockerd.log", "wb") as log:
            process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        engine = NetnsEngine(netns, root, process)
        rig.wait_for(
            lambda: process.poll() is not None or _answers(engine.url),
            timeout=START_TIMEOUT,
            interval=0.1,
            what=f"dockerd in {netns} to answer",
        )
        if process.poll() is not None:
            raise RuntimeError(f"dockerd in {netns} ended at start:\n{engine.log()}")
        for image in images:
            save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
            subprocess.run(
                ["docker", "-H", engine.url, "load", "-q"],
                stdin=save.stdout,
                check=True,
                capture_output=True,
                timeout=60,
            )
            save.wait(10)
        yield engine
    finally:
        if engine is not None:
            _stop(engine)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)
        _remove_cgroups(netns)
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)
