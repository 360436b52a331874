"""Images, networks and volumes through the pages and the API, judged by the Docker CLI."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.contrib.messages import get_messages

from dashboard.models import AuditEntry
from tests.rig import LABELS, RUN_ID, docker_cli, docker_inspect, free_port

pytestmark = pytest.mark.django_db
LABEL_LINE = "\n".join(f"{k}={v}" for k, v in LABELS.items())


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# ---------------------------------------------------------------- images


def test_image_list_shows_tags_size_and_users(
    admin_client: Any, test_image: str, make_container: Any
) -> None:
    c = make_container()
    image_id = docker_inspect(test_image)["Id"]
    html = admin_client.get("/images/").content.decode()
    assert test_image in html and image_id.removeprefix("sha256:")[:12] in html
    row = next(r for r in admin_client.get("/api/v1/images/").json() if r["id"] == image_id)
    assert test_image in row["tags"]
    assert row["size"] == docker_inspect(test_image)["Size"]
    assert c.name in row["used_by"]


def test_tag_history_and_remove_an_image(admin_api: Any, test_image: str) -> None:
    repo = f"dd-tagged-{RUN_ID}"
    response = admin_api.post(
        f"/api/v1/images/{test_image}/tag/", {"repository": repo, "tag": "v1"}
    )
    assert response.status_code == 200, response.json()
    assert docker_inspect(f"{repo}:v1")["Id"] == docker_inspect(test_image)["Id"]
    history = admin_api.get(f"/api/v1/images/{repo}:v1/").json()["history"]
    cli = [
        json.loads(line)
        for line in docker_cli(
            "history", "--no-trunc", "--format", "{{json .}}", test_image
        ).splitlines()
    ]
    assert [h["created_by"] for h in history] == [h["CreatedBy"] for h in cli]
    bad = admin_api.post(
        f"/api/v1/images/{test_image}/tag/", {"repository": "Bad Repo", "tag": "v1"}
    )
    assert bad.status_code == 400 and bad.json()["field"] == "repository"
    removed = admin_api.delete(f"/api/v1/images/{repo}:v1/")
    assert removed.status_code == 200
    assert {"Untagged": f"{repo}:v1"} in removed.json()["deleted"]
    assert docker_cli("images", "-q", f"{repo}:v1") == ""
    assert docker_cli("images", "-q", test_image) != ""


def test_image_in_use_is_not_removed_without_force(
    admin_client: Any, test_image: str, make_container: Any
) -> None:
    make_container()
    image_id = docker_inspect(test_image)["Id"]
    response = admin_client.post(f"/images/{image_id}/remove/", {}, follow=True)
    assert "conflict" in response.content.decode().lower()
    assert docker_cli("images", "-q", test_image) != ""


def test_prune_dangling_images_with_a_label(
    admin_api: Any, docker_client: Any, test_image: str
) -> None:
    tag = f"dd-dangling-{RUN_ID}:x"

    def build(generation: str) -> str:
        dockerfile = f"FROM {test_image}\nLABEL dd.generation={generation}\n".encode()
        image, _ = docker_client.images.build(
            fileobj=io.BytesIO(dockerfile), tag=tag, labels=LABELS
        )
        return str(image.id)

    # Building the same tag twice leaves the first image dangling, as `docker build` does.
    first = build("1")
    build("2")
    assert docker_inspect(first)["RepoTags"] == []
    dangling = admin_api.get("/api/v1/images/?dangling=1").json()
    assert first in [r["id"] for r in dangling]
    response = admin_api.post(f"/api/v1/images/prune/?label=dockdash.test={RUN_ID}")
    assert response.status_code == 200
    assert first in response.json()["deleted"]
    assert docker_cli("image", "inspect", first, check=False).strip() in ("", "[]")
    assert docker_cli("images", "-q", tag) != ""


# ---------------------------------------------------------------- networks


def test_create_connect_disconnect_and_remove_a_network(
    admin_client: Any, make_container: Any
) -> None:
    name = f"dd-net-{RUN_ID}"
    response = admin_client.post(
        "/networks/",
        {
            "name": name,
            "subnet": "172.31.250.0/24",
            "gateway": "172.31.250.1",
            "internal": "on",
            "labels": LABEL_LINE,
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    net = json.loads(docker_cli("network", "inspect", name))[0]
    assert net["IPAM"]["Config"] == [{"Subnet": "172.31.250.0/24", "Gateway": "172.31.250.1"}]
    assert net["Internal"] is True and net["Labels"]["dockdash.owner"] == "admin1"
    c = make_container()
    admin_client.post(f"/networks/{name}/connect/", {"container": c.name, "aliases": "db"})
    attached = docker_inspect(c.id)["NetworkSettings"]["Networks"][name]
    assert "db" in attached["Aliases"]
    assert c.name in admin_client.get("/networks/").content.decode()
    refused = admin_client.post(f"/networks/{name}/remove/", follow=True)
    assert "still has containers attached" in refused.content.decode()
    assert c.name in refused.content.decode()
    assert docker_cli("network", "ls", "-q", "--filter", f"name=^{name}$") != ""
    admin_client.post(f"/networks/{name}/disconnect/", {"container": c.name})
    assert name not in docker_inspect(c.id)["NetworkSettings"]["Networks"]
    response = admin_client.post(f"/networks/{name}/remove/")
    assert response.status_code == 302
    assert docker_cli("network", "ls", "-q", "--filter", f"name=^{name}$") == ""
    assert list(
        AuditEntry.objects.filter(target_kind="network")
        .order_by("id")
        .values_list("action", "result")
    ) == [
        ("network.create", "ok"),
        ("network.connect", "ok"),
        ("network.remove", "error"),
        ("network.disconnect", "ok"),
        ("network.remove", "ok"),
    ]


@pytest.mark.parametrize("name", ["bridge", "host", "none"])
def test_predefined_networks_cannot_be_removed_and_say_why(admin_api: Any, name: str) -> None:
    response = admin_api.delete(f"/api/v1/networks/{name}/")
    assert response.status_code == 409
    assert "predefined" in response.json()["error"]
    assert docker_cli("network", "ls", "-q", "--filter", f"name=^{name}$") != ""


def test_bad_network_input_is_named(admin_api: Any) -> None:
    response = admin_api.post(
        "/api/v1/networks/", {"name": f"dd-n-{RUN_ID}", "subnet": "10.0.0.1/33"}
    )
    assert response.status_code == 400 and response.json()["field"] == "subnet"
    response = admin_api.post(
        "/api/v1/networks/",
        {"name": f"dd-n-{RUN_ID}", "subnet": "10.9.0.0/24", "gateway": "10.8.0.1"},
    )
    assert response.status_code == 400 and response.json()["field"] == "gateway"
    assert docker_cli("network", "ls", "-q", "--filter", f"name=dd-n-{RUN_ID}") == ""


def test_prune_networks_by_label(admin_api: Any, docker_client: Any) -> None:
    name = f"dd-prune-{RUN_ID}"
    docker_client.networks.create(name, labels=LABELS)
    response = admin_api.post(f"/api/v1/networks/prune/?label=dockdash.test={RUN_ID}")
    assert name in response.json()["deleted"]
    assert docker_cli("network", "ls", "-q", "--filter", f"name=^{name}$") == ""


# ---------------------------------------------------------------- volumes


def test_volume_create_list_size_inspect_and_remove(
    admin_client: Any, admin_api: Any, make_container: Any
) -> None:
    name = f"dd-vol-{RUN_ID}-{free_port()}"
    response = admin_client.post("/volumes/", {"name": name, "labels": LABEL_LINE})
    assert response.status_code == 302
    assert (
        json.loads(docker_cli("volume", "inspect", name))[0]["Labels"]["dockdash.owner"] == "admin1"
    )
    c = make_container(
        ["sh", "-c", "head -c 300000 /dev/zero > /v/blob; sleep 3600"], volumes=[f"{name}:/v"]
    )
    from tests.rig import wait_for

    wait_for(lambda: docker_cli("exec", c.id, "ls", "/v/blob", check=False), what="blob written")
    row = next(v for v in admin_api.get("/api/v1/volumes/").json() if v["name"] == name)
    assert row["used_by"] == [c.name]
    assert row["size"] >= 300000
    refused = admin_api.delete(f"/api/v1/volumes/{name}/")
    assert refused.status_code == 409 and "in use by " + c.name in refused.json()["error"]
    assert name in docker_cli("volume", "ls", "-q").split()
    docker_cli("rm", "-f", c.id)
    assert admin_api.delete(f"/api/v1/volumes/{name}/").status_code == 204
    assert name not in docker_cli("volume", "ls", "-q").split()


def test_prune_volumes_by_label(admin_api: Any, docker_client: Any) -> None:
    name = f"dd-vprune-{RUN_ID}"
    docker_client.volumes.create(name, labels=LABELS)
    response = admin_api.post(f"/api/v1/volumes/prune/?label=dockdash.test={RUN_ID}")
    assert name in response.json()["deleted"]


def test_pages_render(admin_client: Any, test_image: str) -> None:
    for path in (
        "/images/",
        "/networks/",
        "/volumes/",
        "/networks/bridge/",
        f"/images/{test_image}/",
    ):
        assert admin_client.get(path).status_code == 200, path
    assert admin_client.get("/volumes/no-such-volume-x/").status_code == 404
