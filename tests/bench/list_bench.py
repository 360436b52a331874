"""The container list with 300 containers: server time of the page against `docker ps -a`.

The 300 containers are created, not started (starting them would measure the
engine, not the list, and take minutes on 2 cores); `docker ps -a` and the page
both list every container, running or not.

Then the list with crash-looping containers (restart policy always), whose rows show a
restart count the list call lacks: its time with a live page following the events (as
a browser tab on the list does) and without.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from containers_app.events import watcher
from dashboard.asgi import application
from tests import rig
from tests.integration.live_helpers import session_headers
from tests.rig import LABELS, RUN_ID

COUNT = 300
LOOPING = 30  # crash-looping containers of the second measure
SETTLED = 6  # restarts of each before it is measured
ROUNDS = 10


def median_seconds(run: Any) -> float:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@contextlib.contextmanager
def created_containers(
    docker_client: Any, image: str, count: int, **kwargs: Any
) -> Iterator[list[str]]:
    """The ids of `count` labelled containers of `image`, created (with `kwargs`), removed on
    leaving."""
    labels = {**LABELS, "dockdash.bench": "list"}
    start = kwargs.pop("start", False)

    def create(i: int) -> str:
        made = docker_client.api.create_container(
            image, name=f"dd-bench-{RUN_ID}-{start:d}{i:03d}", labels=labels, **kwargs
        )
        if start:
            docker_client.api.start(made["Id"])
        return str(made["Id"])

    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(create, range(count)))
    print(f"\ncreated {len(ids)} containers in {time.perf_counter() - started:.1f} s")
    try:
        yield ids
    finally:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda cid: docker_client.api.remove_container(cid, force=True), ids))


@contextlib.contextmanager
def events_followed(user: Any) -> Iterator[None]:
    """A live page's `/ws/events/` open as `user` for the block (on a loop of its own)."""
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    async def open_socket() -> WebsocketCommunicator:
        socket = WebsocketCommunicator(
            application, "/ws/events/", headers=await session_headers(user)
        )
        connected, code = await socket.connect(timeout=10)
        assert connected, code
        return socket

    socket = asyncio.run_coroutine_threadsafe(open_socket(), loop).result(timeout=30)
    try:
        rig.wait_for(lambda: watcher.following, what="the events stream")
        yield
    finally:
        asyncio.run_coroutine_threadsafe(socket.disconnect(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)


@pytest.mark.django_db
def test_container_list_page_against_docker_ps(
    admin_client: Any, docker_client: Any, test_image: str
) -> None:
    with created_containers(docker_client, test_image, COUNT, command=["sleep", "1"]):
        total = len(docker_client.api.containers(all=True))
        ours = f'data-name="dd-bench-{RUN_ID}-'.encode()

        def page() -> None:
            response = admin_client.get("/containers/")
            assert response.status_code == 200
            # Other runs share the engine, so only our 300 rows are counted exactly.
            assert response.content.count(ours) == COUNT

        def cli() -> None:
            subprocess.run(["docker", "ps", "-a"], check=True, capture_output=True)

        page()  # warm up: first request imports and compiles templates
        page_s = median_seconds(page)
        cli_s = median_seconds(cli)
        ratio = page_s / cli_s
        print(
            f"{total} containers: list page {page_s * 1000:.1f} ms (median of {ROUNDS}), "
            f"docker ps -a {cli_s * 1000:.1f} ms, ratio {ratio:.2f} (target <= 2)"
        )
        assert ratio <= 2, f"the list page is {ratio:.2f}x docker ps -a"


@pytest.mark.django_db(transaction=True)  # the events socket reads the session in its thread
def test_container_list_page_with_crash_looping_containers(
    admin_client: Any, admin_user: Any, docker_client: Any, test_image: str
) -> None:
    policy = docker_client.api.create_host_config(restart_policy={"Name": "always"})
    looping = {"command": ["sh", "-c", "exit 1"], "host_config": policy, "start": True}
    with created_containers(docker_client, test_image, LOOPING, **looping) as ids:

        def settled() -> bool:
            # The engine's pause between restarts doubles: from the 6th it is over 3 s, so
            # the loops no longer load the host while the list is measured.
            counts = [docker_client.api.inspect_container(i)["RestartCount"] for i in ids]
            return min(counts) >= SETTLED

        rig.wait_for(settled, timeout=180, interval=1, what=f"{SETTLED} restarts of each loop")
        rows: list[int] = []

        def page() -> None:
            response = admin_client.get("/containers/")
            assert response.status_code == 200
            rows.append(response.content.count(b"Restarting \xc2\xb7 "))

        measured = {}
        runs = (
            ("no live page", contextlib.nullcontext()),
            ("a live page", events_followed(admin_user)),
            ("no live page again", contextlib.nullcontext()),
        )
        for name, followed in runs:
            with followed:
                page()  # warm up (with the events followed: each restarting one inspected once)
                rows.clear()
                measured[name] = median_seconds(page)
            print(
                f"{LOOPING} crash-looping containers, {name} following the events: list page "
                f"{measured[name] * 1000:.1f} ms (median of {ROUNDS}), "
                f"{statistics.mean(rows):.1f} restarting rows a render"
            )
        without = (measured["no live page"] + measured["no live page again"]) / 2
        print(
            f"with a live page the list takes {measured['a live page'] / without:.2f} of the time"
        )
