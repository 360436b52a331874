"""A real OpenID Connect provider for the tests: django-oauth-toolkit in a Django project of
its own (this package), served on a free loopback port with its own SQLite database.

`launch_provider` starts one that migrates a fresh database and makes the people (with
their groups, sent as the `groups` claim) and the dashboard's client; `start_provider`
also waits until its discovery answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from tests import rig

# Loopback redirect URIs match whatever port the dashboard has (RFC 8252 section 7.3).
REDIRECT_URI = "http://127.0.0.1/oidc/callback/"


class Person(TypedDict):
    username: str
    password: str
    email: str
    groups: list[str]


@dataclass
class OidcProvider:
    issuer: str  # http://127.0.0.1:PORT/o, as its discovery document says
    client_id: str
    client_secret: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def dashboard_env(self, name: str) -> dict[str, str]:
        """The environment that points a dashboard at this provider, its button named `name`."""
        return {
            "DOCKDASH_OIDC_ISSUER": self.issuer,
            "DOCKDASH_OIDC_CLIENT_ID": self.client_id,
            "DOCKDASH_OIDC_CLIENT_SECRET": self.client_secret,
            "DOCKDASH_OIDC_NAME": name,
        }

    def wait_until_answering(self) -> None:
        """Until its discovery document answers, naming this issuer."""

        def discovered() -> dict[str, Any]:
            if self.process.poll() is not None:
                raise AssertionError(f"the OpenID provider exited: {self.log()[-3000:]}")
            url = self.issuer + "/.well-known/openid-configuration"
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback
                return dict(json.load(answer))

        document = rig.wait_for(discovered, timeout=30, interval=0.1, what="the OpenID provider")
        assert document["issuer"] == self.issuer, document

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def launch_provider(
    workdir: Path,
    people: Sequence[Person],
    *,
    client_id: str = "dockdash",
    client_secret: str = "provider-client-secret-1",
) -> OidcProvider:
    """Start the provider's process (its issuer known at once); `wait_until_answering` waits
    for it, so that a dashboard can start meanwhile."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = rig.free_port()
    setup = workdir / "setup.json"
    setup.write_text(
        json.dumps(
            {
                "people": list(people),
                "client": {
                    "client_id": client_id,
                    "client_secret": client_secret,
                    "redirect_uris": REDIRECT_URI,
                },
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.oidc_provider.settings",
        OIDC_PROVIDER_DB=str(workdir / "provider.sqlite3"),
        PYTHONUNBUFFERED="1",
    )
    log_path = workdir / "provider.log"
    with open(log_path, "wb") as log:  # the child keeps its own copy of the file
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.oidc_provider.serve", str(port), str(setup)],
            env=env,
            cwd=rig.ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return OidcProvider(f"http://127.0.0.1:{port}/o", client_id, client_secret, process, log_path)


def start_provider(workdir: Path, people: Sequence[Person]) -> OidcProvider:
    """The provider, answering."""
    provider = launch_provider(workdir, people)
    provider.wait_until_answering()
    return provider
