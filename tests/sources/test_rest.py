"""REST sources end to end against the local test API: every pagination style and auth kind,
retries within bounds, OAuth token renewal, the incremental cursor, the rate cap, secrets."""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.sources.api import TestApi, record, reset, server_error, too_many
from tests.sources.conftest import RETRY_MAX_WAIT, loaded_ids, run

from loadbay.context import AppContext
from loadbay.sources.models import ImportSource

ALL = list(range(1, 24))  # the test API's records


def rest(api: TestApi, path: str, **config: Any) -> dict[str, Any]:
    return {"type": "rest", "base_url": api.base, "path": path, **config}


STYLES: dict[str, tuple[str, dict[str, Any], int]] = {
    # name: (route, source config, requests expected for 23 records)
    "offset-empty-page": (
        "/offset",
        {"records_path": "data", "pagination": {"type": "offset", "limit": 5}},
        6,
    ),
    "offset-total": (
        "/offset",
        {
            "records_path": "data",
            "pagination": {"type": "offset", "limit": 5, "total_path": "meta.total"},
        },
        5,
    ),
    "page-number-has-more": (
        "/pages",
        {
            "records_path": "items",
            "pagination": {
                "type": "page_number",
                "size_param": "per_page",
                "size": 4,
                "has_more_path": "has_more",
            },
        },
        6,
    ),
    "cursor": (
        "/cursor",
        {
            "records_path": "results",
            "pagination": {
                "type": "cursor",
                "cursor_path": "next_cursor",
                "cursor_param": "cursor",
            },
        },
        4,
    ),
    "json-link": ("/json-link", {"records_path": "data", "pagination": {"type": "json_link"}}, 4),
    "header-link": ("/header-link", {"pagination": {"type": "header_link"}}, 3),
    "auto-header-link": ("/header-link", {}, 3),
    "auto-json-link": ("/json-link", {"records_path": "data"}, 4),
    "auto-cursor": ("/cursor", {"records_path": "results"}, 4),
}


def install_all(api: TestApi, **kwargs: Any) -> None:
    api.offset(**kwargs)
    api.page_number(**kwargs)
    api.cursor(**kwargs)
    api.json_link(**kwargs)
    api.header_link(**kwargs)


@pytest.mark.parametrize("style", list(STYLES))
def test_each_pagination_style_imports_exactly_the_records(
    client: TestClient,
    customers: dict[str, Any],
    api: TestApi,
    target_engine: sa.Engine,
    style: str,
) -> None:
    path, config, requests = STYLES[style]
    install_all(api)
    done = run(client, rest(api, path, **config))
    assert done["state"] == "completed", done
    assert loaded_ids(target_engine) == ALL
    assert done["counts"]["rows_loaded"] == len(ALL)
    assert len(api.hits_of(path)) == requests
    detail = done["source_detail"]
    assert detail["records_fetched"] == len(ALL)
    assert detail["pages_fetched"] == requests
    assert done["file_name"] == path.strip("/") + ".ndjson"


def test_max_pages_stops_early_on_purpose(
    client: TestClient, customers: dict[str, Any], api: TestApi, target_engine: sa.Engine
) -> None:
    api.cursor()
    pagination = {"type": "cursor", "cursor_path": "next_cursor", "max_pages": 2}
    done = run(client, rest(api, "/cursor", records_path="results", pagination=pagination))
    assert done["state"] == "completed", done
    assert loaded_ids(target_engine) == list(range(1, 15))


AUTHS: dict[str, tuple[dict[str, Any], Any]] = {
    "basic": (
        {"type": "basic", "username": "ann", "password": "pa:ss wörd"},
        TestApi.basic("ann", "pa:ss wörd"),
    ),
    "bearer": ({"type": "bearer", "token": "t0ken"}, TestApi.bearer("t0ken")),
    "api-key-header": (
        {"type": "api_key", "name": "X-Api-Key", "value": "k3y"},
        TestApi.api_key_header("X-Api-Key", "k3y"),
    ),
    "api-key-query": (
        {"type": "api_key", "name": "api_key", "value": "k3y", "in": "query"},
        TestApi.api_key_query("api_key", "k3y"),
    ),
}


