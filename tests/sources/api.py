"""A local REST API for the source tests: records served in every pagination style, behind
every auth kind, with 429s, 500s, connection resets and an OAuth token that expires mid-run.

It runs on the outbound tests' ThreadingHTTPServer (127.0.0.1, a free port). Each route is
installed by a method that says what it does; ``requests`` lists what the server saw.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.imports.conftest import customer
from tests.outbound import Handler, LocalHTTPServer

Body = Callable[[dict[str, str]], tuple[Any, dict[str, str]]]


def record(i: int) -> dict[str, Any]:
    """Customer ``i`` with an incremental cursor field (zero-padded: text order is time)."""
    return customer(i) | {"updated_at": f"2024-03-{i:02d}T00:00:00Z"}


def query_of(handler: Handler) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query))


@dataclass
class Hit:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


@dataclass
class TestApi:
    server: LocalHTTPServer
    records: list[dict[str, Any]] = field(default_factory=lambda: [record(i) for i in range(1, 24)])
    hits: list[Hit] = field(default_factory=list)
    tokens_issued: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    __test__ = False  # not a test class, despite its name

    def url(self, path: str) -> str:
        return self.server.url(path)

    @property
    def base(self) -> str:
        return self.server.url("")

    def hits_of(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]

    # --- the route machinery --------------------------------------------------------------

    def route(
        self,
        path: str,
        body: Body,
        *,
        auth: Callable[[Handler, dict[str, str]], bool] | None = None,
        faults: dict[int, Callable[[Handler], None]] | None = None,
    ) -> None:
        """``body(query) -> (json, headers)``; ``faults`` replaces the answer of hit n."""

        def handle(handler: Handler, hit: int) -> None:
            query = query_of(handler)
            headers = {name.lower(): value for name, value in handler.headers.items()}
            with self.lock:
                self.hits.append(Hit(path, query, headers, time.monotonic()))
            fault = (faults or {}).get(hit)
            if fault is not None:
                fault(handler)
                return
            if auth is not None and not auth(handler, query):
                handler.reply(401, b'{"error": "unauthorized"}', {"WWW-Authenticate": "Bearer"})
                return
            document, extra = body(query)
            handler.reply(
                200, json.dumps(document).encode(), {"Content-Type": "application/json", **extra}
            )

        self.server.routes[path] = handle

    def window(self, query: dict[str, str], key: str = "since") -> list[dict[str, Any]]:
        """The records, only those updated after ``query[key]`` when it is given."""
        since = query.get(key)
        return [r for r in self.records if since is None or r["updated_at"] > since]

    # --- pagination styles ----------------------------------------------------------------

    def offset(self, path: str = "/offset", **kwargs: Any) -> None:
        def body(query: dict[str, str]) -> tuple[Any, dict[str, str]]:
            rows = self.window(query)
            start, limit = int(query.get("offset", 0)), int(query.get("limit", 10))
            return {"data": rows[start : start + limit], "meta": {"total": len(rows)}}, {}

        self.route(path, body, **kwargs)

    def page_number(self, path: str = "/pages", **kwargs: Any) -> None:
        def body(query: dict[str, str]) -> tuple[Any, dict[str, str]]:
            page, size = int(query.get("page", 1)), int(query.get("per_page", 5))
            rows = self.window(query)[(page - 1) * size : page * size]
            return {"items": rows, "has_more": page * size < len(self.window(query))}, {}

        self.route(path, body, **kwargs)

    def cursor(self, path: str = "/cursor", size: int = 7, **kwargs: Any) -> None:
        def body(query: dict[str, str]) -> tuple[Any, dict[str, str]]:
            rows = self.window(query)
            start = int(query.get("cursor", 0))
            following = start + size if start + size < len(rows) else None
            return {"results": rows[start : start + size], "next_cursor": following}, {}

        self.route(path, body, **kwargs)

    def json_link(self, path: str = "/json-link", size: int = 6, **kwargs: Any) -> None:
        def body(query: dict[str, str]) -> tuple[Any, dict[str, str]]:
            page = int(query.get("p", 1))
            rows = self.records[(page - 1) * size : page * size]
            more = page * size < len(self.records)
            # Relative, as many APIs write them; the client resolves it against the page.
            return {"data": rows, "next": f"{path}?p={page + 1}" if more else None}, {}

        self.route(path, body, **kwargs)

    def header_link(self, path: str = "/header-link", size: int = 10, **kwargs: Any) -> None:
        def body(query: dict[str, str]) -> tuple[Any, dict[str, str]]:
            page = int(query.get("p", 1))
            rows = self.records[(page - 1) * size : page * size]
            links = [f'<{self.url(path)}?p=1>; rel="first"']
            if page * size < len(self.records):
                # A comma and a semicolon inside a quoted parameter must not split the link.
                links.append(f'<{self.url(path)}?p={page + 1}>; title="next, page; go"; rel="next"')
            return rows, {"Link": ", ".join(links)}

        self.route(path, body, **kwargs)

    # --- auth -----------------------------------------------------------------------------

    @staticmethod
    def basic(username: str, password: str) -> Callable[[Handler, dict[str, str]], bool]:
        expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        return lambda handler, query: handler.headers.get("Authorization") == expected

    @staticmethod
    def bearer(token: str) -> Callable[[Handler, dict[str, str]], bool]:
        return lambda handler, query: handler.headers.get("Authorization") == f"Bearer {token}"

    @staticmethod
    def api_key_header(name: str, value: str) -> Callable[[Handler, dict[str, str]], bool]:
        return lambda handler, query: handler.headers.get(name) == value

    @staticmethod
    def api_key_query(name: str, value: str) -> Callable[[Handler, dict[str, str]], bool]:
        return lambda handler, query: query.get(name) == value

    def oauth(self) -> Callable[[Handler, dict[str, str]], bool]:
        """Accepts the tokens /token issued and did not revoke."""

        def check(handler: Handler, query: dict[str, str]) -> bool:
            header = handler.headers.get("Authorization", "")
            token = header.removeprefix("Bearer ")
            with self.lock:
                return token in self.tokens_issued and token not in self.revoked

        return check

    def token_endpoint(
        self,
        client_id: str,
        client_secret: str,
        *,
        expires_in: int = 3600,
        faults: dict[int, Callable[[Handler], None]] | None = None,
    ) -> None:
        """RFC 6749 client credentials: HTTP Basic client auth, form body; ``faults`` answer
        the requests of those numbers (1: the first) instead."""

        def handle(handler: Handler, hit: int) -> None:
            if faults and hit in faults:
                faults[hit](handler)
                return
            # The server read the body already; token requests come one at a time.
            with self.server.lock:
                sent = next(seen for seen in reversed(self.server.seen) if seen.path == "/token")
            form = dict(urllib.parse.parse_qsl(sent.body.decode()))
            header = handler.headers.get("Authorization", "")
            pair = base64.b64decode(header.removeprefix("Basic ")).decode() if header else ":"
            user, _, secret = pair.partition(":")
            with self.lock:
                self.hits.append(Hit("/token", form, {}, time.monotonic()))
            if (
                form.get("grant_type") != "client_credentials"
                or urllib.parse.unquote(user) != client_id
                or urllib.parse.unquote(secret) != client_secret
            ):
                handler.reply(401, b'{"error": "invalid_client"}')
                return
            with self.lock:
                token = f"tok-{len(self.tokens_issued) + 1}"
                self.tokens_issued.append(token)
            body = {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}
            handler.reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

        self.server.routes["/token"] = handle

    def revoke_after(self, path: str, hits: int) -> None:
        """Revoke every token issued so far once ``path`` was served ``hits`` times: the
        token 'expires' mid-run, earlier than its expires_in said."""
        inner = self.server.routes[path]

        def handle(handler: Handler, hit: int) -> None:
            if hit == hits + 1:
                with self.lock:
                    self.revoked.update(self.tokens_issued)
            inner(handler, hit)

        self.server.routes[path] = handle


def too_many(retry_after: str) -> Callable[[Handler], None]:
    return lambda handler: handler.reply(429, b"slow down", {"Retry-After": retry_after})


def server_error(handler: Handler) -> None:
    handler.reply(500, b"oops")


def reset(handler: Handler) -> None:
    handler.reset_mid_response()
