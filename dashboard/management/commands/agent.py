from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from containers_app import agent, engines
from containers_app.engine import client as engine_client


class Command(BaseCommand):
    help = (
        "Run the stats agent of one engine on its node: sample its containers' cgroups once "
        "a tick and publish the frames through Redis (REDIS_URL) to every web process."
    )
    requires_system_checks: list[str] = []  # it uses no database: it starts at once

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--engine",
            default=settings.ENGINE_NAME,
            help="the engine's name in the dashboard (default: the first, %(default)s)",
        )
        parser.add_argument(
            "--docker-host",
            default=settings.DOCKER_HOST,
            help="the engine's socket on this node (default: %(default)s)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name, docker_host = options["engine"], options["docker_host"]
        if not settings.REDIS_URL:
            raise CommandError(
                "The stats agent publishes through Redis: set REDIS_URL to the dashboard's."
            )
        if not engines.NAME.fullmatch(name):
            raise CommandError(f"Engine name {name!r}: letters, digits, - and _ only")
        # This process serves that one engine: its events stream is the one to follow.
        settings.DOCKER_HOST, settings.ENGINE_NAME = docker_host, name
        settings.STATS_AGENT = False
        engine_client.role = "agent"  # its engine calls are the architecture page's too
        asyncio.run(agent.run(name, docker_host))  # until SIGTERM or Ctrl-C: a clean stop
