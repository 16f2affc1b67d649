"""Per request: latency histogram, in-flight gauge, dashboard statistics, one access-log line.

Sits inside the request-id middleware (so the id is known) and outside everything else, so
the time measured includes authentication, rate limiting and the route itself.
"""

from __future__ import annotations

import re
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loadbay.observability.metrics import REQUESTS_IN_FLIGHT, observe_request
from loadbay.observability.stats import RequestStats

access_log = structlog.get_logger("loadbay.access")

UNMATCHED = "<unmatched>"  # one label for every unknown path: no unbounded cardinality
PROBES = frozenset({"/healthz", "/readyz"})
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_IMPORT_ID = re.compile(_UUID)
_CREATED_IMPORT = re.compile(rf"/api/imports/({_UUID})$".encode())


class RouteTemplates:
    """Finds the template of a path the router never saw (refused by auth or rate limits),
    from the documented paths: literal segments win over parameters."""

    def __init__(self) -> None:
        self._compiled: list[tuple[re.Pattern[str], str]] | None = None

    def __call__(self, scope: Scope) -> str:
        path = getattr(scope.get("route"), "path", None)
        if isinstance(path, str):
            return path
        if self._compiled is None:
            templates = scope["app"].openapi()["paths"]
            ordered = sorted(templates, key=lambda t: (t.count("{"), -len(t)))
            self._compiled = [(re.compile(_pattern(t)), t) for t in ordered]
        for pattern, template in self._compiled:
            if pattern.fullmatch(scope["path"]):
                return template
        return UNMATCHED


def _pattern(template: str) -> str:
    return "".join(
        "[^/]+" if part.startswith("{") else re.escape(part)
        for part in re.split(r"(\{[^}]+\})", template)
    )


def _import_id(scope: Scope, location: bytes | None) -> str | None:
    params = scope.get("path_params") or {}
    supplied = str(params.get("import_id", ""))
    if _IMPORT_ID.fullmatch(supplied):
        return supplied
    if location and (match := _CREATED_IMPORT.search(location)):
        return match.group(1).decode("ascii")
    return None


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, stats: RequestStats) -> None:
        self.app = app
        self.stats = stats
        self.route_template = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering
        location: bytes | None = None
        request_id = scope.get("state", {}).get("request_id")
        structlog.contextvars.bind_contextvars(**{"trace.id": request_id})

        async def send_and_watch(message: Message) -> None:
            nonlocal status, location
            if message["type"] == "http.response.start":
                status = message["status"]
                location = dict(message.get("headers", [])).get(b"location")
            await send(message)

        REQUESTS_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            REQUESTS_IN_FLIGHT.dec()
            seconds = time.perf_counter() - started
            method = scope["method"]
            observe_request(
                route=self.route_template(scope), method=method, status=status, seconds=seconds
            )
            self.stats.record(status=status, seconds=seconds)
            self._log(scope, method, status, seconds, _import_id(scope, location))
            structlog.contextvars.unbind_contextvars("trace.id")

    @staticmethod
    def _log(scope: Scope, method: str, status: int, seconds: float, import_id: str | None) -> None:
        path = scope["path"]
        fields: dict[str, object] = {
            "http.request.method": method,
            "url.path": path,
            "http.response.status_code": status,
            "event.duration": int(seconds * 1e9),  # ECS: nanoseconds
            "trace.id": scope.get("state", {}).get("request_id"),
        }
        if import_id:
            fields["loadbay.import_id"] = import_id
        client = scope.get("client")
        if client:
            fields["client.address"] = client[0]
        log = access_log.debug if path in PROBES else access_log.info
        log(f"{method} {path} {status}", **fields)
