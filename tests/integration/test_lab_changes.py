"""Labs changed and removed through the API and the class page, judged by the Docker CLI.

A change is checked whole again and reaches a student's containers at their next reset;
a lab with containers is not removed until the class's remove job (for that lab) has
removed them, and its seats go with it. Instructors of another class, and students,
are told the lab does not exist.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from classes_app.models import LabSeat
from dashboard.models import AuditEntry, Lab, User
from tests import rig
from tests.integration.test_classes import SLEEPER, _finished_job
from tests.rig import LABELS, RUN_ID, docker_cli, logged_in, post_json

pytestmark = [pytest.mark.engine, pytest.mark.django_db(transaction=True)]


def _box(image: str, *ports: int) -> dict[str, Any]:
    return {
        "name": "box",
        "image": image,
        "command": SLEEPER,
        "memory": "32m",
        "ports": [{"container_port": p} for p in ports],
    }


def _lab(image: str, slug: str = "lab1", *ports: int) -> dict[str, Any]:
    return {
        "name": f"Lab {slug}",
        "slug": slug,
        "labels": LABELS,
        "containers": [_box(image, *ports)],
    }


def _patch(client: Any, path: str, body: Any) -> Any:
    return client.patch(path, json.dumps(body), content_type="application/json")


def _names(slug: str, lab: str = "") -> list[str]:
    label = f"label=dockdash.lab={lab}" if lab else f"label=dockdash.class={slug}"
    args = ["ps", "-a", "--filter", f"label=dockdash.class={slug}", "--filter", label]
    return sorted(docker_cli(*args, "--format", "{{.Names}}").split())


def _host_ports(name: str) -> list[str]:
    bindings = rig.docker_inspect(name)["HostConfig"]["PortBindings"]
    return sorted(b["HostPort"] for found in bindings.values() for b in found)


@pytest.fixture
def lab_class(make_user: Callable[..., Any], teach: Any, test_image: str) -> dict[str, Any]:
    """A class of two students with lab1 (one container, one port) provisioned."""
    teacher = make_user(f"lt{RUN_ID}", "instructor")
    students = [f"ls{i}{RUN_ID}" for i in range(2)]
    course = teach(teacher, *students, slug=f"lc{RUN_ID}")
    client = logged_in(teacher)
    base = f"/api/v1/classes/{course.slug}/labs/"
    made = post_json(client, base, _lab(test_image, "lab1", 80))
    assert made.status_code == 201, made.content
    job = _finished_job(client, post_json(client, f"{base}lab1/provision/", {}))
    assert job["state"] == "succeeded", job["error"]
    return {
        "teacher": teacher,
        "client": client,
        "slug": course.slug,
        "students": students,
        "base": base,
        "image": test_image,
    }


def test_a_changed_lab_is_checked_whole_and_a_reset_makes_the_new_template(
    lab_class: dict[str, Any],
) -> None:
    p = lab_class
    client, lab_url, slug = p["client"], f"{p['base']}lab1/", p["slug"]
    shown = client.get(p["base"])
    assert shown.status_code == 200 and [lab["slug"] for lab in shown.json()] == ["lab1"]
    assert client.get(lab_url).json()["containers"] == [_box(p["image"], 80)]

    # Only the keys given change; the rest of the lab is kept and the whole is checked.
    two_ports = {**_box(p["image"], 80, 8080), "env": {"GREETING": "hi"}}
    changed = _patch(client, lab_url, {"containers": [two_ports], "idle_minutes": 30})
    assert changed.status_code == 200, changed.content
    after = client.get(lab_url).json()
    assert after["containers"] == [two_ports] and after["idle_minutes"] == 30
    assert after["name"] == "Lab lab1" and after["labels"] == LABELS

    for body, field, code in (
        ({"containers": []}, "containers", 400),
        (
            {"containers": [{**two_ports, "ports": [{"container_port": 80, "host_port": 80}]}]},
            "containers",
            400,
        ),
        ({"name": ""}, "name", 400),
        ({"colour": "red"}, None, 400),
        ({"labels": {"dockdash.owner": p["students"][1]}}, "labels", 400),
        ({"network": "sometimes"}, "network", 400),
        ({"slug": "renamed"}, "slug", 409),  # its slug names its students' containers
    ):
        refused = _patch(client, lab_url, body)
        assert refused.status_code == code, (body, refused.content)
        assert refused.json().get("field") == field, refused.json()
        assert client.get(lab_url).json() == after, body
    assert "remove" in _patch(client, lab_url, {"slug": "renamed"}).json()["error"]
    rows = AuditEntry.objects.filter(action="lab.update", username=p["teacher"].username)
    assert [r.result for r in rows.order_by("id")] == ["ok"] + ["error"] * 8

    # The students' containers follow at their reset: two host ports now, and the env.
    mine = f"{slug}-lab1-{p['students'][0]}-box"
    theirs = f"{slug}-lab1-{p['students'][1]}-box"
    assert len(_host_ports(mine)) == 1
    body = {"student": p["students"][0]}
    job = _finished_job(client, post_json(client, f"{lab_url}reset/", body))
    assert job["state"] == "succeeded", job["error"]
    ports = _host_ports(mine)
    assert len(ports) == 2 and all(20000 <= int(port) <= 29999 for port in ports)
    assert set(ports).isdisjoint(_host_ports(theirs))
    assert "GREETING=hi" in rig.docker_inspect(mine)["Config"]["Env"]
    assert len(_host_ports(theirs)) == 1  # not reset: as it was made


def test_a_lab_is_removed_only_once_its_containers_are(lab_class: dict[str, Any]) -> None:
    p = lab_class
    client, slug, lab_url = p["client"], p["slug"], f"{p['base']}lab1/"
    other = post_json(client, p["base"], _lab(p["image"], "lab2"))
    assert other.status_code == 201, other.content
    job = _finished_job(client, post_json(client, f"{p['base']}lab2/provision/", {}))
    assert job["state"] == "succeeded", job["error"]
    lab1 = Lab.objects.get(course__slug=slug, slug="lab1")
    assert LabSeat.objects.filter(lab=lab1).count() == 2

    refused = client.delete(lab_url)
    assert refused.status_code == 409, refused.content
    assert f'/api/v1/classes/{slug}/remove/ {{"lab": "lab1"}}' in refused.json()["error"]
    assert len(_names(slug, "lab1")) == 2 and client.get(lab_url).status_code == 200

    # The class's remove job for that lab only: lab2's containers stay.
    job = _finished_job(
        client, post_json(client, f"/api/v1/classes/{slug}/remove/", {"lab": "lab1"})
    )
    assert job["state"] == "succeeded", job["error"]
    assert _names(slug, "lab1") == []
    assert _names(slug, "lab2") == sorted(f"{slug}-lab2-{s}-box" for s in p["students"])

    assert client.delete(lab_url).status_code == 204
    assert client.get(lab_url).status_code == 404
    assert not LabSeat.objects.filter(lab_id=lab1.pk).exists()
    assert [lab["slug"] for lab in client.get(p["base"]).json()] == ["lab2"]
    rows = AuditEntry.objects.filter(action="lab.delete").order_by("id")
    assert [(r.result, r.target_name) for r in rows] == [
        ("error", f"{slug}/lab1"),
        ("ok", f"{slug}/lab1"),
    ]
    assert rows[1].params == {"seats": 2}
    # The class's audit filter shows them, the lab gone or not.
    shown = client.get(f"/api/v1/audit/?course={slug}&action=lab.delete").json()
    assert [r["result"] for r in shown] == ["ok", "error"]


def test_a_container_of_another_class_labelled_as_this_lab_holds_nothing_of_it(
    lab_class: dict[str, Any], make_user: Callable[..., Any], teach: Any
) -> None:
    """Anyone may write dockdash.class and dockdash.lab on their own container: one of
    another class's student, labelled as lab1, neither keeps lab1 from being removed nor
    is touched by the class's remove job."""
    p = lab_class
    client, slug, lab_url = p["client"], p["slug"], f"{p['base']}lab1/"
    outsider = make_user(f"lz{RUN_ID}", "student")
    teach(make_user(f"lw{RUN_ID}", "instructor"), outsider, slug=f"lw{RUN_ID}")
    spoof = {**LABELS, "dockdash.class": slug, "dockdash.lab": "lab1"}
    made = post_json(
        logged_in(outsider),
        "/api/v1/containers/",
        {"image": p["image"], "name": f"lz{RUN_ID}-box", "command": SLEEPER, "labels": spoof},
    )
    assert made.status_code == 201, made.content
    try:
        assert len(_names(slug, "lab1")) == 3

        refused = client.delete(lab_url)
        assert refused.status_code == 409
        assert "2 containers of 2 students" in refused.json()["error"]
        job = _finished_job(
            client, post_json(client, f"/api/v1/classes/{slug}/remove/", {"lab": "lab1"})
        )
        assert job["state"] == "succeeded", job["error"]
        assert sorted(job["progress"]["items"]) == sorted(p["students"])
        assert client.delete(lab_url).status_code == 204
        assert _names(slug, "lab1") == [f"lz{RUN_ID}-box"]
        running = docker_cli("inspect", "-f", "{{.State.Running}}", f"lz{RUN_ID}-box")
        assert running.strip() == "true"
        page = client.get(f"/classes/{slug}/").content.decode()
        assert f"lz{RUN_ID}-box" not in page
    finally:
        docker_cli("rm", "-f", f"lz{RUN_ID}-box")


