"""The Swarm pages and API against a real swarm of two extra engines (tests/extra_engines.py),
the dashboard pointed at its manager; the Docker CLI on the manager is the judge.

One swarm for the module: bringing it up takes seconds, so every test shares it and
leaves it as it found it (the worker active, its own services removed).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from containers_app.swarm import LOG_TAIL_MAX
from dashboard.access import OWNER_LABEL
from dashboard.models import AuditEntry
from tests.extra_engines import NETNS_DIR, Swarm, require_extra_engines, swarm_of_two
from tests.rig import LABELS, RUN_ID, docker_cli, wait_for

# The swarm's coming up and going down count against a test's own time limit.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.engine,
    pytest.mark.timeout(300),
]


def first_engine_untouched() -> None:
    """The engine on /var/run/docker.sock (the one `make run` uses) is as it was."""
    assert "Swarm: inactive" in docker_cli("-H", "unix:///var/run/docker.sock", "info")
    link = subprocess.run(["ip", "link", "show", "docker0"], capture_output=True, check=False)
    assert link.returncode == 0, link.stderr


@pytest.fixture(scope="module")
def swarm() -> Iterator[Swarm]:
    """Two extra engines in a Swarm for this module; after it, nothing of them is left (no
    daemon, namespace, folder or mount) and the first engine is untouched."""
    require_extra_engines()
    with swarm_of_two("sw") as made:
        nodes = [made.manager, made.worker]
        pids = [n.process.pid for n in nodes if n.process is not None]
        yield made
    for node in nodes:
        assert not (NETNS_DIR / node.netns).exists(), node.netns
        assert not node.root.exists(), node.root
        assert f"{node.root}/" not in Path("/proc/self/mountinfo").read_text()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"dockerd {pid} still running"
    first_engine_untouched()


@pytest.fixture
def on_swarm(swarm: Swarm, settings: Any) -> Swarm:
    """The dashboard's engine is the swarm's manager, for this test."""
    settings.DOCKER_HOST = swarm.manager_url
    return swarm


@pytest.fixture
def make_service(on_swarm: Swarm) -> Iterator[Callable[..., str]]:
    """`docker service create` on the manager, with the test's labels; removed after."""
    made: list[str] = []

    def make(name: str, *args: str, replicas: int = 2, owner: str = "") -> str:
        labels = {**LABELS, **({OWNER_LABEL: owner} if owner else {})}
        service_id = on_swarm.cli(
            "service",
            "create",
            "--detach",
            "--no-resolve-image",
            "--name",
            f"{name}-{RUN_ID}",
            "--replicas",
            str(replicas),
            "--stop-grace-period",
            "1s",  # `sleep` ignores SIGTERM: a drained task is killed after 1 s, not 10
            *(f"--label={k}={v}" for k, v in labels.items()),
            *args,
        ).strip()
        made.append(service_id)
        return service_id

    yield make
    for service_id in made:
        on_swarm.cli("service", "rm", service_id, check=False)


def _spread(swarm: Swarm, service_id: str, replicas: int) -> list[str]:
    return wait_for(
        lambda: len(nodes := swarm.running_tasks(service_id)) == replicas and nodes,
        timeout=60,
        interval=0.5,
        what=f"{replicas} running tasks",
    )


def test_the_nodes_are_apart_by_id_and_addressed_in_the_benchmark_range(swarm: Swarm) -> None:
    out = swarm.cli("node", "ls", "--format", "{{.ID}} {{.Status}} {{.Hostname}}")
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    assert set(rows) == set(swarm.node_ids) and len(set(swarm.node_ids)) == 2
    assert all(status == "Ready" for status, _ in rows.values())
    assert len({hostname for _, hostname in rows.values()}) == 1  # why ids, not names
    # Each engine has an identity of its own, not the first engine's (/etc/docker/key.json).
    engine_ids = {
        docker_cli("-H", url, "info", "--format", "{{.ID}}").strip()
        for url in (swarm.manager_url, swarm.worker.url, "unix:///var/run/docker.sock")
    }
    assert len(engine_ids) == 3
    subnet = "{{range .IPAM.Config}}{{.Subnet}}{{end}}"
    assert swarm.cli("network", "inspect", "ingress", "--format", subnet).startswith("198.19.")
    for node in (swarm.manager, swarm.worker):
        bridge = node.cli("network", "inspect", "bridge", "--format", subnet).strip()
        assert bridge == node.bip.replace(".1/", ".0/") and bridge.startswith("198.18."), bridge


