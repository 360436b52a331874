"""Classes through the URLs a teacher and students use, judged by the Docker CLI.

A class of 30 made from a CSV, a two-container lab provisioned for all of them,
a gap refilled, a reset that keeps or wipes the working volume, stop-all; an
instructor of one class blind to another's students; a class's image allow-list.
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import json
import tarfile
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from dashboard.accounts import PASSWORD_ALPHABET
from dashboard.models import AuditEntry, User
from tests import rig
from tests.integration.live_helpers import socket_answer
from tests.rig import LABELS, RUN_ID, docker_cli, logged_in, post_json

pytestmark = [pytest.mark.engine, pytest.mark.django_db(transaction=True)]

# A process that ends on SIGTERM at once, so stopping 60 of them takes no 10 s grace each.
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
STUDENTS = 30


def _finished_job(client: Client, answer: Any, timeout: float = 180) -> dict[str, Any]:
    assert answer.status_code == 202, answer.content
    job_id = answer.json()["job"]

    def finished() -> dict[str, Any] | None:
        job = client.get(f"/api/v1/jobs/{job_id}/").json()
        return job if job["state"] != "running" else None

    job: dict[str, Any] = rig.wait_for(finished, timeout=timeout, interval=0.3, what="the job")
    return job


def _lab_body(image: str) -> dict[str, Any]:
    return {
        "name": "Lab 1",
        "slug": "lab1",
        "containers": [
            {
                "name": "shell",
                "image": image,
                "command": SLEEPER,
                "memory": "32m",
                "ports": [{"container_port": 80}],
            },
            {
                "name": "web",
                "image": image,
                "command": SLEEPER,
                "memory": "32m",
                "ports": [{"container_port": 8080}],
            },
        ],
        "network": True,
        "volume": "/data",
        "labels": LABELS,
        "idle_minutes": 20,
        "ends_at": None,
    }


def _docker_lines(*args: str) -> list[str]:
    return [line for line in docker_cli(*args).splitlines() if line.strip()]


def _class_containers(slug: str, *, running_only: bool = True) -> dict[str, str]:
    """name -> id of the class's containers, as `docker ps` lists them."""
    args = ["ps", "--no-trunc", "--filter", f"label=dockdash.class={slug}"]
    lines = _docker_lines(
        *args, *([] if running_only else ["-a"]), "--format", "{{.Names}} {{.ID}}"
    )
    return dict(line.split() for line in lines)


