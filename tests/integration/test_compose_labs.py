"""Labs given as Compose files, through the API and the class page, judged by the Docker CLI.

A two-service file provisioned for two students (labels, limits, the working
volume, the order depends_on asks for, services found by their names); files the
Compose schema refuses and keys a lab cannot honour answered 400 by their path,
with no lab made; a service refused exactly as the same container of a JSON lab;
the page's form.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from dashboard.models import AuditEntry, Lab, Quota, User
from tests.integration.test_classes import SLEEPER, _docker_lines, _finished_job
from tests.rig import LABELS, RUN_ID, docker_cli, docker_inspect, logged_in, post_json

pytestmark = [pytest.mark.engine, pytest.mark.django_db(transaction=True)]

MIB = 2**20
SLEEP = shlex.join(SLEEPER)  # the same command in Compose's string form


def _compose(image: str) -> str:
    return f"""
version: "3.9"
x-test-labels: &test-labels
  dockdash.test: "{RUN_ID}"
services:
  web:
    image: {image}
    command: {json.dumps(SLEEP)}
    depends_on: [db]
    environment:
      GREETING: hi
      PRICE: $$5
    labels:
      <<: *test-labels
      course: os101
    ports: ["80", {{target: 8080, protocol: tcp}}]
    deploy:
      resources:
        limits: {{cpus: "0.25", memory: 64m, pids: 50}}
    working_dir: /data
    user: "1000:1000"
    restart: unless-stopped
    volumes: [work:/data]
    networks: [lab]
  db:
    image: {image}
    command: {json.dumps(SLEEPER)}
    environment: [ROLE=db]
    labels: *test-labels
    mem_limit: 32m
    cpus: 0.5
    pids_limit: 100
    volumes:
      - {{type: volume, source: work, target: /data}}
    networks:
      lab:
volumes:
  work:
networks:
  lab: {{}}
