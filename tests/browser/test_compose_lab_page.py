"""In Chromium: a teacher pastes a Compose file on the class page, sees the key a lab cannot
honour named next to the text box with the text kept, mends it, and finds the lab listed with
its Compose file shown back."""

from __future__ import annotations

from typing import Any

import pytest

from tests import rig
from tests.conftest import login
from tests.rig import RUN_ID

pytestmark = pytest.mark.browser

PASSWORD = "compose-pass-1"
GOOD = "services:\n  shell:\n    image: busybox:latest\n    command: sleep 3600\n"
BAD = GOOD + "    cap_add: [NET_ADMIN]\n"


def test_a_refused_compose_file_is_named_next_to_its_box_and_kept_to_mend(
    browser_page: Any, live_server_proc: rig.LiveServer
) -> None:
    base, slug, teacher = live_server_proc.url, f"cp{RUN_ID}", f"tcp{RUN_ID}"
    live_server_proc.make_class(slug, teacher, PASSWORD)
    page = browser_page
    login(page, base, teacher, PASSWORD)
    page.goto(f"{base}/classes/{slug}/")
    form = page.locator("[data-compose-lab]")
    form.locator("summary").click()
    form.locator("#id_name").fill("Shell lab")
    form.locator("#id_slug").fill("shell")
    form.locator("#id_compose").fill(BAD)
    form.locator("button[type=submit]").click()

    error = page.locator('[data-compose-lab] [data-error-for="compose"]')
    error.wait_for()
    assert error.inner_text().startswith("services.shell.cap_add: a lab cannot honour this key")
    box = page.locator("[data-compose-lab] #id_compose")
    # The error sits right under the box it is about, and the text waits there to be mended.
    box_bottom = box.bounding_box()["y"] + box.bounding_box()["height"]
    assert 0 <= error.bounding_box()["y"] - box_bottom < 40
    assert box.input_value() == BAD
    assert page.locator("[data-compose-lab] #id_name").input_value() == "Shell lab"

    box.fill(GOOD)
    page.locator("[data-compose-lab] button[type=submit]").click()
    page.wait_for_url(f"{base}/classes/{slug}/")
    row = page.locator("[data-labs] tbody tr[data-lab]", has_text="Shell lab")
    assert "shell (busybox:latest)" in row.inner_text()
    row.locator("[data-compose-source] summary").click()
    assert row.locator("[data-compose-source] pre").inner_text().strip() == GOOD.strip()
