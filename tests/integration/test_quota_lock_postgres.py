"""On PostgreSQL the per-user create/start lock also holds across hosts: two processes with
separate lock folders (as on two machines sharing the database) still wait for each other."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests import rig
from tests.integration.test_postgres import postgres_url  # noqa: F401 - the fixture

HOLDER = """
import sys, django
django.setup()
from dashboard import quotas
print("asking", flush=True)
with quotas.serialized(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


class Holder:
    """A process that takes the lock of `owner` and keeps it until told to let go."""

    def __init__(self, env: dict[str, str], owner: str, lock_dir: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, owner],
            env={**env, "DOCKDASH_LOCK_DIR": str(lock_dir)},
            cwd=rig.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def next_line(self, timeout: float) -> str | None:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def pg_env(postgres_url: str, tmp_path: Path) -> dict[str, Any]:  # noqa: F811
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        DJANGO_SETTINGS_MODULE=rig.LIVE_SETTINGS,
        SECRET_KEY="dockdash-lock-test",
        DATABASE_URL=postgres_url,
    )
    pw = tmp_path / "students.pw"
    pw.write_text("pass-for-lock-test")
    rig.manage_each(
        env,
        rig.MIGRATE,
        *(
            ["adduser", name, "--role", "student", "--password-file", str(pw)]
            for name in ("ann", "bob")
        ),
    )
    return env


def test_the_row_lock_serializes_one_user_across_hosts_and_not_two_users(
    pg_env: dict[str, str], tmp_path: Path
) -> None:
    first = Holder(pg_env, "ann", tmp_path / "host-a")
    second = other = None
    try:
        assert first.next_line(timeout=30) == "asking"
        assert first.next_line(timeout=30) == "held"
        second = Holder(pg_env, "ann", tmp_path / "host-b")
        assert second.next_line(timeout=30) == "asking"
        assert second.next_line(timeout=2) is None  # waits on the row lock
        other = Holder(pg_env, "bob", tmp_path / "host-c")
        assert other.next_line(timeout=30) == "asking"
        assert other.next_line(timeout=10) == "held"  # another user is not held up
        first.release()
        assert first.next_line(timeout=10) == "released"
        assert second.next_line(timeout=10) == "held"
        second.release()
        assert second.next_line(timeout=10) == "released"
        other.release()
    finally:
        for holder in (first, second, other):
            if holder is not None:
                holder.stop()
