"""tus-js-client (npm) under Node against a real server: parallel parts, resume, streams, DELETE.

The client's packages come from tests/e2e/tus_js/package-lock.json; ``npm ci`` runs here
when node_modules is missing.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ServerProcess

HARNESS = Path(__file__).parent / "tus_js"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def node() -> str:
    found = shutil.which("node")
    if found is None or shutil.which("npm") is None:
        if IN_CI:
            pytest.fail("node and npm are needed for the tus-js-client tests")
        pytest.skip("node and npm are not installed")
    # pytest-xdist workers may get here together: one installs, the others wait for it.
    with (Path(tempfile.gettempdir()) / "loadbay-tus-js-npm-ci.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (HARNESS / "node_modules" / "tus-js-client").is_dir():
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund"], cwd=HARNESS, check=True, timeout=300
            )
    return found


def upload_id(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_tus_js_client_scenarios(node: str, upload_server: ServerProcess) -> None:
    endpoint = f"{upload_server.base}/api/uploads"
    run = subprocess.run(
        [node, "upload.mjs", endpoint], cwd=HARNESS, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    seen: dict[str, dict[str, Any]] = json.loads(run.stdout)

    with httpx.Client(timeout=10) as http:
        # parallelUploads: 4 partial uploads, then one final upload (concatenation)
        parallel = seen["parallel"]
        assert parallel["requests"].count("POST") == 5
        final = http.get(parallel["url"]).json()
        assert (final["kind"], final["state"]) == ("final", "complete")
        assert (final["size"], final["sha256"]) == (parallel["size"], parallel["sha256"])
        assert final["filename"] == "parallel.bin"
        assert len(final["parts"]) == 4
        for part in final["parts"]:
            assert http.get(f"{endpoint}/{part}").json()["kind"] == "partial"

        # abort, then start again: one creation, a HEAD at the aborted offset, right bytes
        resumed = seen["abortAndResume"]
        assert resumed["requests"].count("POST") == 1
        assert resumed["headOffsets"] == [resumed["abortedAt"]]
        body = http.get(resumed["url"]).json()
        assert (body["state"], body["sha256"]) == ("complete", resumed["sha256"])

        # uploadLengthDeferred: Upload-Defer-Length at creation, Upload-Length at the end
        deferred = seen["deferredLength"]
        body = http.get(deferred["url"]).json()
        assert (body["state"], body["size"]) == ("complete", deferred["size"])
        assert body["sha256"] == deferred["sha256"]

        # abort(true): tus termination; the upload and its file are gone
        terminated = seen["terminate"]
        head = http.head(terminated["url"], headers={"Tus-Resumable": "1.0.0"})
        assert head.status_code == 410
    uploads = Path(upload_server.env["LOADBAY_DATA_DIR"]) / "uploads"
    assert upload_id(terminated["url"]).replace("-", "") not in os.listdir(uploads)
