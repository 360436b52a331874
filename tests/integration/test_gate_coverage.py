"""Every route of the engine side and of classes either only reads or goes through a gate.

Each URL pattern of containers_app and classes_app is declared a read or a change in
its route table (the apps' urls.ROUTE_KINDS). A change, tried by a viewer (who may
change nothing, and is in no class) with the body below, leaves exactly one audit row,
refused, and the engine and the class unchanged; a read refuses POST and DELETE. A
change with no body here, or a route wired in past the table, fails the first test,
so no path can forget the gate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from classes_app import urls as classes_urls
from containers_app import urls as containers_urls
from containers_app.models import Engine
from dashboard.asgi import application
from dashboard.endpoints import CHANGE, READ
from dashboard.models import AuditEntry, Course
from tests.rig import LABELS, RUN_ID, docker_cli

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.engine]

APPS = ("containers_app.", "classes_app.")
ROUTE_KINDS = containers_urls.ROUTE_KINDS | classes_urls.ROUTE_KINDS

# name -> (method, body) of every change; the kwargs come from the objects below.
# The page forms that create (networks, volumes) are tried by their POST.
CHANGES: dict[str, tuple[str, dict[str, Any]]] = {
    "container-create": ("post", {"image": "IMAGE", "command": "sleep 1", "restart_policy": "no"}),
    "container-bulk": ("post", {"action": "stop", "ids": ["CONTAINER"]}),
    "container-action": ("post", {}),
    "container-rename": ("post", {"name": f"renamed-{RUN_ID}"}),
    "container-remove": ("post", {"force": "on"}),
    "image-prune": ("post", {}),
    "image-tag": ("post", {"repository": f"cov{RUN_ID}/x", "tag": "t"}),
    "image-remove": ("post", {}),
    "network-prune": ("post", {}),
    "network-remove": ("post", {}),
    "network-connect": ("post", {"container": "CONTAINER"}),
    "network-disconnect": ("post", {"container": "CONTAINER"}),
    "volume-prune": ("post", {}),
    "volume-remove": ("post", {}),
    "networks": ("post", {"name": f"cov-{RUN_ID}-form"}),
    "volumes": ("post", {"name": f"cov-{RUN_ID}-f"}),
    "api-containers": ("post", {"image": "IMAGE", "command": ["sleep", "1"]}),
    "api-container": ("delete", {}),
    "api-container-rename": ("post", {"name": f"renamed-{RUN_ID}"}),
    "api-container-action": ("post", {}),
    "api-image-prune": ("post", {}),
    "api-image-tag": ("post", {"repository": f"cov{RUN_ID}/x", "tag": "t"}),
    "api-image": ("delete", {}),
    "api-networks": ("post", {"name": f"cov-{RUN_ID}-new"}),
    "api-network": ("delete", {}),
    "api-network-connect": ("post", {"container": "CONTAINER"}),
    "api-network-disconnect": ("post", {"container": "CONTAINER"}),
    "api-volumes": ("post", {"name": f"cov-{RUN_ID}-new"}),
    "api-volume": ("delete", {}),
    "api-volume-prune": ("post", {}),
    "api-network-prune": ("post", {}),
    # classes: the class and its lab exist; the viewer is told they do not
    "classes": ("post", {"name": "New", "slug": f"cov{RUN_ID}-new"}),
    "class-roster": ("post", {"csv": f"cov{RUN_ID}-s1"}),
    "class-roster-directory": ("post", {"group": f"cov{RUN_ID}-group"}),
    "class-lab-create": ("post", {"lab": '{"name": "L", "slug": "l2"}'}),
    "class-lab-compose": ("post", {"name": "L", "slug": "l3", "compose": "services: {}"}),
    "class-lab-edit": ("post", {"lab": '{"name": "Renamed"}'}),
    "class-lab-remove": ("post", {}),
    "class-lab-job": ("post", {}),
    "lab-extend": ("post", {}),
    "class-action": ("post", {}),
    "api-classes": ("post", {"name": "New", "slug": f"cov{RUN_ID}-new"}),
    "api-class": ("delete", {}),
    "api-class-roster": ("post", {"csv": f"cov{RUN_ID}-s1"}),
    "api-class-roster-directory": ("post", {"group": f"cov{RUN_ID}-group"}),
    "api-class-labs": ("post", {"name": "L", "slug": "l2", "containers": []}),
    "api-class-lab": ("delete", {}),
    "api-lab-provision": ("post", {}),
    "api-lab-reset": ("post", {"student": f"cov{RUN_ID}-s0"}),
    "api-class-action": ("post", {}),
    # alerts: a viewer acknowledges nothing and gets no notifications
    "alert-ack": ("post", {}),
    "api-alert-ack": ("post", {}),
    "alert-target-add": ("post", {"channel": "email", "address": "v@example.org"}),
    "alert-target-remove": ("post", {}),
    # Swarm: this engine is no manager, and a viewer may drain no node anyway
    "swarm-node-availability": ("post", {"availability": "drain"}),
    "api-swarm-node": ("patch", {"availability": "drain"}),
    # engines: the first one's name; a viewer adds, changes and removes none
    "engine-add": ("post", {"name": f"cov{RUN_ID}", "endpoint": "unix:///var/run/docker.sock"}),
    "engine-remove": ("post", {}),
    "api-engines": ("post", {"name": f"cov{RUN_ID}", "endpoint": "unix:///var/run/docker.sock"}),
    "api-engine-named": ("delete", {}),
}
READS = {name for name, kind in ROUTE_KINDS.items() if kind == READ}


def _patterns(patterns: list[Any]) -> Iterator[URLPattern]:
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _patterns(p.url_patterns)
        else:
            yield p


def app_routes() -> dict[str, str]:
    """name -> module of every named route of the engine side."""

    return {
        p.name: p.callback.__module__
        for p in _patterns(get_resolver().url_patterns)
        if p.name and p.callback.__module__.startswith(APPS)
    }


def test_every_route_is_declared_a_read_or_a_change() -> None:
    assert set(app_routes()) == set(ROUTE_KINDS), "wire the engine side's routes in its table"
    changes = {name for name, kind in ROUTE_KINDS.items() if kind == CHANGE}
    assert changes - set(CHANGES) == set(), "give the new changes a body to try them with"
    assert set(CHANGES) - changes == set(), "bodies here for routes that are no change"


@pytest.fixture
def objects(
    make_container: Callable[..., Any], docker_client: Any, test_image: str
) -> Iterator[dict[str, str]]:
    container = make_container()  # an admin's: no owner label
    network = docker_client.networks.create(f"cov-{RUN_ID}-net", labels=LABELS)
    volume = docker_client.volumes.create(f"cov-{RUN_ID}-vol", labels=LABELS)
    course = Course.objects.create(name="Covered", slug=f"cov{RUN_ID}")
    box = {"name": "box", "image": test_image, "command": ["sleep", "1"]}
    course.labs.create(name="Lab", slug="lab1", containers=[box])
    yield {
        "CONTAINER": container.id,
        "NAME": container.name,
        "IMAGE": test_image,
        "NETWORK": network.id,
        "VOLUME": volume.name,
        "CLASS": course.slug,
        "LAB": "lab1",
    }
    network.remove()
    volume.remove(force=True)


def kwargs_for(name: str, objects: dict[str, str]) -> dict[str, str]:
    """The route's parameters, filled with the objects of the test."""
    kind = name.removeprefix("api-").split("-")[0].rstrip("s")
    ref = {
        "container": objects["CONTAINER"],
        "image": objects["IMAGE"],
        "network": objects["NETWORK"],
        "swarm": "no-such-node",
    }.get(kind, "")
    values = {
        "ref": ref,
        "container_id": objects["CONTAINER"],
        "name": objects["VOLUME"],
        "action": "stop",
        "slug": objects["CLASS"],
        "lab": objects["LAB"],
        "what": "provision",
        "username": f"cov{RUN_ID}-s0",
        "key": "no-such-session",
        "pk": "1",
    }
    if kind == "engine":
        values["name"] = "local"
    return {p: values[p] for p in route_params()[name]}