def test_the_first_engine_is_no_swarm_manager_and_the_pages_say_so(
    admin_client: Client, api_client: APIClient, admin_user: Any
) -> None:
    page = admin_client.get("/swarm/")
    assert page.status_code == 200
    assert "Not in Swarm mode" in page.content.decode()
    api_client.force_authenticate(admin_user)
    answer = api_client.get("/api/v1/swarm/nodes/")
    assert answer.status_code == 409
    assert "not a swarm manager" in answer.json()["error"]
    first_engine_untouched()


def test_an_admin_sees_both_nodes_apart_and_a_services_tasks_on_each(
    on_swarm: Swarm, admin_client: Client, make_service: Callable[..., str]
) -> None:
    service_id = make_service("web", "busybox:latest", "sleep", "3600", replicas=4)
    nodes = _spread(on_swarm, service_id, 4)
    assert set(nodes) == set(on_swarm.node_ids)
    html = admin_client.get("/swarm/").content.decode()
    for node_id in on_swarm.node_ids:
        assert f'data-id="{node_id}"' in html
    assert "share a hostname" in html  # both run on this one machine
    assert '<td class="r" data-field="replicas">4 / 4</td>' in html
    detail = admin_client.get(f"/api/v1/swarm/services/{service_id}/").json()
    assert detail["name"] == f"web-{RUN_ID}" and detail["desired"] == 4
    running = [t for t in detail["tasks"] if t["state"] == "running"]
    assert {t["node_id"] for t in running} == set(on_swarm.node_ids)
    page = admin_client.get(f"/swarm/services/{service_id}/").content.decode()
    assert all(f'data-node="{node_id}"' in page for node_id in on_swarm.node_ids)
    assert "4 of 4 running" in page


def test_draining_a_node_moves_its_tasks_and_activating_it_takes_them_back_in(
    on_swarm: Swarm, admin_client: Client, make_service: Callable[..., str]
) -> None:
    service_id = make_service("drain", "busybox:latest", "sleep", "3600", replicas=4)
    _spread(on_swarm, service_id, 4)
    worker = on_swarm.worker_id
    availability = "{{.Spec.Availability}}"
    # A state Docker has but the dashboard does not offer: told so, the node as it was.
    wrong = admin_client.patch(
        f"/api/v1/swarm/nodes/{worker}/",
        json.dumps({"availability": "pause"}),
        content_type="application/json",
    )
    assert wrong.status_code == 400 and "active or drain" in wrong.content.decode()
    assert on_swarm.cli("node", "inspect", "-f", availability, worker).strip() == "active"
    rows = AuditEntry.objects.count()
    try:
        answer = admin_client.post(
            f"/swarm/nodes/{worker}/availability/", {"availability": "drain"}
        )
        assert answer.status_code == 302
        assert on_swarm.cli("node", "inspect", "-f", availability, worker).strip() == "drain"
        wait_for(
            lambda: on_swarm.running_tasks(service_id) == [on_swarm.manager_id] * 4,
            timeout=60,
            interval=0.5,
            what="every task on the manager",
        )
        entry = AuditEntry.objects.order_by("id")[rows:].get()
        assert (entry.action, entry.result, entry.target_id) == ("node.drain", "ok", worker)
        patched = admin_client.patch(
            f"/api/v1/swarm/nodes/{worker}/",
            json.dumps({"availability": "active"}),
            content_type="application/json",
        )
        assert patched.status_code == 200 and patched.json()["availability"] == "active"
        assert on_swarm.cli("node", "inspect", "-f", availability, worker).strip() == "active"
    finally:
        on_swarm.cli("node", "update", "--availability", "active", worker)


