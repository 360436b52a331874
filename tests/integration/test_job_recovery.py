"""A job a server restart cut short: failed, and its audit row written, when the server
starts again; while the process running it lives, another server on the same database
leaves it alone. Real daphne processes, the real engine, a pull held mid-way by a registry
that never answers for the image."""

from __future__ import annotations

import contextlib
import http.server
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import rig
from tests.integration.registry_helpers import Dashboard, live_dashboard
from tests.rig import RUN_ID, wait_for

pytestmark = pytest.mark.engine


class StalledRegistry(http.server.ThreadingHTTPServer):
    """A registry on loopback that answers `/v2/` and holds every other request until
    `release` is set: a pull through it runs until the dashboard goes away."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Held)
        self.asked = threading.Event()  # the engine asked for the image: the pull is under way
        self.release = threading.Event()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _Held(http.server.BaseHTTPRequestHandler):
    server: StalledRegistry

    def _answer(self) -> None:
        if self.path != "/v2/":
            self.server.asked.set()
            self.server.release.wait(timeout=120)
        code = 200 if self.path == "/v2/" else 404
        self.send_response(code)
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Quiet."""


@contextlib.contextmanager
def stalled_registry() -> Iterator[StalledRegistry]:
    server = StalledRegistry()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def _job_row(dash: Dashboard, job_id: int) -> tuple[str, str, str]:
    """(state, error, runner) of the job, read from the database file itself."""
    with sqlite3.connect(dash.server.workdir / "db.sqlite3") as db:
        found = db.execute(
            "SELECT state, error, runner FROM registry_app_job WHERE id = ?", (job_id,)
        ).fetchone()
    return found[0], found[1], found[2]


def _second_server(first: rig.LiveServer, workdir: Path) -> rig.LiveServer:
    """Another daphne process on the same database as `first`, on a port of its own."""
    return rig.LiveServer(
        url=f"http://127.0.0.1:{rig.free_port()}",
        workdir=first.workdir,
        env=first.env,
        log_path=workdir / "second-daphne.log",
    )


def test_a_pull_cut_short_by_a_restart_is_failed_and_audited_once_the_server_is_back(
    tmp_path: Path, docker_client: Any
) -> None:
    with stalled_registry() as registry, live_dashboard(tmp_path / "live") as dash:
        ref = f"{registry.host}/stalled/img{RUN_ID}:v1"
        started = dash.api("admin", "POST", "/api/v1/images/pull/", json={"image": ref})
        assert started.status_code == 202, started.text
        job_id = started.json()["job"]
        assert registry.asked.wait(timeout=30), "the engine never asked the registry for it"
        assert dash.api("admin", "GET", f"/api/v1/jobs/{job_id}/").json()["state"] == "running"
        server = dash.server
        assert server.process is not None
        assert _job_row(dash, job_id)[2].split("/")[3] == str(server.process.pid)

        # A second process on the same database starts (and looks for jobs to fail) while
        # the first still runs this one: it stays running.
        other = _second_server(server, tmp_path)
        other.serve()
        try:
            answer = rig.wait_for(
                lambda: dash.api("admin", "GET", f"/api/v1/jobs/{job_id}/").json(),
                what="the job through the first server",
            )
            assert answer["state"] == "running"
            assert _job_row(dash, job_id)[0] == "running"
        finally:
            other.stop()

        server.process.kill()  # no clean shutdown: the job dies with its process
        server.process.wait(timeout=10)
        assert _job_row(dash, job_id)[0] == "running"
        assert dash.audit_rows("image.pull") == []

        server.serve()
        job = dash.api("admin", "GET", f"/api/v1/jobs/{job_id}/").json()
        assert job["state"] == "failed", job
        assert "the server restarted" in job["error"]
        assert job["finished"] is not None
        rows = dash.audit_rows("image.pull")
        assert rows == [("admin", "error", job["error"], ref)]
        listed = dash.api("admin", "GET", "/api/v1/audit/?action=image.pull").json()
        listed = listed["results"] if isinstance(listed, dict) else listed
        assert [(r["target_id"], r["result"]) for r in listed] == [(f"job {job_id}", "error")]

        # The page of the job says so (its row, not a running job's frame).
        session = dash.session("admin")
        page = session.get(f"{dash.url}/registries/jobs/{job_id}/", timeout=30).text
        assert '"state": "failed"' in page and "the server restarted" in page
        wait_for(lambda: "marked failed" in server.log(), what="the sweep's log line")
