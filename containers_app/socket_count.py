"""The websockets open in this process: counted around the whole websocket stack
(dashboard.asgi wraps it), from the accept to the end of the connection."""

from __future__ import annotations

from typing import Any

_open = 0  # only the event loop changes it


def open_sockets() -> int:
    return _open


def _count(change: int) -> None:
    global _open
    _open += change


class CountOpenSockets:
    """ASGI middleware: a websocket counts from its accept until its application returns."""

    def __init__(self, inner: Any):
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        accepted = False

        async def send_counting(message: dict[str, Any]) -> None:
            nonlocal accepted
            await send(message)
            if message.get("type") == "websocket.accept" and not accepted:
                accepted = True
                _count(+1)

        try:
            return await self.inner(scope, receive, send_counting)
        finally:
            if accepted:
                _count(-1)