def test_a_viewer_and_a_student_cannot_drain_a_node(
    on_swarm: Swarm, make_user: Callable[..., Any]
) -> None:
    worker = on_swarm.worker_id
    viewer, student = Client(), Client()
    viewer.force_login(make_user(f"sv{RUN_ID}", "viewer"))
    student.force_login(make_user(f"ss{RUN_ID}", "student"))
    rows = AuditEntry.objects.count()
    refused = viewer.post(f"/swarm/nodes/{worker}/availability/", {"availability": "drain"})
    assert refused.status_code == 302  # back to the page, which says why
    body = json.dumps({"availability": "drain"})
    hidden = student.patch(f"/api/v1/swarm/nodes/{worker}/", body, content_type="application/json")
    assert hidden.status_code == 404
    entries = list(AuditEntry.objects.order_by("id")[rows:])
    assert [(e.action, e.result) for e in entries] == [("node.drain", "error")] * 2
    assert on_swarm.cli("node", "inspect", "-f", "{{.Spec.Availability}}", worker).strip() == (
        "active"
    )
    # A student sees no node at all, and is told so.
    assert student.get("/api/v1/swarm/nodes/").status_code == 403
    assert f'data-id="{worker}"' not in student.get("/swarm/").content.decode()


def test_a_student_sees_their_own_service_and_its_logs_from_both_nodes(
    on_swarm: Swarm, make_user: Callable[..., Any], make_service: Callable[..., str]
) -> None:
    name = f"sl{RUN_ID}"
    mine = make_service(
        "logs",
        "busybox:latest",
        "sh",
        "-c",
        "echo line-from-$(hostname); sleep 3600",
        replicas=4,
        owner=name,
    )
    other = make_service("other", "busybox:latest", "sleep", "3600", replicas=1, owner="else")
    _spread(on_swarm, mine, 4)
    student = Client()
    student.force_login(make_user(name, "student"))
    listed = student.get("/api/v1/swarm/services/").json()
    assert [s["id"] for s in listed] == [mine]
    assert student.get(f"/api/v1/swarm/services/{other}/").status_code == 404

    def lines() -> list[dict[str, str]]:
        found = student.get(f"/api/v1/swarm/services/{mine}/logs/?tail=50").json()["lines"]
        return found if len(found) >= 4 else []

    got = wait_for(lines, timeout=30, interval=0.5, what="a line of each task")
    assert all(line["text"].startswith("line-from-") for line in got)
    assert {line["node"].split("(")[-1].rstrip(")") for line in got} == {
        node_id[:8] for node_id in on_swarm.node_ids
    }
    page = student.get(f"/swarm/services/{mine}/").content.decode()
    assert "line-from-" in page
    # Their Swarm page is in their navigation, and lists their service and no node.
    assert '<a href="/swarm/"' in page
    listing = student.get("/swarm/").content.decode()
    assert f"/swarm/services/{mine}/" in listing and f"/swarm/services/{other}/" not in listing
    # However many lines a query asks for, a page reads at most LOG_TAIL_MAX.
    asked = student.get(f"/swarm/services/{mine}/?tail=99999999").content.decode()
    assert f"--tail {LOG_TAIL_MAX} " in asked


QUICK_STOP = "trap 'exit 0' TERM; sleep 3600 & wait"


def _class_services(swarm: Swarm, slug: str) -> dict[str, dict[str, Any]]:
    """name -> `docker service inspect` of the class's services, as the manager's CLI sees them."""
    ids = swarm.cli("service", "ls", "-q", "--filter", f"label=dockdash.class={slug}").split()
    found = json.loads(swarm.cli("service", "inspect", *ids)) if ids else []
    return {s["Spec"]["Name"]: s for s in found}


def _end_its_task(swarm: Swarm, service: str) -> None:
    """SIGTERM to the container of `service`'s running task, on its node: it exits 0."""
    ids = swarm.cli("service", "ps", "-q", "--filter", "desired-state=running", service).split()
    [task] = json.loads(swarm.cli("inspect", "--type", "task", *ids))
    node = swarm.manager if task["NodeID"] == swarm.manager_id else swarm.worker
    node.cli("kill", "--signal", "TERM", task["Status"]["ContainerStatus"]["ContainerID"])
    wait_for(lambda: not swarm.running_tasks(service), timeout=30, interval=0.3, what="its end")


def _replicas(service: dict[str, Any]) -> int:
    return int(service["Spec"]["Mode"]["Replicated"]["Replicas"])


