"""Fixtures of the browser tests that several modules share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import screenshot_on_failure

PROJECTOR = {"width": 1024, "height": 768}


@pytest.fixture
def projector_tabs(request: pytest.FixtureRequest, chromium: Any) -> Iterator[Callable[[], Any]]:
    """Opens a tab for one more person: a browser context of their own (a separate session)
    at a projector's 1024x768. Each tab saves a screenshot if the test fails."""
    pages: list[Any] = []

    def open_tab() -> Any:
        context = chromium.new_context(viewport=PROJECTOR)
        context.set_default_timeout(15_000)
        pages.append(context.new_page())
        return pages[-1]

    yield open_tab
    for number, page in enumerate(pages, 1):
        screenshot_on_failure(request, page, f"-tab{number}")
        page.context.close()
