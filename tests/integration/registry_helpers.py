"""Helpers for the registry tests: a live dashboard with API tokens, images with a unique layer."""

from __future__ import annotations

import datetime
import io
import ipaddress
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import uuid
from dataclasses import dataclass
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


@dataclass
class Dashboard:
    server: rig.LiveServer
    tokens: dict[str, str]

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

    def session(self, user: str, password: str) -> requests.Session:
        """A browser-like session (cookie + CSRF) logged in through the real login form."""
        s = requests.Session()
        page = s.get(self.url + "/login/", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, "no CSRF token on the login page"
        answer = s.post(
            self.url + "/login/",
            data={"username": user, "password": password, "csrfmiddlewaretoken": token.group(1)},
            headers={"Referer": self.url + "/login/"},
            timeout=10,
        )
        assert "/login/" not in answer.url, "login failed"
        return s


def start_dashboard(workdir: Path, users: dict[str, tuple[str, str]]) -> Dashboard:
    server = rig.start_live_server(workdir)
    tokens = {}
    for name, (role, password) in users.items():
        server.add_user(name, role, password)
        out = server.manage("drf_create_token", name)
        tokens[name] = out.split()[2]
    return Dashboard(server, tokens)


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