def route_params() -> dict[str, list[str]]:
    found = {}
    for p in _patterns(get_resolver().url_patterns):
        if p.name:
            found[p.name] = list(p.pattern.regex.groupindex)
    return found


def filled(body: dict[str, Any], objects: dict[str, str]) -> dict[str, Any]:
    def fill(value: Any) -> Any:
        if isinstance(value, list):
            return [fill(v) for v in value]
        return objects.get(value, value) if isinstance(value, str) else value

    return {k: fill(v) for k, v in body.items()}


def engine_state(objects: dict[str, str]) -> list[str]:
    """What the Docker CLI says of the test's objects and of any object it might have made
    (other tests share this engine, so only these are compared)."""
    return [
        docker_cli("inspect", "-f", "{{.Name}} {{.State.Status}}", objects["CONTAINER"]),
        docker_cli("ps", "-aq", "--filter", f"label=dockdash.owner=cov{RUN_ID}"),
        docker_cli("image", "inspect", "-f", "{{.RepoTags}}", objects["IMAGE"]),
        docker_cli("images", "-q", f"cov{RUN_ID}/x"),
        docker_cli("network", "ls", "-q", "--filter", f"name=cov-{RUN_ID}"),
        docker_cli("volume", "ls", "-q", "--filter", f"name=cov-{RUN_ID}"),
        docker_cli("ps", "-aq", "--filter", f"label=dockdash.class=cov{RUN_ID}"),
    ]


