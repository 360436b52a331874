"""In Chromium: a student runs a container within quota through the run form, sees it running,
cannot find another student's container in the list or by its address, and is refused a
bind mount of `/` on the form with the reason."""

from __future__ import annotations

from typing import Any

import pytest

from tests import rig
from tests.conftest import login, screenshot
from tests.rig import LABELS, RUN_ID, docker_cli, docker_inspect

pytestmark = [pytest.mark.browser, pytest.mark.engine]


def test_a_student_runs_a_container_sees_only_their_own_and_is_refused_a_bind_of_root(
    browser_page: Any,
    live_server_proc: rig.LiveServer,
    make_container: Any,
    test_image: str,
) -> None:
    base, page = live_server_proc.url, browser_page
    me, other = f"bsa{RUN_ID}", f"bsb{RUN_ID}"
    live_server_proc.add_user(me, "student", "student-pass-1")
    theirs = make_container(name=f"dd-bs-{RUN_ID}-theirs", labels={"dockdash.owner": other})
    name = f"dd-bs-{RUN_ID}-mine"
    try:
        login(page, base, me, "student-pass-1")
        page.click("nav.mainnav >> text=Containers")
        page.click("text=Run a container")
        page.fill("#id_image", test_image)
        page.fill("#id_name", name)
        page.fill("#id_command", "sleep 3600")
        page.fill("#id_labels", "\n".join(f"{k}={v}" for k, v in LABELS.items()))
        page.click("button:has-text('Create')")
        page.wait_for_url(lambda url: "/containers/" in url and "/create/" not in url)
        assert page.locator('[data-field="container.state"]').inner_text() == "running"
        made = docker_inspect(name)
        assert made["Config"]["Labels"]["dockdash.owner"] == me
        assert made["HostConfig"]["Memory"] > 0  # the quota's default limit

        page.click("nav.mainnav >> text=Containers")
        names = page.locator("tbody tr[data-name]")
        shown = [names.nth(i).get_attribute("data-name") for i in range(names.count())]
        assert shown == [name]
        missing = page.goto(f"{base}/containers/{theirs.id}/")
        assert missing is not None and missing.status == 404
        assert theirs.name not in page.content()

        page.goto(base + "/containers/create/")
        page.fill("#id_image", test_image)
        page.fill("#id_name", f"{name}-root")
        page.fill("#id_volumes", "/:/host")
        page.click("button:has-text('Create')")
        error = page.locator('[data-error-for="volumes"]')
        assert "'/'" in error.inner_text() and "admin" in error.inner_text().lower(), (
            error.inner_text()
        )
        screenshot(page, "student-bind-root-refused", full_page=True)
        owned = docker_cli(
            "ps", "-a", "--format", "{{.Names}}", "--filter", f"label=dockdash.owner={me}"
        )
        assert owned.split() == [name]
    finally:
        docker_cli("rm", "-f", name, check=False)
