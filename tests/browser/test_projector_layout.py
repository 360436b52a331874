"""At a projector's 1024x768 (and a laptop's 1440x900) an admin's pages fit the screen: the
sections stay in one row and no page or table runs off to the right (Chromium, real pages,
real containers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests import rig

pytestmark = pytest.mark.browser

# Each element's content width against the width it is given, and the nav row's height.
MEASURE = """() => {
  const over = [];
  for (const el of [document.documentElement, ...document.querySelectorAll("table")]) {
    const room = el === document.documentElement ? window.innerWidth : el.parentElement.clientWidth;
    const name = el.className || el.tagName;
    if (el.scrollWidth > room + 1) over.push(`${name}: ${el.scrollWidth} > ${room}`);
  }
  const links = [...document.querySelectorAll("nav.mainnav a")];
  return { over, navRows: new Set(links.map((a) => a.getBoundingClientRect().top)).size };
}"""


LONG_AUDIT_ROW = (
    "from dashboard.models import AuditEntry; AuditEntry.objects.create(username='admin', "
    "action='exec.start', target_kind='container', target_name='x' * 60, "
    "params={'exec_id': 'f' * 64, 'shell': 'sh'}, result='error', error='e' * 120)"
)


@pytest.mark.parametrize("path", ["/", "/containers/", "/live/", "/images/", "/audit/", "/users/"])
def test_pages_fit_a_projector(
    admin_page: Any,
    live_server_proc: rig.LiveServer,
    make_container: Callable[..., Any],
    test_image: str,
    path: str,
) -> None:
    make_container(("sh", "-c", "while :; do :; done"), mem_limit=64 * 2**20)
    # run by image id, as `docker run sha256:...` does: the list shows the short id
    make_container(image=rig.docker_cli("image", "inspect", "-f", "{{.Id}}", test_image).strip())
    if path == "/audit/":  # long unbroken words, as exec ids and engine errors are
        live_server_proc.manage("shell", "-c", LONG_AUDIT_ROW)
    page = admin_page
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(live_server_proc.url + path)
    if path == "/live/":
        page.wait_for_selector(".live-table tbody tr td.spark")
    measured = page.evaluate(MEASURE)
    assert measured["over"] == []
    assert measured["navRows"] == 1


def test_an_admins_sections_stay_in_one_row_on_a_laptop(
    admin_page: Any, live_server_proc: rig.LiveServer
) -> None:
    page = admin_page
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(live_server_proc.url + "/users/")
    assert page.evaluate(MEASURE) == {"over": [], "navRows": 1}


@pytest.mark.parametrize("tab", ["terminal", "logs"])
def test_a_terminal_and_a_log_reach_down_to_the_bottom_of_a_projector_screen_not_past_it(
    admin_page: Any, live_server_proc: rig.LiveServer, make_container: Callable[..., Any], tab: str
) -> None:
    c = make_container()
    page = admin_page
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(f"{live_server_proc.url}/containers/{c.id}/{tab}/")
    page.wait_for_selector("[data-term] .xterm-screen")
    bottom = page.evaluate(
        "() => document.querySelector('[data-term]').getBoundingClientRect().bottom"
    )
    assert 700 < bottom <= 768
