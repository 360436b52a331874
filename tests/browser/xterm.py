"""Reading and typing in an xterm.js terminal the way a person does."""

from __future__ import annotations

import time
from typing import Any

# For wait_for_function with arg=needle. Null-safe: while a page loads, its terminal may
# not be drawn yet.
TERM_HAS = "(needle) => (document.querySelector('.xterm-rows')?.textContent || '').includes(needle)"


def type_line(page: Any, text: str) -> float:
    """Type `text` into the page's terminal and press Enter; answers time.monotonic() of
    that Enter (the keystroke that runs the line)."""
    page.locator(".xterm-helper-textarea").focus()
    page.keyboard.type(text)
    entered = time.monotonic()
    page.keyboard.press("Enter")
    return entered
