"""The one package that talks to the Docker engine (docker-py), one module per thing it owns.

`client` holds the connection and turns docker-py's errors into `errors`;
`system` the engine as a whole (version, info, disk use, events); `containers`,
`images`, `networks` and `volumes` their resources; `streams` the stats, log and
terminal connections to one container; `registries` logins and Docker Hub
searches. Callers import the module they use.
"""

from __future__ import annotations

# Read here as `engine.<name>` by modules whose import lines change with their own
# rework (containers_app.api and .views, registry_app.services and .views); this
# list goes once they import the module that owns each name.
from containers_app.engine.errors import EngineError, EngineUnavailable, NoAnswerInTime, NotFound
from containers_app.engine.images import (
    build_stream,
    image_summary,
    local_image_names,
    pull_stream,
    push_stream,
    tag_image,
    untag_image,
)
from containers_app.engine.registries import registry_login, search_images
from containers_app.engine.system import DISK_USAGE_NOTE, engine_overview, host_cpus, system_df

__all__ = [
    "DISK_USAGE_NOTE",
    "EngineError",
    "EngineUnavailable",
    "NoAnswerInTime",
    "NotFound",
    "build_stream",
    "engine_overview",
    "host_cpus",
    "image_summary",
    "local_image_names",
    "pull_stream",
    "push_stream",
    "registry_login",
    "search_images",
    "system_df",
    "tag_image",
    "untag_image",
]