def test_a_class_of_30_from_csv_runs_a_two_container_lab_each(
    make_user: Callable[..., Any], test_image: str, docker_client: Any
) -> None:
    teacher = make_user(f"t{RUN_ID}", "instructor")
    client = logged_in(teacher)
    slug = f"c{RUN_ID}"
    names = [f"s{i:02d}{RUN_ID}" for i in range(STUDENTS)]

    made = post_json(client, "/api/v1/classes/", {"name": "OS 101", "slug": slug})
    assert made.status_code == 201, made.content
    assert made.json()["instructors"] == [teacher.username]

    csv = "username,full name,email\n" + "".join(
        f"{n},Student {i},{n}@example.org\n" for i, n in enumerate(names)
    )
    roster = post_json(client, f"/api/v1/classes/{slug}/roster/", {"csv": csv})
    assert roster.status_code == 200, roster.content
    answers = roster.json()["students"]
    assert [a["username"] for a in answers] == names
    for answer in answers:
        assert answer["created"] is True
        assert set(answer["password"]) <= set(PASSWORD_ALPHABET)
        assert not set(answer["password"]) & set("0Oo1lI")
    student = User.objects.get(username=names[3])
    assert student.check_password(answers[3]["password"])
    assert student.get_full_name() == "Student 3" and student.email == f"{names[3]}@example.org"
    assert (
        AuditEntry.objects.filter(action="class.roster.add", username=teacher.username).count()
        == STUDENTS
    )
    # Shown once: the class answers its roster, never the passwords again.
    again = client.get(f"/api/v1/classes/{slug}/").json()
    assert again["students"] == sorted(names) and "password" not in json.dumps(again)

    lab = post_json(client, f"/api/v1/classes/{slug}/labs/", _lab_body(test_image))
    assert lab.status_code == 201, lab.content

    # Provision: 60 containers and 30 networks, each the student's, on ports of the range.
    job = _finished_job(
        client, post_json(client, f"/api/v1/classes/{slug}/labs/lab1/provision/", {})
    )
    assert job["state"] == "succeeded", job["error"]
    items = job["progress"]["items"]
    assert sorted(items) == sorted(names)
    assert all(item["state"] == "ok" and len(item["created"]) == 4 for item in items.values())
    running = _class_containers(slug)
    assert len(running) == 2 * STUDENTS
    networks = _docker_lines("network", "ls", "--filter", f"label=dockdash.class={slug}", "-q")
    assert len(networks) == STUDENTS
    one = rig.docker_inspect(f"{slug}-lab1-{names[7]}-web")
    assert {
        k: one["Config"]["Labels"][k] for k in ("dockdash.owner", "dockdash.class", "dockdash.lab")
    } == {"dockdash.owner": names[7], "dockdash.class": slug, "dockdash.lab": "lab1"}
    assert list(one["NetworkSettings"]["Networks"]) == [f"{slug}-lab1-{names[7]}"]
    # Each student's network on a /28 of the lab range, not from the engine's few own pools.
    subnets = {rig.docker_inspect(n)["IPAM"]["Config"][0]["Subnet"] for n in networks}
    assert len(subnets) == STUDENTS
    lab_range = ipaddress.ip_network(settings.LAB_SUBNETS)
    assert all(ipaddress.ip_network(s).subnet_of(lab_range) for s in subnets), subnets
    ports = [
        int(binding["HostPort"])
        for cid in running.values()
        for bindings in rig.docker_inspect(cid)["HostConfig"]["PortBindings"].values()
        for binding in bindings
    ]
    assert len(ports) == len(set(ports)) == 2 * STUDENTS
    assert all(20000 <= p <= 29999 for p in ports)
    # The actor of each create is the instructor; the owner, the student.
    creates = AuditEntry.objects.filter(action="lab.container.create", result="ok")
    assert creates.count() == 2 * STUDENTS
    assert {r.username for r in creates} == {teacher.username}
    assert {r.params["owner"] for r in creates} == set(names)

    # Running it again fills only the gap made behind the dashboard's back.
    gap = f"{slug}-lab1-{names[5]}-web"
    docker_cli("rm", "-f", gap)
    job = _finished_job(
        client, post_json(client, f"/api/v1/classes/{slug}/labs/lab1/provision/", {})
    )
    assert job["state"] == "succeeded", job["error"]
    assert job["progress"]["items"][names[5]]["created"] == [gap]
    assert all(not i["created"] for n, i in job["progress"]["items"].items() if n != names[5])
    refilled = _class_containers(slug)
    assert {n: i for n, i in refilled.items() if n != gap} == {
        n: i for n, i in running.items() if n != gap
    }
    assert gap in refilled

    # Reset one student: the containers are new; the working volume kept, then wiped.
    shell = f"{slug}-lab1-{names[0]}-shell"
    docker_cli("exec", shell, "sh", "-c", "echo kept > /data/work.txt")
    for wipe, expected in ((False, "kept\n"), (True, "")):
        before = rig.docker_inspect(shell)["Id"]
        body = {"student": names[0], "wipe": wipe}
        job = _finished_job(
            client, post_json(client, f"/api/v1/classes/{slug}/labs/lab1/reset/", body)
        )
        assert job["state"] == "succeeded", job["error"]
        assert rig.docker_inspect(shell)["Id"] != before
        seen = docker_cli("exec", shell, "sh", "-c", "cat /data/work.txt 2>/dev/null || true")
        assert seen == expected, wipe

    # Stop all: nothing of the class runs, each stop audited with the instructor as actor.
    job = _finished_job(client, post_json(client, f"/api/v1/classes/{slug}/stop/", {}))
    assert job["state"] == "succeeded", job["error"]
    assert sorted(job["progress"]["items"]) == sorted(names)
    assert _class_containers(slug) == {}
    assert len(_class_containers(slug, running_only=False)) == 2 * STUDENTS
    stops = AuditEntry.objects.filter(action="container.stop", username=teacher.username)
    assert stops.filter(result="ok").count() == 2 * STUDENTS


def test_an_instructor_of_one_class_gets_404_for_another_class_and_its_students(
    two_classes: dict[str, Any],
) -> None:
    p = two_classes
    ia = logged_in(p["ia"])
    b_slug = f"b{RUN_ID}"
    for path in (
        f"/api/v1/classes/{b_slug}/",
        f"/classes/{b_slug}/",
        f"/api/v1/containers/{p['b1_box']}/",
        f"/containers/{p['b1_box']}/",
        f"/api/v1/containers/{p['b1_box']}/logs/",
        f"/users/{p['b1'].pk}/",
    ):
        assert ia.get(path).status_code == 404, path
    assert post_json(ia, f"/api/v1/containers/{p['b1_box']}/stop/", {}).status_code == 404
    assert post_json(ia, f"/api/v1/classes/{b_slug}/stop/", {}).status_code == 404
    assert post_json(ia, f"/api/v1/classes/{b_slug}/roster/", {"csv": "x1"}).status_code == 404
    assert docker_cli("inspect", "-f", "{{.State.Running}}", p["b1_box"]).strip() == "true"
    listed = {row["id"] for row in ia.get("/api/v1/containers/?all=1").json()}
    assert p["a1_box"] in listed and p["b1_box"] not in listed
    users_page = ia.get("/users/").content.decode()
    assert p["a1"].username in users_page and p["b1"].username not in users_page
    # Their own class's student: seen and controlled.
    assert ia.get(f"/api/v1/containers/{p['a1_box']}/").status_code == 200
    assert ia.get(f"/users/{p['a1'].pk}/").status_code == 200
    # Websockets: logs and stats of the other class's student refused as missing.
    for route in ("logs/", "stats/"):
        theirs = f"/ws/containers/{p['b1_box']}/{route}"
        ours = f"/ws/containers/{p['a1_box']}/{route}"
        assert asyncio.run(socket_answer(p["ia"], theirs)) == 4404, route
        assert asyncio.run(socket_answer(p["ia"], ours)) == 0, route