def class_state() -> list[Any]:
    """The test's class and everything in it, any class or lab a change might have made, and
    the engines (a change might have added or removed one)."""
    classes = [
        (c.slug, c.name, sorted((lab.slug, lab.name) for lab in c.labs.all()))
        for c in Course.objects.filter(slug__startswith=f"cov{RUN_ID}").order_by("slug")
    ]
    return [*classes, *Engine.objects.values_list("name", "endpoint")]


@pytest.fixture
def viewer(make_user: Callable[..., Any]) -> Any:
    return make_user(f"cov{RUN_ID}", "viewer")


def test_each_change_leaves_one_audit_row_and_the_engine_as_it_was(
    viewer: Any, objects: dict[str, str]
) -> None:
    page, api = Client(), APIClient()
    page.force_login(viewer)
    api.force_authenticate(viewer)
    before = engine_state(objects), class_state()
    for name, (method, body) in CHANGES.items():
        url = reverse(name, kwargs=kwargs_for(name, objects))
        rows = AuditEntry.objects.count()
        if name.startswith("api-"):
            response = getattr(api, method)(url, filled(body, objects), format="json")
        else:
            response = getattr(page, method)(url, filled(body, objects))
        assert response.status_code < 500, (name, response.status_code)
        new = list(AuditEntry.objects.order_by("id")[rows:])
        assert len(new) == 1, (name, [(r.action, r.error) for r in new])
        assert new[0].result == "error" and new[0].username == viewer.username, name
    assert (engine_state(objects), class_state()) == before


def test_reads_refuse_post_and_delete(viewer: Any, objects: dict[str, str]) -> None:
    page = Client()
    page.force_login(viewer)
    rows = AuditEntry.objects.count()  # the login's
    # The create preview is a POST that answers what a create would do; it changes nothing.
    for name in sorted(READS - {"container-create-preview"}):
        url = reverse(name, kwargs=kwargs_for(name, objects))
        for method in ("post", "delete"):
            response = getattr(page, method)(url)
            assert response.status_code in (403, 405), (name, method, response.status_code)
    assert AuditEntry.objects.count() == rows


@database_sync_to_async
def _session_headers(user: Any) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    return [(b"origin", b"http://localhost"), (b"cookie", f"sessionid={cookie}".encode())]


async def test_a_refused_terminal_leaves_one_audit_row(
    viewer: Any, objects: dict[str, str]
) -> None:
    communicator = WebsocketCommunicator(
        application,
        f"/ws/containers/{objects['CONTAINER']}/exec/",
        headers=await _session_headers(viewer),
    )
    connected, code = await communicator.connect(timeout=10)
    assert not connected and code == 4403
    await communicator.disconnect()
    rows = [r async for r in AuditEntry.objects.exclude(action="login")]
    assert [(r.action, r.result, r.target_id) for r in rows] == [
        ("exec.start", "error", objects["CONTAINER"])
    ]
