"""Creating containers through the form and the API: the Docker CLI judges what was made."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from dashboard.models import AuditEntry
from tests.rig import LABELS, RUN_ID, docker_cli, docker_inspect, free_port

pytestmark = pytest.mark.django_db

TEST_LABEL_LINE = "\n".join(f"{k}={v}" for k, v in LABELS.items())


def container_names() -> set[str]:
    out = docker_cli(
        "ps", "-a", "--filter", f"label=dockdash.test={RUN_ID}", "--format", "{{.Names}}"
    )
    return set(out.split())


@pytest.fixture
def volume(docker_client: Any) -> str:
    name = f"dd-vol-{RUN_ID}-{free_port()}"
    docker_client.volumes.create(name, labels=LABELS)
    return name


def form_data(test_image: str, **over: str) -> dict[str, str]:
    data = {
        "image": test_image,
        "name": f"dd-form-{RUN_ID}-{free_port()}",
        "command": "httpd -f -p 80",
        "env": "GREETING=hello world\nMODE=test",
        "ports": "",
        "volumes": "",
        "network": "",
        "restart_policy": "unless-stopped",
        "memory": "64m",
        "cpus": "0.5",
        "pids_limit": "50",
        "labels": f"course=os101\n{TEST_LABEL_LINE}",
        "start": "on",
    }
    data.update(over)
    return data


def test_form_creates_the_container_exactly_as_asked(
    admin_client: Any, test_image: str, volume: str
) -> None:
    port = free_port()
    data = form_data(test_image, ports=f"{port}:80/tcp\n53/udp", volumes=f"{volume}:/data:ro")
    response = admin_client.post("/containers/create/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    got = docker_inspect(data["name"])
    host = got["HostConfig"]
    assert host["Memory"] == 64 * 1024 * 1024
    assert host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 50
    assert host["PortBindings"] == {
        "80/tcp": [{"HostIp": "", "HostPort": str(port)}],
        "53/udp": [{"HostIp": "", "HostPort": ""}],
    }
    assert host["Binds"] == [f"{volume}:/data:ro"]
    assert [(m["Name"], m["Destination"], m["RW"]) for m in got["Mounts"]] == [
        (volume, "/data", False)
    ]
    assert host["RestartPolicy"] == {"Name": "unless-stopped", "MaximumRetryCount": 0}
    assert host["AutoRemove"] is False
    assert got["Config"]["Labels"] == {**LABELS, "course": "os101", "dockdash.owner": "admin1"}
    assert "GREETING=hello world" in got["Config"]["Env"]
    assert got["Config"]["Cmd"] == ["httpd", "-f", "-p", "80"]
    assert got["State"]["Running"] is True
    assert response["Location"] == f"/containers/{got['Id']}/"
    row = AuditEntry.objects.get(action="container.create", target_id=got["Id"])
    assert row.result == "ok" and row.username == "admin1"


def test_shown_docker_run_command_creates_the_same_container(
    admin_client: Any, test_image: str, volume: str
) -> None:
    data = form_data(
        test_image,
        ports="80/tcp\n127.0.0.1::8080",
        volumes=f"{volume}:/data",
        restart_policy="on-failure",
        memory="1.5g",
        cpus="1.25",
        command="sh -c \"echo 'quoted; stuff' && sleep 600\"",
    )
    data["restart_policy"] = "no"
    data["labels"] += "\nnote=two words & more"
    shown = admin_client.post("/containers/create/preview/", data).json()
    assert shown["errors"] == {}
    command = shown["command"]
    assert command.startswith("docker run -d --name ")
    assert admin_client.post("/containers/create/", data).status_code == 302
    cli_name = data["name"] + "-cli"
    args = shlex.split(command.replace(f"--name {data['name']}", f"--name {cli_name}"))
    docker_cli(*args[1:])
    ours, theirs = docker_inspect(data["name"]), docker_inspect(cli_name)
    for key in (
        "Memory",
        "NanoCpus",
        "PidsLimit",
        "PortBindings",
        "Binds",
        "Mounts",
        "RestartPolicy",
        "AutoRemove",
        "NetworkMode",
    ):
        assert ours["HostConfig"].get(key) == theirs["HostConfig"].get(key), key
    for key in ("Labels", "Cmd", "Image", "ExposedPorts"):
        assert ours["Config"][key] == theirs["Config"][key], key
    # The CLI sends -e variables in its own order; the environment is the same.
    assert sorted(ours["Config"]["Env"]) == sorted(theirs["Config"]["Env"])
    assert ours["HostConfig"]["Memory"] == 1536 * 1024 * 1024


def test_api_create_with_the_design_body(
    api_client: Any, admin_user: Any, test_image: str, volume: str
) -> None:
    api_client.force_authenticate(admin_user)
    port = free_port()
    name = f"dd-api-{RUN_ID}-{port}"
    body = {
        "image": test_image,
        "name": name,
        "command": ["httpd", "-f", "-p", "80"],
        "env": {"GREETING": "hi"},
        "ports": [{"container_port": 80, "host_port": port, "protocol": "tcp"}],
        "volumes": [{"source": volume, "target": "/data", "read_only": False}],
        "network": "bridge",
        "memory": "256m",
        "cpus": 0.5,
        "pids_limit": 100,
        "restart_policy": "unless-stopped",
        "labels": {"course": "os101", **LABELS},
        "start": False,
    }
    response = api_client.post("/api/v1/containers/", body, format="json")
    assert response.status_code == 201, response.json()
    got = docker_inspect(name)
    assert response.json()["id"] == got["Id"]
    assert got["State"]["Status"] == "created"
    assert got["HostConfig"]["Memory"] == 256 * 1024 * 1024
    assert got["HostConfig"]["NanoCpus"] == 500_000_000
    assert got["HostConfig"]["PidsLimit"] == 100
    assert got["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": str(port)}]}
    assert got["HostConfig"]["Binds"] == [f"{volume}:/data"]
    assert got["HostConfig"]["NetworkMode"] == "bridge"
    assert got["Config"]["Labels"]["dockdash.owner"] == "admin1"


# ------------------------------------------------ bad input: clear message, host unchanged


@pytest.mark.parametrize(
    ("field", "over", "words"),
    [
        ("image", {"image": "Not A/Valid:ref!"}, "not a valid image reference"),
        ("memory", {"memory": "12 parsecs"}, "is not a size"),
        ("ports", {"ports": "99999:80"}, "out of range"),
        ("name", {"name": "-bad"}, "not a valid container name"),
    ],
)
def test_bad_create_input_names_the_field_and_creates_nothing(
    admin_client: Any,
    api_client: Any,
    admin_user: Any,
    test_image: str,
    field: str,
    over: dict[str, str],
    words: str,
) -> None:
    before = container_names()
    data = form_data(test_image, **over)
    page = admin_client.post("/containers/create/", data)
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-error-for="{field}">' in html and words in html
    api_client.force_authenticate(admin_user)
    response = api_client.post("/api/v1/containers/", data, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field and words in response.json()["error"]
    assert container_names() == before


def test_missing_image_is_the_engines_refusal_in_words(
    api_client: Any, admin_user: Any, test_image: str
) -> None:
    api_client.force_authenticate(admin_user)
    before = container_names()
    body = {"image": f"dockdash-absent-{RUN_ID}:nope", "labels": LABELS}
    response = api_client.post("/api/v1/containers/", body, format="json")
    assert response.status_code == 404
    assert response.json()["field"] == "image"
    assert "No such image" in response.json()["error"]
    assert container_names() == before


def test_form_offers_to_pull_an_image_that_is_not_on_the_host(
    admin_client: Any, test_image: str
) -> None:
    before = container_names()
    absent = f"dockdash-absent-{RUN_ID}:nope"
    page = admin_client.post("/containers/create/", form_data(test_image, image=absent, tag=""))
    html = page.content.decode()
    assert page.status_code == 200
    assert "No such image" in html
    assert f'/registries/pull/?image=dockdash-absent-{RUN_ID}%3Anope"' in html
    assert container_names() == before
    pull = admin_client.get(f"/registries/pull/?image={absent}").content.decode()
    assert f'value="{absent}"' in pull


def test_name_already_used_is_refused_and_the_first_container_stays(
    api_client: Any, admin_user: Any, make_container: Any, test_image: str
) -> None:
    first = make_container(name=f"dd-dup-{RUN_ID}")
    api_client.force_authenticate(admin_user)
    body = {"image": test_image, "name": first.name, "labels": LABELS}
    response = api_client.post("/api/v1/containers/", body, format="json")
    assert response.status_code == 409
    assert response.json()["field"] == "name"
    assert "already in use" in response.json()["error"]
    assert docker_inspect(first.name)["Id"] == first.id
    assert docker_inspect(first.name)["State"]["Running"] is True


def test_port_already_allocated_is_refused_and_nothing_is_left_behind(
    admin_client: Any, make_container: Any, test_image: str
) -> None:
    port = free_port()
    make_container(["httpd", "-f", "-p", "80"], ports={"80/tcp": port})
    before = container_names()
    data = form_data(test_image, ports=f"{port}:80")
    page = admin_client.post("/containers/create/", data)
    assert page.status_code == 200
    assert "port is already allocated" in page.content.decode()
    assert 'data-error-for="ports">' in page.content.decode()
    assert container_names() == before


def test_preview_follows_the_start_box_and_names_bad_fields(
    admin_client: Any, test_image: str
) -> None:
    data = form_data(test_image)
    del data["start"]
    shown = admin_client.post("/containers/create/preview/", data).json()
    assert shown["command"].startswith("docker create --name ")
    bad = admin_client.post("/containers/create/preview/", {**data, "cpus": "64"}).json()
    assert bad["command"] == "" and "this host has" in bad["errors"]["cpus"]


def _field_hint(html: str, name: str) -> tuple[str, str]:
    """The placeholder and the help text the run form shows for field `name`."""
    block = html.split(f'data-field-name="{name}"', 1)[1].split("</div>", 1)[0]
    placeholder = block.split('placeholder="', 1)[1].split('"', 1)[0]
    return placeholder, block.split('class="help">', 1)[1].split("</span>", 1)[0]


def test_run_form_shows_the_defaults_an_empty_limit_gets_and_they_are_applied(
    client: Any, make_user: Any, test_image: str
) -> None:
    from dashboard.models import Quota

    student = make_user(f"dflt{RUN_ID}", "student")
    limits = {"memory_per_container": 96 * 2**20, "cpus_per_container": 0.25}
    Quota.objects.create(user=student, **limits, pids_per_container=64)
    client.force_login(student)
    html = client.get("/containers/create/").content.decode()
    assert _field_hint(html, "memory") == (
        "96m",
        "e.g. 256m or 1g (at least 6m); empty: 96m, your default",
    )
    assert _field_hint(html, "cpus")[0] == "0.25"
    assert _field_hint(html, "cpus")[1].endswith("; empty: 0.25, your default")
    assert _field_hint(html, "pids_limit") == (
        "64",
        "most processes at once; empty: 64, your default",
    )
    data = form_data(test_image, memory="", cpus="", pids_limit="", restart_policy="no")
    response = client.post("/containers/create/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    host = docker_inspect(data["name"])["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (96 * 2**20, 250_000_000, 64)


def test_run_form_tells_admins_an_empty_limit_means_none(
    admin_client: Any, test_image: str
) -> None:
    html = admin_client.get("/containers/create/").content.decode()
    for name in ("memory", "cpus", "pids_limit"):
        placeholder, help_text = _field_hint(html, name)
        assert placeholder == "no limit" and help_text.endswith("; empty: no limit"), name
    data = form_data(test_image, memory="", cpus="", pids_limit="")
    assert admin_client.post("/containers/create/", data).status_code == 302
    host = docker_inspect(data["name"])["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"] or 0) == (0, 0, 0)
