"""A registry that wants Bearer tokens (docker-registry `auth: token:`) and a token service.

The token service is a small threading HTTP server on loopback that checks the
Basic credentials and signs JWTs with a key and certificate made here with
`cryptography`; docker-registry trusts that certificate (`rootcertbundle`).
Deletion is disabled on this registry, so deleting a tag must say so.
"""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from containers_app.engine.images import push_stream
from registry_app import services
from registry_app.models import Registry
from registry_app.v2client import RegistryClient, RegistryError
from tests import rig
from tests.integration.registry_helpers import ca_certificate
from tests.rig import RUN_ID, docker_cli, wait_for

pytestmark = [pytest.mark.engine, pytest.mark.registry]

SERVICE = "dockdash-test-registry"
ISSUER = "dockdash-test-issuer"
USER, PASSWORD = "tokenuser", f"token-pass-{RUN_ID}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenService:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def realm(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def token(self, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        claims = {
            "iss": ISSUER,
            "sub": USER,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 30,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing}.{b64url(signature)}"


def make_token_service(workdir: Path) -> TokenService:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = ca_certificate(key, "dockdash test token signer", valid_for=datetime.timedelta(hours=1))
    (workdir / "token-cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    service = TokenService(key, cert)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            query = parse_qs(urlsplit(self.path).query)
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            ok = self.headers.get("Authorization") == expected
            service.requests.append({"query": query, "ok": ok})
            if not ok:
                self.send_response(401)
                self.end_headers()
                return
            body = json.dumps({"token": service.token(query.get("scope", []))}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    service.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=service.server.serve_forever, daemon=True).start()
    return service


@dataclass
class BearerRegistry:
    host: str
    url: str
    tokens: TokenService


@pytest.fixture(scope="module")
def bearer_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BearerRegistry]:
    if not Path("/usr/bin/docker-registry").exists():
        rig.missing("docker-registry is not installed")
    workdir = tmp_path_factory.mktemp("bearer")
    tokens = make_token_service(workdir)
    port = rig.free_port()
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
        "  delete:\n    enabled: false\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        f"auth:\n  token:\n    realm: {tokens.realm}\n    service: {SERVICE}\n"
        f"    issuer: {ISSUER}\n    rootcertbundle: {workdir / 'token-cert.pem'}\n"
    )
    log = open(workdir / "registry.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        ["/usr/bin/docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError((workdir / "registry.log").read_text()[-2000:])
        # Anonymous: a listening registry challenges with 401 and a Bearer realm.
        try:
            urllib.request.urlopen(url + "/v2/", timeout=2)
        except urllib.error.HTTPError as exc:
            return exc.code == 401 and "Bearer" in exc.headers.get("WWW-Authenticate", "")
        except OSError:
            return False  # not listening yet
        return False

    wait_for(answering, timeout=20, interval=0.1, what="token registry")
    yield BearerRegistry(f"127.0.0.1:{port}", url, tokens)
    process.terminate()
    process.wait(timeout=10)
    log.close()
    assert tokens.server is not None
    tokens.server.shutdown()


@pytest.mark.django_db
def test_bearer_challenge_push_browse_and_refused_delete(
    bearer_registry: BearerRegistry, test_image: str
) -> None:
    registry = Registry.objects.create(name="token", url=bearer_registry.url)
    registry.set_own_credential(USER, PASSWORD)
    outcome = services.test_connection(registry)  # the engine logs in through the token service
    assert outcome.ok, outcome.message

    # Push with the engine (it follows the same challenge), then browse with our v2 client.
    repo = f"class/dockdash-test-{RUN_ID}"
    target = f"{bearer_registry.host}/{repo}:v1"
    try:
        for name in (repo, f"{repo}-2"):
            docker_cli("tag", test_image, f"{bearer_registry.host}/{name}:v1")
            stream = push_stream(
                f"{bearer_registry.host}/{name}", "v1", registry.own_credential().auth_config()
            )
            messages = list(stream)
            assert not [m for m in messages if "error" in m], messages
    finally:
        docker_cli("rmi", target, f"{bearer_registry.host}/{repo}-2:v1", check=False)

    client = RegistryClient.for_registry(registry, registry.own_credential())
    first = client.repositories(n=1)
    assert first.items == [repo] and first.next_last == repo  # paginated by the Link header
    assert client.repositories(n=1, last=first.next_last).items == [f"{repo}-2"]
    detail = client.tag_detail(repo, "v1")
    assert detail["digest"].startswith("sha256:") and detail["architecture"]
    scopes = [r["query"].get("scope", [""])[0] for r in bearer_registry.tokens.requests if r["ok"]]
    assert "registry:catalog:*" in scopes and f"repository:{repo}:pull" in scopes

    with pytest.raises(RegistryError) as refused:
        client.delete_tag(repo, "v1")
    assert refused.value.status == 405 and "does not allow deleting" in refused.value.message

    wrong = RegistryClient(bearer_registry.url, USER, "not-the-password")
    with pytest.raises(RegistryError, match="Wrong username or password"):
        wrong.repositories()
    registry.set_own_credential(USER, "not-the-password")
    outcome = services.test_connection(registry)
    assert not outcome.ok and outcome.message.startswith("Wrong username or password"), outcome
