"""The largest request body each route accepts, enforced in one place.

Three classes of route, so a client cannot make the server buffer a body it never meant
to take:

- uploads (``/api/uploads``) take files: tus bounds each request by its ``Upload-Length``
  (at most ``LOADBAY_MAX_UPLOAD_BYTES``) and multipart by ``LOADBAY_MAX_MULTIPART_BYTES``,
  checked by the upload routes themselves while they stream to disk;
- documents (``POST /api/imports``, schemas) may be large JSON: ``LOADBAY_MAX_BODY_BYTES``;
- every other route takes a small control body (a mapping, cell edits, a commit, a webhook
  endpoint, a sign-in): ``LOADBAY_MAX_CONTROL_BODY_BYTES``.

A declared ``Content-Length`` over the limit is refused before any byte is read; a body
without one is counted as it arrives and cut off at the limit. Either way the answer is
``413 body-too-large`` naming the limit and the setting.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loadbay.json_body import body_too_large
from loadbay.settings import Settings

UPLOADS = "/api/uploads"
DOCUMENTS = ("/api/schemas",)


def body_limit(settings: Settings, method: str, path: str) -> tuple[int, str] | None:
    """The body limit of a request and the setting that sets it; None where the route
    bounds its own body."""
    if path == UPLOADS or path.startswith(UPLOADS + "/"):
        return None
    if (method == "POST" and path == "/api/imports") or any(
        path == prefix or path.startswith(prefix + "/") for prefix in DOCUMENTS
    ):
        return settings.max_body_bytes, "LOADBAY_MAX_BODY_BYTES"
    return settings.max_control_body_bytes, "LOADBAY_MAX_CONTROL_BODY_BYTES"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = (
            body_limit(self.settings, scope["method"], scope["path"])
            if scope["type"] == "http"
            else None
        )
        if limit is None:
            await self.app(scope, receive, send)
            return
        max_bytes, setting = limit
        declared = _declared_length(scope)
        if declared is not None and declared > max_bytes:
            await self._refuse(scope, receive, send, max_bytes, setting)
            return
        received = 0
        cut_off = False
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, cut_off
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    cut_off = True
                    raise body_too_large(max_bytes, setting)
            return message

        async def send_unless_cut_off(message: Message) -> None:
            # Once the body was cut off, whatever the route answers is about the exception
            # raised from receive (FastAPI turns it into a 400 when it parses the body), so
            # the one true answer, the 413, is sent instead.
            nonlocal refused
            if not cut_off:
                await send(message)
            elif not refused:
                refused = True
                await self._refuse(scope, receive, send, max_bytes, setting)

        await self.app(scope, counting_receive, send_unless_cut_off)

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, max_bytes: int, setting: str
    ) -> None:
        problem = body_too_large(max_bytes, setting)
        # The unread rest of the body must not be taken for the next request.
        problem.headers["Connection"] = "close"
        await problem.response(Request(scope, receive))(scope, receive, send)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
