"""List pages show each role only the buttons it may use (Remove, Prune, bulk actions),
on the page and in the rows the page re-renders live; the gate still refuses the rest."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from dashboard.ownership import record_owner
from tests.rig import LABELS, RUN_ID, docker_cli

pytestmark = pytest.mark.django_db

ANN, BOB = f"btnann{RUN_ID}", f"btnbob{RUN_ID}"
NET, VOL, BOX = f"dd-btn-net-{RUN_ID}", f"dd-btn-vol-{RUN_ID}", f"dd-btn-box-{RUN_ID}"


@pytest.fixture
def anns_objects(docker_client: Any, test_image: str) -> Iterator[None]:
    """A network, a volume and a container of ANN's, made with the Docker CLI."""
    labels = [f"--label={k}={v}" for k, v in {**LABELS, "dockdash.owner": ANN}.items()]
    docker_cli("network", "create", *labels, NET)
    docker_cli("volume", "create", *labels, VOL)
    docker_cli("create", "--name", BOX, *labels, test_image, "sleep", "60")
    yield
    docker_cli("rm", "-f", BOX, check=False)
    docker_cli("network", "rm", NET, check=False)
    docker_cli("volume", "rm", VOL, check=False)


@pytest.fixture
def clients(make_user: Any) -> dict[str, Client]:
    made = {}
    for name, role in ((ANN, "student"), (BOB, "student"), ("vic", "viewer"), ("ad", "admin")):
        client = Client()
        client.force_login(make_user(name, role))
        made[name] = client
    return made


def row_of(html: str, attribute: str, value: str) -> str:
    found = re.search(rf'<tr [^>]*{attribute}="{re.escape(value)}".*?</tr>', html, re.S)
    assert found, f"no row {attribute}={value}"
    return found.group(0)


def pages(client: Client, path: str) -> list[str]:
    """The page and the rows it re-renders when the engine's events say something changed."""
    rows = path + ("&" if "?" in path else "?") + "partial=rows"
    return [client.get(path).content.decode(), client.get(rows).content.decode()]


def test_remove_shows_on_the_rows_the_user_may_remove_only(
    clients: dict[str, Client], anns_objects: None, test_image: str
) -> None:
    image_id = docker_cli("image", "inspect", "-f", "{{.Id}}", test_image).strip()
    record_owner(image_id, test_image, ANN)  # ANN pulled it here
    for user, may in ((ANN, True), ("vic", False), ("ad", True)):
        for html in pages(clients[user], "/networks/"):
            assert ("/remove/" in row_of(html, "data-name", NET)) is may, user
        for html in pages(clients[user], "/volumes/"):
            assert (">Remove</button>" in row_of(html, "data-name", VOL)) is may, user
    for user, may in ((ANN, True), (BOB, False), ("vic", False), ("ad", True)):
        for html in pages(clients[user], "/images/"):
            assert (">Remove</button>" in row_of(html, "data-id", image_id)) is may, user
    for user in (ANN, "vic", "ad"):  # pruning removes every owner's objects: admins only
        for kind in ("images", "networks", "volumes"):
            html = clients[user].get(f"/{kind}/").content.decode()
            assert (f"/{kind}/prune/" in html) is (user == "ad"), (user, kind)
    bob_sees = clients[BOB].get("/networks/").content.decode()
    assert NET not in bob_sees  # not his to see at all


def test_viewers_get_no_bulk_actions_and_students_get_them_for_their_own(
    clients: dict[str, Client], anns_objects: None
) -> None:
    for user, bulk in (("vic", False), (ANN, True), ("ad", True)):
        html, rows = pages(clients[user], f"/containers/?q={BOX}")
        assert BOX in row_of(rows, "data-name", BOX)
        assert ('name="action" value="remove"' in html) is bulk, user
        assert ('name="action" value="kill"' in html) is bulk, user
        assert ('name="ids"' in row_of(rows, "data-name", BOX)) is bulk, user


def test_a_hidden_remove_is_still_refused_by_the_server(
    clients: dict[str, Client], anns_objects: None
) -> None:
    viewer = clients["vic"]
    viewer.post(f"/volumes/{VOL}/remove/", follow=True)
    viewer.post(f"/networks/{NET}/remove/", follow=True)
    viewer.post("/containers/bulk/", {"action": "remove", "ids": [BOX]}, follow=True)
    assert docker_cli("volume", "ls", "-q", "--filter", f"name={VOL}").split() == [VOL]
    assert docker_cli("network", "ls", "-q", "--filter", f"name={NET}").strip()
    assert docker_cli("ps", "-aq", "--filter", f"name={BOX}").strip()


def test_detail_pages_show_remove_only_to_who_may_remove(
    clients: dict[str, Client], anns_objects: None, test_image: str
) -> None:
    image_id = docker_cli("image", "inspect", "-f", "{{.Id}}", test_image).strip()
    record_owner(image_id, test_image, ANN)
    for user, may in ((ANN, True), ("vic", False), ("ad", True)):
        for path in (f"/networks/{NET}/", f"/volumes/{VOL}/", f"/images/{image_id}/"):
            html = clients[user].get(path).content.decode()
            assert ('/remove/" class="inline-form"' in html) is may, (user, path)
    assert "/remove/" not in clients[BOB].get(f"/images/{image_id}/").content.decode()
