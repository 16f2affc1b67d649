"""kill -9 the server in the middle of a PATCH stream, restart it, resume via HEAD.

Checkpoints are 1 MiB here, so a killed PATCH keeps whole MiBs: the offset after a restart
is where the last checkpoint was, the bytes below it are exactly the client's, and the
whole-file hash (re-read once by the new process) comes out right.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.e2e.conftest import UploadServerFactory

MIB = 1024 * 1024
PIECE = 64 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


def body(data: bytes, start: int, pause: float) -> Iterator[bytes]:
    for position in range(start, len(data), PIECE):
        time.sleep(pause)
        yield data[position : position + PIECE]


def send_rest(base: str, path: str, data: bytes, offset: int, pause: float = 0.004) -> None:
    """PATCH the rest; by default at about 16 MB/s, so that a kill lands mid-stream."""
    headers = TUS | {
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
        "Content-Length": str(len(data) - offset),
    }
    with contextlib.suppress(httpx.TransportError):  # the server died under us: the point
        httpx.patch(base + path, content=body(data, offset, pause), headers=headers, timeout=30)


def head_offset(base: str, path: str) -> int:
    response = httpx.head(base + path, headers=TUS, timeout=10)
    assert response.status_code == 200, response.text
    return int(response.headers["upload-offset"])


def test_kill_9_mid_patch_then_resume(
    start_upload_server: UploadServerFactory, tmp_path: Path
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    data = os.urandom(24 * MIB)
    server = start_upload_server(LOADBAY_UPLOAD_CHECKPOINT_BYTES=str(MIB))
    base = server.base
    created = httpx.post(
        f"{base}/api/uploads", headers=TUS | {"Upload-Length": str(len(data))}, timeout=10
    )
    path = httpx.URL(created.headers["location"]).path
    stored = tmp_path / "var" / "uploads" / path.rsplit("/", 1)[1].replace("-", "")
    offsets = [0]
    for _ in range(3):
        sender = threading.Thread(target=send_rest, args=(base, path, data, offsets[-1]))
        sender.start()
        time.sleep(rng.uniform(0.15, 0.45))
        server.kill()
        sender.join(30)
        base = server.start()
        offset = head_offset(base, path)
        note = f"seed {seed}, offsets {[*offsets, offset]}"
        assert offset >= offsets[-1], note
        assert (offset - offsets[-1]) % MIB == 0, note  # whole checkpoints only
        with stored.open("rb") as raw:
            assert raw.read(offset) == data[:offset], note  # acknowledged bytes are intact
        offsets.append(offset)
    assert offsets[-1] > 0, f"seed {seed}: no checkpoint was ever reached"
    send_rest(base, path, data, offsets[-1], pause=0)
    upload = httpx.get(base + path, timeout=10).json()
    assert upload["state"] == "complete", f"seed {seed}: {upload}"
    assert upload["sha256"] == hashlib.sha256(data).hexdigest()
    assert upload["md5"] == hashlib.md5(data).hexdigest()
    assert stored.read_bytes() == data
