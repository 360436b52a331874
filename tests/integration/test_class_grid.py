"""The class grid through its websocket and its page, against the real engine.

Lab containers are made with the class's labels through docker-py (as a lab
provision makes them, without the job's cost), the figures are judged against
what `docker inspect` and the kernel say, and the websocket is driven through
the full ASGI application.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from classes_app import grid
from containers_app import stats
from dashboard.asgi import application
from tests import rig
from tests.integration.live_helpers import session_headers
from tests.rig import RUN_ID

pytestmark = [pytest.mark.engine, pytest.mark.django_db(transaction=True)]

BURN = ["sh", "-c", "while :; do :; done"]
# A child shell fills 64 MiB under a 16 MiB limit (no swap) twice a second: the
# OOM killer ends the child, the container runs on.
OOM = [
    "sh",
    "-c",
    'while :; do sh -c "x=\\$(head -c 64m /dev/zero | tr \\"\\\\0\\" a)"; sleep 0.5; done',
]
# Near 100 % of a 0.5 CPU limit: the CFS quota holds a busy loop to 50 ms per
# 100 ms period. A 0.5 s tick (as here) not aligned with those periods may hold
# parts of six of them (up to 120 %); a busy host may give it a little less.
CPU_OF_LIMIT = (80.0, 120.0)


@pytest.fixture
async def fast_grid(settings: Any) -> AsyncIterator[None]:
    settings.STATS_GRACE = 0.2
    sampler = stats.sampler_for()
    sampler.interval = 0.5
    yield
    for found in list(grid._grids.values()):
        await found.stop()
    await sampler.stop()


def _lab_labels(slug: str, owner: str) -> dict[str, str]:
    return {"dockdash.owner": owner, "dockdash.class": slug, "dockdash.lab": "lab1"}


def _lab_container(
    make_container: Callable[..., Any], slug: str, owner: str, name: str, **kwargs: Any
) -> Any:
    return make_container(
        kwargs.pop("command", ("sleep", "3600")),
        name=f"{slug}-lab1-{owner}-{name}",
        labels={**_lab_labels(slug, owner), **kwargs.pop("labels", {})},
        **kwargs,
    )


async def _open(user: Any, slug: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        application, f"/ws/classes/{slug}/", headers=await session_headers(user)
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def _frame_until(
    communicator: WebsocketCommunicator, check: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    async def loop() -> dict[str, Any]:
        while True:
            frame = json.loads(await communicator.receive_from(timeout=timeout))
            assert frame["type"] == "grid"
            if check(frame):
                return frame

    return await asyncio.wait_for(loop(), timeout)


def _container(frame: dict[str, Any], student: str, name: str) -> dict[str, Any] | None:
    for s in frame["students"]:
        for c in s["containers"]:
            if s["username"] == student and c["name"] == name:
                return dict(c)
    return None


def _docker_class_containers(slug: str) -> dict[tuple[str, str], str]:
    """(owner, full name) -> state of the class's containers, as `docker ps -a` lists them."""
    lines = rig.docker_cli(
        "ps",
        "-a",
        "--filter",
        f"label=dockdash.class={slug}",
        "--format",
        '{{.Label "dockdash.owner"}} {{.Names}} {{.State}}',
    ).splitlines()
    return {(o, n): state for o, n, state in (line.split() for line in lines if line.strip())}


async def test_grid_frame_carries_every_student_and_cpu_against_its_limit(
    make_user: Callable[..., Any],
    teach: Callable[..., Any],
    make_container: Callable[..., Any],
    fast_grid: None,
) -> None:
    slug = f"g{RUN_ID}"
    teacher = await asyncio.to_thread(make_user, f"gt{RUN_ID}", "instructor")
    names = [f"gs{i}{RUN_ID}" for i in range(3)]
    await asyncio.to_thread(teach, teacher, *names, slug=slug)

    def make_lab() -> None:
        for name in names[:2]:
            _lab_container(make_container, slug, name, "shell")
        _lab_container(make_container, slug, names[0], "burn", command=BURN, nano_cpus=500_000_000)
        _lab_container(make_container, slug, names[2], "shell", start=False)
        # The same student's containers of another class, or of no class, are not this grid's.
        make_container(name=f"other-{names[1]}-{RUN_ID}", labels={"dockdash.owner": names[1]})
        _lab_container(make_container, f"x{slug}", names[1], "shell")

    await asyncio.to_thread(make_lab)
    inspected = await asyncio.to_thread(rig.docker_inspect, f"{slug}-lab1-{names[0]}-burn")
    assert inspected["HostConfig"]["NanoCpus"] == 500_000_000

    communicator = await _open(teacher, slug)
    try:

        def burner_at_its_limit(frame: dict[str, Any]) -> bool:
            burner = _container(frame, names[0], "burn")
            # On a busy host a tick may find it starved below its quota, so neither at
            # its limit nor throttled: wait for a tick where it had its whole share.
            return (
                burner is not None
                and burner["cpu_of_limit"] >= CPU_OF_LIMIT[0]
                and "throttled" in burner["badges"]
            )

        frame = await _frame_until(communicator, burner_at_its_limit, timeout=30)
    finally:
        await communicator.disconnect()

    assert [s["username"] for s in frame["students"]] == names
    docker_says = await asyncio.to_thread(_docker_class_containers, slug)
    grid_says = {
        (s["username"], f"{slug}-lab1-{s['username']}-{c['name']}"): c["state"]
        for s in frame["students"]
        for c in s["containers"]
    }
    assert grid_says == docker_says
    assert docker_says[(names[2], f"{slug}-lab1-{names[2]}-shell")] == "created"

    burner = _container(frame, names[0], "burn")
    assert burner is not None
    assert burner["cpu_limit"] == 0.5
    assert CPU_OF_LIMIT[0] <= burner["cpu_of_limit"] <= CPU_OF_LIMIT[1], burner
    # of one core: about 50, the same reading against the whole host's cores would be 25
    assert burner["cpu_of_limit"] == pytest.approx(burner["cpu_percent"] / 0.5, abs=0.1)
    assert frame["students"][0]["load"] == round(burner["cpu_of_limit"])
    idle = _container(frame, names[1], "shell")
    assert idle is not None and idle["badges"] == [] and idle["cpu_of_limit"] < 5
    totals = frame["totals"]
    assert totals["students"] == 3 and totals["containers"] == 4 and totals["running"] == 3
    assert totals["throttled"] >= 1


