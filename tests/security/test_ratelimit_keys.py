"""Rate limits per key: in one process, and shared by two server processes through Redis."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from loadbay.app import create_app
from loadbay.context import AppContext
from loadbay.settings import Settings
from tests.conftest import IN_CI, REDIS_URL
from tests.e2e.conftest import ServerProcess, server_env
from tests.security.conftest import Keys, bearer, make_keys

LIMIT = 4


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    return REDIS_URL


def run_script(send: object, keys: Keys) -> dict[str, list[int]]:
    """3L requests from each of two keys, interleaved; the status codes per key."""
    seen: dict[str, list[int]] = {"read": [], "write": []}
    for _ in range(3 * LIMIT):
        for name in seen:
            response = send(bearer(getattr(keys, name)))  # type: ignore[operator]
            seen[name].append(response.status_code)
            assert "ratelimit" in response.headers
            assert "ratelimit-policy" in response.headers
            if response.status_code == 429:
                assert int(response.headers["retry-after"]) >= 1
    return seen


def test_each_key_is_admitted_exactly_its_limit(secured_settings: Settings) -> None:
    limited = secured_settings.model_copy(update={"rate_limit_default": f"{LIMIT}/minute"})
    with TestClient(create_app(limited), raise_server_exceptions=False) as client:
        keys = make_keys(client.app.state.context)  # type: ignore[attr-defined]
        seen = run_script(lambda headers: client.get("/api/imports", headers=headers), keys)
    assert seen == {name: [200] * LIMIT + [429] * (2 * LIMIT) for name in ("read", "write")}


@pytest.fixture
def two_servers(
    tmp_path: Path, database_url: str, settings: Settings, redis_url: str
) -> Iterator[tuple[list[ServerProcess], Keys]]:
    context = AppContext.build(settings)
    context.start()
    keys = make_keys(context)
    context.close()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = server_env(
        tmp_path / "var",
        LOADBAY_DATABASE_URL=database_url,
        LOADBAY_AUTH="required",
        LOADBAY_REDIS_URL=redis_url,
        LOADBAY_RATE_LIMIT_DEFAULT=f"{LIMIT}/minute",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    servers = [ServerProcess(env, tmp_path / f"server{i}.log") for i in range(2)]
    try:
        for server in servers:
            server.start()
        yield servers, keys
    finally:
        for server in servers:
            server.stop()


def test_limits_are_shared_across_processes_through_redis(
    two_servers: tuple[list[ServerProcess], Keys],
) -> None:
    servers, keys = two_servers
    bases = itertools.cycle(server.base for server in servers)
    with httpx.Client() as http:
        seen = run_script(
            lambda headers: http.get(f"{next(bases)}/api/imports", headers=headers), keys
        )
        metrics = http.get(f"{servers[0].base}/metrics", headers=bearer(keys.read))
    assert seen == {name: [200] * LIMIT + [429] * (2 * LIMIT) for name in ("read", "write")}
    # Multiprocess mode: either server reports the refusals of both.
    samples = {
        (s.name, s.labels.get("group"), s.labels.get("status"), s.labels.get("route")): s.value
        for family in text_string_to_metric_families(metrics.text)
        for s in family.samples
    }
    assert samples[("loadbay_rate_limited_requests_total", "imports", None, None)] == 4 * LIMIT
    count = ("http_request_duration_seconds_count", None, "429", "/api/imports")
    assert samples[count] == 4 * LIMIT
