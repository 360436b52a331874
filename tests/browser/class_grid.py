"""Conditions on the class grid page (/classes/<slug>/grid/), for wait_for_function."""

from __future__ import annotations

import json


def tiles_shown(count: int) -> str:
    """Every one of `count` students has a tile."""
    return f"() => document.querySelectorAll('[data-tiles] > li').length === {count}"


def on_top(student: str, above: int) -> str:
    """`student`'s tile comes first, with a load (percent of its limit) above `above`; the
    condition's value is then the tile's text at that moment."""
    return f"""() => {{
  const top = document.querySelector('[data-tiles] > li');
  return top !== null && top.dataset.student === {json.dumps(student)}
    && Number(top.dataset.load) > {above} && top.innerText;
}}"""
