"""Properties of the pure parts: the RFC 8288 Link parser, dotted paths and records_path,
the stop conditions, the OAuth token lifetime and the rate cap."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.outbound import LocalServer
from tests.sources.api import TestApi, reset, server_error

from loadbay.outbound import OutboundClient
from loadbay.settings import Settings
from loadbay.sources.auth import TokenCache
from loadbay.sources.config import OAuth2ClientCredentials, OffsetPagination
from loadbay.sources.errors import SourceFailed
from loadbay.sources.pagination import Page, next_link, parse_link_header, stop_reason
from loadbay.sources.paths import MISSING, lookup
from loadbay.sources.rest import RateCap, records_at

# URI references as they appear between < and >: anything but the angle brackets.
targets = (
    st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="<>"), min_size=1)
    .map(str.strip)
    .filter(bool)
)
param_names = st.from_regex(r"[a-z][a-z0-9*-]{0,8}", fullmatch=True)
# Quoted values may hold commas, semicolons, quotes and backslashes: all must survive.
param_values = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@given(
    st.lists(
        st.tuples(targets, st.dictionaries(param_names, param_values, max_size=4)),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from([",", ", ", " ,\t"]),
)
def test_link_header_round_trips(links: list[tuple[str, dict[str, str]]], separator: str) -> None:
    header = separator.join(
        f"<{target}>" + "".join(f"; {name}={quote(value)}" for name, value in params.items())
        for target, params in links
    )
    parsed = parse_link_header(header)
    assert [(link.target, link.params) for link in parsed] == [
        (target.strip(" \t"), params) for target, params in links
    ]


@given(st.text(max_size=60))
def test_link_header_parser_never_raises(header: str) -> None:
    parse_link_header(header)


def test_next_link_finds_rel_next_among_several_rels() -> None:
    headers = httpx.Headers(
        [
            ("Link", '<https://api.example/items?page=1>; rel="first prev"'),
            ("Link", '<https://api.example/items?page=3>; title="a, b"; REL="last next"'),
        ]
    )
    assert next_link(headers) == "https://api.example/items?page=3"
    unquoted = httpx.Headers({"Link": "</items?page=2>; rel=next"})
    assert next_link(unquoted) == "/items?page=2"
    assert next_link(httpx.Headers({"Link": '<x>; rel="nextish"'})) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text("abc_", min_size=1, max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)
keys = st.text("abcxyz_", min_size=1, max_size=4)


@given(st.lists(keys, max_size=4), json_values)
def test_lookup_finds_what_was_nested(path: list[str], value: Any) -> None:
    document: Any = value
    for key in reversed(path):
        document = {key: document}
    assert lookup(document, ".".join(path)) == value


@given(json_values, st.lists(keys, min_size=1, max_size=3))
def test_lookup_of_absent_paths_is_missing_not_an_error(document: Any, path: list[str]) -> None:
    found = lookup(document, ".".join(path))
    if found is not MISSING:
        # Then the path really exists: walking it by hand gives the same value.
        value = document
        for key in path:
            value = value[int(key)] if isinstance(value, list) else value[key]
        assert value == found


@given(st.lists(st.dictionaries(keys, st.integers(), max_size=3), max_size=5), keys)
def test_records_at_returns_the_array_of_objects(records: list[dict[str, int]], key: str) -> None:
    assert records_at({key: {"items": records}}, f"{key}.items") == records
    assert records_at(records, None) == records
    assert records_at(records, "") == records


def test_records_at_explains_what_is_wrong() -> None:
    with pytest.raises(SourceFailed, match=r"item 1 of records_path 'data' is not an object"):
        records_at({"data": [{"a": 1}, 2]}, "data")
    with pytest.raises(SourceFailed, match=r"records_path 'data.rows' \(keys there: x, y\)"):
        records_at({"data": {"x": 1, "y": 2}}, "data.rows")
    with pytest.raises(SourceFailed, match="records_path 'n' is int, not an array"):
        records_at({"n": 3}, "n")
    assert lookup({"results": [{"id": 7}]}, "results.0.id") == 7


def page(body: Any, records: list[dict[str, Any]], number: int = 1) -> Page:
    return Page(number, httpx.URL("http://api.example/x"), httpx.Headers(), body, records)


def test_stop_conditions() -> None:
    base = {"type": "offset"}
    one = [{"id": 1}]
    assert stop_reason(OffsetPagination.model_validate(base), page({}, []), 0) == "empty page"
    keep_going = OffsetPagination.model_validate(base | {"stop_on_empty": False})
    assert stop_reason(keep_going, page({}, []), 0) is None
    total = OffsetPagination.model_validate(base | {"total_path": "meta.total"})
    assert stop_reason(total, page({"meta": {"total": 3}}, one), 2) is None
    assert stop_reason(total, page({"meta": {"total": "3"}}, one), 3) == "meta.total (3) reached"
    with pytest.raises(SourceFailed, match="not a number"):
        stop_reason(total, page({"meta": {"total": "lots"}}, one), 3)
    more = OffsetPagination.model_validate(base | {"has_more_path": "more"})
    assert stop_reason(more, page({"more": True}, one), 1) is None
    assert stop_reason(more, page({"more": False}, one), 1) == "more is false"
    pages = OffsetPagination.model_validate(base | {"max_pages": 2})
    assert stop_reason(pages, page({}, one, number=1), 1) is None
    assert stop_reason(pages, page({}, one, number=2), 2) == "max_pages 2 reached"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_rate_cap_spaces_request_starts_evenly() -> None:
    clock = Clock()
    cap = RateCap(4.0, sleep=clock.sleep, clock=clock)
    for _ in range(5):
        cap.wait()
    assert clock.slept == [0.25, 0.25, 0.25, 0.25]
    clock.now += 10  # idle for a while: no burst credit is saved up beyond the next start
    cap.wait()
    cap.wait()
    assert clock.slept[-1] == 0.25


@pytest.fixture
def outbound(tmp_path: Path) -> Iterator[OutboundClient]:
    with OutboundClient(Settings(data_dir=tmp_path, outbound_allow=["127.0.0.0/8"])) as client:
        yield client


def test_oauth_token_is_renewed_before_its_announced_expiry(outbound: OutboundClient) -> None:
    with LocalServer() as server:
        api = TestApi(server)
        api.token_endpoint("id", "s", expires_in=100)
        auth = OAuth2ClientCredentials(
            type="oauth2_client_credentials",
            token_url=api.url("/token"),
            client_id="id",
            client_secret="s",  # type: ignore[arg-type]  # pydantic makes it a SecretStr
        )
        clock = Clock()
        tokens = TokenCache(clock=clock)
        assert tokens.get(outbound, auth) == "tok-1"
        clock.now += 89  # the margin is a tenth of the lifetime: valid until 90 s
        assert tokens.get(outbound, auth) == "tok-1"
        clock.now += 1
        assert tokens.get(outbound, auth) == "tok-2"
        tokens.invalidate(auth, "tok-1")  # an older token: the current one stays
        assert tokens.get(outbound, auth) == "tok-2"
        tokens.invalidate(auth, "tok-2")
        assert tokens.get(outbound, auth) == "tok-3"
        assert [json.dumps(hit.query) for hit in api.hits_of("/token")] == [
            json.dumps({"grant_type": "client_credentials"})
        ] * 3


def test_oauth_token_request_is_retried_after_a_server_error_or_a_lost_answer(
    tmp_path: Path,
) -> None:
    """A token grant is a POST with no effect but its answer: after a 500 and a connection
    reset the third attempt gets the token (the outbound client sends other POSTs again only
    with an Idempotency-Key)."""
    settings = Settings(data_dir=tmp_path, outbound_allow=["127.0.0.0/8"], outbound_retry_base=0.01)
    with LocalServer() as server, OutboundClient(settings) as outbound:
        api = TestApi(server)
        api.token_endpoint("id", "s", faults={1: server_error, 2: reset})
        auth = OAuth2ClientCredentials(
            type="oauth2_client_credentials",
            token_url=api.url("/token"),
            client_id="id",
            client_secret="s",  # type: ignore[arg-type]  # pydantic makes it a SecretStr
        )
        assert TokenCache(clock=Clock()).get(outbound, auth) == "tok-1"
        assert len([seen for seen in server.seen if seen.path == "/token"]) == 3
        assert len(api.hits_of("/token")) == 1  # the one that was answered
