"""The class pages as a teacher and a student click through them (real engine, real jobs)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from dashboard.models import Course
from tests import rig
from tests.integration.test_classes import SLEEPER
from tests.rig import LABELS, RUN_ID, docker_cli

pytestmark = [pytest.mark.engine, pytest.mark.django_db(transaction=True)]


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _job_done(client: Client, response: Any, back: str = "") -> str:
    """Follow a class job from the redirect to its page under the class to its end; the
    page links `back` (the class for a teacher, "My labs" for a student)."""
    assert response.status_code == 302, response.content
    found = re.search(r"^/classes/[^/]+/jobs/(\d+)/$", response["Location"])
    assert found, response["Location"]
    page = client.get(response["Location"])
    assert page.status_code == 200 and b'id="job-items"' in page.content
    if back:
        assert f'href="{back}" data-class-link'.encode() in page.content

    def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{found.group(1)}/").json()
        return job if job["state"] != "running" else None

    job = rig.wait_for(finished, timeout=120, interval=0.3, what="the job")
    if job["state"] != "succeeded":
        print("the job:", job)  # shown with the failure: what each student's part met
    return str(job["state"])


def test_a_teacher_makes_a_class_imports_a_roster_and_provisions_a_lab_from_the_pages(
    make_user: Callable[..., Any], test_image: str
) -> None:
    teacher = make_user(f"pt{RUN_ID}", "instructor")
    page = _client(teacher)
    slug = f"p{RUN_ID}"
    made = page.post("/classes/", {"name": "Networks", "slug": slug})
    assert made.status_code == 302 and made["Location"] == f"/classes/{slug}/"

    pasted = page.post(f"/classes/{slug}/roster/", {"csv": f"pa{RUN_ID},Ada A,ada@example.org\n"})
    assert pasted.status_code == 200 and "no-store" in pasted["Cache-Control"]
    assert b"data-passwords-csv" in pasted.content and b"data-print" in pasted.content
    assert len(re.findall(rb'<span class="secret">[^<]+</span>', pasted.content)) == 1
    upload = SimpleUploadedFile("roster.csv", f"username\npb{RUN_ID}\npa{RUN_ID}\n".encode())
    uploaded = page.post(f"/classes/{slug}/roster/", {"file": upload})
    assert uploaded.status_code == 200
    assert f"pa{RUN_ID}".encode() in uploaded.content  # added: it existed
    assert len(re.findall(rb'<span class="secret">', uploaded.content)) == 1
    bad = page.post(f"/classes/{slug}/roster/", {"csv": "not a name!\n"})
    assert bad.status_code == 400 and b"line 1" in bad.content

    box = {"name": "box", "image": test_image, "command": SLEEPER, "memory": "32m"}
    body = {"name": "Lab A", "slug": "laba", "labels": LABELS, "containers": [box]}
    body["idle_minutes"] = 20
    lab = json.dumps({**body, "containers": [{**box, "ports": [{"container_port": 80}]}]})
    assert page.post(f"/classes/{slug}/labs/", {"lab": lab}).status_code == 302
    refused = page.post(f"/classes/{slug}/labs/", {"lab": '{"name": "x"}'})
    assert refused.status_code == 400 and b"lab-error" in refused.content
    detail = page.get(f"/classes/{slug}/").content.decode()
    assert "Lab A" in detail and f"pb{RUN_ID}" in detail and "Provision for everyone" in detail

    provision = page.post(f"/classes/{slug}/labs/laba/provision/")
    assert _job_done(page, provision, back=f"/classes/{slug}/") == "succeeded"
    names = docker_cli("ps", "--filter", f"label=dockdash.class={slug}", "--format", "{{.Names}}")
    assert sorted(names.split()) == sorted(f"{slug}-laba-p{x}{RUN_ID}-box" for x in "ab")

    # The student's own page: their container, its port, and a reset of their own lab only.
    student = Course.objects.get(slug=slug).students.get(username=f"pa{RUN_ID}")
    mine = _client(student)
    labs_page = mine.get("/labs/").content.decode()
    assert f"{slug}-laba-pa{RUN_ID}-box" in labs_page and f"pb{RUN_ID}-box" not in labs_page
    port = rig.docker_inspect(f"{slug}-laba-pa{RUN_ID}-box")["HostConfig"]["PortBindings"]
    assert f"<code data-port>{port['80/tcp'][0]['HostPort']}</code>" in labs_page
    assert "left idle for 20 min" in labs_page  # what stops it, before it is stopped
    other = {"student": f"pb{RUN_ID}"}
    assert mine.post(f"/classes/{slug}/labs/laba/reset/", other).status_code == 404
    assert mine.get(f"/classes/{slug}/").status_code == 404
    before = rig.docker_inspect(f"{slug}-laba-pa{RUN_ID}-box")["Id"]
    reset = mine.post(f"/classes/{slug}/labs/laba/reset/")
    assert _job_done(mine, reset, back="/labs/") == "succeeded"
    assert _active_nav(mine.get(reset["Location"])) == ["My labs"]
    assert rig.docker_inspect(f"{slug}-laba-pa{RUN_ID}-box")["Id"] != before


def _active_nav(page: Any) -> list[str]:
    return re.findall(r'class="active" aria-current="page">([^<]+)<', page.content.decode())


def _frame(page: Any) -> dict[str, Any]:
    found = re.search(
        r'<script id="job-frame" type="application/json">(.*?)</script>',
        page.content.decode(),
        re.S,
    )
    assert found, page.content[:500]
    return dict(json.loads(found.group(1)))


def test_a_class_job_has_its_page_under_its_class_with_a_row_per_student(
    make_user: Callable[..., Any],
    teach: Any,
    make_container: Callable[..., Any],
    docker_client: Any,
) -> None:
    teacher, other = make_user(f"jt{RUN_ID}", "instructor"), make_user(f"jo{RUN_ID}", "instructor")
    slug, names = f"j{RUN_ID}", [f"j{c}{RUN_ID}" for c in "ab"]
    teach(teacher, *names, slug=slug)
    teach(teacher, slug=f"j2{RUN_ID}")  # another class of the same teacher
    teach(other, slug=f"jx{RUN_ID}")
    for name in names:
        labels = {"dockdash.owner": name, "dockdash.class": slug, "dockdash.lab": "lab1"}
        make_container(SLEEPER, name=f"{slug}-lab1-{name}-box", labels=labels)
    page = _client(teacher)

    stop = page.post(f"/classes/{slug}/stop/")
    assert _job_done(page, stop, back=f"/classes/{slug}/") == "succeeded"
    where = stop["Location"]
    job_id = where.rstrip("/").rsplit("/", 1)[1]
    shown = page.get(where)
    assert _active_nav(shown) == ["Classes"]
    assert f'href="/classes/{slug}/grid/" data-grid-link'.encode() in shown.content
    assert b"Digest" not in shown.content and b'id="layers"' not in shown.content
    items = _frame(shown)["items"]
    assert sorted(items) == names
    assert [items[n]["stopped"] for n in names] == [[f"{slug}-lab1-{n}-box"] for n in names]
    states = docker_cli(
        "ps", "-a", "--filter", f"label=dockdash.class={slug}", "--format", "{{.State}}"
    )
    assert states.split() == ["exited", "exited"]
    listed = page.get(f"/classes/{slug}/").content.decode()
    assert f'href="{where}"' in listed and "stop (everyone)" in listed

    # Under another class (even one the teacher has), on the registry's pages, for a
    # teacher of another class: no such job.
    assert page.get(f"/classes/j2{RUN_ID}/jobs/{job_id}/").status_code == 404
    assert _client(other).get(f"/classes/jx{RUN_ID}/jobs/{job_id}/").status_code == 404
    assert _client(other).get(where).status_code == 404
    assert page.get(f"/registries/jobs/{job_id}/").status_code == 404
    assert f"/registries/jobs/{job_id}/" not in page.get("/registries/jobs/").content.decode()
    assert page.get(f"/api/v1/jobs/{job_id}/").json()["kind"] == "class"
