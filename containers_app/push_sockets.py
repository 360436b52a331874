"""Websockets that only push JSON frames: what a browser sends them is not read.

Channels' JSON consumer decodes every text frame before handing it on, so a frame
that is not JSON ended such a socket with a server error (1011); these ignore
whatever arrives, and the viewer keeps its socket.
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class PushOnlyConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """A JSON websocket whose viewers only watch."""

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """Viewers only watch; anything they send is ignored."""
