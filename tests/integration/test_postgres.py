"""DATABASE_URL=postgres://... runs the dashboard on a real PostgreSQL server."""

from __future__ import annotations

import glob
import http.cookiejar
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import rig


@pytest.fixture
def postgres_url(tmp_socket_dir: Path) -> Iterator[str]:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins:
        rig.missing("PostgreSQL is not installed (apt-get install postgresql)")
    initdb, server = f"{bins[-1]}/initdb", f"{bins[-1]}/postgres"
    data = tmp_socket_dir / "pgdata"
    data.mkdir()
    shutil.chown(tmp_socket_dir, "postgres")
    shutil.chown(data, "postgres")
    # setpriv runs the program itself as postgres, where runuser would stay its parent and,
    # when stopped, wait 2 s before killing it.
    as_postgres = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
    subprocess.run(
        # --no-sync: a throwaway cluster needs no flush to disk (seconds on a busy host)
        [*as_postgres, initdb, "-D", str(data), "-U", "dockdash", "-A", "trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    port = rig.free_port()
    argv = [*as_postgres, server, "-D", str(data), "-p", str(port)]
    argv += ["-h", "127.0.0.1", "-k", str(tmp_socket_dir)]

    def ready() -> bool:
        return (
            subprocess.run(
                ["pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True
            ).returncode
            == 0
        )

    with rig.quiet_server(argv, ready, timeout=20, what="postgres"):
        subprocess.run(
            ["createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "dockdash", "dockdash"],
            check=True,
        )
        yield f"postgres://dockdash@127.0.0.1:{port}/dockdash"


def test_dashboard_migrates_and_serves_on_postgresql(
    postgres_url: str, tmp_path: Path, docker_client: object
) -> None:
    server = rig.start_live_server(
        tmp_path,
        extra_env={"DATABASE_URL": postgres_url},
        users={"pgadmin": ("admin", "pg-admin-pass-1")},
    )
    try:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login_page = opener.open(server.url + "/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page)
        assert token
        form = urllib.parse.urlencode(
            {
                "username": "pgadmin",
                "password": "pg-admin-pass-1",
                "csrfmiddlewaretoken": token.group(1),
            }
        ).encode()
        request = urllib.request.Request(
            server.url + "/login/", data=form, headers={"Referer": server.url + "/login/"}
        )
        page = opener.open(request)
        assert page.url == server.url + "/"
        assert "Docker Engine" in page.read().decode()
    finally:
        server.stop()
    rows = subprocess.run(
        ["psql", postgres_url, "-tAc", "select username, role from dashboard_user"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert rows == ["pgadmin|admin"]
