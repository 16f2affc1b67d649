"""`loadbay push | status | errors` against a real server: exit codes, output, and a 20 MB
push that is killed mid-upload, resumed by running the same command again, and committed."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from loadbay.cli import app
from loadbay.client import Client
from tests.client.conftest import customers_schema
from tests.e2e.conftest import ServerProcess
from tests.imports.files_helpers import HEADER, customers_csv

ROWS_20_MB = 250_000  # customers_csv rows of ~80 bytes: a 20 MB file
CHUNK = 256 * 1024  # ~80 PATCH requests: the upload can be caught part-way
CLI_START_SECONDS = 90  # `python -m loadbay` imports the whole server; slow on a busy machine


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def import_id_of(stdout: str) -> str:
    found = re.search(r"^import ([0-9a-f-]{36}): ", stdout, re.MULTILINE)
    assert found, stdout
    return found.group(1)


def uploaded_bytes(base: str) -> float:
    """The server's count of upload bytes made durable (Prometheus counter)."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    found = re.search(r"^loadbay_uploaded_bytes_total(?:\{[^}]*\})? (\S+)$", text, re.MULTILINE)
    assert found, "loadbay_uploaded_bytes_total is missing from /metrics"
    return float(found.group(1))


@pytest.mark.usefixtures("cache_dir")
def test_push_commit_status_and_the_exit_codes(
    server: ServerProcess, api: Client, tmp_path: Path
) -> None:
    name = api.schemas.create(customers_schema()).name
    good = tmp_path / "good.csv"
    good.write_bytes(customers_csv(500))
    code, out, err = run_cli(
        "push", str(good), "--schema", name, "--server", server.base, "--commit"
    )
    assert code == 0, out + err
    assert "completed" in out
    assert "500 total, 500 valid, 0 invalid, 500 loaded" in out
    assert "uploaded good.csv" in err
    import_id = import_id_of(out)
    assert api.imports.get(import_id).counts.rows_loaded == 500

    code, out, _ = run_cli("status", import_id, "--server", server.base)
    assert code == 0
    assert f"import {import_id}: completed" in out
    assert "500 loaded" in out

    # Validate only: every row valid, nothing loaded, exit 0.
    other = api.schemas.create(customers_schema()).name
    code, out, _ = run_cli("push", str(good), "--schema", other, "--server", server.base)
    assert code == 0, out
    assert "validated" in out
    assert "nothing loaded" in out

    # Unknown schema, bad mapping JSON, a server that is not a URL: usage/API errors, 2.
    code, _, err = run_cli("push", str(good), "--schema", "nope_x", "--server", server.base)
    assert code == 2
    assert "404" in err
    assert "nope_x" in err
    code, _, err = run_cli(
        "push", str(good), "--schema", name, "--server", server.base, "--mapping", "[1]"
    )
    assert code == 2
    assert "--mapping" in err
    code, _, _ = run_cli("status", "not-an-id", "--server", server.base)
    assert code == 2


@pytest.mark.usefixtures("cache_dir")
def test_push_awaiting_mapping_invalid_rows_and_errors_download(
    server: ServerProcess, api: Client, tmp_path: Path
) -> None:
    name = api.schemas.create(customers_schema()).name
    columns = [f"col{i}" for i in range(8)]
    rows = customers_csv(30, bad={4: {"age": 500}}).decode().split("\r\n", 1)[1]
    path = tmp_path / "odd.csv"
    path.write_text(",".join(columns) + "\r\n" + rows, encoding="utf-8")

    code, out, _ = run_cli("push", str(path), "--schema", name, "--server", server.base)
    assert code == 3, out
    assert "awaiting_mapping" in out
    assert "pass --mapping" in out

    mapping = ",".join(f'"{f}": "{c}"' for f, c in zip(HEADER.split(","), columns, strict=True))
    code, out, _ = run_cli(
        "push",
        str(path),
        "--schema",
        name,
        "--server",
        server.base,
        "--commit",
        "--mapping",
        "{" + mapping + "}",
    )
    assert code == 1, out  # one invalid row and on_error=abort: validated, not loaded
    assert "1 invalid row(s)" in out
    import_id = import_id_of(out)

    target = tmp_path / "failed.csv"
    code, _, err = run_cli("errors", import_id, "--server", server.base, "-o", str(target))
    assert code == 0, err
    failed = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [(row["_row"], row["age"]) for row in failed] == [("4", "500")]
    assert "age" in failed[0]["_error"]

    code, out, _ = run_cli(
        "push",
        str(path),
        "--schema",
        name,
        "--server",
        server.base,
        "--commit",
        "--on-error",
        "skip",
        "--mapping",
        "{" + mapping + "}",
    )
    assert code == 0, out
    assert "29 loaded" in out
    assert "1 invalid row(s) skipped" in out