def _job(client: Client, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = client.post(path, json.dumps(body or {}), content_type="application/json")
    assert answer.status_code == 202, answer.content
    job_id = answer.json()["job"]

    def finished() -> dict[str, Any] | None:
        job = client.get(f"/api/v1/jobs/{job_id}/").json()
        return job if job["state"] != "running" else None

    return wait_for(finished, timeout=120, interval=0.3, what="the class job")


async def test_a_lab_run_as_services_spreads_over_both_nodes_within_each_students_quota(
    on_swarm: Swarm, make_user: Callable[..., Any], teach: Callable[..., Any], settings: Any
) -> None:
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from classes_app import grid
    from containers_app import stats
    from dashboard.asgi import application
    from dashboard.models import Quota
    from tests.integration.live_helpers import session_headers

    slug = f"sw{RUN_ID}"
    teacher = await database_sync_to_async(make_user)(f"swt{RUN_ID}", "instructor")
    ann, bob, cid = (f"{n}{RUN_ID}" for n in ("swann", "swbob", "swcid"))

    def class_of_three() -> None:
        students = [make_user(name) for name in (ann, bob, cid)]
        teach(teacher, *students, slug=slug)
        # Ann's limits become her services' limits and reservations; Cid may have one.
        Quota.objects.create(
            user=students[0],
            cpus_per_container=0.25,
            memory_per_container=64 << 20,
            pids_per_container=100,
        )
        Quota.objects.create(user=students[2], max_containers=1)

    await database_sync_to_async(class_of_three)()
    client = Client()
    await database_sync_to_async(client.force_login)(teacher)
    body = {
        "name": "Across nodes",
        "slug": "lab1",
        "runs_as": "services",
        "containers": [
            # Ends on SIGTERM (`sleep` alone ignores it: a removed task would take 10 s).
            {"name": name, "image": "busybox:latest", "command": ["sh", "-c", QUICK_STOP]}
            for name in ("shell", "web")
        ],
        "network": True,
        "volume": "/data",
    }
    made = await asyncio.to_thread(
        client.post, f"/api/v1/classes/{slug}/labs/", json.dumps(body), "application/json"
    )
    assert made.status_code == 201, made.content
    assert made.json()["runs_as"] == "services"
    try:
        job = await asyncio.to_thread(_job, client, f"/api/v1/classes/{slug}/labs/lab1/provision/")
        items = job["progress"]["items"]
        assert items[ann]["state"] == items[bob]["state"] == "ok", items
        assert items[cid]["state"] == "failed" and "1 of 1 containers" in items[cid]["error"]
        services = await asyncio.to_thread(_class_services, on_swarm, slug)
        assert sorted(services) == sorted(
            f"{slug}-lab1-{who}-{name}" for who in (ann, bob) for name in ("shell", "web")
        ) + [f"{slug}-lab1-{cid}-shell"]
        shell = services[f"{slug}-lab1-{ann}-shell"]
        task = shell["Spec"]["TaskTemplate"]
        assert task["ContainerSpec"]["Labels"]["dockdash.owner"] == ann
        reserved = {"NanoCPUs": 250_000_000, "MemoryBytes": 64 << 20}
        limits = {**reserved, "Pids": 100}
        assert task["Resources"] == {"Limits": limits, "Reservations": reserved}
        networks = on_swarm.cli(
            "network",
            "ls",
            "--filter",
            f"label=dockdash.class={slug}",
            "--format",
            '{{.Name}} {{.Driver}} {{.Label "dockdash.owner"}}',
        ).split("\n")
        assert sorted(n for n in networks if n) == sorted(
            f"{slug}-lab1-{who} overlay {who}" for who in (ann, bob, cid)
        )
        nodes = await asyncio.to_thread(
            lambda: wait_for(
                lambda: (
                    len(found := [n for s in services for n in on_swarm.running_tasks(s)]) == 5
                    and found
                ),
                timeout=60,
                interval=0.5,
                what="a running task of each service",
            )
        )
        assert set(nodes) == set(on_swarm.node_ids)  # spread over both nodes

        # The class grid says on which node each student's container runs.
        settings.STATS_GRACE = 0.2
        stats.sampler_for().interval = 0.5
        ws = WebsocketCommunicator(
            application, f"/ws/classes/{slug}/", headers=await session_headers(teacher)
        )
        assert (await ws.connect(timeout=10))[0]
        try:
            frame: dict[str, Any] = {}
            while frame.get("type") != "grid" or not all(
                c["node"] for s in frame["students"] for c in s["containers"]
            ):
                frame = json.loads(await ws.receive_from(timeout=15))
            tiles = {
                (s["username"], c["name"]): c for s in frame["students"] for c in s["containers"]
            }
        finally:
            await ws.disconnect()
            for found in list(grid._grids.values()):
                await found.stop()
            await stats.sampler_for().stop()
        assert len(tiles) == 5 and all(c["state"] == "running" for c in tiles.values())
        on = {key: c["node"].split("(")[-1].rstrip(")") for key, c in tiles.items()}
        assert set(on.values()) == {node_id[:8] for node_id in on_swarm.node_ids}
        # Figures for the tasks on the manager (its sampler reads their cgroups), none
        # made up for those on the worker (no sampler of the dashboard there).
        manager = on_swarm.manager_id[:8]
        assert {c["measured"] for key, c in tiles.items() if on[key] == manager} == {True}
        assert {c["measured"] for key, c in tiles.items() if on[key] != manager} == {False}
        page = (await asyncio.to_thread(client.get, f"/classes/{slug}/")).content.decode()
        assert page.count("data-node=") == 5 and page.count("data-service") == 5

        # Stopped: scaled to none; started again within Ann's quota, which now allows one.
        stopped = await asyncio.to_thread(
            _job, client, f"/api/v1/classes/{slug}/stop/", {"student": ann}
        )
        assert stopped["state"] == "succeeded", stopped
        mine = [f"{slug}-lab1-{ann}-{name}" for name in ("shell", "web")]
        services = await asyncio.to_thread(_class_services, on_swarm, slug)
        assert [_replicas(services[name]) for name in mine] == [0, 0]
        await database_sync_to_async(Quota.objects.filter(user__username=ann).update)(max_running=1)
        started = await asyncio.to_thread(
            _job, client, f"/api/v1/classes/{slug}/start/", {"student": ann}
        )
        assert "1 of 1 running containers" in started["progress"]["items"][ann]["error"]
        services = await asyncio.to_thread(_class_services, on_swarm, slug)
        assert sorted(_replicas(services[name]) for name in mine) == [0, 1]
        # Bob's shell ends by itself (exit 0: no restart); Start runs it again.
        bob_shell = f"{slug}-lab1-{bob}-shell"
        await asyncio.to_thread(_end_its_task, on_swarm, bob_shell)
        page = (await asyncio.to_thread(client.get, f"/classes/{slug}/")).content.decode()
        assert page.count('data-state="complete"') == 1
        started = await asyncio.to_thread(
            _job, client, f"/api/v1/classes/{slug}/start/", {"student": bob}
        )
        assert started["state"] == "succeeded", started
        await asyncio.to_thread(
            wait_for,
            lambda: len(on_swarm.running_tasks(bob_shell)) == 1,
            timeout=60,
            interval=0.3,
            what="a new task of Bob's shell",
        )
        actions = await database_sync_to_async(
            lambda: list(
                AuditEntry.objects.filter(action__startswith="lab.service.").values_list(
                    "result", flat=True
                )
            )
        )()
        assert sorted(actions) == ["error"] + ["ok"] * 5

        # Reset: Bob's services made anew from the template; a wipe is refused, saying why.
        before = await asyncio.to_thread(_class_services, on_swarm, slug)
        reset = f"/api/v1/classes/{slug}/labs/lab1/reset/"
        wiped = await asyncio.to_thread(
            client.post, reset, json.dumps({"student": bob, "wipe": True}), "application/json"
        )
        assert wiped.status_code == 400 and "out of the dashboard's reach" in wiped.json()["error"]
        refusal = await database_sync_to_async(
            lambda: list(AuditEntry.objects.filter(action="lab.reset").values_list("result"))
        )()
        assert refusal == [("error",)]
        assert await asyncio.to_thread(_class_services, on_swarm, slug) == before
        redone = await asyncio.to_thread(_job, client, reset, {"student": bob, "wipe": False})
        assert redone["state"] == "succeeded", redone
        after = await asyncio.to_thread(_class_services, on_swarm, slug)
        assert sorted(after) == sorted(before)
        for name in after:
            changed = after[name]["ID"] != before[name]["ID"]
            assert changed == (f"-{bob}-" in name), name
        removed = await asyncio.to_thread(_job, client, f"/api/v1/classes/{slug}/remove/")
        assert removed["state"] == "succeeded", removed
        assert await asyncio.to_thread(_class_services, on_swarm, slug) == {}
    finally:
        for name in await asyncio.to_thread(_class_services, on_swarm, slug):
            on_swarm.cli("service", "rm", name, check=False)
        on_swarm.cli(
            "network", "prune", "-f", "--filter", f"label=dockdash.class={slug}", check=False
        )
    first_engine_untouched()
