"""Container actions, bulk actions, removal, rename, access and audit, judged by the CLI."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages

from dashboard.models import AuditEntry
from tests.rig import LABELS, RUN_ID, docker_cli, docker_inspect

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_container(make_container: Any) -> Any:
    """Containers that stop at once: busybox sleep as PID 1 ignores SIGTERM (10 s wait)."""

    def make(*args: Any, **kwargs: Any) -> Any:
        return make_container(*args, stop_signal="SIGKILL", **kwargs)

    return make


def state(ref: str) -> str:
    return docker_inspect(ref)["State"]["Status"]


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_each_action_through_the_page_changes_the_engine_state(
    admin_client: Any, make_container: Any
) -> None:
    c = make_container(start=False)
    for action, expected in [
        ("start", "running"),
        ("pause", "paused"),
        ("unpause", "running"),
        ("restart", "running"),
        ("stop", "exited"),
        ("start", "running"),
        ("kill", "exited"),
    ]:
        response = admin_client.post(f"/containers/{c.id}/action/{action}/")
        assert response.status_code == 302
        assert state(c.id) == expected, action
        assert f"docker {action} {c.name}" in messages_of(response)[-1]
    actions = list(
        AuditEntry.objects.filter(target_id=c.id).order_by("id").values_list("action", flat=True)
    )
    assert actions == [
        "container.start",
        "container.pause",
        "container.unpause",
        "container.restart",
        "container.stop",
        "container.start",
        "container.kill",
    ]


def test_unknown_action_is_404_and_get_is_refused(admin_client: Any, make_container: Any) -> None:
    c = make_container()
    assert admin_client.post(f"/containers/{c.id}/action/remove_all/").status_code == 404
    assert admin_client.get(f"/containers/{c.id}/action/stop/").status_code == 405
    assert state(c.id) == "running"


def test_refused_action_shows_the_engines_reason(admin_client: Any, make_container: Any) -> None:
    c = make_container()
    response = admin_client.post(f"/containers/{c.id}/action/unpause/", follow=True)
    assert "is not paused" in response.content.decode()
    assert AuditEntry.objects.get(action="container.unpause").result == "error"


def test_container_gone_between_page_load_and_click(admin_client: Any, make_container: Any) -> None:
    c = make_container()
    assert admin_client.get(f"/containers/{c.id}/").status_code == 200
    docker_cli("rm", "-f", c.id)
    response = admin_client.post(f"/containers/{c.id}/action/stop/", follow=True)
    assert response.status_code == 200
    assert "No such container" in response.content.decode()
    assert "removed meanwhile" in response.content.decode()


def test_remove_with_force_and_volumes(admin_client: Any, make_container: Any) -> None:
    c = make_container(volumes=["/anon"])
    anon = docker_inspect(c.id)["Mounts"][0]["Name"]
    response = admin_client.post(
        f"/containers/{c.id}/remove/", {"force": "on", "volumes": "on"}, follow=True
    )
    assert f"docker rm -f -v {c.name}" in response.content.decode()
    assert docker_cli("ps", "-aq", "--filter", f"id={c.id}") == ""
    assert anon not in docker_cli("volume", "ls", "-q").split()


def test_remove_running_without_force_is_refused_in_words(
    admin_client: Any, make_container: Any
) -> None:
    c = make_container()
    response = admin_client.post(f"/containers/{c.id}/remove/", {}, follow=True)
    assert "stop the container before attempting removal" in response.content.decode().lower()
    assert state(c.id) == "running"


def test_rename_checks_the_name_and_renames(admin_client: Any, make_container: Any) -> None:
    c = make_container()
    bad = admin_client.post(f"/containers/{c.id}/rename/", {"name": "no spaces"}, follow=True)
    assert "not a valid container name" in bad.content.decode()
    assert docker_inspect(c.id)["Name"] == f"/{c.name}"
    new = f"dd-renamed-{RUN_ID}"
    response = admin_client.post(f"/containers/{c.id}/rename/", {"name": new})
    assert response.status_code == 302
    assert docker_inspect(c.id)["Name"] == f"/{new}"


def test_bulk_action_reports_each_item(admin_client: Any, make_container: Any) -> None:
    a, b = make_container(), make_container()
    gone = make_container()
    docker_cli("rm", "-f", gone.id)
    response = admin_client.post(
        "/containers/bulk/", {"action": "stop", "ids": [a.id, gone.id, b.id]}
    )
    assert response.status_code == 302
    texts = messages_of(response)
    assert f"{a.name}: stop done (docker stop {a.name})" in texts
    assert f"{b.name}: stop done (docker stop {b.name})" in texts
    assert any(gone.id in t and "no such container" in t.lower() for t in texts)
    assert state(a.id) == state(b.id) == "exited"


def test_list_is_filtered_sorted_and_shows_published_ports(
    admin_client: Any, make_container: Any
) -> None:
    web = make_container(
        ["httpd", "-f", "-p", "80"], name=f"dd-web-{RUN_ID}", ports={"80/tcp": None}
    )
    idle = make_container(start=False, name=f"dd-idle-{RUN_ID}", labels={"tier": "db"})
    port = docker_inspect(web.id)["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
    html = admin_client.get(f"/containers/?q={RUN_ID}").content.decode()
    assert f'href="http://testserver:{port}/"' in html
    assert html.index(idle.name) < html.index(web.name)
    running = admin_client.get(f"/containers/?q={RUN_ID}&all=0").content.decode()
    assert web.name in running and idle.name not in running
    by_label = admin_client.get(f"/containers/?q={RUN_ID}&label=tier=db").content.decode()
    assert idle.name in by_label and web.name not in by_label
    by_state = admin_client.get(f"/containers/?q={RUN_ID}&state=created").content.decode()
    assert idle.name in by_state and web.name not in by_state


def test_student_sees_and_controls_only_their_own(
    client: Any, make_user: Any, make_container: Any
) -> None:
    student = make_user("stud1", "student")
    mine = make_container(labels={"dockdash.owner": "stud1"})
    theirs = make_container(labels={"dockdash.owner": "someone-else"})
    client.force_login(student)
    html = client.get("/containers/").content.decode()
    assert mine.name in html and theirs.name not in html
    assert client.get(f"/containers/{theirs.id}/").status_code == 404
    refused = client.post(f"/containers/{theirs.id}/action/stop/", follow=True)
    assert "No such container" in refused.content.decode()
    assert state(theirs.id) == "running"
    client.post(f"/containers/{mine.id}/action/stop/")
    assert state(mine.id) == "exited"


def test_viewer_may_look_but_not_stop(client: Any, make_user: Any, make_container: Any) -> None:
    client.force_login(make_user("view1", "viewer"))
    c = make_container(labels={"dockdash.owner": "view1"})
    assert client.get(f"/containers/{c.id}/").status_code == 200
    response = client.post(f"/containers/{c.id}/action/stop/", follow=True)
    assert "may not control" in response.content.decode()
    assert state(c.id) == "running"
    assert client.get("/containers/create/").status_code == 403


def test_detail_page_shows_what_inspect_says(admin_client: Any, make_container: Any) -> None:
    c = make_container(
        environment={"SECRET_LOOKING": "<b>not html</b>"}, mem_limit="32m", labels={"x": "y"}
    )
    html = admin_client.get(f"/containers/{c.name}/").content.decode()
    assert "&lt;b&gt;not html&lt;/b&gt;" in html and "<b>not html</b>" not in html
    assert '32.0 MiB <span class="muted">(33554432 bytes)' in html  # binary units, named so
    assert f"docker stop {c.name}" in html
    assert "Full inspect JSON" in html
    assert LABELS["dockdash.test"] in html


def test_refused_and_gone_attempts_are_audited_too(
    client: Any, make_user: Any, make_container: Any
) -> None:
    client.force_login(make_user("view2", "viewer"))
    c = make_container(labels={"dockdash.owner": "view2"})
    client.post(f"/containers/{c.id}/action/stop/")
    client.post("/containers/no-such-container-here/action/start/")
    rows = AuditEntry.objects.filter(target_kind="container").order_by("id")
    assert [(r.action, r.result, r.target_id, r.target_name) for r in rows] == [
        ("container.stop", "error", c.id, ""),
        ("container.start", "error", "no-such-container-here", ""),
    ]
    assert "may not control" in rows[0].error and rows[0].username == "view2"


def test_list_shows_a_restarting_containers_restart_count_and_last_exit_code(
    admin_client: Any, make_container: Any
) -> None:
    import re

    from tests.rig import wait_for

    looping = make_container(["sh", "-c", "exit 3"], restart_policy={"Name": "always"})

    def shown_while_restarting() -> tuple[int, str] | None:
        before = docker_inspect(looping.id)
        page = admin_client.get(f"/containers/?q={looping.name}&partial=rows").content.decode()
        after = docker_inspect(looping.id)
        restarting = {before["State"]["Status"], after["State"]["Status"]} == {"restarting"}
        count = after["RestartCount"]
        if not restarting or before["RestartCount"] != count or count < 2:
            return None  # it ran meanwhile: the page may have listed it running
        return count, page

    count, page = wait_for(shown_while_restarting, timeout=30, interval=0.2, what="restarts")
    status = re.search(r'<span class="muted">([^<]*)</span></td>', page)
    assert status and status.group(1) == f"Restarting · {count} restarts, last exit 3", page
