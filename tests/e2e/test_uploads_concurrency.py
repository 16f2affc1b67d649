"""Two PATCHes on one upload at once, on a real server: one wins, the other gets 423."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.e2e.conftest import UploadServerFactory

KIB = 1024
SIZE = 512 * KIB
TUS = {"Tus-Resumable": "1.0.0"}


def slow(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), 16 * KIB):
        time.sleep(0.03)  # about 1 s in all, well past the server's lock wait of 0.3 s
        yield data[start : start + 16 * KIB]


def test_concurrent_patches_never_interleave(
    start_upload_server: UploadServerFactory, tmp_path: Path
) -> None:
    base = start_upload_server(LOADBAY_UPLOAD_LOCK_WAIT="0.3").base
    created = httpx.post(f"{base}/api/uploads", headers=TUS | {"Upload-Length": str(SIZE)})
    url = created.headers["location"]
    bodies = {"a": b"A" * SIZE, "b": b"B" * SIZE}
    statuses: dict[str, int] = {}

    def send(name: str) -> None:
        headers = TUS | {
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(SIZE),
        }
        response = httpx.patch(url, content=slow(bodies[name]), headers=headers, timeout=30)
        statuses[name] = response.status_code

    threads = [threading.Thread(target=send, args=(name,)) for name in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(statuses.values()) == [204, 423], statuses
    winner = next(name for name, status in statuses.items() if status == 204)
    body = httpx.get(url).json()
    assert body["sha256"] == hashlib.sha256(bodies[winner]).hexdigest()
    stored = tmp_path / "var" / "uploads" / body["id"].replace("-", "")
    assert stored.read_bytes() == bodies[winner]
