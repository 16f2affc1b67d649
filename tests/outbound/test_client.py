"""OutboundClient against a real local server: retries, waits, redirects, streaming."""

from __future__ import annotations

import email.utils
import json
import random
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadbay import __version__
from loadbay.api_errors import status_for
from loadbay.outbound import OutboundClient, OutboundError
from loadbay.outbound.retry import backoff_wait, parse_retry_after
from loadbay.settings import Settings
from tests.outbound import ConnectRecorder, Handler, LocalHTTPServer, LocalServer

MakeClient = Callable[..., OutboundClient]


@pytest.fixture
def server() -> Iterator[LocalHTTPServer]:
    with LocalServer() as httpd:
        yield httpd


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> ConnectRecorder:
    return ConnectRecorder().install(monkeypatch)


@pytest.fixture
def make_client(
    tmp_path: Path, waits: list[float], connects: ConnectRecorder
) -> Iterator[MakeClient]:
    clients: list[OutboundClient] = []

    def make(*, rng: random.Random | None = None, **overrides: Any) -> OutboundClient:
        values: dict[str, Any] = {
            "data_dir": tmp_path,
            "outbound_allow": ["127.0.0.0/8"],
            "outbound_read_timeout": 0.3,
            "outbound_connect_timeout": 2.0,
        }
        values.update(overrides)
        client = OutboundClient(Settings(**values), sleep=waits.append, rng=rng)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> OutboundClient:
    return make_client()


def ok(handler: Handler, hit: int) -> None:
    handler.reply(200, b"done", {"Content-Type": "text/plain"})


def test_success_sends_user_agent_and_does_not_wait(
    client: OutboundClient, server: LocalHTTPServer, waits: list[float]
) -> None:
    server.routes["/ok"] = ok
    response = client.request("GET", server.url("/ok"), params={"page": 2})
    assert response.status_code == 200
    assert response.text == "done"
    assert server.seen[0].headers["user-agent"] == f"loadbay/{__version__}"
    assert server.seen[0].path == "/ok?page=2"
    assert waits == []


def test_params_are_added_to_the_query_of_the_url(
    client: OutboundClient, server: LocalHTTPServer
) -> None:
    server.routes["/ok"] = ok
    client.request("GET", server.url("/ok?status=active&page=1"), params={"page": 2, "n": "a b"})
    assert server.seen[0].path == "/ok?status=active&page=2&n=a+b"


def test_503_twice_then_200_waits_with_full_jitter(
    make_client: MakeClient, server: LocalHTTPServer, waits: list[float]
) -> None:
    def flaky(handler: Handler, hit: int) -> None:
        if hit <= 2:
            handler.reply(503, b"busy")
        else:
            ok(handler, hit)

    server.routes["/flaky"] = flaky
    client = make_client(rng=random.Random(7))
    response = client.request("GET", server.url("/flaky"))
    assert response.status_code == 200
    assert server.hits["/flaky"] == 3
    # Full jitter: uniform in [0, base * 2**(n-1)]; the same seed must give the same draws.
    expected_rng = random.Random(7)
    assert waits == [expected_rng.uniform(0, 0.5), expected_rng.uniform(0, 1.0)]


def test_retry_after_seconds_is_honoured(
    client: OutboundClient, server: LocalHTTPServer, waits: list[float]
) -> None:
    def limited(handler: Handler, hit: int) -> None:
        if hit == 1:
            handler.reply(429, b"slow down", {"Retry-After": "7"})
        else:
            ok(handler, hit)

    server.routes["/limited"] = limited
    assert client.request("GET", server.url("/limited")).status_code == 200
    assert waits == [7.0]
    assert server.hits["/limited"] == 2


def test_retry_after_http_date_is_honoured(
    client: OutboundClient, server: LocalHTTPServer, waits: list[float]
) -> None:
    def limited(handler: Handler, hit: int) -> None:
        if hit == 1:
            when = email.utils.formatdate(time.time() + 10, usegmt=True)
            handler.reply(429, b"slow down", {"Retry-After": when})
        else:
            ok(handler, hit)

    server.routes["/limited"] = limited
    assert client.request("GET", server.url("/limited")).status_code == 200
    assert len(waits) == 1
    # The date has whole seconds and a little time passes before the client reads it.
    assert 8.0 < waits[0] <= 10.0


