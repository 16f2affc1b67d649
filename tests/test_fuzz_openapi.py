"""Schemathesis against the app's own OpenAPI document: every operation, a fixed seed and a
bounded number of examples, and four checks (no 5xx; status codes, content types and bodies
as documented). Runs on SQLite only: it tests the HTTP contract, not the store."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from loadbay.app import create_app
from loadbay.settings import Settings
from tests.outbound import ConnectRecorder, FakeDNS

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 60

# The schema is loaded at collection, before fixtures exist: the app gets its own directory.
_data_dir = Path(tempfile.mkdtemp(prefix="loadbay-fuzz-"))
atexit.register(shutil.rmtree, _data_dir, ignore_errors=True)
app = create_app(Settings(data_dir=_data_dir / "var", rate_limit_default="1000000/minute"))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module", autouse=True)
def running_app() -> Iterator[None]:
    """Runs the lifespan once; schemathesis' own ASGI clients share the app's state.

    The fuzzer registers webhook endpoints at made-up URLs and the imports it makes send
    events to them: names are answered by no DNS and connections go nowhere but loopback,
    so nothing leaves the machine (the deliveries simply fail)."""
    with pytest.MonkeyPatch.context() as patch:
        ConnectRecorder().install(patch)
        FakeDNS({"localhost": [["127.0.0.1"]]}).install(patch)
        with TestClient(app):
            yield


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)
