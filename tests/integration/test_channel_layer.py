"""REDIS_URL switches the channel layer to a real Redis, for several server processes."""

from __future__ import annotations

import os
import subprocess
import sys

from tests import rig


def test_redis_url_selects_channels_redis(redis_url: str) -> None:
    probe = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.CHANNEL_LAYERS['default']['BACKEND'], "
        "settings.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0])"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "SECRET_KEY": "x" * 50,
        "REDIS_URL": redis_url,
    }
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        cwd=rig.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["channels_redis.core.RedisChannelLayer", redis_url]


async def test_group_messages_cross_the_real_redis(redis_url: str) -> None:
    from channels_redis.core import RedisChannelLayer

    sender, receiver = RedisChannelLayer(hosts=[redis_url]), RedisChannelLayer(hosts=[redis_url])
    channel = await receiver.new_channel()
    await receiver.group_add("stats", channel)
    await sender.group_send("stats", {"type": "stats.frame", "t": 1})
    assert await receiver.receive(channel) == {"type": "stats.frame", "t": 1}
    await receiver.flush()
    await sender.close_pools()
    await receiver.close_pools()