def test_retry_after_is_capped_by_the_max_wait(
    make_client: MakeClient, server: LocalHTTPServer, waits: list[float]
) -> None:
    def limited(handler: Handler, hit: int) -> None:
        if hit == 1:
            handler.reply(503, b"maintenance", {"Retry-After": "3600"})
        else:
            ok(handler, hit)

    server.routes["/limited"] = limited
    client = make_client(outbound_retry_max_wait=12.0)
    assert client.request("GET", server.url("/limited")).status_code == 200
    assert waits == [12.0]


def test_retry_after_zero_or_past_still_waits_the_minimum(
    client: OutboundClient, server: LocalHTTPServer, waits: list[float]
) -> None:
    def limited(handler: Handler, hit: int) -> None:
        if hit == 1:
            handler.reply(429, b"", {"Retry-After": "0"})
        elif hit == 2:
            past = email.utils.formatdate(time.time() - 3600, usegmt=True)
            handler.reply(429, b"", {"Retry-After": past})
        else:
            ok(handler, hit)

    server.routes["/limited"] = limited
    assert client.request("GET", server.url("/limited")).status_code == 200
    assert waits == [0.5, 0.5]  # outbound_retry_base, not a tight loop


def test_connection_reset_mid_response_is_retried(
    client: OutboundClient, server: LocalHTTPServer, waits: list[float]
) -> None:
    def reset_once(handler: Handler, hit: int) -> None:
        if hit == 1:
            handler.reset_mid_response()
        else:
            ok(handler, hit)

    server.routes["/reset"] = reset_once
    response = client.request("GET", server.url("/reset"))
    assert response.text == "done"
    assert server.hits["/reset"] == 2
    assert len(waits) == 1


def test_408_is_retried(
    client: OutboundClient, server: LocalHTTPServer, waits: list[float]
) -> None:
    def timeout_once(handler: Handler, hit: int) -> None:
        if hit == 1:
            handler.reply(408, b"too slow")
        else:
            ok(handler, hit)

    server.routes["/408"] = timeout_once
    assert client.request("GET", server.url("/408")).status_code == 200
    assert server.hits["/408"] == 2
    assert len(waits) == 1


def test_read_timeout_is_retried_then_fails_with_a_domain_error(
    make_client: MakeClient, server: LocalHTTPServer, waits: list[float]
) -> None:
    def slow(handler: Handler, hit: int) -> None:
        server.release.wait(timeout=5)  # far beyond the 0.3 s read timeout
        ok(handler, hit)

    server.routes["/slow"] = slow
    client = make_client(outbound_retry_attempts=3)
    started = time.monotonic()
    with pytest.raises(OutboundError) as caught:
        client.request("GET", server.url("/slow"))
    assert time.monotonic() - started < 3.0  # three read timeouts, no real sleeping
    assert caught.value.attempts == 3
    assert caught.value.status is None
    assert "ReadTimeout" in caught.value.reason
    assert server.hits["/slow"] == 3
    assert len(waits) == 2


def test_exhausted_retries_raise_with_a_redacted_url(
    make_client: MakeClient, server: LocalHTTPServer, waits: list[float]
) -> None:
    server.routes["/down"] = lambda handler, hit: handler.reply(503, b"down")
    client = make_client(outbound_retry_base=1.0, outbound_retry_max_wait=3.0)
    with pytest.raises(OutboundError) as caught:
        client.request("GET", server.url("/down?token=s3cret&page=2"))
    error = caught.value
    assert error.status == 503
    assert error.attempts == 5
    assert error.url == server.url("/down") + "?page=[redacted]&token=[redacted]"
    assert "s3cret" not in error.detail
    assert error.extra["upstream_status"] == 503
    assert status_for(error) == 502
    assert server.hits["/down"] == 5
    # Bounded: each wait within [0, min(cap, base * 2**(n-1))].
    assert len(waits) == 4
    for attempt, wait in enumerate(waits, start=1):
        assert 0.0 <= wait <= min(3.0, 1.0 * 2 ** (attempt - 1))


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_non_idempotent_without_key_is_not_retried(
    client: OutboundClient, server: LocalHTTPServer, waits: list[float], method: str
) -> None:
    server.routes["/deliver"] = lambda handler, hit: handler.reply(503, b"busy")
    with pytest.raises(OutboundError) as caught:
        client.request(method, server.url("/deliver"), json={"rows": [1, 2]})
    assert caught.value.attempts == 1
    assert "without an Idempotency-Key" in caught.value.reason
    assert server.hits["/deliver"] == 1
    assert waits == []


