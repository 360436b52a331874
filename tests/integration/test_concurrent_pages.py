"""30 concurrent loads of every page a student opens first, on the real daphne server: 0 errors.

A class logs in at once: several students, each in their own session, open the
landing page and the lists in the same second. Every answer must be a 200;
the latencies are printed (p50/p95 per page). The engine socket counts the
`/system/df` calls, which the pages showing sizes share.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse

from tests import rig
from tests.integration.live_helpers import (
    CACHE_SECONDS,
    CountingEngineProxy,
    burst,
    live_server_behind,
    login_cookie,
)
from tests.rig import LABELS

PASSWORD = "first-pages-pass-1"
STUDENTS = ["class1", "class2", "class3"]
BURST = 30
# The pages behind the navigation a student sees first, by their URL names.
FIRST_PAGES = ["home", "containers", "images", "networks", "volumes", "my-usage", "stats-overview"]
SHOW_DISK_USAGE = {"home", "volumes"}


@pytest.fixture(scope="module")
def class_server(
    tmp_path_factory: pytest.TempPathFactory, engine_proxy: CountingEngineProxy
) -> Iterator[rig.LiveServer]:
    students = dict.fromkeys(STUDENTS, "student")
    workdir = tmp_path_factory.mktemp("pages-live")
    with live_server_behind(engine_proxy, workdir, students, PASSWORD) as server:
        yield server


@pytest.fixture(scope="module")
def class_containers(docker_client: Any, test_image: str) -> Iterator[list[Any]]:
    """A container and a volume of each student, so their lists are not empty."""
    made = []
    for name in STUDENTS:
        owned = {**LABELS, "dockdash.owner": name}
        volume = docker_client.volumes.create(name=f"dd-{name}-{rig.RUN_ID}", labels=owned)
        container = docker_client.containers.run(
            test_image,
            ["sleep", "3600"],
            labels=owned,
            detach=True,
            volumes={volume.name: {"bind": "/data", "mode": "rw"}},
        )
        made.append((container, volume))
    yield [c for c, _ in made]
    for container, volume in made:
        container.remove(force=True)
        volume.remove(force=True)


def test_thirty_concurrent_loads_of_each_first_page_by_a_class_all_answer_200(
    class_server: rig.LiveServer,
    engine_proxy: CountingEngineProxy,
    class_containers: list[Any],
) -> None:
    started = time.monotonic()
    cookies = [login_cookie(class_server.url, name, PASSWORD) for name in STUDENTS]
    failures = []
    for name in FIRST_PAGES:
        path = reverse(name)
        if name in SHOW_DISK_USAGE:  # what the logins and the previous page kept expired
            engine_proxy.wait_until_df_idle(CACHE_SECONDS + 0.2)
        before, busy_before = engine_proxy.df_calls, engine_proxy.busy_answers
        result = burst(class_server.url, path, cookies, BURST)
        df_calls = engine_proxy.df_calls - before
        busy = engine_proxy.busy_answers - busy_before  # another test's df ran: asked again
        print(f"\n[pages] {result.summary()} df calls={df_calls} busy={busy}")
        failures += [(path, a.status, a.body[:200]) for a in result.errors]
        if name in SHOW_DISK_USAGE:
            assert df_calls - busy == 1, (
                f"{df_calls} /system/df calls ({busy} answered busy) for {BURST} loads of {path}"
            )
    assert not failures, failures[:5]
    # Each student's own container is on their containers page (the sessions are theirs).
    first = burst(class_server.url, reverse("containers"), cookies[:1], 1).answers[0]
    assert class_containers[0].name in first.body
    assert class_containers[1].name not in first.body
    print(f"[pages] {len(FIRST_PAGES)} pages x {BURST} in {time.monotonic() - started:.1f} s")
