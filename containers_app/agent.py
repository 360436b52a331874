"""The stats agent of one engine: `python manage.py agent --engine NAME`, on that engine's node.

It samples the node's containers with the sampler's own code (containers_app.stats): their
cgroup files and `/proc`, the running set from the node's events. After each sweep it
publishes the frame, with the counters the culler needs, to the channel layer's group
`stats.agent.NAME` (REDIS_URL), and keeps it under a Redis key for readers that come between
viewers (the culler, the history writer, alerts). A web process whose engine says `agent`
takes those frames instead of sampling: one sweep per node per tick, however many web
processes and viewers there are.

It needs REDIS_URL, the node's Docker socket (it only lists and inspects), and the node's
`/proc` and `/sys/fs/cgroup` (read only); not the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal

from channels.layers import get_channel_layer
from django.conf import settings

from containers_app.engine import client as engine_client
from containers_app.stats import StatsSampler, agent_group, agent_key

log = logging.getLogger(__name__)

# Seconds an agent's last frame stays readable after it stopped publishing.
KEPT_SECONDS = 10


async def run(name: str, docker_host: str) -> None:
    """Sample engine `name` at `docker_host` and publish each sweep until SIGTERM or SIGINT.

    Both are handled: as the first process of a container (a Swarm service's task), the
    kernel gives it no default action for them, and `docker stop` would wait to kill it."""
    import redis.asyncio  # the optional scale-out install

    layer = get_channel_layer()
    kept = redis.asyncio.Redis.from_url(settings.REDIS_URL)
    group, key = agent_group(name), agent_key(name)

    async def publish(sampler: StatsSampler) -> None:
        message = sampler.published()
        await layer.group_send(group, message)
        await kept.set(key, json.dumps(message, separators=(",", ":")), ex=KEPT_SECONDS)

    sampler = StatsSampler(docker_host, address=engine_client.Address(name, docker_host))
    sampler.publisher = publish
    log.warning(
        "stats agent of engine %s: reading %s's containers (%s) every %g s, publishing to %s",
        name,
        docker_host,
        sampler.source,
        sampler.interval,
        group,
    )
    stopped = asyncio.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(number, stopped.set)
    await sampler.subscribe()
    try:
        await stopped.wait()
    finally:
        await sampler.stop()
        await kept.aclose()
