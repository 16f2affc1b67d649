"""Upload test helpers: small limits, tus headers, and a few one-line requests."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from loadbay.settings import Settings

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = "application/offset+octet-stream"
PROBLEM = "application/problem+json"
MAX_UPLOAD = 1024 * 1024
MAX_MULTIPART = 256 * 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings with limits small enough to cross in a test."""
    return settings.model_copy(
        update={
            "max_upload_bytes": MAX_UPLOAD,
            "max_multipart_bytes": MAX_MULTIPART,
            "upload_checkpoint_bytes": 64 * 1024,
            "upload_lock_wait": 0.2,
        }
    )


@pytest.fixture
def uploads_dir(settings: Settings) -> Path:
    return settings.data_dir / "uploads"


def b64(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode()


def metadata(**pairs: str) -> str:
    return ",".join(f"{key} {b64(value)}" for key, value in pairs.items())


def checksum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {b64(hashlib.new(algorithm, data).digest())}"


def create(client: TestClient, length: int | None = None, **headers: str) -> httpx.Response:
    sent = TUS | {k.replace("_", "-"): v for k, v in headers.items()}
    if length is not None:
        sent["Upload-Length"] = str(length)
    return client.post("/api/uploads", headers=sent)


def new_upload(client: TestClient, length: int | None = None, **headers: str) -> str:
    """The path of a new upload."""
    response = create(client, length, **headers)
    assert response.status_code == 201, response.text
    return str(httpx.URL(response.headers["location"]).path)


def patch(
    client: TestClient, path: str, data: bytes, offset: int, **headers: str
) -> httpx.Response:
    sent = TUS | {"Upload-Offset": str(offset), "Content-Type": OFFSET_STREAM}
    sent |= {k.replace("_", "-"): v for k, v in headers.items()}
    return client.patch(path, content=data, headers=sent)


def resource(client: TestClient, path: str) -> dict[str, Any]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}
