"""What the container list says of a restarting container: its restart count and last exit.

The list call has neither; an inspect has both. They change only when the container
runs and exits again, and the engine's events say when that happens. So while this
process follows the events stream (containers_app.events: a live page is open here,
and a live list re-renders its rows on every event), the status of each restarting
container is kept until the next event about that container: a list rendered on
every event inspects a container once per restart, not once per render, and the
renders that miss at the same moment share one inspect. Without the stream nothing
is kept and every render inspects, as the engine's answer is then the only truth.
"""

from __future__ import annotations

import threading
from typing import Any

from containers_app import translate
from containers_app.engine.containers import inspect_container
from containers_app.events import DockerEvent, watcher
from containers_app.singleflight import SingleFlight

_lock = threading.Lock()
_kept: dict[str, tuple[int, str]] = {}  # container id: (the stream's generation, status)
# Events heard of each container: a status read before one may be out of date after it.
_heard: dict[str, int] = {}
_inspects: SingleFlight[dict[str, Any]] = SingleFlight(ttl=lambda: 0.0)


def status_of(container_id: str) -> str:
    """The status the list shows for restarting container `container_id` (NotFound: gone)."""
    with _lock:
        seen = (watcher.generation, _heard.get(container_id, 0))
        kept = _kept.get(container_id) if watcher.following else None
    if kept is not None and kept[0] == seen[0]:
        return kept[1]
    status = translate.restarting_status(
        _inspects.run(container_id, lambda: inspect_container(container_id))
    )
    with _lock:
        if watcher.following and seen == (watcher.generation, _heard.get(container_id, 0)):
            _kept[container_id] = (seen[0], status)
    return status


def _heard_of(event: DockerEvent) -> None:
    if event["kind"] != "container":
        return
    with _lock:
        _kept.pop(event["id"], None)
        if event["action"] == "destroy":
            _heard.pop(event["id"], None)
        else:
            _heard[event["id"]] = _heard.get(event["id"], 0) + 1


watcher.listen(_heard_of)
