"""Helpers for the registry tests: a live dashboard with API tokens and logged-in sessions,
an engine socket that notes each request, images with a unique layer, registries over TLS."""

from __future__ import annotations

import datetime
import io
import ipaddress
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests import rig
from tests.rig import LABELS, RUN_ID, wait_for

BLOB_BYTES = 24 * 1024 * 1024  # big enough that a pull shows progress between frames
USERS = {
    "admin": ("admin", "admin-pass-for-tests"),
    "alice": ("student", "alice-pass-for-tests"),
    "bob": ("student", "bob-pass-for-tests"),
}


@dataclass
class Dashboard:
    server: rig.LiveServer
    tokens: dict[str, str]
    passwords: dict[str, str]
    sessions: dict[str, requests.Session] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, user: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Token {self.tokens[user]}"}
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def wait_job(self, user: str, job_id: int, timeout: float = 90) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            body = self.api(user, "GET", f"/api/v1/jobs/{job_id}/").json()
            return body if body["state"] != "running" else None

        return wait_for(finished, timeout=timeout, interval=0.2, what=f"job {job_id} to end")

    def run_job(self, user: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a job (pull, push) as `user`, and the job once it has ended."""
        started = self.api(user, "POST", path, json=body)
        assert started.status_code == 202, started.text
        return self.wait_job(user, started.json()["job"])

    def push(self, user: str, image: str, registry: int, repository: str) -> dict[str, Any]:
        """Push `image` to `registry` as `repository:v1` through the API; the ended job."""
        body = {"image": image, "registry": registry, "repository": repository, "tag": "v1"}
        return self.run_job(user, "/api/v1/images/push/", body)

    def db_rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.server.workdir / "db.sqlite3") as db:
            return list(db.execute(sql, args))

    def db_bytes(self) -> bytes:
        data = b""
        for suffix in ("", "-wal", "-journal"):
            path = Path(str(self.server.workdir / "db.sqlite3") + suffix)
            if path.exists():
                data += path.read_bytes()
        return data

    def job_count(self, kind: str = "") -> int:
        sql = "SELECT COUNT(*) FROM registry_app_job" + (" WHERE kind = ?" if kind else "")
        return int(self.db_rows(sql, *([kind] if kind else []))[0][0])

    def audit_rows(self, action: str) -> list[tuple[Any, ...]]:
        """(username, result, error, target_name) of each audit row of `action`, oldest first."""
        return self.db_rows(
            "SELECT username, result, error, target_name FROM dashboard_auditentry "
            "WHERE action = ? ORDER BY id",
            action,
        )

    def session(self, user: str) -> requests.Session:
        """A browser-like session (cookie + CSRF) of `user`, logged in through the login form."""
        if user in self.sessions:
            return self.sessions[user]
        s = requests.Session()
        page = s.get(self.url + "/login/", timeout=10)
        answer = s.post(
            self.url + "/login/",
            data={
                "username": user,
                "password": self.passwords[user],
                "csrfmiddlewaretoken": csrf_of(s, page.text),
            },
            headers={"Referer": self.url + "/login/"},
            timeout=10,
        )
        assert "/login/" not in answer.url, "login failed"
        self.sessions[user] = s
        return s

    def post_form(
        self,
        user: str,
        path: str,
        data: dict[str, Any],
        files: dict[str, Any] | None = None,
        *,
        form_page: str = "",
    ) -> requests.Response:
        """Send a form to `path` as `user` would: its page (`path` unless told) first."""
        session = self.session(user)
        page = session.get(self.url + (form_page or path), timeout=30)
        return session.post(
            self.url + path,
            data={"csrfmiddlewaretoken": csrf_of(session, page.text), **data},
            files=files,
            headers={"Referer": self.url + (form_page or path)},
            timeout=30,
        )


@contextmanager
def live_dashboard(workdir: Path, docker_host: str | None = None) -> Iterator[Dashboard]:
    """A live dashboard with the USERS (and an API token each), stopped on leaving."""
    server = rig.start_live_server(
        workdir,
        docker_host=docker_host,
        users=USERS,
        commands=[["token", "create", name, "--scope", "read-write"] for name in USERS],
    )
    try:
        tokens = {name: out.strip() for name, out in zip(USERS, server.setup_output, strict=True)}
        yield Dashboard(server, tokens, {name: pw for name, (_, pw) in USERS.items()})
    finally:
        server.stop()


def image_exists(ref: str) -> bool:
    found = subprocess.run(["docker", "image", "inspect", ref], capture_output=True, check=False)
    return found.returncode == 0


# ------------------------------------------------------------ what the dashboard asks the engine

REQUEST_LINE = re.compile(rb"^(?:GET|HEAD|POST|PUT|DELETE) (/\S*) HTTP/1\.[01]\r$", re.MULTILINE)


# Calls that pull, push, tag, inspect or build an image (a page listing the local images
# asks for `/images/json`: not those); and calls that build.
IMAGE_CALL = re.compile(r"/build\b|/images/(?!json(?:\?|$))")
BUILD_CALL = re.compile(r"/build\b")


class _Noted:
    """A client socket whose requests' paths are noted as they pass to the engine."""

    def __init__(self, sock: socket.socket, paths: list[str]):
        self._sock, self._paths = sock, paths

    def recv(self, size: int) -> bytes:
        data = self._sock.recv(size)
        self._paths.extend(p.decode(errors="replace") for p in REQUEST_LINE.findall(data))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class EngineRequests(rig.SocketProxy):
    """The real engine socket, forwarded, with the path of every request in `paths`."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.paths: list[str] = []

    def _forward(self, client: socket.socket, upstream: socket.socket) -> None:
        self._pump(_Noted(client, self.paths), upstream)  # type: ignore[arg-type]

    def asked_since(self, start: int, calls: re.Pattern[str] = IMAGE_CALL) -> list[str]:
        """The requests since `start` (a length of `paths`) whose path matches `calls`."""
        return [p for p in self.paths[start:] if calls.search(p)]


@contextmanager
def engine_requests() -> Iterator[EngineRequests]:
    """A noting proxy of the engine socket, in a short /tmp folder (socket paths are short)."""
    with tempfile.TemporaryDirectory(prefix="dockdash-eng", dir="/tmp") as folder:
        proxy = EngineRequests(Path(folder) / "engine.sock")
        proxy.start()
        try:
            yield proxy
        finally:
            proxy.stop()


def csrf_of(session: requests.Session, html: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert found, "no CSRF token in the form"
    return found.group(1)


def build_unique_image(client: Any, base: str, tag: str, size: int = BLOB_BYTES) -> str:
    """An image on top of the test image with a layer of random bytes no other image has."""
    dockerfile = f"FROM {base}\nCOPY blob /blob\nLABEL dockdash.test.nonce={uuid.uuid4().hex}\n"
    buf = io.BytesIO()
    blob = os.urandom(size)
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile.encode()), ("blob", blob)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    image, _ = client.images.build(
        fileobj=buf, custom_context=True, tag=tag, labels=LABELS, rm=True
    )
    return str(image.id)


def repo_name(prefix: str) -> str:
    return f"{prefix}/dockdash-test-{RUN_ID}-{uuid.uuid4().hex[:6]}"


# ---------------------------------------------------------------- a registry students may use

CERTS_D = Path("/etc/docker/certs.d")


@dataclass
class TlsRegistry:
    """docker-registry over TLS on a non-loopback address of this host, with several logins."""

    host: str  # ADDRESS:PORT, the name in image references
    url: str
    logins: dict[str, str]
    workdir: Path
    process: Any

    def log(self) -> str:
        return (self.workdir / "registry.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(CERTS_D / self.host, ignore_errors=True)


TEST_ADDRESS = "198.18.77.1"  # the benchmarking range: never a private network's address


def local_address(client: Any = None) -> str:
    """A non-loopback address of this host that the engine reaches, for registries a student
    may use: added to the loopback interface once (a /32 of 198.18.0.0/15), kept for later runs."""
    shown = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True)
    if f" {TEST_ADDRESS}/" not in shown.stdout:
        added = subprocess.run(
            ["ip", "addr", "add", f"{TEST_ADDRESS}/32", "dev", "lo"],
            capture_output=True,
            text=True,
        )
        if added.returncode != 0 and "exists" not in added.stderr:
            rig.missing(f"cannot give this host the test address {TEST_ADDRESS}: {added.stderr}")
    return TEST_ADDRESS


def ca_certificate(
    key: Any, common_name: str, *, valid_for: datetime.timedelta, address: str = ""
) -> Any:
    """A self-signed CA certificate of `key` (for `address`, when given), valid from now."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + valid_for)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    if address:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
            critical=False,
        )
    return builder.sign(key, hashes.SHA256())


