"""tuspy (the tus project's Python client) against a real server: checksums, stop, resume."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
from tusclient.client import TusClient

from tests.e2e.conftest import ServerProcess

MIB = 1024 * 1024
SIZE = 50 * MIB


def test_tuspy_uploads_50_mb_in_1_mib_chunks_with_checksums_and_resumes(
    upload_server: ServerProcess, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    expected = hashlib.sha256()
    with source.open("wb") as out:
        for _ in range(SIZE // MIB):
            block = os.urandom(MIB)
            expected.update(block)
            out.write(block)

    client = TusClient(f"{upload_server.base}/api/uploads")
    first = client.uploader(
        file_path=str(source),
        chunk_size=MIB,
        upload_checksum=True,
        metadata={"filename": "big.bin", "filetype": "application/octet-stream"},
    )
    first.upload(stop_at=17 * MIB + 12345)  # a stop that is not on a chunk boundary
    url = first.url
    assert url is not None
    assert first.offset == 17 * MIB + 12345

    # A new uploader (a new client process) resumes from the stored URL alone.
    resumed = client.uploader(file_path=str(source), url=url, chunk_size=MIB, upload_checksum=True)
    assert resumed.offset == 17 * MIB + 12345  # asked the server with HEAD
    resumed.upload()
    assert resumed.offset == SIZE

    body = httpx.get(url).json()
    assert body["state"] == "complete"
    assert body["size"] == SIZE
    assert body["filename"] == "big.bin"
    assert body["sha256"] == expected.hexdigest()
    stored = tmp_path / "var" / "uploads" / body["id"].replace("-", "")
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == expected.hexdigest()
