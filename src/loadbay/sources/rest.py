"""Fetching a declarative REST source page by page: requests with auth and a rate cap,
records taken from each JSON body, pagination and stop conditions, and the highest
incremental cursor value seen.

Every request goes through the outbound client, so timeouts, retries (backoff with jitter,
``Retry-After``) and the SSRF guard apply to each page; the rate cap spaces the requests
this module sends (a retry inside the client waits its own backoff instead).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from loadbay.outbound import OutboundClient
from loadbay.outbound.errors import redact_url
from loadbay.sources.auth import Authenticator, TokenCache
from loadbay.sources.config import RestSource
from loadbay.sources.errors import SourceAuthFailed, SourceFailed, SourceHTTPError
from loadbay.sources.pagination import NextPage, Page, paginator, stop_reason
from loadbay.sources.paths import MISSING, lookup, segments

CursorValue = str | int | float


class RateCap:
    """At most ``per_second`` request starts per second, spaced evenly."""

    def __init__(
        self,
        per_second: float | None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = 0.0 if per_second is None else 1.0 / per_second
        self._sleep = sleep
        self._clock = clock
        self._next_at = float("-inf")

    def wait(self) -> None:
        now = self._clock()
        if now < self._next_at:
            self._sleep(self._next_at - now)
            now = self._next_at
        self._next_at = now + self._interval


def records_at(body: Any, records_path: str | None) -> list[dict[str, Any]]:
    """The records of a page: the array at ``records_path`` (the body itself when empty),
    each an object. SourceFailed says what was found instead."""
    found = lookup(body, records_path)
    where = f"records_path {records_path!r}" if records_path else "the body"
    if found is MISSING:
        raise SourceFailed(f"the answer has nothing at {where}{_keys_hint(body, records_path)}")
    if not isinstance(found, list):
        kind = "an object" if isinstance(found, dict) else type(found).__name__
        hint = ""
        if not records_path and isinstance(found, dict):
            hint = f"; set records_path to the key of the records (keys: {_keys(found)})"
        raise SourceFailed(f"{where} is {kind}, not an array of records{hint}")
    for n, item in enumerate(found):
        if not isinstance(item, dict):
            raise SourceFailed(f"item {n} of {where} is not an object")
    return found


def _keys(document: dict[str, Any]) -> str:
    names = list(document)
    return ", ".join(names[:10]) + (", …" if len(names) > 10 else "")


def _keys_hint(body: Any, path: str | None) -> str:
    """The keys there are where the path stops matching, to show what it should be."""
    value = body
    for part in segments(path):
        if not isinstance(value, dict) or part not in value:
            break
        value = value[part]
    return f" (keys there: {_keys(value)})" if isinstance(value, dict) and value else ""


def cursor_param(value: CursorValue) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class RestFetch:
    """One run of a REST source: iterate ``pages()``; afterwards ``high_water`` is the
    highest incremental cursor value seen (the starting value when no record had one)."""

    def __init__(
        self,
        client: OutboundClient,
        source: RestSource,
        *,
        tokens: TokenCache,
        cursor: CursorValue | None,
        max_pages: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._source = source
        self._auth = Authenticator(client, source.auth, tokens)
        self._rate = RateCap(
            source.rate_limit.requests_per_second if source.rate_limit else None, sleep=sleep
        )
        self._max_pages = max_pages
        self.cursor_from = cursor
        self.high_water: CursorValue | None = cursor
        self.requests = 0

    def pages(self) -> Iterator[Page]:
        source = self._source
        pages = paginator(source.pagination)
        base = {name: _param_text(value) for name, value in source.params.items()}
        if source.incremental is not None and self.cursor_from is not None:
            base[source.incremental.param] = cursor_param(self.cursor_from)
        origin = httpx.URL(source.url)
        url, params = source.url, base | pages.first()
        seen: set[str] = set()
        records_so_far = 0
        number = 0
        while True:
            number += 1
            response = self._get(url, params)
            body = self._json(response)
            page = Page(
                number=number,
                url=response.request.url,
                headers=response.headers,
                body=body,
                records=records_at(body, source.records_path),
            )
            records_so_far += len(page.records)
            self._track_cursor(page.records)
            yield page
            if stop_reason(source.pagination, page, records_so_far) is not None:
                return
            following = pages.next(page)
            if following is None:
                return
            if number >= self._max_pages:
                raise SourceFailed(
                    f"the source has more than {self._max_pages} pages; set pagination."
                    "max_pages to stop earlier on purpose, or raise LOADBAY_SOURCE_MAX_PAGES"
                )
            url, params = self._resolve(following, origin, base)
            key = str(httpx.URL(url).copy_merge_params(params))
            if key in seen:
                raise SourceFailed(
                    f"pagination does not advance: page {number} asks for {redact_url(key)} again"
                )
            seen.add(key)

    def _resolve(
        self, following: NextPage, origin: httpx.URL, base: dict[str, str]
    ) -> tuple[str, dict[str, str]]:
        if following.url is None:
            return self._source.url, base | following.params
        target = httpx.URL(following.url)
        if (target.scheme, target.host, target.port) != (origin.scheme, origin.host, origin.port):
            # The source's credentials are meant for base_url's server only.
            raise SourceFailed(
                f"the next-page link {redact_url(target)} leaves {origin.scheme}://"
                f"{origin.netloc.decode()}; links to another server are not followed"
            )
        return following.url, {}

    def _get(self, url: str, params: dict[str, str]) -> httpx.Response:
        renewed = False
        while True:
            self._rate.wait()
            headers = {"Accept": "application/json", **self._source.headers}
            query = dict(params)
            basic = self._auth.apply(headers, query)
            self.requests += 1
            # Added to the URL's own query (next-page links carry theirs) by the client.
            response = self._client.request("GET", url, headers=headers, params=query, auth=basic)
            if response.status_code == 401 and not renewed and self._auth.renew():
                renewed = True  # a token that expired early or was revoked: one new one
                continue
            if response.is_success:
                return response
            shown = redact_url(response.request.url)
            if response.status_code in (401, 403):
                raise SourceAuthFailed(
                    f"GET {shown} answered {response.status_code} {response.reason_phrase}: "
                    "check the source's auth"
                )
            raise SourceHTTPError(
                method="GET",
                url=shown,
                status=response.status_code,
                reason=response.reason_phrase,
            )

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            raise SourceFailed(
                f"GET {redact_url(response.request.url)} answered {kind}, not valid JSON"
            ) from None

    def _track_cursor(self, records: list[dict[str, Any]]) -> None:
        incremental = self._source.incremental
        if incremental is None:
            return
        for record in records:
            value = lookup(record, incremental.cursor_path)
            if value is MISSING or value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise SourceFailed(
                    f"incremental cursor_path {incremental.cursor_path!r} holds "
                    f"{type(value).__name__} values; strings or numbers are needed"
                )
            if self.high_water is None:
                self.high_water = value
                continue
            try:
                higher = value > self.high_water  # type: ignore[operator]
            except TypeError:
                raise SourceFailed(
                    f"incremental cursor_path {incremental.cursor_path!r} mixes "
                    f"{type(value).__name__} and {type(self.high_water).__name__} values"
                ) from None
            if higher:
                self.high_water = value


def _param_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