def test_others_are_told_a_lab_does_not_exist_and_nothing_changes(
    lab_class: dict[str, Any], make_user: Callable[..., Any], teach: Any
) -> None:
    p = lab_class
    slug, lab_url = p["slug"], f"{p['base']}lab1/"
    other_teacher = make_user(f"lo{RUN_ID}", "instructor")
    teach(other_teacher, f"lx{RUN_ID}", slug=f"lo{RUN_ID}")
    outsider = logged_in(other_teacher)
    student = logged_in(User.objects.get(username=p["students"][0]))
    before = Lab.objects.get(course__slug=slug, slug="lab1").containers
    containers = _names(slug)

    for who, client in (("outsider", outsider), ("student", student)):
        for method, path, body in (
            ("patch", lab_url, {"name": "x"}),
            ("delete", lab_url, None),
            ("post", f"/classes/{slug}/labs/lab1/edit/", {"lab": '{"name": "x"}'}),
            ("post", f"/classes/{slug}/labs/lab1/remove/", {}),
            ("post", f"/classes/{slug}/remove/", {"lab": "lab1"}),
        ):
            if method == "patch":
                answer = _patch(client, path, body)
            elif method == "delete":
                answer = client.delete(path)
            else:
                answer = client.post(path, body)
            assert answer.status_code == 404, (who, method, path, answer.status_code)
        assert (
            post_json(client, f"/api/v1/classes/{slug}/remove/", {"lab": "lab1"}).status_code == 404
        )
    for path in (p["base"], lab_url):
        assert outsider.get(path).status_code == 404, path
        assert student.get(path).status_code == 200, path  # a student reads their class's labs
    assert Lab.objects.get(course__slug=slug, slug="lab1").containers == before
    assert _names(slug) == containers