"""


def _class(make_user: Callable[..., Any], teach: Callable[..., Any], name: str, *students: str):
    teacher = make_user(f"t{name}{RUN_ID}", "instructor")
    course = teach(teacher, *students, slug=f"{name}{RUN_ID}")
    return logged_in(teacher), course


def test_a_compose_lab_of_two_services_runs_for_each_of_two_students(
    make_user: Callable[..., Any], teach: Callable[..., Any], test_image: str
) -> None:
    names = [f"ca{RUN_ID}", f"cb{RUN_ID}"]
    client, course = _class(make_user, teach, "cmp", *names)
    slug = course.slug
    text = _compose(test_image)
    body = {"name": "Web and db", "slug": "wd", "compose": text, "labels": LABELS}
    made = post_json(client, f"/api/v1/classes/{slug}/labs/", {**body, "idle_minutes": 30})
    assert made.status_code == 201, made.content
    answer = made.json()
    assert answer["compose"] == text and answer["idle_minutes"] == 30
    assert [c["name"] for c in answer["containers"]] == ["db", "web"]  # db first: web needs it
    assert answer["network"] is True and answer["volume"] == "/data"

    job = _finished_job(client, post_json(client, f"/api/v1/classes/{slug}/labs/wd/provision/", {}))
    assert job["state"] == "succeeded", (job["error"], job["progress"]["items"])
    for student in names:
        prefix = f"{slug}-wd-{student}"
        assert job["progress"]["items"][student]["created"] == [
            prefix,
            f"{prefix}-work",
            f"{prefix}-db",
            f"{prefix}-web",
        ]
        running = _docker_lines(
            "ps", "--filter", f"label=dockdash.owner={student}", "--format", "{{.Names}}"
        )
        assert sorted(running) == [f"{prefix}-db", f"{prefix}-web"]
        web, db = docker_inspect(f"{prefix}-web"), docker_inspect(f"{prefix}-db")
        labels = web["Config"]["Labels"]
        assert {k: labels.get(k) for k in ("course", "dockdash.test")} == {
            "course": "os101",
            "dockdash.test": RUN_ID,
        }
        assert {k: labels[k] for k in ("dockdash.owner", "dockdash.class", "dockdash.lab")} == {
            "dockdash.owner": student,
            "dockdash.class": slug,
            "dockdash.lab": "wd",
        }
        # deploy.resources.limits on web; mem_limit, cpus and pids_limit on db.
        limits = ("Memory", "NanoCpus", "PidsLimit")
        assert [web["HostConfig"][k] for k in limits] == [64 * MIB, 250_000_000, 50]
        assert [db["HostConfig"][k] for k in limits] == [32 * MIB, 500_000_000, 100]
        assert web["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        assert web["Config"]["WorkingDir"] == "/data" and web["Config"]["User"] == "1000:1000"
        assert {"GREETING=hi", "PRICE=$5"} <= set(web["Config"]["Env"])
        assert "ROLE=db" in db["Config"]["Env"]
        assert web["Config"]["Cmd"] == SLEEPER == db["Config"]["Cmd"]
        ports = web["HostConfig"]["PortBindings"]
        assert sorted(ports) == ["80/tcp", "8080/tcp"]
        assert all(20000 <= int(b[0]["HostPort"]) <= 29999 for b in ports.values())
        for container in (web, db):
            mounts = [
                (m["Type"], m["Name"], m["Destination"], m["RW"]) for m in container["Mounts"]
            ]
            assert mounts == [("volume", f"{prefix}-work", "/data", True)]
            assert list(container["NetworkSettings"]["Networks"]) == [prefix]
        # On the student's network, db reaches web by its service name: the student's own web.
        address = web["NetworkSettings"]["Networks"][prefix]["IPAddress"]
        pinged = docker_cli("exec", f"{prefix}-db", "ping", "-c", "1", "-W", "5", "web")
        assert f"PING web ({address})" in pinged and " 0% packet loss" in pinged, pinged
    # One working volume per student, shared by the student's two containers.
    volume = _docker_lines("volume", "ls", "-q", "--filter", f"label=dockdash.class={slug}")
    assert sorted(volume) == [f"{slug}-wd-{n}-work" for n in names]

    # The class page shows the file the lab was made from.
    page = client.get(f"/classes/{slug}/").content.decode()
    assert "data-compose-source" in page and "PRICE: $$5" in page


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('services: {web: {ports: "x"}}', "services.web.ports: must be a list, not text"),
        ("services: {web: {image: busybox}}\nservise: {}", "servise: the Compose Specification"),
        (
            "services: {web: {image: busybox, ports: [{target: 80, bogus: 1}]}}",
            "services.web.ports[0].bogus: the Compose Specification has no such key",
        ),
        ("services: {web: {image: busybox, restart: no}}", "services.web.restart: must be text"),
        ("services: {web: [1", "The Compose file is not YAML"),
    ],
)
def test_a_compose_file_the_schema_refuses_answers_400_naming_the_path_and_makes_no_lab(
    make_user: Callable[..., Any], teach: Callable[..., Any], text: str, said: str
) -> None:
    _refused_with_no_lab(*_class(make_user, teach, "sch"), text, said)


def _refused_with_no_lab(client: Any, course: Any, text: str, said: str) -> None:
    """The API answers 400 for the file `text`, its error starting with `said` (the path),
    makes no lab, and the refusal is in the audit log."""
    answer = post_json(
        client, f"/api/v1/classes/{course.slug}/labs/", {"name": "L", "slug": "l1", "compose": text}
    )
    assert answer.status_code == 400, answer.content
    assert answer.json()["field"] == "compose"
    assert answer.json()["error"].startswith(said), answer.json()["error"]
    assert not Lab.objects.filter(course=course).exists()
    row = AuditEntry.objects.get(action="lab.create", target_name=f"{course.slug}/l1")
    assert row.result == "error" and row.error.startswith(said)


@pytest.mark.parametrize(
    ("service", "said"),
    [
        ("privileged: true", "services.web.privileged: a lab cannot honour this key"),
        ("cap_add: [NET_ADMIN]", "services.web.cap_add: a lab cannot honour this key"),
        ("network_mode: host", "services.web.network_mode: a lab cannot honour this key"),
        ("build: .", "services.web.build: a lab cannot honour this key"),
        ("x-tool: {a: 1}", "services.web.x-tool: a lab cannot honour this key"),
        ("deploy: {replicas: 3}", "services.web.deploy.replicas: a lab cannot honour this key"),
        ("volumes: ['/etc:/data']", "services.web.volumes[0]: /etc is a folder of the host"),
        ("ports: ['28080:80']", "services.web.ports: host ports come from the class's range"),
        ("command: echo $HOME", "services.web.command: a lab substitutes no variables"),
        ("environment: [TOKEN]", "services.web.environment[0]: TOKEN takes its value"),
        ("mem_limit: 2x", "services.web.mem_limit: '2x' is not a size"),
    ],
)
def test_a_key_a_lab_cannot_honour_is_refused_by_its_path(
    make_user: Callable[..., Any],
    teach: Callable[..., Any],
    test_image: str,
    service: str,
    said: str,
) -> None:
    text = f"services:\n  web:\n    image: {test_image}\n    {service}\n"
    _refused_with_no_lab(*_class(make_user, teach, "hon"), text, said)


@pytest.mark.parametrize(
    "text",
    [
        # An alias inside what it names: a mapping that holds itself.
        "services: &all\n  web:\n    image: busybox\n    labels: *all\n",
        # Lists within lists, deeper than PyYAML's recursion reaches.
        "services:\n  web:\n    image: busybox\n    command: " + "[" * 5000 + "]" * 5000,
        "services:\n  web:\n    image: busybox\n    command: " + "[" * 40 + "]" * 40,
    ],
    ids=["alias-in-itself", "deeper-than-the-parser", "deeper-than-a-lab"],
)
def test_a_compose_file_nested_without_end_is_refused_not_a_server_error(
    make_user: Callable[..., Any], teach: Callable[..., Any], text: str
) -> None:
    _refused_with_no_lab(
        *_class(make_user, teach, "deep"), text, "The Compose file nests more than 32 levels"
    )


def test_a_compose_service_is_refused_as_the_same_container_of_a_json_lab(
    make_user: Callable[..., Any], teach: Callable[..., Any], test_image: str
) -> None:
    student = f"cq{RUN_ID}"
    client, course = _class(make_user, teach, "same", student)
    path = f"/api/v1/classes/{course.slug}/labs/"

    def both(image: str, memory: str) -> tuple[Any, Any]:
        box = {"name": "box", "image": image, "command": SLEEPER, "memory": memory}
        as_json = post_json(
            client, path, {"name": "J", "slug": f"j{memory}", "containers": [box], "labels": LABELS}
        )
        text = (
            f"services:\n  box:\n    image: {image}\n    command: {json.dumps(SLEEPER)}\n"
            f"    mem_limit: {memory}\n"
        )
        as_compose = post_json(
            client, path, {"name": "C", "slug": f"c{memory}", "compose": text, "labels": LABELS}
        )
        return as_json, as_compose

    # An image reference the create body refuses: the same words, at the file's path.
    as_json, as_compose = both("Not/An:Image!", "32m")
    assert as_json.status_code == as_compose.status_code == 400
    words = as_json.json()["error"].removeprefix("containers[0].image: ")
    assert as_compose.json()["error"] == f"services.box.image: {words}"
    assert not Lab.objects.filter(course=course).exists()

    # More memory than the student's quota allows: each lab is made, and each refused when
    # provisioned for the student, in the same words, with no container left behind.
    Quota.objects.create(user=User.objects.get(username=student), memory_per_container=256 * MIB)
    for answer in both(test_image, "512m"):
        assert answer.status_code == 201, answer.content
    refusals = []
    for lab in ("j512m", "c512m"):
        job = _finished_job(client, post_json(client, f"{path}{lab}/provision/", {}))
        assert job["state"] == "failed"
        refusals.append(job["progress"]["items"][student]["error"])
    assert refusals[0] == refusals[1] and "above your limit" in refusals[0], refusals
    owned = _docker_lines("ps", "-aq", "--filter", f"label=dockdash.owner={student}")
    assert owned == []


def test_the_class_page_makes_a_compose_lab_and_shows_a_refusal_next_to_the_field(
    make_user: Callable[..., Any], teach: Callable[..., Any], test_image: str
) -> None:
    client, course = _class(make_user, teach, "page")
    url = f"/classes/{course.slug}/labs/compose/"
    page = client.get(f"/classes/{course.slug}/").content.decode()
    assert f'action="{url}"' in page and 'name="compose"' in page and 'name="file"' in page

    bad = f"services:\n  web:\n    image: {test_image}\n    cap_add: [SYS_ADMIN]\n"
    refused = client.post(
        url, {"name": "Lab P", "slug": "lp", "idle_minutes": "15", "compose": bad}
    )
    assert refused.status_code == 400
    html = refused.content.decode()
    assert (
        '<span class="field-error" data-error-for="compose">services.web.cap_add: '
        "a lab cannot honour this key" in html
    )
    assert f"{bad}</textarea>" in html  # the text kept, to mend
    assert 'value="Lab P"' in html and 'value="15"' in html
    no_name = client.post(url, {"name": "", "slug": "lp", "compose": bad})
    assert '<span class="field-error" data-error-for="name">A lab needs a name.' in (
        no_name.content.decode()
    )
    empty = client.post(url, {"name": "Lab P", "slug": "lp"})
    assert empty.status_code == 400 and b"Paste a Compose file or upload one." in empty.content
    # An uploaded file refused is shown in the text box, to be mended there.
    upload = SimpleUploadedFile("lab.yaml", bad.encode())
    uploaded_bad = client.post(url, {"name": "Lab P", "slug": "lp", "file": upload})
    assert uploaded_bad.status_code == 400
    assert f"{bad}</textarea>" in uploaded_bad.content.decode()
    assert not Lab.objects.filter(course=course).exists()

    good = (
        f"services:\n  web:\n    image: {test_image}\n    labels: {{dockdash.test: '{RUN_ID}'}}\n"
    )
    made = client.post(
        url, {"name": "Lab P", "slug": "lp", "file": SimpleUploadedFile("lab.yml", good.encode())}
    )
    assert made.status_code == 302 and made["Location"] == f"/classes/{course.slug}/"
    lab = Lab.objects.get(course=course, slug="lp")
    assert lab.compose == good and [c["name"] for c in lab.containers] == ["web"]
    shown = client.get(f"/classes/{course.slug}/").content.decode()
    assert "data-compose-source" in shown and "labels: {dockdash.test:" in shown
    # Taken slug: refused next to the slug field.
    again = client.post(url, {"name": "Lab P", "slug": "lp", "compose": good})
    assert '<span class="field-error" data-error-for="slug">The class already has a lab' in (
        again.content.decode()
    )


def test_a_lab_changes_within_its_form_or_from_one_form_to_the_other(
    make_user: Callable[..., Any], teach: Callable[..., Any], test_image: str
) -> None:
    client, course = _class(make_user, teach, "cmpedit")
    url = f"/api/v1/classes/{course.slug}/labs/"
    text = f"services:\n  shell:\n    image: {test_image}\n    command: {json.dumps(SLEEP)}\n"
    made = post_json(client, url, {"name": "One", "slug": "one", "compose": text})
    assert made.status_code == 201, made.content

    def patch(body: dict[str, Any]) -> dict[str, Any]:
        answer = client.patch(f"{url}one/", json.dumps(body), content_type="application/json")
        assert answer.status_code == 200, answer.content
        return dict(answer.json())

    # A Compose lab keeps its file when another key changes; its edit box shows the file.
    kept = patch({"idle_minutes": 5})
    assert kept["compose"] == text and kept["idle_minutes"] == 5
    assert [c["name"] for c in kept["containers"]] == ["shell"]
    page = client.get(f"/classes/{course.slug}/").content.decode()
    assert (
        "&quot;compose&quot;" in page and "&quot;containers&quot;:" not in page
    )  # the key, not runs_as
    # Containers given replace the file; a file given replaces the containers.
    body = {"name": "box", "image": test_image, "command": SLEEPER}
    as_json = patch({"containers": [body]})
    assert as_json["compose"] == "" and [c["name"] for c in as_json["containers"]] == ["box"]
    assert patch({"name": "Renamed"})["containers"] == as_json["containers"]
    back = patch({"compose": text})
    assert back["compose"] == text and [c["name"] for c in back["containers"]] == ["shell"]
    # What GET answers goes back as it is; a file with other containers beside it clashes.
    assert patch({**back, "name": "Again"})["containers"] == back["containers"]
    clash = client.patch(
        f"{url}one/",
        json.dumps({"compose": text, "containers": [body]}),
        content_type="application/json",
    )
    assert clash.status_code == 400 and "not both" in clash.json()["error"]
    assert Lab.objects.get(course=course, slug="one").idle_minutes == 5