def self_signed(workdir: Path, address: str) -> tuple[Path, Path]:
    """A certificate for `address` (its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = ca_certificate(
        key, f"dockdash-test-{RUN_ID}", valid_for=datetime.timedelta(days=1), address=address
    )
    cert_path, key_path = workdir / "cert.pem", workdir / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def trust_for_engine(host: str, cert_path: Path) -> None:
    """Make the local engine trust `cert_path` for `host` (its per-registry certs.d folder)."""
    try:
        (CERTS_D / host).mkdir(parents=True, exist_ok=True)
        shutil.copy(cert_path, CERTS_D / host / "ca.crt")
    except OSError as exc:
        rig.missing(f"cannot write {CERTS_D} (the engine's registry CA folder): {exc}")


def start_tls_registry(workdir: Path, address: str, logins: dict[str, str]) -> TlsRegistry:
    workdir.mkdir(parents=True, exist_ok=True)
    lines = [
        subprocess.run(
            ["htpasswd", "-Bbn", user, password], capture_output=True, text=True, check=True
        ).stdout.strip()
        for user, password in logins.items()
    ]
    (workdir / "htpasswd").write_text("\n".join(lines) + "\n")
    cert_path, key_path = self_signed(workdir, address)
    port = rig.free_port()
    host = f"{address}:{port}"
    (workdir / "config.yml").write_text(
        "version: 0.1\n"
        "log:\n  level: info\n"
        f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
        f"http:\n  addr: {host}\n"
        f"  tls:\n    certificate: {cert_path}\n    key: {key_path}\n"
        f"auth:\n  htpasswd:\n    realm: dockdash-test\n    path: {workdir / 'htpasswd'}\n"
    )
    trust_for_engine(host, cert_path)
    log = open(workdir / "registry.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        ["/usr/bin/docker-registry", "serve", str(workdir / "config.yml")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = TlsRegistry(host, f"https://{host}", logins, workdir, process)

    def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError(server.log()[-2000:])
        try:
            return requests.get(server.url + "/v2/", verify=str(cert_path), timeout=2).ok is False
        except requests.exceptions.ConnectionError:
            return False

    wait_for(answering, timeout=20, interval=0.1, what=f"docker-registry on {server.url}")
    return server
