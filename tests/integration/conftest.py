"""Fixtures of the integration tests that several modules share."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import rig
from tests.rig import RUN_ID


@pytest.fixture
def two_classes(
    make_user: Callable[..., Any], teach: Any, make_container: Callable[..., Any]
) -> dict[str, Any]:
    """Class A (instructor ia, student a1) and class B (instructor ib, student b1), each
    student with a running container (that a stop ends at once: its `sleep` as PID 1
    ignores SIGTERM, which would cost the engine's 10 s grace)."""
    people = {
        "ia": make_user(f"ia{RUN_ID}", "instructor"),
        "ib": make_user(f"ib{RUN_ID}", "instructor"),
        "a1": make_user(f"a1{RUN_ID}", "student"),
        "b1": make_user(f"b1{RUN_ID}", "student"),
    }
    teach(people["ia"], people["a1"], slug=f"a{RUN_ID}")
    teach(people["ib"], people["b1"], slug=f"b{RUN_ID}")
    for who in ("a1", "b1"):
        owner = {"dockdash.owner": people[who].username}
        people[f"{who}_box"] = make_container(labels=owner, stop_signal="SIGKILL").id
    return people


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real redis-server on a free loopback port, for REDIS_URL (nothing kept on disk)."""
    if not shutil.which("redis-server"):
        rig.missing("redis-server is not installed (apt-get install redis-server)")
    port = rig.free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(tmp_path)]

    def answering() -> bool:
        return (
            subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True
            ).stdout.strip()
            == "PONG"
        )

    with rig.quiet_server(argv, answering, timeout=10, what="redis-server"):
        yield f"redis://127.0.0.1:{port}/0"
