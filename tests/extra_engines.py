"""Extra Docker engines on this one machine, as extra "nodes": for the Swarm tests.

Each extra engine is a `dockerd` of its own inside a network namespace of its own, with
its own data-root, exec-root, pidfile, cgroup parent, bridge address and unix socket, all
under a short folder /tmp/<name>/ (a unix socket path has at most 108 bytes, and the
engine's containerd puts its own sockets under the exec-root). Why a namespace: a second
dockerd in the host's namespace takes docker0 and the host's iptables chains over and
breaks the first engine (/var/run/docker.sock, shared with running benchmarks), even with
`--bridge none`. Why `nsenter --net=` and never `ip netns exec`: the latter remounts /sys
and dockerd then fails with "Devices cgroup isn't mounted".

`swarm_of_two` joins two such engines in a Swarm over a veth pair between their
namespaces. The first engine is never put in Swarm mode. Every address made here is in
198.18.0.0/15 (the benchmark range, never routed), never another private range:

    veth pair            198.18.0.1/24 (manager)  198.18.0.2/24 (worker)
    docker0 (--bip)      198.18.101.1/24          198.18.102.1/24
    local networks       198.18.112.0/20          198.18.128.0/20   (docker_gwbridge, ...)
    swarm networks       198.19.0.0/16 in /24s (the ingress network, overlays)

Each namespace has its own addresses, so concurrent runs use the same ones without
meeting; what could collide (namespace, veth and folder names) carries RUN_ID.

No Docker Hub: `busybox:latest` is built on each node from Debian's static busybox
(`build_busybox_image`), the engines run with DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 (a
task's engine then uses its local image and never tries a pull), and services are made
with `--no-resolve-image` (the manager then asks no registry for a digest). The kernel has
no IPVS, so the routing mesh does not answer here: tasks of a service with a published
port or a virtual IP run, but that port and that VIP reach nothing. Between tasks on an
overlay network, use `--endpoint-mode dnsrr` (or the `tasks.<service>` name): overlays
themselves (VXLAN over the veth pair) work.

Teardown always runs, also when a test or the setup half-way fails: swarm left, containers
removed, daemons stopped (SIGTERM, then SIGKILL), what they left mounted unmounted, the
namespaces deleted, the folders and cgroups removed, each dockerd's log kept in
test-artifacts/engines/. An atexit hook stops whatever a test session still has running
at its end, the daemons die with the process that started them (PR_SET_PDEATHSIG) if the
session is killed, and the next session removes what a dead session left.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.rig import ARTIFACTS, BUSYBOX, RUN_ID, build_busybox_image, docker_cli, missing, wait_for

IMAGE = "busybox:latest"  # what a test's services run: built on each node, never pulled
MANAGER_ADDR = "198.18.0.1"
WORKER_ADDR = "198.18.0.2"
SWARM_POOL = "198.19.0.0/16"
SWARM_POOL_MASK = "24"
START_TIMEOUT = 90.0  # seconds for a dockerd to answer (the host is busy with benchmarks)
STOP_TIMEOUT = 30.0  # seconds after SIGTERM before SIGKILL
LOG_LINES = 40  # lines of a dockerd's log in the message when it does not come up
OWNER_FILE = "rig-owner"  # in each node's folder: the pid and start time of its session
NETNS_DIR = Path("/var/run/netns")
CGROUP_ROOT = Path("/sys/fs/cgroup")
ENGINE_LOGS = ARTIFACTS / "engines"
SHORT_RUN = re.sub(r"[^a-z0-9]", "", RUN_ID.lower())[:6]
PR_SET_PDEATHSIG = 1


@dataclass
class Node:
    """One extra engine: a dockerd in network namespace `netns`, everything it writes under
    `root` (/tmp/<name>/). Its hostname is the host's (all nodes report the same one):
    tell nodes apart by `node_id`."""

    name: str  # also the namespace's name and the folder's
    index: int  # 1, 2, ...: its addresses
    root: Path
    netns: str
    socket: Path
    data_root: Path
    exec_root: Path
    pidfile: Path
    log_path: Path
    cgroup_parent: str
    bip: str
    address_pool: str
    process: subprocess.Popen[bytes] | None = None
    node_id: str = ""  # its Swarm node id, once it is in a swarm

    @classmethod
    def plan(cls, prefix: str, index: int) -> Node:
        """The names and paths of node `index` of `prefix` (nothing made yet)."""
        return cls.at(Path("/tmp") / f"dd{SHORT_RUN}{prefix}{index}", index)

    @classmethod
    def at(cls, root: Path, index: int = 0) -> Node:
        """The node whose folder is `root` (its name, namespace and cgroup are root's name)."""
        return cls(
            name=root.name,
            index=index,
            root=root,
            netns=root.name,
            socket=root / "d.sock",
            data_root=root / "data",
            exec_root=root / "x",
            pidfile=root / "d.pid",
            log_path=root / "dockerd.log",
            cgroup_parent=f"/{root.name}",
            bip=f"198.18.{100 + index}.1/24",
            address_pool=f"base=198.18.{96 + 16 * index}.0/20,size=24",
        )

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def netns_path(self) -> Path:
        return NETNS_DIR / self.netns

    def cli(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        """The Docker CLI against this engine; its stdout."""
        return docker_cli("-H", self.url, *args, check=check, timeout=timeout)

    def client(self, timeout: int = 60) -> Any:
        """docker-py on this engine (close it when done)."""
        import docker

        return docker.DockerClient(base_url=self.url, version="auto", timeout=timeout)

    def ip(self, *args: str) -> str:
        """`ip ARGS` inside this node's namespace."""
        return _run("nsenter", f"--net={self.netns_path}", "ip", *args)

    def answers(self) -> bool:
        """Whether the engine answers `GET /_ping` on its socket (without starting a CLI)."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(str(self.socket))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return s.recv(64).split(b"\r\n", 1)[0].split()[1:2] == [b"200"]

    def log_tail(self, lines: int = LOG_LINES) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def config(self) -> dict[str, Any]:
        """Its daemon.json: an identity key of its own, not /etc/docker/key.json, so that
        `docker info`'s ID (made from that key) differs from the first engine's."""
        return {"deprecated-key-path": str(self.root / "key.json")}

    def argv(self) -> list[str]:
        return [
            "nsenter",
            f"--net={self.netns_path}",
            "dockerd",
            "-H",
            self.url,
            "--data-root",
            str(self.data_root),
            "--exec-root",
            str(self.exec_root),
            "--pidfile",
            str(self.pidfile),
            "--cgroup-parent",
            self.cgroup_parent,
            "--bip",
            self.bip,
            "--default-address-pool",
            self.address_pool,
            # Its own config file, not /etc/docker's (a daemon.json there must not change it).
            "--config-file",
            str(self.root / "daemon.json"),
            "--storage-driver",
            "overlay2",
            "--shutdown-timeout",
            "2",  # a `sleep` ignores SIGTERM: stopping the daemon waits 2 s for it, not 10
        ]


@dataclass
class Swarm:
    """Two extra engines in one Swarm: `manager` made it, `worker` joined it."""

    manager: Node
    worker: Node

    @property
    def manager_url(self) -> str:
        return self.manager.url

    @property
    def manager_id(self) -> str:
        return self.manager.node_id

    @property
    def worker_id(self) -> str:
        return self.worker.node_id

    @property
    def node_ids(self) -> list[str]:
        return [self.manager.node_id, self.worker.node_id]

    def cli(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        """The Docker CLI against the manager (where `service` and `node` commands go)."""
        return self.manager.cli(*args, check=check, timeout=timeout)

    def node_states(self) -> dict[str, str]:
        """Every node's status (`Ready`, `Down`, ...) by node id, as the manager sees it."""
        out = self.cli("node", "ls", "--format", "{{.ID}} {{.Status}}")
        return dict(line.split(None, 1) for line in out.splitlines() if line.strip())

    def running_tasks(self, service: str) -> list[str]:
        """The node id of each task of `service` that is running now, as the manager sees it
        (one entry per task: `docker service ps` names nodes by hostname, which both share)."""
        ids = self.cli("service", "ps", "-q", "--filter", "desired-state=running", service)
        if not ids.split():
            return []
        tasks = json.loads(self.cli("inspect", "--type", "task", *ids.split()))
        return [t["NodeID"] for t in tasks if t["Status"]["State"] == "running"]


# Nodes started and not yet torn down, by name: what the atexit hook still stops.
_LIVE: dict[str, Node] = {}


def require_extra_engines() -> None:
    """The machine can run extra engines: root, dockerd, nsenter, ip and Debian's busybox."""
    if os.geteuid() != 0:
        missing("extra Docker engines need root (network namespaces, dockerd)")
    for tool in ("dockerd", "nsenter", "ip", "docker"):
        if not shutil.which(tool):
            missing(f"{tool} is not installed (extra Docker engines need it)")
    if not BUSYBOX.exists():
        missing("/bin/busybox is missing (apt-get install busybox-static)")


@contextlib.contextmanager
def extra_engine(prefix: str, *, timeout: float = START_TIMEOUT) -> Iterator[Node]:
    """One extra engine, not in a swarm, with `busybox:latest` built on it; stopped and
    removed on leaving."""
    with _nodes(prefix, 1) as nodes:
        _start(nodes, timeout=timeout)
        yield nodes[0]


@contextlib.contextmanager
def swarm_of_two(prefix: str, *, timeout: float = START_TIMEOUT) -> Iterator[Swarm]:
    """Two extra engines joined in a Swarm (both Ready), `busybox:latest` built on each;
    `prefix` (1-5 lower-case letters or digits) keeps apart the rigs of one session.
    Everything is stopped and removed on leaving, whatever happened inside or half-way."""
    with _nodes(prefix, 2) as (manager, worker):
        manager.ip("link", "add", _veth(manager), "type", "veth", "peer", "name", _veth(worker))
        manager.ip("link", "set", _veth(worker), "netns", worker.netns)
        for node, addr in ((manager, MANAGER_ADDR), (worker, WORKER_ADDR)):
            node.ip("addr", "add", f"{addr}/24", "dev", _veth(node))
            node.ip("link", "set", _veth(node), "up")
        _start([manager, worker], timeout=timeout)
        manager.cli(
            "swarm",
            "init",
            "--advertise-addr",
            MANAGER_ADDR,
            "--listen-addr",
            f"{MANAGER_ADDR}:2377",
            "--default-addr-pool",
            SWARM_POOL,
            "--default-addr-pool-mask-length",
            SWARM_POOL_MASK,
        )
        token = manager.cli("swarm", "join-token", "-q", "worker").strip()
        worker.cli(
            "swarm",
            "join",
            "--token",
            token,
            "--advertise-addr",
            WORKER_ADDR,
            "--listen-addr",
            f"{WORKER_ADDR}:2377",
            f"{MANAGER_ADDR}:2377",
        )
        for node in (manager, worker):
            node.node_id = node.cli("info", "--format", "{{.Swarm.NodeID}}").strip()
        swarm = Swarm(manager=manager, worker=worker)

        def both_ready() -> bool:
            states = swarm.node_states()
            return all(states.get(node_id) == "Ready" for node_id in swarm.node_ids)

        wait_for(both_ready, timeout=timeout, interval=0.2, what="both swarm nodes Ready")
        yield swarm


def _veth(node: Node) -> str:
    """The name of `node`'s end of the veth pair (at most 15 characters)."""
    return f"v{node.name[2:]}"


@contextlib.contextmanager
def _nodes(prefix: str, count: int) -> Iterator[list[Node]]:
    """`count` nodes of `prefix`, each with its folder and its namespace (lo up), no daemon
    yet; all torn down on leaving (also when making them fails half-way)."""
    if not re.fullmatch(r"[a-z0-9]{1,5}", prefix):
        raise ValueError(f"prefix {prefix!r}: 1-5 lower-case letters or digits (names are short)")
    require_extra_engines()
    remove_leftovers()
    nodes = [Node.plan(prefix, i) for i in range(1, count + 1)]
    made: list[Node] = []  # those whose folder this call made: only those are torn down
    try:
        for node in nodes:
            if node.name in _LIVE:
                raise AssertionError(f"extra engine {node.name} is running already (same prefix?)")
            node.root.mkdir(mode=0o700)  # not exist_ok: the folder is the claim on the names
            made.append(node)
            _LIVE[node.name] = node
            (node.root / OWNER_FILE).write_text(_owner())
            (node.root / "daemon.json").write_text(json.dumps(node.config()) + "\n")
            _run("ip", "netns", "add", node.netns)
            node.ip("link", "set", "lo", "up")
        yield nodes
    finally:
        teardown(made)


def _start(nodes: list[Node], *, timeout: float) -> None:
    """Start every node's dockerd at once, wait until each answers, then build
    `busybox:latest` on each. A daemon that exits or does not answer within `timeout`
    seconds fails with the end of its log."""
    env = {**os.environ, "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE": "1"}
    for node in nodes:
        with open(node.log_path, "ab") as log:  # dockerd keeps its own copy of the file
            node.process = subprocess.Popen(
                node.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a Ctrl-C of the session reaches teardown, not it
                preexec_fn=_die_with_parent,  # it only calls prctl
            )
    for node in nodes:
        proc = node.process
        assert proc is not None
        try:
            wait_for(
                lambda: proc.poll() is not None or node.answers(),  # noqa: B023 - called here
                timeout=timeout,
                interval=0.1,
                what=f"dockerd of {node.name} on {node.socket}",
            )
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\nlast lines of {node.log_path}:\n{node.log_tail()}"
            ) from None
        if proc.poll() is not None:
            raise AssertionError(
                f"dockerd of {node.name} exited with {proc.returncode}; "
                f"last lines of {node.log_path}:\n{node.log_tail()}"
            )
    with ThreadPoolExecutor(len(nodes)) as pool:
        list(pool.map(_build_image, nodes))


def _build_image(node: Node) -> None:
    client = node.client(timeout=120)
    try:
        build_busybox_image(client, IMAGE)
    finally:
        client.close()


def teardown(nodes: list[Node]) -> None:
    """Undo everything `_nodes` and `_start` made, each step whatever the one before did
    (or failed to do), then check that no daemon, namespace or folder is left: an
    AssertionError names what is."""
    errors: list[str] = []

    def step(what: str, action: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        try:
            action(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - go on with the next step, report at the end
            errors.append(f"{what}: {exc!r}")

    running = [n for n in nodes if n.process is not None and n.process.poll() is None]
    # The worker leaves first, then the manager (--force: a manager's leaving ends the
    # swarm); then no orchestrator starts again the tasks whose containers go next.
    for node in reversed(running):
        step(
            f"{node.name} swarm leave",
            node.cli,
            "swarm",
            "leave",
            "--force",
            check=False,
            timeout=30,
        )
    for node in running:  # one at a time: no thread pool can start from an atexit hook
        step(f"{node.name} containers", _remove_containers, node)
    for node in running:
        step(f"{node.name} SIGTERM", node.process.terminate)  # type: ignore[union-attr]
    for node in nodes:
        step(f"{node.name} stop", _stop, node)
    for node in nodes:
        step(f"{node.name} strays", _kill_strays, node)
        step(f"{node.name} umount", _unmount_under, node.root)
        if node.netns_path.exists():
            step(f"{node.name} netns", _run, "ip", "netns", "delete", node.netns)
        step(f"{node.name} cgroups", _remove_cgroups, node.cgroup_parent)
        _keep_log(node)
        shutil.rmtree(node.root, ignore_errors=True)
        _LIVE.pop(node.name, None)
    left = [
        str(what) for node in nodes for what in (node.root, node.netns_path) if what.exists()
    ] + [f"pid {pid}" for node in nodes for pid in _strays(node)]
    if left:
        raise AssertionError(f"extra engines left behind: {', '.join(left)}; errors: {errors}")


def _remove_containers(node: Node) -> None:
    """Remove every container of `node` at once (SIGKILL: a `sleep` ignores SIGTERM)."""
    ids = node.cli("ps", "-aq", timeout=30).split()
    if ids:
        node.cli("rm", "-f", "-v", *ids, check=False, timeout=60)


def _stop(node: Node) -> None:
    """Wait for `node`'s dockerd after its SIGTERM, SIGKILL it past STOP_TIMEOUT."""
    proc = node.process
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)


def _strays(node: Node) -> list[int]:
    """Processes still running for `node`: its containerd and shims (their command lines
    name its folder) and what is left in its containers' cgroups."""
    mark = f"{node.root}/".encode()
    pids: set[int] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if mark in (proc / "cmdline").read_bytes():
                pids.add(int(proc.name))
    procs_files = (CGROUP_ROOT / "pids" / node.cgroup_parent.lstrip("/")).glob("**/cgroup.procs")
    for procs in procs_files:
        with contextlib.suppress(OSError):
            pids.update(int(pid) for pid in procs.read_text().split())
    pids.discard(os.getpid())
    return sorted(pids)


def _kill_strays(node: Node) -> None:
    """SIGKILL what `node`'s daemons left running (nothing, after a clean stop)."""
    for _ in range(50):
        pids = _strays(node)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _unmount_under(root: Path) -> None:
    """`umount -l` every mount at or under `root` (overlays, container namespaces, the
    private mounts dockerd makes of its folders), deepest first."""
    prefix = f"{root}/"
    points = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = _unescape(line.split()[4])
        if point == str(root) or point.startswith(prefix):
            points.add(point)
    for point in sorted(points, key=lambda p: p.count("/"), reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True, timeout=30)


def _unescape(field_: str) -> str:
    """A mountinfo path: spaces, tabs, newlines and backslashes come as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_)


def _remove_cgroups(parent: str) -> None:
    """Remove the (empty, now) cgroups dockerd made under `parent` in every hierarchy."""
    for hierarchy in CGROUP_ROOT.iterdir() if CGROUP_ROOT.is_dir() else ():
        top = hierarchy / parent.lstrip("/")
        if not top.is_dir():
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: w[0].count("/"), reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


def _keep_log(node: Node) -> None:
    """Copy `node`'s dockerd log to test-artifacts/engines/ (its folder is removed)."""
    with contextlib.suppress(OSError):
        if node.log_path.exists():
            ENGINE_LOGS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(node.log_path, ENGINE_LOGS / f"{node.name}.log")


def _owner() -> str:
    """This process's pid and start time (a pid alone may be reused by then)."""
    return f"{os.getpid()} {_start_time(os.getpid())}"


def _start_time(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, starttime


def remove_leftovers() -> None:
    """Tear down the extra engines of test sessions that died without doing it themselves
    (their folder's owner is no longer running); never another live session's."""
    for owner_file in Path("/tmp").glob(f"dd*/{OWNER_FILE}"):
        try:
            pid, started = owner_file.read_text().split()
        except (OSError, ValueError):
            continue
        if _start_time(int(pid)) == started:
            continue  # its session is alive
        # Its daemons died with it (PR_SET_PDEATHSIG) or are killed here: what is left
        # is theirs (their command lines and cgroups name the folder).
        with contextlib.suppress(Exception):
            teardown([Node.at(owner_file.parent)])


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the process that started it dies (a test
    session killed with SIGKILL runs no atexit hook). It is the starting thread that counts,
    so daemons are started from the calling thread, never from a pool."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _run(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    return proc.stdout


@atexit.register
def _stop_live_nodes() -> None:
    """At the end of the session, whatever a fixture did not stop (best effort)."""
    if _LIVE:
        with contextlib.suppress(Exception):
            teardown(list(_LIVE.values()))


__all__ = [
    "IMAGE",
    "Node",
    "Swarm",
    "extra_engine",
    "remove_leftovers",
    "require_extra_engines",
    "swarm_of_two",
    "teardown",
]
