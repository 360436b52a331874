"""A person watches live graphs, follows a log and types in a terminal, in Chromium."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.rig import docker_cli

pytestmark = pytest.mark.browser


def test_overview_lists_a_busy_container_and_its_numbers_move(
    admin_page: Any, live_server_proc: Any, make_container: Callable[..., Any]
) -> None:
    busy = make_container(["sh", "-c", "while :; do :; done"])
    page = admin_page
    page.goto(live_server_proc.url + "/live/")
    row = page.locator(f'tr[data-id="{busy.id}"]')
    row.wait_for()
    assert row.locator("a").inner_text() == busy.name
    page.wait_for_function(
        "() => Number(document.getElementById('stats-overview').dataset.ticks) >= 3"
    )
    cpu = float(row.locator("td").nth(1).inner_text().split()[0])
    assert cpu > 20, cpu  # a busy loop, on 2 cores shared with other test runs
    assert page.locator("[data-status]").inner_text() == "Live"
    assert "%" in page.locator('[data-host="cpu"]').inner_text()


def test_stats_graphs_draw_and_move(
    admin_page: Any, live_server_proc: Any, make_container: Callable[..., Any]
) -> None:
    container = make_container(mem_limit="64m")
    page = admin_page
    page.goto(f"{live_server_proc.url}/containers/{container.id}/stats/")
    page.locator("[data-chart=cpu] canvas").wait_for()
    assert page.locator(".chart canvas").count() == 5
    page.wait_for_function(
        "() => Number(document.getElementById('container-stats').dataset.points) >= 2"
    )
    first = int(page.locator("#container-stats").get_attribute("data-points"))
    page.wait_for_function(
        f"() => Number(document.getElementById('container-stats').dataset.points) > {first}"
    )
    assert page.locator('[data-now="mem"]').inner_text().endswith("64.0 MiB")
    page.click("[data-range='1m']")
    assert page.locator("[data-range='1m']").get_attribute("aria-pressed") == "true"


def open_live_tab(page: Any, server: Any, container_id: str, tab: str) -> Any:
    """Open a container's logs or terminal tab and wait until its socket says it is live."""
    page.goto(f"{server.url}/containers/{container_id}/{tab}/")
    page.wait_for_function("() => document.querySelector('[data-status]').dataset.state === 'live'")
    return page


def test_logs_show_lines_written_after_the_page_opened(
    admin_page: Any, live_server_proc: Any, make_container: Callable[..., Any]
) -> None:
    container = make_container()
    page = open_live_tab(admin_page, live_server_proc, container.id, "logs")
    marker = "written-after-open-<b>bold</b>"
    docker_cli("exec", container.id, "sh", "-c", f"echo '{marker}' > /proc/1/fd/1")
    docker_cli("exec", container.id, "sh", "-c", "echo on-stderr > /proc/1/fd/2")
    page.wait_for_function(
        f"() => document.querySelector('.xterm-rows').textContent.includes({marker!r})"
    )
    page.wait_for_function(
        "() => document.querySelector('.xterm-rows').textContent.includes('on-stderr')"
    )
    assert page.locator(".xterm-rows b").count() == 0  # shown as text, never as HTML
    page.fill("[data-search]", "on-stderr")
    assert page.locator("[data-search]").input_value() == "on-stderr"


def test_terminal_runs_echo_and_shows_the_answer(
    admin_page: Any, live_server_proc: Any, make_container: Callable[..., Any]
) -> None:
    container = make_container()
    page = open_live_tab(admin_page, live_server_proc, container.id, "terminal")
    page.locator(".xterm").click()
    page.keyboard.type("echo answer-$((6*7))\n")
    page.wait_for_function(
        "() => document.querySelector('.xterm-rows').textContent.includes('answer-42')"
    )


def test_log_and_terminal_text_can_be_made_larger_and_the_size_is_remembered(
    admin_page: Any, live_server_proc: Any, make_container: Callable[..., Any]
) -> None:
    container = make_container()
    page = open_live_tab(admin_page, live_server_proc, container.id, "logs")
    size = "() => getComputedStyle(document.querySelector('.xterm-rows')).fontSize"
    lines = "() => document.querySelector('.xterm-rows').children.length"
    assert page.evaluate(size) == "14px"
    lines_before = page.evaluate(lines)
    page.click("[data-text-size='2']")
    page.click("[data-text-size='2']")
    assert page.evaluate(size) == "18px"
    assert page.evaluate(lines) < lines_before  # refitted: fewer, larger lines in the box
    page = open_live_tab(page, live_server_proc, container.id, "terminal")
    assert page.evaluate(size) == "18px"
    page.click("[data-text-size='-2']")
    assert page.evaluate(size) == "16px"
