"""Rate limits: exact admission per caller, IETF fields, 429 problems, route groups."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from loadbay.app import create_app
from loadbay.security.clients import client_address
from loadbay.security.ratelimit import route_group
from loadbay.settings import Settings

LIMIT = 5
STATE = re.compile(r'^"(?P<name>[a-z0-9-]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')


@pytest.fixture
def limited(settings: Settings) -> Iterator[TestClient]:
    limited = settings.model_copy(
        update={
            "rate_limit_default": f"{LIMIT}/minute",
            "rate_limits": {"schemas": "2/second;3/minute"},
            "trust_proxy": True,
        }
    )
    with TestClient(create_app(limited), raise_server_exceptions=False) as client:
        yield client


def test_each_client_is_admitted_exactly_its_limit(limited: TestClient) -> None:
    refused_before = (
        REGISTRY.get_sample_value("loadbay_rate_limited_requests_total", {"group": "imports"})
        or 0.0
    )
    statuses: dict[str, list[int]] = {"10.0.0.1": [], "10.0.0.2": []}
    for _ in range(3 * LIMIT):
        for ip, seen in statuses.items():
            response = limited.get("/api/imports", headers={"X-Forwarded-For": ip})
            seen.append(response.status_code)
            assert response.headers["ratelimit-policy"] == f'"default";q={LIMIT};w=60'
            state = STATE.match(response.headers["ratelimit"])
            assert state is not None
            assert state["name"] == "default"
            assert int(state["r"]) == max(0, LIMIT - len(seen))
            assert 0 <= int(state["t"]) <= 60
            if response.status_code == 429:
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["type"] == "/problems/quota-exceeded"
                assert 1 <= int(response.headers["retry-after"]) <= 60
    for seen in statuses.values():
        assert seen == [200] * LIMIT + [429] * (2 * LIMIT)
    refused = REGISTRY.get_sample_value("loadbay_rate_limited_requests_total", {"group": "imports"})
    assert refused == refused_before + 4 * LIMIT


def test_a_group_policy_with_two_windows(limited: TestClient) -> None:
    headers = {"X-Forwarded-For": "10.0.0.3"}
    first = limited.get("/api/schemas", headers=headers)
    assert first.headers["ratelimit-policy"] == '"schemas-1s";q=2;w=1, "schemas-60s";q=3;w=60'
    codes = [first.status_code] + [
        limited.get("/api/schemas", headers=headers).status_code for _ in range(4)
    ]
    assert codes.count(200) <= 3
    assert codes[0] == 200
    assert codes[-1] == 429


def test_groups_are_counted_apart_and_probes_are_not_limited(limited: TestClient) -> None:
    headers = {"X-Forwarded-For": "10.0.0.4"}
    for _ in range(LIMIT):
        assert limited.get("/api/imports", headers=headers).status_code == 200
    assert limited.get("/api/imports", headers=headers).status_code == 429
    assert limited.get("/api/uploads/nope", headers=headers).status_code == 404
    for _ in range(2 * LIMIT):
        probe = limited.get("/healthz", headers=headers)
        assert probe.status_code == 200
        assert "ratelimit" not in probe.headers


def test_forwarded_for_is_ignored_without_a_trusted_proxy(settings: Settings) -> None:
    strict = settings.model_copy(update={"rate_limit_default": "2/minute"})
    with TestClient(create_app(strict), raise_server_exceptions=False) as client:
        codes = [
            client.get("/api/imports", headers={"X-Forwarded-For": f"10.1.0.{i}"}).status_code
            for i in range(3)
        ]
    assert codes == [200, 200, 429]


@pytest.mark.parametrize(
    ("path", "group"),
    [
        ("/api/uploads", "uploads"),
        ("/api/uploads/x", "uploads"),
        ("/api/uploadsx", "api"),
        ("/api/imports/1/errors", "imports"),
        ("/api/schemas", "schemas"),
        ("/api/keys", "keys"),
        ("/api/stats", "operations"),
        ("/metrics", "operations"),
        ("/api/other", "api"),
        ("/healthz", None),
        ("/readyz", None),
        ("/openapi.json", None),
        ("/", None),
    ],
)
def test_route_groups(path: str, group: str | None) -> None:
    assert route_group(path) == group


@pytest.mark.parametrize(
    ("forwarded", "trust", "expected"),
    [
        ([b"1.1.1.1"], True, "1.1.1.1"),
        ([b"6.6.6.6, 1.1.1.1"], True, "1.1.1.1"),
        ([b"6.6.6.6", b"2.2.2.2"], True, "2.2.2.2"),
        ([b"1.1.1.1"], False, "9.9.9.9"),
        ([], True, "9.9.9.9"),
    ],
)
def test_client_address(forwarded: list[bytes], trust: bool, expected: str) -> None:
    scope = {
        "headers": [(b"x-forwarded-for", value) for value in forwarded],
        "client": ("9.9.9.9", 1234),
    }
    assert client_address(scope, trust_proxy=trust) == expected


def test_an_invalid_policy_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rate_limits"):
        Settings(data_dir=tmp_path, rate_limits={"imports": "often"})


def test_upload_bytes_policy_counts_declared_body_sizes(settings: Settings) -> None:
    limited = settings.model_copy(
        update={"rate_limits": {"uploads": "100/minute", "uploads-bytes": "1000/minute"}}
    )
    tus = {"Tus-Resumable": "1.0.0"}
    with TestClient(create_app(limited), raise_server_exceptions=False) as client:
        created = client.post("/api/uploads", headers=tus | {"Upload-Length": "5000"})
        assert created.status_code == 201
        assert created.headers["ratelimit-policy"] == '"uploads";q=100;w=60'
        path = created.headers["location"]
        chunk = tus | {"Content-Type": "application/offset+octet-stream"}
        first = client.patch(path, content=b"a" * 600, headers=chunk | {"Upload-Offset": "0"})
        assert first.status_code == 204
        assert first.headers["ratelimit-policy"] == (
            '"uploads";q=100;w=60, "uploads-bytes";q=1000;w=60'
        )
        assert first.headers["ratelimit"].startswith('"uploads-bytes";r=400;t=')
        second = client.patch(path, content=b"b" * 600, headers=chunk | {"Upload-Offset": "600"})
        assert second.status_code == 429
        assert second.json()["type"] == "/problems/quota-exceeded"
        assert "uploads-bytes" in second.json()["detail"]
        assert int(second.headers["retry-after"]) >= 1
        assert client.head(path, headers=tus).headers["upload-offset"] == "600"


def test_a_dead_redis_serves_requests_unlimited_and_says_so(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    def unavailable() -> float:
        return REGISTRY.get_sample_value("loadbay_rate_limit_unavailable_total") or 0.0

    before = unavailable()
    dead = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(dead)) as client, caplog.at_level("WARNING"):
        for _ in range(3):
            response = client.get("/api/imports")
            assert response.status_code == 200, response.text
            assert "ratelimit" not in {k.lower() for k in response.headers}
    assert unavailable() - before == 3
    warnings = [r for r in caplog.records if "rate limits not applied" in r.getMessage()]
    assert len(warnings) == 1  # once a minute, not per request