def test_non_idempotent_reset_without_key_is_not_retried(
    client: OutboundClient, server: LocalHTTPServer, waits: list[float]
) -> None:
    # The server may have acted on the request before the connection broke.
    server.routes["/deliver"] = lambda handler, hit: handler.reset_mid_response()
    with pytest.raises(OutboundError) as caught:
        client.request("POST", server.url("/deliver"), content=b"batch")
    assert caught.value.attempts == 1
    assert server.hits["/deliver"] == 1
    assert waits == []


def test_post_with_idempotency_key_is_retried_with_the_same_body_and_key(
    client: OutboundClient, server: LocalHTTPServer, waits: list[float]
) -> None:
    def flaky(handler: Handler, hit: int) -> None:
        if hit == 1:
            handler.reply(502, b"bad gateway")
        else:
            handler.reply(201, b"stored")

    server.routes["/deliver"] = flaky
    response = client.request(
        "POST", server.url("/deliver"), json={"rows": [1, 2]}, idempotency_key="batch-7"
    )
    assert response.status_code == 201
    assert server.hits["/deliver"] == 2
    assert [seen.headers["idempotency-key"] for seen in server.seen] == ["batch-7", "batch-7"]
    assert [json.loads(seen.body) for seen in server.seen] == [{"rows": [1, 2]}] * 2
    assert len(waits) == 1


def test_connect_errors_are_retried_for_every_method(
    client: OutboundClient, waits: list[float], connects: ConnectRecorder
) -> None:
    # A port nothing listens on: bind one, then free it.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(OutboundError) as caught:
        client.request("POST", f"http://127.0.0.1:{port}/deliver", content=b"batch")
    assert caught.value.attempts == 5
    assert "ConnectError" in caught.value.reason
    assert len(waits) == 4
    assert connects.addresses == [("127.0.0.1", port)] * 5


def test_other_error_statuses_are_returned_without_retry(
    client: OutboundClient, server: LocalHTTPServer, waits: list[float]
) -> None:
    server.routes["/missing"] = lambda handler, hit: handler.reply(404, b"nope")
    response = client.request("GET", server.url("/missing"))
    assert response.status_code == 404
    assert response.text == "nope"
    assert server.hits["/missing"] == 1
    assert waits == []


def test_redirect_chain_is_followed(client: OutboundClient, server: LocalHTTPServer) -> None:
    def hop(handler: Handler, hit: int) -> None:
        remaining = int(handler.path.rsplit("/", 1)[1])
        target = "/ok" if remaining == 1 else f"/hop/{remaining - 1}"
        handler.reply(302, b"", {"Location": target})

    for n in range(1, 6):
        server.routes[f"/hop/{n}"] = hop
    server.routes["/ok"] = ok
    response = client.request("GET", server.url("/hop/5"))  # five redirects: the limit
    assert response.status_code == 200
    assert response.url == httpx.URL(server.url("/ok"))
    assert [seen.path for seen in server.seen] == [
        "/hop/5",
        "/hop/4",
        "/hop/3",
        "/hop/2",
        "/hop/1",
        "/ok",
    ]


def test_more_redirects_than_allowed_fail(client: OutboundClient, server: LocalHTTPServer) -> None:
    server.routes["/loop"] = lambda handler, hit: handler.reply(302, b"", {"Location": "/loop"})
    with pytest.raises(OutboundError, match="more than 5 redirects") as caught:
        client.request("GET", server.url("/loop"))
    assert caught.value.status == 302
    assert server.hits["/loop"] == 6


def test_redirects_can_be_left_to_the_caller(
    client: OutboundClient, server: LocalHTTPServer
) -> None:
    server.routes["/moved"] = lambda handler, hit: handler.reply(301, b"", {"Location": "/ok"})
    response = client.request("GET", server.url("/moved"), follow_redirects=False)
    assert response.status_code == 301
    assert server.hits["/ok"] == 0


def test_303_turns_post_into_get_and_307_repeats_it(
    client: OutboundClient, server: LocalHTTPServer
) -> None:
    server.routes["/see-other"] = lambda h, hit: h.reply(303, b"", {"Location": "/result"})
    server.routes["/temporary"] = lambda h, hit: h.reply(307, b"", {"Location": "/result"})
    server.routes["/result"] = ok
    client.request("POST", server.url("/see-other"), content=b"payload", idempotency_key="k")
    client.request("POST", server.url("/temporary"), content=b"payload", idempotency_key="k")
    summary = [(seen.method, seen.path, seen.body) for seen in server.seen]
    assert summary == [
        ("POST", "/see-other", b"payload"),
        ("GET", "/result", b""),
        ("POST", "/temporary", b"payload"),
        ("POST", "/result", b"payload"),
    ]
    assert "content-length" not in server.seen[1].headers