@pytest.mark.parametrize("kind", list(AUTHS))
def test_each_auth_kind_is_sent_on_every_page(
    client: TestClient,
    customers: dict[str, Any],
    api: TestApi,
    target_engine: sa.Engine,
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth, check = AUTHS[kind]
    api.json_link(auth=check)
    caplog.set_level(logging.DEBUG)
    done = run(client, rest(api, "/json-link", records_path="data", auth=auth))
    assert done["state"] == "completed", done
    assert loaded_ids(target_engine) == ALL
    secret = next(v for k, v in auth.items() if k in ("password", "token", "value"))
    shown = json.dumps(done)
    assert secret not in shown
    shown_auth = done["source_detail"]["config"]["auth"]
    assert {k: shown_auth[k] for k in auth} == {
        k: "[redacted]" if v == secret else v for k, v in auth.items()
    }
    assert secret not in caplog.text
    assert secret not in json.dumps(client.get("/api/imports").json())


def test_wrong_credentials_fail_clearly(
    client: TestClient, customers: dict[str, Any], api: TestApi
) -> None:
    api.json_link(auth=TestApi.bearer("right"))
    source = rest(api, "/json-link", records_path="data", auth={"type": "bearer", "token": "x"})
    done = run(client, source)
    assert done["state"] == "failed"
    assert done["failure"] == {
        "type": "source-auth-failed",
        "detail": f"GET {api.url('/json-link')} answered 401 Unauthorized: check the source's auth",
    }


def oauth(api: TestApi, **extra: Any) -> dict[str, Any]:
    return {
        "type": "oauth2_client_credentials",
        "token_url": api.url("/token"),
        "client_id": "loadbay",
        "client_secret": "sh-h",
        **extra,
    }


def test_oauth_token_is_cached_and_renewed_after_a_401_mid_run(
    client: TestClient, customers: dict[str, Any], api: TestApi, target_engine: sa.Engine
) -> None:
    api.token_endpoint("loadbay", "sh-h")
    api.cursor(size=5, auth=api.oauth())
    api.revoke_after("/cursor", 2)  # the token dies after two pages, although "valid 1 h"
    source = rest(api, "/cursor", records_path="results", auth=oauth(api, scope="read"))
    done = run(client, source)
    assert done["state"] == "completed", done
    assert loaded_ids(target_engine) == ALL
    assert api.tokens_issued == ["tok-1", "tok-2"]
    assert [hit.query["scope"] for hit in api.hits_of("/token")] == ["read", "read"]
    # 5 pages of records, plus the one refused with the revoked token.
    assert len(api.hits_of("/cursor")) == 6
    assert "sh-h" not in json.dumps(done)

    # A second run of the source reuses the token still valid: no new token request.
    run(client, source)
    assert api.tokens_issued == ["tok-1", "tok-2"]


def test_oauth_refused_client_fails_with_the_oauth_error(
    client: TestClient, customers: dict[str, Any], api: TestApi
) -> None:
    api.token_endpoint("loadbay", "other")
    api.cursor(auth=api.oauth())
    done = run(client, rest(api, "/cursor", records_path="results", auth=oauth(api)))
    assert done["state"] == "failed"
    assert done["failure"] == {
        "type": "source-auth-failed",
        "detail": f"the token endpoint {api.url('/token')} answered 401 Unauthorized "
        "(invalid_client)",
    }
    assert api.hits_of("/cursor") == []


def test_429_500_and_resets_are_retried_within_bounds(
    client: TestClient, customers: dict[str, Any], api: TestApi, target_engine: sa.Engine
) -> None:
    # Hits 2, 3 and 5 of the route fail; the records must still arrive exactly once.
    api.cursor(faults={2: too_many("10"), 3: server_error, 5: reset})
    done = run(client, rest(api, "/cursor", records_path="results"))
    assert done["state"] == "completed", done
    assert loaded_ids(target_engine) == ALL
    hits = api.hits_of("/cursor")
    assert len(hits) == 4 + 3  # four pages, three failed attempts
    # Retry-After: 10 is capped at LOADBAY_OUTBOUND_RETRY_MAX_WAIT, and at least that long.
    waited = hits[2].at - hits[1].at
    assert RETRY_MAX_WAIT * 0.9 <= waited < RETRY_MAX_WAIT + 1.0
    # The 500 and the reset wait a full-jitter backoff, never more than the cap.
    assert hits[3].at - hits[2].at < RETRY_MAX_WAIT + 1.0
    assert hits[5].at - hits[4].at < RETRY_MAX_WAIT + 1.0


def test_a_server_that_keeps_failing_fails_after_the_attempts_allowed(
    client: TestClient, customers: dict[str, Any], api: TestApi
) -> None:
    api.cursor(faults=dict.fromkeys(range(1, 20), server_error))
    done = run(client, rest(api, "/cursor", records_path="results"))
    assert done["state"] == "failed"
    assert done["failure"]["type"] == "outbound-failed"
    assert "failed after 5 attempts: HTTP 500" in done["failure"]["detail"]
    assert len(api.hits_of("/cursor")) == 5


def test_the_rate_cap_spaces_the_requests(
    client: TestClient, customers: dict[str, Any], api: TestApi, target_engine: sa.Engine
) -> None:
    api.header_link(size=4)
    source = rest(api, "/header-link", rate_limit={"requests_per_second": 20})
    done = run(client, source)
    assert done["state"] == "completed", done
    starts = [hit.at for hit in api.hits_of("/header-link")]
    assert len(starts) == 6
    # Spaced at the client; arrival times at the server jitter a little around that.
    assert starts[-1] - starts[0] >= 5 * 0.05 * 0.95
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.05 * 0.5


def incremental(api: TestApi, **extra: Any) -> dict[str, Any]:
    return rest(
        api,
        "/offset",
        records_path="data",
        pagination={"type": "offset", "limit": 10},
        incremental={"cursor_path": "updated_at", "param": "since", **extra},
    )


def test_incremental_runs_fetch_only_new_records(
    client: TestClient,
    customers: dict[str, Any],
    api: TestApi,
    target_engine: sa.Engine,
    context: AppContext,
) -> None:
    api.offset()
    first = run(client, incremental(api))
    assert first["state"] == "completed", first
    assert "since" not in api.hits[0].query
    assert first["source_detail"]["cursor_to"] == "2024-03-23T00:00:00Z"

    api.records += [record(i) for i in (24, 25, 26)]
    api.hits.clear()
    second = run(client, incremental(api))
    assert second["state"] == "completed", second
    assert {hit.query.get("since") for hit in api.hits} == {"2024-03-23T00:00:00Z"}
    assert second["counts"]["rows_loaded"] == 3
    assert second["source_detail"]["cursor_from"] == "2024-03-23T00:00:00Z"
    assert second["source_detail"]["cursor_to"] == "2024-03-26T00:00:00Z"
    assert loaded_ids(target_engine) == list(range(1, 27))

    # Nothing new: the import completes with no rows and the cursor stays.
    third = run(client, incremental(api))
    assert third["state"] == "completed", third
    assert third["counts"]["rows_loaded"] == 0
    assert third["upload_id"] is None
    assert third["source_detail"]["cursor_to"] == "2024-03-26T00:00:00Z"

    # The stored configs were dropped once each fetch ended.
    with context.sessions() as session:
        assert session.scalars(sa.select(ImportSource.config)).all() == [None, None, None]


def test_a_failed_run_does_not_move_the_cursor(
    client: TestClient, customers: dict[str, Any], api: TestApi, target_engine: sa.Engine
) -> None:
    api.offset()
    source = incremental(api, initial_value="2024-03-20T00:00:00Z")
    first = run(client, source)
    assert first["state"] == "completed", first
    assert loaded_ids(target_engine) == [21, 22, 23]

    # Record 24 is invalid (no email): with on_error=abort nothing loads; the import rests
    # validated, and is cancelled.
    api.records += [record(24) | {"email": None}, record(25)]
    invalid = run(client, source)
    assert invalid["state"] == "validated", invalid
    assert invalid["counts"]["rows_invalid"] == 1
    assert invalid["source_detail"]["cursor_to"] == "2024-03-25T00:00:00Z"
    assert client.post(f"/api/imports/{invalid['id']}/cancel").status_code == 202

    api.records[-2]["email"] = "fixed@example.com"
    api.hits.clear()
    fixed = run(client, source)
    assert fixed["state"] == "completed", fixed
    # The failed run's high-water mark was not remembered: 24 and 25 are fetched again.
    assert {hit.query["since"] for hit in api.hits} == {"2024-03-23T00:00:00Z"}
    assert loaded_ids(target_engine) == [21, 22, 23, 24, 25]


def test_a_source_name_keys_its_cursor(
    client: TestClient, customers: dict[str, Any], api: TestApi
) -> None:
    api.offset()
    named = incremental(api) | {"name": "crm-customers"}
    done = run(client, named)
    assert done["source_detail"]["source_key"] == "crm-customers"
    # The same fetch under another name starts from scratch.
    other = run(client, incremental(api) | {"name": "other"})
    assert other["source_detail"]["cursor_from"] is None
    assert other["source_detail"]["records_fetched"] == len(ALL)


def test_records_path_pointing_nowhere_fails_with_a_hint(
    client: TestClient, customers: dict[str, Any], api: TestApi
) -> None:
    api.offset()
    done = run(client, rest(api, "/offset", records_path="rows"))
    assert done["state"] == "failed"
    assert done["failure"] == {
        "type": "source-failed",
        "detail": "the answer has nothing at records_path 'rows' (keys there: data, meta)",
    }
    body_object = run(client, rest(api, "/offset"))
    assert body_object["failure"]["detail"] == (
        "the body is an object, not an array of records; set records_path to the key of the "
        "records (keys: data, meta)"
    )


def test_a_pagination_that_does_not_advance_fails(
    client: TestClient, customers: dict[str, Any], api: TestApi
) -> None:
    api.route("/stuck", lambda query: ({"data": [record(1)], "next_cursor": "same"}, {}))
    done = run(client, rest(api, "/stuck", records_path="data"))
    assert done["state"] == "failed"
    assert done["failure"]["type"] == "source-failed"
    assert "pagination does not advance: page 2 asks for" in done["failure"]["detail"]
    assert len(api.hits_of("/stuck")) == 2


def test_a_link_to_another_server_is_not_followed(
    client: TestClient, customers: dict[str, Any], api: TestApi
) -> None:
    api.route("/away", lambda query: ({"data": [record(1)], "next": "http://127.0.0.2:1/x"}, {}))
    done = run(client, rest(api, "/away", records_path="data"))
    assert done["state"] == "failed"
    assert "links to another server are not followed" in done["failure"]["detail"]


@pytest.mark.parametrize(
    ("source", "path"),
    [
        ({"type": "rest", "path": "/x"}, "$.source.rest.base_url"),
        ({"type": "rest", "base_url": "http://h", "pagination": {"type": "x"}}, None),
        (
            {"type": "rest", "base_url": "http://h", "headers": {"Authorization": "Bearer x"}},
            "$.source.rest.headers",
        ),
        (
            {"type": "rest", "base_url": "http://h", "auth": {"type": "bearer"}},
            "$.source.rest.auth.bearer.token",
        ),
        (
            {
                "type": "rest",
                "base_url": "http://h",
                "pagination": {"type": "page_number", "size": 5},
            },
            "$.source.rest.pagination.page_number",
        ),
        ({"type": "sftp"}, "$.source"),
    ],
)
def test_bad_rest_sources_are_422_with_paths(
    client: TestClient, source: dict[str, Any], path: str | None
) -> None:
    response = client.post("/api/imports", json={"source": source, "schema": "customers"})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/invalid-request"
    paths = [e["path"] for e in problem["errors"]]
    if path is None:
        assert all(p.startswith("$.source.rest.pagination") for p in paths), paths
    else:
        assert path in paths, paths