def test_an_instructor_manages_the_accounts_of_their_students_only(
    two_classes: dict[str, Any],
) -> None:
    p = two_classes
    ia = logged_in(p["ia"])
    quota = ia.post(f"/users/{p['a1'].pk}/quota/", {"max_running": "2"})
    assert quota.status_code == 302
    assert p["a1"].__class__.objects.get(pk=p["a1"].pk).quota.max_running == 2
    assert ia.post(f"/users/{p['b1'].pk}/quota/", {"max_running": "2"}).status_code == 404
    reset = ia.post(f"/users/{p['a1'].pk}/password/")
    assert reset.status_code == 200 and reset["Cache-Control"].startswith(("no-store", "private"))
    assert ia.post(f"/users/{p['b1'].pk}/password/").status_code == 404
    assert ia.post(f"/users/{p['a1'].pk}/active/", {"active": "0"}).status_code == 302
    assert not User.objects.get(pk=p["a1"].pk).is_active
    assert ia.post(f"/users/{p['b1'].pk}/active/", {"active": "0"}).status_code == 404
    assert User.objects.get(pk=p["b1"].pk).is_active
    for action in ("user.quota", "user.password", "user.active"):
        rows = AuditEntry.objects.filter(action=action, username=p["ia"].username)
        assert [(r.result, r.target_name) for r in rows] == [("ok", p["a1"].username)], action


def _other_image(docker_client: Any, base: str) -> str:
    """An image other than the test image (another id), built offline from it."""
    tag = f"dockdash-test-other:{RUN_ID}"
    dockerfile = f"FROM {base}\nLABEL purpose=not-on-the-list\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    buf.seek(0)
    docker_client.images.build(fileobj=buf, custom_context=True, tag=tag, labels=LABELS, rm=True)
    return tag


def test_a_student_of_a_class_may_run_only_the_images_it_allows(
    make_user: Callable[..., Any], teach: Any, test_image: str, docker_client: Any
) -> None:
    teacher = make_user(f"ta{RUN_ID}", "instructor")
    student = make_user(f"allow{RUN_ID}-s", "student")
    course = teach(teacher, student, slug=f"allow{RUN_ID}")
    lab = post_json(
        logged_in(teacher), f"/api/v1/classes/{course.slug}/labs/", _lab_body(test_image)
    )
    assert lab.status_code == 201, lab.content
    other = _other_image(docker_client, test_image)
    api = logged_in(student)

    def create(image: str) -> Any:
        body = {"image": image, "command": ["true"], "start": False, "labels": LABELS}
        return post_json(api, "/api/v1/containers/", body)

    refused = create(other)
    assert refused.status_code == 403, refused.content
    assert refused.json()["field"] == "image" and test_image in refused.json()["error"]
    rows = AuditEntry.objects.filter(action="container.create", username=student.username)
    assert [(r.result, r.params.get("image")) for r in rows] == [("error", other)]
    assert (
        _docker_lines("ps", "-a", "-q", "--filter", f"label=dockdash.owner={student.username}")
        == []
    )
    allowed = create(test_image)
    assert allowed.status_code == 201, allowed.content


def test_a_roster_with_a_bad_line_is_refused_whole_with_the_line(
    make_user: Callable[..., Any], teach: Any
) -> None:
    teacher = make_user(f"tb{RUN_ID}", "instructor")
    course = teach(teacher, slug=f"bad{RUN_ID}")
    answer = post_json(
        logged_in(teacher),
        f"/api/v1/classes/{course.slug}/roster/",
        {"csv": "ok1\nno spaces allowed\n"},
    )
    assert answer.status_code == 400
    assert answer.json()["field"] == "csv" and "line 2" in answer.json()["error"]
    assert not course.students.exists()


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("dockdash", "'dockdash' is the name the dashboard's own actions go by"),
        ("x" * 151, "a username is at most 150 characters, not 151"),
    ],
    ids=["the-dashboards-own-name", "too-long"],
)
def test_a_roster_naming_an_account_that_cannot_be_made_is_refused_with_the_line(
    make_user: Callable[..., Any], teach: Any, name: str, said: str
) -> None:
    teacher = make_user(f"tn{RUN_ID}", "instructor")
    course = teach(teacher, slug=f"nm{RUN_ID}")
    answer = post_json(
        logged_in(teacher), f"/api/v1/classes/{course.slug}/roster/", {"csv": f"ok{RUN_ID}\n{name}"}
    )
    assert answer.status_code == 400, answer.content
    assert answer.json() == {"error": f"line 2: {said}", "field": "csv"}
    assert not course.students.exists()
    assert not User.objects.filter(username__in=[name, f"ok{RUN_ID}"]).exists()


