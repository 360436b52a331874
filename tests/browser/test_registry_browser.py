"""A person adds a registry, pushes an image, browses it, and pulls it back, watching the bars."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests import rig
from tests.conftest import screenshot
from tests.integration.registry_helpers import build_unique_image, repo_name
from tests.rig import RUN_ID, docker_cli

pytestmark = [pytest.mark.browser, pytest.mark.registry, pytest.mark.engine]

# Records every width the overall bar takes, from the first frame on.
WATCH_BARS = """
window.__widths = [];
document.addEventListener("DOMContentLoaded", () => {
  const fill = document.getElementById("overall-fill");
  if (!fill) return;
  new MutationObserver(() => window.__widths.push(fill.style.width))
    .observe(fill, {attributes: true, attributeFilter: ["style"]});
});
"""


def test_push_browse_and_pull_back_with_moving_progress_bars(
    admin_page: Any,
    live_server_proc: rig.LiveServer,
    registry_server: rig.RegistryServer,
    docker_client: Any,
    test_image: str,
) -> None:
    page, base = admin_page, live_server_proc.url
    page.add_init_script(WATCH_BARS)
    source = f"dockdash-test-blob:{RUN_ID}-browser"
    build_unique_image(docker_client, test_image, source, size=48 * 1024 * 1024)
    repo = repo_name("class")
    target = f"{registry_server.host}/{repo}:v1"
    name = f"class-{RUN_ID}"
    try:
        page.goto(base + "/registries/")
        page.click("text=Add a registry")
        page.fill("#id_name", name)
        page.fill("#id_url", registry_server.url)
        page.fill("#id_username", registry_server.username)
        page.fill("#id_password", registry_server.password)
        page.click("button:has-text('Save')")
        row = page.locator(f'tr[data-registry="{name}"]')
        assert registry_server.password not in page.content()
        row.locator("button:has-text('Test connection')").click()
        assert "Login Succeeded" in row.locator(".test-result.ok").inner_text()

        page.click("nav.tabs >> text=Push")
        page.fill("#id_image", source)
        page.select_option("#id_registry", label=name)
        page.fill("#id_repository", repo)
        page.fill("#id_tag", "v1")
        page.click("form[data-form=push] button[type=submit]")
        page.locator('#job-state[data-state="succeeded"]').wait_for(timeout=60_000)
        pushed_digest = page.locator("#job-digest").inner_text()
        assert pushed_digest.startswith("sha256:")
        push_widths = page.evaluate("window.__widths")
        assert page.locator("nav.mainnav a.active").inner_text() == "Registries"

        page.goto(base + "/registries/")
        row.locator("text=Browse").click()
        page.click(f"text={repo}")
        card = page.locator('[data-tag="v1"]')
        assert card.locator('[data-field="digest"]').inner_text() == pushed_digest
        assert "linux/" in card.locator('[data-field="architecture"]').inner_text()

        docker_cli("rmi", target, source)
        card.locator("text=Pull").click()
        assert page.input_value("#id_image") == f"{repo}:v1"
        started = time.monotonic()
        page.click("form[data-form=pull] button[type=submit]")
        page.locator('#job-state[data-state="succeeded"]').wait_for(timeout=60_000)
        assert page.locator("#job-digest").inner_text() == pushed_digest
        # A pull from a registry on this host may end before its page connects: the bar
        # must have moved through partial progress on the push or on the pull.
        seen = [*push_widths, *page.evaluate("window.__widths")]
        widths = [float(w.rstrip("%")) for w in seen if w]
        assert any(0 < w < 100 for w in widths), f"the bar never showed partial progress: {widths}"
        assert widths[-1] == 100
        assert page.locator("#layers tr[data-phase=done]").count() >= 1
        assert "Pull complete" in page.locator("#job-log").inner_text()
        assert time.monotonic() - started < 60
        screenshot(page, "registry-pull-job", full_page=True)
        assert f"{registry_server.host}/{repo}@{pushed_digest}" in docker_cli(
            "image", "inspect", "--format", "{{json .RepoDigests}}", target
        )
    finally:
        docker_cli("rmi", "--force", target, check=False)
        docker_cli("rmi", "--force", source, check=False)
