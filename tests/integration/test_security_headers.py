"""Every answer carries a strict Content-Security-Policy, and the templates stay within it:
no inline <script> blocks, no on* handlers, no style="" attributes, no inline <style>."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.django_db
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def policy(response: Any) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = [part.strip().split() for part in header.split(";") if part.strip()]
    return {words[0]: words[1:] for words in directives}


def test_the_login_page_has_a_strict_self_only_policy(client: Any) -> None:
    csp = policy(client.get("/login/"))
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert csp["connect-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]
    everything = " ".join(" ".join(v) for v in csp.values())
    assert "http" not in everything and "*" not in everything  # no other origin, no CDN


def test_pages_the_api_and_redirects_carry_the_policy(admin_client: Any) -> None:
    for path in ["/users/", "/api/v1/audit/", "/api/schema/"]:
        response = admin_client.get(path)
        assert response.status_code == 200, path
        assert policy(response)["default-src"] == ["'self'"], path
    admin_client.logout()
    redirect = admin_client.get("/users/")
    assert redirect.status_code == 302 and "Content-Security-Policy" in redirect


def test_a_refusal_page_carries_the_policy(client: Any, make_user: Any) -> None:
    client.force_login(make_user("ann", "student"))
    refused = client.get("/users/")
    assert refused.status_code == 403
    assert policy(refused)["script-src"] == ["'self'"]


def template_files() -> list[Path]:
    files = sorted(TEMPLATES.rglob("*.html"))
    assert len(files) > 40  # the walk found the templates
    return files


def test_no_template_has_inline_script_or_event_handlers() -> None:
    offenders = []
    for path in template_files():
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and 'type="application/json"' not in tag:
                offenders.append(f"{path.name}: {tag}")
        offenders += [f"{path.name}: {m}" for m in re.findall(r"\son[a-z]+=\"", text)]
        offenders += [f"{path.name}: {m}" for m in re.findall(r"\bhx-on\b|javascript:", text)]
    assert offenders == []


def test_no_template_has_inline_styles() -> None:
    offenders = []
    for path in template_files():
        text = path.read_text()
        offenders += [f"{path.name}: style=" for _ in re.findall(r"\sstyle=", text)]
        offenders += [f"{path.name}: <style>" for _ in re.findall(r"<style\b", text)]
    assert offenders == []


def test_htmx_is_told_not_to_inject_its_indicator_style(admin_client: Any) -> None:
    body = admin_client.get("/users/").content.decode()
    assert """<meta name="htmx-config" content='{"includeIndicatorStyles": false}'>""" in body
