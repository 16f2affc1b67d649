"""Slow clients cannot hold a connection: a request body must keep arriving.

While a request's body is incomplete, each part of it must arrive within
``LOADBAY_RECEIVE_TIMEOUT`` seconds of the previous one, or the request ends with
``408 request-timeout``. The limit is on idle time, not on the whole body, so a multi-GB
upload on a slow but steady line is fine, while a client that opens a request and trickles
nothing (slowloris) is cut off. Once the body is complete, ``receive`` is left alone: a
streaming response waits on it for the client's disconnect for as long as it streams.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loadbay.api_errors import HTTPProblem


class ReceiveDeadlineMiddleware:
    def __init__(self, app: ASGIApp, idle_seconds: float) -> None:
        self.app = app
        self.idle_seconds = idle_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_complete = False

        async def receive_in_time() -> Message:
            nonlocal body_complete
            if body_complete:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.idle_seconds)
            except TimeoutError:
                raise HTTPProblem(
                    408,
                    "request-timeout",
                    "Request timeout",
                    f"no part of the request body arrived for {self.idle_seconds:g} s "
                    "(LOADBAY_RECEIVE_TIMEOUT); the request was abandoned",
                    headers={"Connection": "close"},
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_complete = True
            return message

        await self.app(scope, receive_in_time, send)