def test_redirect_to_another_origin_drops_credentials(
    client: OutboundClient, server: LocalHTTPServer
) -> None:
    with LocalServer() as other:
        other.routes["/ok"] = ok
        server.routes["/away"] = lambda h, hit: h.reply(302, b"", {"Location": other.url("/ok")})
        server.routes["/here"] = lambda h, hit: h.reply(302, b"", {"Location": "/ok"})
        server.routes["/ok"] = ok
        client.request("GET", server.url("/away"), headers={"Authorization": "Bearer t0ken"})
        client.request("GET", server.url("/here"), auth=("user", "pw"))
        client.request("GET", server.url("/away"), auth=("user", "pw"))
        assert other.seen[0].headers.get("authorization") is None
        assert other.seen[1].headers.get("authorization") is None
    assert server.seen[0].headers["authorization"] == "Bearer t0ken"
    # Same origin: basic auth goes on to the redirect target.
    basic = httpx.BasicAuth("user", "pw")._auth_header
    assert [seen.headers.get("authorization") for seen in server.seen[1:4]] == [basic] * 3


def test_stream_reads_large_bodies_incrementally(
    client: OutboundClient, server: LocalHTTPServer, waits: list[float]
) -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB

    def big(handler: Handler, hit: int) -> None:
        if hit == 1:
            handler.reply(503, b"warming up")
        else:
            handler.reply(200, payload)

    server.routes["/big"] = big
    with client.stream("GET", server.url("/big")) as response:
        assert response.status_code == 200
        assert not response.is_stream_consumed
        chunks = list(response.iter_bytes(chunk_size=65536))
    assert b"".join(chunks) == payload
    assert len(chunks) > 1
    assert len(waits) == 1


def test_stream_failure_while_reading_is_a_domain_error(
    client: OutboundClient, server: LocalHTTPServer, waits: list[float]
) -> None:
    server.routes["/cut"] = lambda handler, hit: handler.reset_mid_response()
    with (
        pytest.raises(OutboundError, match="reading the response body") as caught,
        client.stream("GET", server.url("/cut")) as response,
    ):
        response.read()
    assert caught.value.status == 200
    assert server.hits["/cut"] == 1  # the caller holds part of the body: not retried
    assert waits == []


def test_connections_are_reused(
    client: OutboundClient, server: LocalHTTPServer, connects: ConnectRecorder
) -> None:
    server.routes["/ok"] = ok
    for _ in range(3):
        client.request("GET", server.url("/ok"))
    assert connects.addresses == [("127.0.0.1", server.port)]


def test_backoff_is_full_jitter_bounded_by_the_cap() -> None:
    rng = random.Random(3)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (7, 30.0), (200, 30.0)]:
        draws = [backoff_wait(attempt, None, base=0.5, cap=30.0, rng=rng) for _ in range(2000)]
        assert all(0.0 <= wait <= ceiling for wait in draws)
        # Spread over the whole range, not clustered at the ceiling (plain exponential).
        assert min(draws) < 0.05 * ceiling
        assert max(draws) > 0.95 * ceiling
        assert 0.45 * ceiling < sum(draws) / len(draws) < 0.55 * ceiling


def test_backoff_with_retry_after_is_floored_and_capped() -> None:
    assert backoff_wait(1, 0.0, base=0.5, cap=30.0) == 0.5
    assert backoff_wait(1, -120.0, base=0.5, cap=30.0) == 0.5
    assert backoff_wait(4, 7.0, base=0.5, cap=30.0) == 7.0
    assert backoff_wait(1, 86400.0, base=0.5, cap=30.0) == 30.0


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after(None, now=now) is None
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after(" 3 ", now=now) == 3.0
    assert parse_retry_after(email.utils.formatdate(now + 90, usegmt=True), now=now) == 90.0
    assert parse_retry_after(email.utils.formatdate(now - 90, usegmt=True), now=now) == -90.0
    # IMF-fixdate, and the obsolete RFC 850 and asctime forms (RFC 9110 §5.6.7).
    for date in (
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ):
        assert parse_retry_after(date, now=784111777.0) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("-5", now=now) is None
    assert parse_retry_after("1.5", now=now) is None
