"""Hostile and broken requests: each a precise 4xx, nothing written outside an upload's file."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from loadbay.settings import Settings
from tests.uploads.conftest import (
    OFFSET_STREAM,
    TUS,
    b64,
    checksum,
    files_under,
    metadata,
    new_upload,
    patch,
)

TRAVERSAL = ["../../x", "..\\x", "/etc/passwd", "a\x00b", "x" * 10_000]


@pytest.fixture
def before(settings: Settings, client: TestClient) -> set[str]:
    """What the data directory holds once the app has started (the stores, an empty uploads/)."""
    return files_under(settings.data_dir)


def assert_only(settings: Settings, before: set[str], *upload_files: str) -> None:
    """The data directory holds what it held before plus these upload files, nothing else."""
    added = files_under(settings.data_dir) - before
    stores = {
        name
        for name in added
        if name.startswith("loadbay.sqlite") or name.startswith("data.sqlite")
    }
    assert added - stores == {f"uploads/{name}" for name in upload_files}
    assert not any(Path(settings.data_dir.parent, name).exists() for name in ("x", "passwd"))


def file_of(path: str) -> str:
    return path.rsplit("/", 1)[1].replace("-", "")


@pytest.mark.parametrize(
    ("headers", "status", "detail"),
    [
        (
            {"Upload-Length": "-1"},
            400,
            "Upload-Length must be a non-negative integer (at most 19 digits)",
        ),
        (
            {"Upload-Length": "12abc"},
            400,
            "Upload-Length must be a non-negative integer (at most 19 digits)",
        ),
        (
            {"Upload-Length": "5", "Upload-Defer-Length": "1"},
            400,
            "send either Upload-Length or Upload-Defer-Length, not both",
        ),
        (
            {"Upload-Length": "5", "Upload-Metadata": "filename not!base64"},
            400,
            "Upload-Metadata pair 1 (filename): the value is not canonical base64",
        ),
        (
            {"Upload-Length": "5", "Upload-Metadata": f"a {b64('1')},a {b64('2')}"},
            400,
            "Upload-Metadata pair 2: key 'a' appears more than once",
        ),
        (
            {"Upload-Length": "5", "Upload-Metadata": f"file name {b64('x')}"},
            400,
            "Upload-Metadata pair 1 (file): the value is not canonical base64",
        ),
        (
            {"Upload-Length": "5", "Upload-Metadata": f"filename  {b64('x')}"},
            400,
            "Upload-Metadata pair 1 (filename): the value is not canonical base64",
        ),
    ],
)
def test_bad_creation_requests(
    client: TestClient,
    settings: Settings,
    before: set[str],
    headers: dict[str, str],
    status: int,
    detail: str,
) -> None:
    response = client.post("/api/uploads", headers=TUS | headers)
    assert response.status_code == status
    assert response.json()["detail"] == detail
    assert_only(settings, before)


@pytest.mark.parametrize("name", TRAVERSAL)
def test_traversal_filenames_in_metadata_are_refused(
    client: TestClient, settings: Settings, before: set[str], name: str
) -> None:
    response = client.post(
        "/api/uploads",
        headers=TUS | {"Upload-Length": "5", "Upload-Metadata": metadata(filename=name)},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "/problems/invalid-upload-metadata"
    assert body["errors"] == [{"message": body["detail"], "path": "Upload-Metadata.filename"}]
    assert body["detail"] in {
        "filename must be a file name, not a path (no '/' or '\\')",
        "filename contains control characters (such as NUL)",
        "filename is longer than 255 bytes in UTF-8",
    }
    assert_only(settings, before)


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("../../x", "filename must be a file name, not a path (no '/' or '\\')"),
        ("..\\x", "filename must be a file name, not a path (no '/' or '\\')"),
        ("/etc/passwd", "filename must be a file name, not a path (no '/' or '\\')"),
        # the part header itself passes python-multipart's header size limit
        ("x" * 10_000, "the multipart body is malformed: Maximum header size exceeded"),
        ("x" * 256, "filename is longer than 255 bytes in UTF-8"),
    ],
)
def test_traversal_filenames_in_multipart_are_refused(
    client: TestClient, settings: Settings, before: set[str], name: str, detail: str
) -> None:
    response = client.post("/api/uploads", files={"file": (name, b"hello", "text/plain")})
    assert response.status_code == 400
    assert response.json()["detail"] == detail
    assert_only(settings, before)


@pytest.mark.parametrize(
    ("offset", "status", "detail"),
    [
        ("-3", 400, "Upload-Offset must be a non-negative integer (at most 19 digits)"),
        ("three", 400, "Upload-Offset must be a non-negative integer (at most 19 digits)"),
        ("1", 409, "Upload-Offset is 1 but the upload has 0 bytes"),
    ],
)
def test_bad_offsets(
    client: TestClient, settings: Settings, before: set[str], offset: str, status: int, detail: str
) -> None:
    path = new_upload(client, 5)
    response = client.patch(
        path, content=b"abc", headers=TUS | {"Upload-Offset": offset, "Content-Type": OFFSET_STREAM}
    )
    assert (response.status_code, response.json()["detail"]) == (status, detail)
    assert_only(settings, before, file_of(path))
    assert (settings.data_dir / "uploads" / file_of(path)).stat().st_size == 0


@pytest.mark.parametrize(
    ("headers", "status", "detail"),
    [
        (
            {"Upload-Checksum": "crc32 AAAAAA=="},
            400,
            "unsupported checksum algorithm 'crc32'; use one of sha1, md5, sha256",
        ),
        (
            {"Upload-Checksum": "SHA1 " + checksum("sha1", b"hello").split()[1]},
            400,
            "unsupported checksum algorithm 'SHA1'; use one of sha1, md5, sha256",
        ),
        (
            {"Upload-Checksum": checksum("sha256", b"hellO")},
            460,
            "the sha256 of the 5-byte chunk differs from Upload-Checksum; the chunk was "
            "discarded and the offset did not move",
        ),
    ],
)
def test_bad_checksums(
    client: TestClient,
    settings: Settings,
    before: set[str],
    headers: dict[str, str],
    status: int,
    detail: str,
) -> None:
    path = new_upload(client, 5)
    response = patch(
        client, path, b"hello", 0, **{k.replace("-", "_"): v for k, v in headers.items()}
    )
    assert (response.status_code, response.json()["detail"]) == (status, detail)
    assert (settings.data_dir / "uploads" / file_of(path)).stat().st_size == 0
    assert_only(settings, before, file_of(path))


def test_body_longer_than_declared(
    client: TestClient, settings: Settings, before: set[str]
) -> None:
    path = new_upload(client, 5)
    response = patch(client, path, b"hello, world", 0)
    assert response.status_code == 413
    assert response.json()["detail"] == (
        "the data would end at byte 12, past the declared Upload-Length 5"
    )
    assert (settings.data_dir / "uploads" / file_of(path)).stat().st_size == 0
    assert_only(settings, before, file_of(path))