async def test_grid_badges_oom_kills_and_restart_loops(
    make_user: Callable[..., Any],
    teach: Callable[..., Any],
    make_container: Callable[..., Any],
    fast_grid: None,
) -> None:
    slug = f"b{RUN_ID}"
    teacher = await asyncio.to_thread(make_user, f"bt{RUN_ID}", "instructor")
    student = f"bs{RUN_ID}"
    await asyncio.to_thread(teach, teacher, student, slug=slug)
    communicator = await _open(teacher, slug)
    try:

        def make_lab() -> None:
            _lab_container(
                make_container,
                slug,
                student,
                "hog",
                command=OOM,
                mem_limit="16m",
                memswap_limit="16m",
            )
            _lab_container(
                make_container,
                slug,
                student,
                "crash",
                command=("sh", "-c", "exit 1"),
                restart_policy={"Name": "always"},
            )

        await asyncio.to_thread(make_lab)

        def both_badged(frame: dict[str, Any]) -> bool:
            hog, crash = _container(frame, student, "hog"), _container(frame, student, "crash")
            looping = crash and "restarts" in crash["badges"] and crash["restarts"] >= 3
            return bool(hog and "oom" in hog["badges"] and looping)

        frame = await _frame_until(communicator, both_badged, timeout=30)
    finally:
        await communicator.disconnect()
    hog = _container(frame, student, "hog")
    # (Which process the kernel kills is its choice: sometimes the shell, and the container
    # ends; the badge is the count either way.)
    assert hog is not None and hog["oom_kills"] >= 1
    inspected = await asyncio.to_thread(rig.docker_inspect, f"{slug}-lab1-{student}-crash")
    assert inspected["RestartCount"] >= 2
    assert frame["totals"]["oom"] == 1 and frame["totals"]["restarts"] == 1


async def test_grid_is_for_the_class_instructors_and_admins_only(
    make_user: Callable[..., Any], teach: Callable[..., Any], admin_user: Any, fast_grid: None
) -> None:
    slug = f"r{RUN_ID}"
    teacher = await asyncio.to_thread(make_user, f"rt{RUN_ID}", "instructor")
    other = await asyncio.to_thread(make_user, f"ro{RUN_ID}", "instructor")
    student = await asyncio.to_thread(make_user, f"rs{RUN_ID}", "student")
    await asyncio.to_thread(teach, teacher, student, slug=slug)
    await asyncio.to_thread(teach, other, f"ros{RUN_ID}", slug=f"o{slug}")

    for who in (other, student):
        refused = WebsocketCommunicator(
            application, f"/ws/classes/{slug}/", headers=await session_headers(who)
        )
        connected, code = await refused.connect(timeout=10)
        assert (connected, code) == (False, 4404), who.username
        await refused.disconnect()
    for who in (teacher, admin_user):
        communicator = await _open(who, slug)
        frame = await _frame_until(communicator, lambda f: True, timeout=10)
        await communicator.disconnect()
        assert [s["username"] for s in frame["students"]] == [student.username]

    def page(user: Any) -> int:
        client = Client()
        client.force_login(user)
        return int(client.get(f"/classes/{slug}/grid/").status_code)

    assert await asyncio.to_thread(page, teacher) == 200
    assert await asyncio.to_thread(page, other) == 404
    assert await asyncio.to_thread(page, student) == 404


async def test_grid_marks_a_student_with_a_terminal_open_until_it_closes(
    make_user: Callable[..., Any],
    teach: Callable[..., Any],
    make_container: Callable[..., Any],
    fast_grid: None,
) -> None:
    slug = f"t{RUN_ID}"
    teacher = await asyncio.to_thread(make_user, f"tt{RUN_ID}", "instructor")
    student = await asyncio.to_thread(make_user, f"ts{RUN_ID}", "student")
    await asyncio.to_thread(teach, teacher, student, f"tq{RUN_ID}", slug=slug)
    box = await asyncio.to_thread(_lab_container, make_container, slug, student.username, "shell")

    def terminals(frame: dict[str, Any]) -> dict[str, int]:
        return {s["username"]: s["terminals"] for s in frame["students"]}

    communicator = await _open(teacher, slug)
    shell = WebsocketCommunicator(
        application, f"/ws/containers/{box.id}/exec/", headers=await session_headers(student)
    )
    try:
        frame = await _frame_until(communicator, lambda f: True, timeout=10)
        assert terminals(frame) == {student.username: 0, f"tq{RUN_ID}": 0}
        connected, _ = await shell.connect(timeout=10)
        assert connected
        frame = await _frame_until(communicator, lambda f: any(terminals(f).values()), timeout=3)
        assert terminals(frame) == {student.username: 1, f"tq{RUN_ID}": 0}
    finally:
        await shell.disconnect(timeout=10)
    try:
        await _frame_until(communicator, lambda f: not any(terminals(f).values()), timeout=3)
    finally:
        await communicator.disconnect()