def _wait_for_checkpoint(directory: Path, process: subprocess.Popen[bytes]) -> Path:
    deadline = time.monotonic() + CLI_START_SECONDS
    while time.monotonic() < deadline:
        found = sorted(directory.glob("*.json"))
        if found:
            return found[0]
        assert process.poll() is None, "loadbay push ended before its upload started"
        time.sleep(0.005)
    raise AssertionError(f"no checkpoint in {directory} after {CLI_START_SECONDS} s")


def _settled_upload(url: httpx.URL) -> dict[str, object]:
    """The upload once its offset stops moving: a chunk the killed command had sent whole
    may still be made durable by the server just after the kill."""
    last: dict[str, object] = httpx.get(url, timeout=10).json()
    for _ in range(50):
        time.sleep(0.3)
        now: dict[str, object] = httpx.get(url, timeout=10).json()
        if now["offset"] == last["offset"]:
            return now
        last = now
    raise AssertionError(f"the upload's offset keeps moving: {last}")


def test_push_20_mb_interrupted_then_resumed_and_committed(
    server: ServerProcess, api: Client, tmp_path: Path
) -> None:
    name = api.schemas.create(customers_schema()).name
    content = customers_csv(ROWS_20_MB)
    size = len(content)
    assert size > 20_000_000
    path = tmp_path / "customers-20mb.csv"
    path.write_bytes(content)
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADBAY_")}
    env["XDG_CACHE_HOME"] = str(cache)
    command = [
        *(sys.executable, "-m", "loadbay", "push", str(path)),
        *("--schema", name, "--server", server.base, "--commit", "--chunk-size", str(CHUNK)),
    ]

    log = (tmp_path / "first.log").open("wb")
    first = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        checkpoint = _wait_for_checkpoint(cache / "loadbay" / "uploads", first)
        url = httpx.URL(json.loads(checkpoint.read_text())["url"])
        # Freeze the command, then let it run in short bursts until the server holds part of
        # the file: a kill at that point is a kill mid-upload, however fast the machine is.
        os.kill(first.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 60
        while (offset := httpx.get(url, timeout=10).json()["offset"]) == 0:
            assert time.monotonic() < deadline, "the upload did not start"
            os.kill(first.pid, signal.SIGCONT)
            time.sleep(0.02)
            os.kill(first.pid, signal.SIGSTOP)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=10)
        log.close()
    assert first.returncode == -signal.SIGKILL
    stored = _settled_upload(url)
    assert stored["state"] == "uploading"
    before = stored["offset"]
    assert isinstance(before, int)
    assert 0 < offset <= before < size
    assert checkpoint.exists()

    received_before = uploaded_bytes(server.base)
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert second.returncode == 0, second.stdout + second.stderr
    sent = uploaded_bytes(server.base) - received_before
    # The second run sent only what the server lacked.
    assert f"resuming the upload at {before:,} of {size:,} bytes" in second.stderr
    assert sent == size - before
    assert sent < size
    assert not checkpoint.exists()

    done = api.imports.get(import_id_of(second.stdout))
    assert done.state == "completed"
    assert done.counts.rows_loaded == ROWS_20_MB
    assert done.upload_id == url.path.rsplit("/", 1)[-1]  # the same upload, resumed
    upload = api.uploads.get(done.upload_id)
    assert upload.sha256 == hashlib.sha256(content).hexdigest()
