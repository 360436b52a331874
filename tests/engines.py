"""Extra Docker engines for the tests: each a real `dockerd` in a network namespace of its own.

A second dockerd in the host's namespace would take `docker0` from the first engine, so
each extra one runs under `nsenter --net=/var/run/netns/<name>` (never `ip netns exec`,
which remounts /sys, and dockerd then finds no devices cgroup) with its own data root,
exec root, pid file, cgroup parent, bridge subnet (in 198.18.64.0/20, a benchmarking range
no network here uses) and unix socket. No veth: the tests reach it through its socket.

With `tls=True` it also listens on tcp://<address>:2376 with TLS client certificates
(its own CA), reached through a veth pair in 198.18.79.0/24.

`netns_engine()` always stops the daemon, deletes the namespace, its cgroups and its
files, however the block ends.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests import rig
from tests.integration.registry_helpers import ca_certificate
from tests.rig import RUN_ID

NETNS_PREFIX = "ddeng-"
CGROUP_ROOT = Path("/sys/fs/cgroup")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


TLS_PORT = 2376


@dataclass(frozen=True)
class ClientTls:
    """PEM text of what a client of the TLS endpoint needs: its certificate, key, the CA."""

    cert: str
    key: str
    ca: str


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _leaf(ca: x509.Certificate, ca_key: Any, name: str, *, address: str = "") -> tuple[str, str]:
    """A certificate signed by `ca` (a server's for `address`, else a client's) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if address else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if address:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))])
        builder = builder.add_extension(san, critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key)


def _tls_files(root: Path, address: str) -> tuple[list[str], ClientTls]:
    """dockerd's TLS arguments (a CA, its server certificate for `address`) and a client's."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = ca_certificate(ca_key, f"dockdash-test-{RUN_ID}-ca", valid_for=datetime.timedelta(days=1))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    server_cert, server_key = _leaf(ca, ca_key, "dockerd", address=address)
    client_cert, client_key = _leaf(ca, ca_key, "dockdash")
    for name, text in (("ca.pem", ca_pem), ("cert.pem", server_cert), ("key.pem", server_key)):
        (root / name).write_text(text)
    argv = ["--tlsverify", "--tlscacert", str(root / "ca.pem")]
    argv += ["--tlscert", str(root / "cert.pem"), "--tlskey", str(root / "key.pem")]
    argv += ["--host", f"tcp://{address}:{TLS_PORT}"]
    return argv, ClientTls(client_cert, client_key, ca_pem)


@dataclass
class NetnsEngine:
    netns: str
    root: Path
    process: subprocess.Popen[bytes]
    tcp_url: str = ""  # with tls=True: its TLS endpoint
    tls: ClientTls | None = None

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


def _veth_name(index: int) -> str:
    return f"ddv{index}{RUN_ID[:8]}"  # at most 15 bytes; its peer goes into the namespace


def _veth(netns: str, index: int, here: str, there: str) -> None:
    name = _veth_name(index)
    for argv in (
        ["ip", "link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", netns],
        ["ip", "addr", "add", f"{here}/30", "dev", name],
        ["ip", "link", "set", name, "up"],
        ["ip", "-n", netns, "addr", "add", f"{there}/30", "dev", "eth0"],
        ["ip", "-n", netns, "link", "set", "eth0", "up"],
    ):
        subprocess.run(argv, check=True, capture_output=True)


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
def netns_engine(
    index: int, *, images: tuple[str, ...] = (), tls: bool = False
) -> Iterator[NetnsEngine]:
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
        tls_argv: list[str] = []
        client_tls = None
        tcp_url = ""
        if tls:
            # 198.18.79.<4i+1> here, <4i+2> in the namespace: a /30 of the rig's own range.
            here, there = f"198.18.79.{4 * index + 1}", f"198.18.79.{4 * index + 2}"
            _veth(netns, index, here, there)
            tls_argv, client_tls = _tls_files(root, there)
            tcp_url = f"tcp://{there}:{TLS_PORT}"
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
            *tls_argv,
        ]  # fmt: skip
        with open(root / "dockerd.log", "wb") as log:
            process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        engine = NetnsEngine(netns, root, process, tcp_url, client_tls)
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
        # Deleting the namespace deletes the pair with it; this is for a start cut short.
        subprocess.run(["ip", "link", "del", _veth_name(index)], capture_output=True)
        _remove_cgroups(netns)
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)
