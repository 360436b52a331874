"""Fixtures of the integration tests that several modules share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.rig import RUN_ID


@pytest.fixture
def two_classes(
    make_user: Callable[..., Any], teach: Any, make_container: Callable[..., Any]
) -> dict[str, Any]:
    """Class A (instructor ia, student a1) and class B (instructor ib, student b1), each
    student with a running container."""
    people = {
        "ia": make_user(f"ia{RUN_ID}", "instructor"),
        "ib": make_user(f"ib{RUN_ID}", "instructor"),
        "a1": make_user(f"a1{RUN_ID}", "student"),
        "b1": make_user(f"b1{RUN_ID}", "student"),
    }
    teach(people["ia"], people["a1"], slug=f"a{RUN_ID}")
    teach(people["ib"], people["b1"], slug=f"b{RUN_ID}")
    for who in ("a1", "b1"):
        people[f"{who}_box"] = make_container(labels={"dockdash.owner": people[who].username}).id
    return people
