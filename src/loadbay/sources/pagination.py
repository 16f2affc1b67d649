"""Pagination of REST sources: which request fetches the next page, and when to stop.

A paginator sees each page (its URL, headers, parsed body and records) and names the next
request: new query parameters on the source's URL (offset, page number, cursor), or a whole
URL given by the API (a link in the body or in an RFC 8288 ``Link`` header). The stop
conditions every style shares (empty page, total reached, has_more false, max pages) are
checked by ``stop_reason`` before the paginator is asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from loadbay.sources.config import (
    AutoPagination,
    CursorPagination,
    HeaderLinkPagination,
    JsonLinkPagination,
    OffsetPagination,
    PageNumberPagination,
    Pagination,
    SinglePage,
)
from loadbay.sources.errors import SourceFailed
from loadbay.sources.paths import MISSING, lookup

# --- RFC 8288 Link header --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    target: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def rels(self) -> list[str]:
        return self.params.get("rel", "").lower().split()


_OWS = " \t"


def _skip(value: str, i: int, chars: str) -> int:
    while i < len(value) and value[i] in chars:
        i += 1
    return i


def _quoted(value: str, i: int) -> tuple[str, int]:
    """The quoted-string starting at ``value[i] == '"'`` (backslash escapes undone)."""
    out: list[str] = []
    i += 1
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            out.append(value[i + 1])
            i += 2
        elif char == '"':
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    return "".join(out), i  # unterminated: what there is


def _token(value: str, i: int, stops: str) -> tuple[str, int]:
    start = i
    while i < len(value) and value[i] not in stops:
        i += 1
    return value[start:i].strip(_OWS), i


def _next_element(value: str, i: int) -> int:
    """Index after the comma that ends the current link-value (commas in quotes ignored)."""
    while i < len(value):
        if value[i] == '"':
            _, i = _quoted(value, i)
        elif value[i] == ",":
            return i + 1
        else:
            i += 1
    return i


def parse_link_header(value: str) -> list[Link]:
    """The links of a ``Link`` header value (RFC 8288 §3); malformed elements are skipped.

    Commas split links only outside ``<…>`` and quoted strings; parameter names are
    case-insensitive, and the first occurrence of a parameter wins (§3.3 for ``rel``).
    """
    links: list[Link] = []
    i = 0
    while i < len(value):
        i = _skip(value, i, _OWS + ",")
        if i >= len(value):
            break
        if value[i] != "<":
            i = _next_element(value, i)
            continue
        end = value.find(">", i + 1)
        if end < 0:
            break
        target = value[i + 1 : end].strip(_OWS)
        i = end + 1
        params: dict[str, str] = {}
        while True:
            i = _skip(value, i, _OWS)
            if i >= len(value) or value[i] != ";":
                break
            name, i = _token(value, _skip(value, i + 1, _OWS), "=;,")
            param = ""
            i = _skip(value, i, _OWS)
            if i < len(value) and value[i] == "=":
                i = _skip(value, i + 1, _OWS)
                if i < len(value) and value[i] == '"':
                    param, i = _quoted(value, i)
                else:
                    param, i = _token(value, i, ";,")
            if name:
                params.setdefault(name.lower(), param)
        links.append(Link(target, params))
        i = _next_element(value, i)
    return links


def next_link(headers: httpx.Headers) -> str | None:
    """The target of the first ``rel="next"`` link of every ``Link`` header, if any."""
    for value in headers.get_list("link"):
        for link in parse_link_header(value):
            if "next" in link.rels and link.target:
                return link.target
    return None


# --- pages and paginators --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    number: int  # 1-based
    url: httpx.URL  # as requested, query included
    headers: httpx.Headers
    body: Any
    records: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class NextPage:
    """The next request: ``params`` on the source's own URL, or the ``url`` the API gave
    (taken as it is: such links carry their query)."""

    params: dict[str, str] = field(default_factory=dict)
    url: str | None = None


class Paginator(Protocol):
    def first(self) -> dict[str, str]:
        """Query parameters of the first request."""
        ...

    def next(self, page: Page) -> NextPage | None:
        """The request of the page after ``page``; None: it was the last."""
        ...


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float):
        return str(value)
    return None


class _Single:
    def first(self) -> dict[str, str]:
        return {}

    def next(self, page: Page) -> NextPage | None:
        return None


class _Offset:
    def __init__(self, config: OffsetPagination) -> None:
        self._config = config
        self._offset = config.start

    def _params(self) -> dict[str, str]:
        c = self._config
        return {c.offset_param: str(self._offset), c.limit_param: str(c.limit)}

    def first(self) -> dict[str, str]:
        return self._params()

    def next(self, page: Page) -> NextPage | None:
        # By what came, not by the limit asked for: an API that caps the page size lower
        # would otherwise skip records.
        self._offset += len(page.records)
        return NextPage(params=self._params())


class _PageNumber:
    def __init__(self, config: PageNumberPagination) -> None:
        self._config = config
        self._page = config.start

    def _params(self) -> dict[str, str]:
        c = self._config
        params = {c.page_param: str(self._page)}
        if c.size_param is not None and c.size is not None:
            params[c.size_param] = str(c.size)
        return params

    def first(self) -> dict[str, str]:
        return self._params()

    def next(self, page: Page) -> NextPage | None:
        self._page += 1
        return NextPage(params=self._params())


class _Cursor:
    def __init__(self, cursor_path: str, cursor_param: str) -> None:
        self._path = cursor_path
        self._param = cursor_param

    def first(self) -> dict[str, str]:
        return {}

    def next(self, page: Page) -> NextPage | None:
        cursor = _scalar_text(lookup(page.body, self._path))
        return None if cursor is None else NextPage(params={self._param: cursor})


class _JsonLink:
    def __init__(self, next_path: str) -> None:
        self._path = next_path

    def first(self) -> dict[str, str]:
        return {}

    def next(self, page: Page) -> NextPage | None:
        target = lookup(page.body, self._path)
        if not isinstance(target, str) or not target:
            return None
        return NextPage(url=str(page.url.join(target)))


class _HeaderLink:
    def first(self) -> dict[str, str]:
        return {}

    def next(self, page: Page) -> NextPage | None:
        target = next_link(page.headers)
        return None if target is None else NextPage(url=str(page.url.join(target)))


# Body keys ``auto`` recognises, in the order it tries them.
_LINK_KEYS = ("next", "next_url", "links.next")
_CURSOR_KEYS = ("next_cursor", "cursor")


def detect(page: Page) -> Paginator:
    """The style ``auto`` settles on, from the first answer."""
    if next_link(page.headers) is not None:
        return _HeaderLink()
    for key in _LINK_KEYS:
        value = lookup(page.body, key)
        if value is None or isinstance(value, str):
            return _JsonLink(key)
    for key in _CURSOR_KEYS:
        if lookup(page.body, key) is not MISSING:
            return _Cursor(key, "cursor")
    return _Single()


class _Auto:
    def __init__(self) -> None:
        self._chosen: Paginator | None = None

    def first(self) -> dict[str, str]:
        return {}

    def next(self, page: Page) -> NextPage | None:
        if self._chosen is None:
            self._chosen = detect(page)
        return self._chosen.next(page)


def paginator(config: Pagination) -> Paginator:
    match config:
        case OffsetPagination():
            return _Offset(config)
        case PageNumberPagination():
            return _PageNumber(config)
        case CursorPagination():
            return _Cursor(config.cursor_path, config.cursor_param)
        case JsonLinkPagination():
            return _JsonLink(config.next_path)
        case HeaderLinkPagination():
            return _HeaderLink()
        case SinglePage():
            return _Single()
        case AutoPagination():
            return _Auto()


def stop_reason(config: Pagination, page: Page, records_so_far: int) -> str | None:
    """Why no page should follow ``page`` by the shared stop conditions (None: go on)."""
    if isinstance(config, SinglePage):
        return "single page"
    if config.stop_on_empty and not page.records:
        return "empty page"
    if config.max_pages is not None and page.number >= config.max_pages:
        return f"max_pages {config.max_pages} reached"
    if config.has_more_path is not None:
        more = lookup(page.body, config.has_more_path)
        if more is False:
            return f"{config.has_more_path} is false"
    if config.total_path is not None:
        total = lookup(page.body, config.total_path)
        if isinstance(total, bool) or not isinstance(total, int | float | str):
            if total is MISSING:
                return None
            raise SourceFailed(f"total_path {config.total_path!r} holds {total!r}, not a number")
        try:
            limit = float(total)
        except ValueError:
            raise SourceFailed(
                f"total_path {config.total_path!r} holds {total!r}, not a number"
            ) from None
        if records_so_far >= limit:
            return f"{config.total_path} ({total}) reached"
    return None
