"""In Chromium, under the real Content-Security-Policy: an admin walks the main pages and
Chromium reports no violation, while the pages' scripts (theme toggle, live lists, logs,
stats graphs, terminal, usage bars, confirmations) still work."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests import rig
from tests.conftest import ADMIN_PASSWORD, login
from tests.rig import RUN_ID, docker_cli

pytestmark = pytest.mark.browser

# Playwright's init scripts run outside the page's policy; the page reports each violation.
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${where}`);
});
"""


@pytest.fixture
def watched_page(browser_page: Any, live_server_proc: rig.LiveServer) -> Iterator[Any]:
    page = browser_page
    page.console_csp = []
    page.on(
        "console",
        lambda msg: (
            page.console_csp.append(msg.text) if "Content Security Policy" in msg.text else None
        ),
    )
    page.add_init_script(WATCH_VIOLATIONS)
    login(page, live_server_proc.url, "admin", ADMIN_PASSWORD)
    yield page


def assert_no_violation(page: Any, where: str) -> None:
    reported = page.evaluate("window.__cspViolations")
    assert reported == [] and page.console_csp == [], (where, reported, page.console_csp)


def test_main_pages_report_no_violation_and_their_scripts_run(
    watched_page: Any, live_server_proc: rig.LiveServer, make_container: Callable[..., Any]
) -> None:
    page, base = watched_page, live_server_proc.url
    student, registry = f"csp{RUN_ID}", f"csp-{RUN_ID}"
    live_server_proc.manage_each(
        live_server_proc.adduser_command(student, "student", "student-pass-12"),
        [
            "shell",
            "-c",
            "from registry_app.models import Registry; "
            f"Registry.objects.get_or_create(name={registry!r}, url='http://127.0.0.1:9')",
        ],
    )
    container = make_container(labels={"dockdash.owner": student})

    page.goto(base + "/")
    assert page.locator("h1").first.inner_text().startswith("Docker Engine")
    before = page.evaluate("document.documentElement.dataset.theme")
    page.click("#theme-toggle")
    after = page.evaluate("document.documentElement.dataset.theme")
    assert after in ("light", "dark") and after != before
    assert_no_violation(page, "/")

    page.goto(base + "/containers/")
    page.locator(f'tr[data-id="{container.id}"]').wait_for()
    late = make_container()
    page.locator(f'tr[data-id="{late.id}"]').wait_for()  # the live list updated by itself
    assert_no_violation(page, "/containers/")

    page.goto(f"{base}/containers/{container.id}/")
    assert container.name in page.locator("h1").first.inner_text()
    assert_no_violation(page, "container page")

    page.goto(f"{base}/containers/{container.id}/logs/")
    page.wait_for_function("() => document.querySelector('[data-status]').dataset.state === 'live'")
    # A 24-bit colour line: xterm.js colours it with a style attribute.
    docker_cli(
        "exec",
        container.id,
        "sh",
        "-c",
        r"printf '\033[38;2;255;0;0mred-line\033[0m\n' > /proc/1/fd/1",
    )
    page.wait_for_function(
        "() => document.querySelector('.xterm-rows').textContent.includes('red-line')"
    )
    assert_no_violation(page, "logs")

    page.goto(f"{base}/containers/{container.id}/stats/")
    page.wait_for_function(
        "() => Number(document.getElementById('container-stats').dataset.points) >= 2"
    )
    assert page.locator(".chart canvas").count() >= 1
    assert_no_violation(page, "stats")

    page.goto(f"{base}/containers/{container.id}/terminal/")
    page.wait_for_function("() => document.querySelector('[data-status]').dataset.state === 'live'")
    page.locator(".xterm").click()
    page.keyboard.type("echo csp-$((6*7))\n")
    page.wait_for_function(
        "() => document.querySelector('.xterm-rows').textContent.includes('csp-42')"
    )
    assert_no_violation(page, "terminal")

    page.goto(base + "/images/")
    assert page.locator("h1").first.inner_text().startswith("Images")
    assert_no_violation(page, "/images/")

    page.goto(base + "/users/")
    page.click(f"text={student}")
    running = page.locator('[data-usage] tr[data-quota="max_running"] .bar > span')
    page.wait_for_function(
        "el => el.getBoundingClientRect().width > 0", arg=running.element_handle()
    )
    assert running.get_attribute("data-percent") == "33"
    assert_no_violation(page, "user page")

    page.goto(base + "/registries/")
    questions: list[str] = []
    page.once("dialog", lambda d: (questions.append(d.message), d.dismiss()))
    page.locator(f"tr:has-text('{registry}') form[data-confirm-submit] button").click()
    assert questions == [
        f"Remove the registry {registry} from the dashboard? "
        "(Nothing is deleted on the registry itself.)"
    ]
    assert page.url.endswith("/registries/")  # dismissed: nothing was submitted
    assert page.locator(f"text={registry}").count() >= 1
    assert_no_violation(page, "/registries/")