def test_the_class_page_edits_a_lab_and_removes_it_once_its_containers_are_gone(
    lab_class: dict[str, Any],
) -> None:
    p = lab_class
    client, slug = p["client"], p["slug"]
    page = client.get(f"/classes/{slug}/").content.decode()
    assert 'data-lab-edit="lab1"' in page and "data-remove-lab" in page
    shown = Lab.objects.get(course__slug=slug, slug="lab1")
    # The edit form holds the lab as the API shows it (a JSON lab: without an empty file).
    found = re.search(
        r'<textarea name="lab"[^>]*aria-label="lab lab1[^>]*>([^<]*)</textarea>', page
    )
    assert found, page
    shown_by_api = client.get(f"{p['base']}lab1/").json()
    assert shown_by_api.pop("compose") == ""
    assert json.loads(html.unescape(found.group(1))) == shown_by_api

    edited = {**client.get(f"{p['base']}lab1/").json(), "name": "Lab one, edited"}
    saved = client.post(f"/classes/{slug}/labs/lab1/edit/", {"lab": json.dumps(edited)})
    assert saved.status_code == 302 and saved["Location"] == f"/classes/{slug}/"
    assert "Lab one, edited" in client.get(f"/classes/{slug}/").content.decode()

    bad = client.post(f"/classes/{slug}/labs/lab1/edit/", {"lab": '{"name": "x",'})
    assert bad.status_code == 400 and b'data-field="lab-row-error"' in bad.content
    assert b"not JSON" in bad.content and b"{&quot;name&quot;: &quot;x&quot;," in bad.content
    assert Lab.objects.get(pk=shown.pk).name == "Lab one, edited"

    refused = client.post(f"/classes/{slug}/labs/lab1/remove/")
    assert refused.status_code == 409 and b"still has 2 containers" in refused.content
    assert b"data-remove-lab-containers" in refused.content
    assert len(_names(slug, "lab1")) == 2

    job = client.post(f"/classes/{slug}/remove/", {"lab": "lab1"})
    assert job.status_code == 302
    job_id = job["Location"].rstrip("/").rsplit("/", 1)[1]

    def ended() -> str | None:
        state = client.get(f"/api/v1/jobs/{job_id}/").json()["state"]
        return None if state == "running" else str(state)

    assert rig.wait_for(ended, timeout=60, interval=0.3, what="the remove job") == "succeeded"
    assert _names(slug, "lab1") == []
    removed = client.post(f"/classes/{slug}/labs/lab1/remove/")
    assert removed.status_code == 302
    assert not Lab.objects.filter(pk=shown.pk).exists()
    assert "No labs yet." in client.get(f"/classes/{slug}/").content.decode()
