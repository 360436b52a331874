"""Helpers for the registry tests: a live dashboard with API tokens, images with a unique layer."""

from __future__ import annotations

import io
import os
import re
import sqlite3
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

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