def test_an_instructor_adds_only_students_in_no_class_or_in_one_of_theirs(
    two_classes: dict[str, Any], make_user: Callable[..., Any], admin_user: Any
) -> None:
    p = two_classes
    a_slug, b1 = f"a{RUN_ID}", p["b1"].username
    free = make_user(f"fr{RUN_ID}", "student").username
    new = f"nw{RUN_ID}"
    ia = logged_in(p["ia"])
    refused = f"{b1} is in a class you do not teach; an admin can add them."

    # The roster answers per student: b1 (another instructor's) stays out, the rest go in.
    csv = f"{b1}\n{free}\n{new}\n{p['a1'].username}\n"
    answers = post_json(ia, f"/api/v1/classes/{a_slug}/roster/", {"csv": csv}).json()["students"]
    assert [(a["username"], a.get("error", "")) for a in answers] == [
        (b1, refused),
        (free, ""),
        (new, ""),
        (p["a1"].username, ""),
    ]
    assert answers[2]["created"] is True and "password" in answers[2]
    students = ia.get(f"/api/v1/classes/{a_slug}/").json()["students"]
    assert students == sorted([free, new, p["a1"].username])
    row = AuditEntry.objects.get(action="class.roster.add", target_name=b1)
    assert (row.result, row.error) == ("error", refused)
    page = ia.post(f"/classes/{a_slug}/roster/", {"csv": f"{b1}\n"})
    assert page.status_code == 200 and refused in page.content.decode()
    # So ia still neither sees nor stops b1's container.
    assert post_json(ia, f"/api/v1/containers/{p['b1_box']}/stop/", {}).status_code == 404
    assert docker_cli("inspect", "-f", "{{.State.Running}}", p["b1_box"]).strip() == "true"

    # PATCH and a new class with students: refused whole, naming the student.
    path = f"/api/v1/classes/{a_slug}/"
    patched = ia.patch(path, json.dumps({"students": [free, b1]}), content_type="application/json")
    assert patched.status_code == 403, patched.content
    assert patched.json() == {"error": refused, "field": "students"}
    assert ia.get(path).json()["students"] == students
    made = post_json(ia, "/api/v1/classes/", {"name": "X", "slug": f"x{RUN_ID}", "students": [b1]})
    assert made.status_code == 403 and made.json()["error"] == refused
    assert ia.get(f"/api/v1/classes/x{RUN_ID}/").status_code == 404
    # A student of one of ia's classes may join another of ia's.
    second = {"name": "Second", "slug": f"a2{RUN_ID}", "students": [p["a1"].username]}
    assert post_json(ia, "/api/v1/classes/", second).status_code == 201

    # An admin may add anyone; then ia teaches b1 and controls their container.
    admin = logged_in(admin_user)
    body = json.dumps({"students": [*students, b1]})
    assert admin.patch(path, body, content_type="application/json").status_code == 200
    assert post_json(ia, f"/api/v1/containers/{p['b1_box']}/stop/", {}).status_code == 200
    assert docker_cli("inspect", "-f", "{{.State.Running}}", p["b1_box"]).strip() == "false"


def test_openapi_schema_lists_the_class_endpoints(admin_client: Any) -> None:
    paths = admin_client.get("/api/schema/?format=json").json()["paths"]
    lab = "/api/v1/classes/{slug}/labs/{lab}/"
    assert {p: sorted(paths[p]) for p in paths if p.startswith("/api/v1/classes/")} == {
        "/api/v1/classes/": ["get", "post"],
        "/api/v1/classes/{slug}/": ["delete", "get", "patch"],
        "/api/v1/classes/{slug}/roster/": ["post"],
        "/api/v1/classes/{slug}/roster/directory/": ["post"],
        "/api/v1/classes/{slug}/labs/": ["get", "post"],
        lab: ["delete", "get", "patch"],
        f"{lab}provision/": ["post"],
        f"{lab}reset/": ["post"],
        "/api/v1/classes/{slug}/{action}/": ["post"],
    }
    assert paths[lab]["delete"]["responses"].keys() == {"204"}
    assert paths["/api/v1/classes/{slug}/labs/"]["post"]["responses"].keys() == {"201"}
