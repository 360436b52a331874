"""Which Docker events reach which user, on events in the engine's own format."""

from __future__ import annotations

from typing import Any

import pytest

from containers_app.events import slim


def raw_event(kind: str, action: str, **attributes: str) -> dict[str, Any]:
    # The shape of GET /events on API 1.41.
    return {
        "status": action,
        "id": "c0ffee",
        "Type": kind,
        "Action": action,
        "Actor": {"ID": "c0ffee" * 10, "Attributes": {"name": "web1", **attributes}},
        "scope": "local",
        "time": 1764280000,
        "timeNano": 1764280000123456789,
    }


def test_container_event_carries_its_owner_label() -> None:
    event = slim(raw_event("container", "start", **{"dockdash.owner": "ann", "image": "busybox"}))
    assert event == {
        "kind": "container",
        "action": "start",
        "id": "c0ffee" * 10,
        "name": "web1",
        "owner": "ann",
        "course": "",
        "exit_code": None,
        "time": pytest.approx(1764280000.123456789),
    }


def test_a_die_carries_its_exit_code_and_class() -> None:
    raw = raw_event("container", "die", exitCode="137", **{"dockdash.class": "os101"})
    event = slim(raw)
    assert event is not None and (event["exit_code"], event["course"]) == (137, "os101")


@pytest.mark.parametrize(
    ("kind", "action"),
    [("container", "exec_start: sh -c ls"), ("plugin", "enable"), ("daemon", "reload")],
)
def test_events_no_page_shows_are_dropped(kind: str, action: str) -> None:
    assert slim(raw_event(kind, action)) is None


def test_health_status_action_keeps_its_first_word() -> None:
    event = slim(raw_event("container", "health_status: healthy"))
    assert event is not None and event["action"] == "health_status"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "kind", "owner", "name", "seen"),
    [
        ("student", "container", "stud", "web1", True),
        ("student", "container", "other", "web1", False),
        ("student", "container", "", "web1", False),
        ("student", "image", "", "busybox", True),
        ("student", "network", "", "bridge", True),
        ("student", "network", "", "somebodys-net", False),
        ("viewer", "container", "", "web1", True),
        ("instructor", "container", "taught", "web1", True),
        ("instructor", "container", "other", "web1", False),
        ("instructor", "container", "", "web1", False),
        ("admin", "volume", "", "data", True),
    ],
)
def test_may_see_follows_the_access_policy(
    make_user: Any, teach: Any, role: str, kind: str, owner: str, name: str, seen: bool
) -> None:
    from containers_app.events import may_see

    user = make_user("stud" if role == "student" else f"u-{role}", role)
    if role == "instructor":
        teach(user, "taught")
    event = {"kind": kind, "action": "create", "id": "x", "name": name, "owner": owner, "time": 0.0}
    assert may_see(user, event) is seen  # type: ignore[arg-type]
