"""POST /api/uploads with multipart/form-data: one small file, no tus."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from loadbay.settings import Settings
from tests.uploads.conftest import MAX_MULTIPART, TUS, resource, sha256

CSV = b"id,name\n1,Ada\n2,Grace\n"


def multipart(boundary: str, *parts: tuple[str, str]) -> bytes:
    """A hand-made body: (headers, content) pairs, for shapes httpx would not produce."""
    body = b""
    for headers, content in parts:
        body += f"--{boundary}\r\n{headers}\r\n\r\n".encode() + content.encode() + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def post_raw(client: TestClient, body: bytes, boundary: str = "XyZ") -> httpx.Response:
    return client.post(
        "/api/uploads",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def test_a_small_file_becomes_a_complete_upload(client: TestClient, uploads_dir: Path) -> None:
    response = client.post(
        "/api/uploads",
        data={"sha256": sha256(CSV), "md5": hashlib.md5(CSV).hexdigest()},
        files={"file": ("people.csv", CSV, "text/csv")},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"http://testserver/api/uploads/{body['id']}"
    assert response.headers["tus-resumable"] == "1.0.0"
    assert body["state"] == "complete"
    assert (body["size"], body["offset"]) == (len(CSV), len(CSV))
    assert (body["filename"], body["content_type"]) == ("people.csv", "text/csv")
    assert body["sha256"] == body["expected_sha256"] == sha256(CSV)
    assert body["expires_at"] is None
    assert resource(client, body["links"]["self"]) == body
    head = client.head(body["links"]["self"], headers=TUS)
    assert head.headers["upload-length"] == str(len(CSV))
    assert [p.read_bytes() for p in uploads_dir.iterdir()] == [CSV]


def test_a_declared_digest_that_differs_gives_a_corrupt_upload(client: TestClient) -> None:
    response = client.post(
        "/api/uploads", data={"sha256": "0" * 64}, files={"file": ("a.csv", CSV, "text/csv")}
    )
    assert response.status_code == 201
    assert response.json()["state"] == "corrupt"
    assert response.json()["problem"].startswith("sha256 is ")


def test_a_file_at_the_limit_passes_and_one_byte_more_is_413(
    client: TestClient, uploads_dir: Path
) -> None:
    ok = client.post("/api/uploads", files={"file": ("a.bin", b"a" * MAX_MULTIPART)})
    assert ok.status_code == 201
    big = client.post("/api/uploads", files={"file": ("b.bin", b"b" * (MAX_MULTIPART + 1))})
    assert big.status_code == 413
    assert big.json()["detail"] == (
        f"the data would end at byte {MAX_MULTIPART + 1}, past the limit of {MAX_MULTIPART} "
        "bytes for one file (LOADBAY_MAX_MULTIPART_BYTES)"
    )
    assert len(list(uploads_dir.iterdir())) == 1  # the failed one left nothing


def test_a_declared_body_far_over_the_limit_is_refused_before_reading(client: TestClient) -> None:
    response = client.post(
        "/api/uploads",
        content=b"x" * (MAX_MULTIPART + 70_000),
        headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
    )
    assert response.status_code == 413
    assert "use tus for larger files" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (multipart("XyZ", ('Content-Disposition: form-data; name="md5"', "x")), "no file part"),
        (
            multipart("XyZ", ('Content-Disposition: form-data; name="upload"; filename="a"', "1")),
            "the file must be sent in the field 'file'",
        ),
        (
            multipart(
                "XyZ",
                ('Content-Disposition: form-data; name="file"; filename="a"', "1"),
                ('Content-Disposition: form-data; name="file"; filename="b"', "2"),
            ),
            "fields must come before the file part, and one file only",
        ),
        (
            multipart(
                "XyZ",
                ('Content-Disposition: form-data; name="file"; filename="a"', "1"),
                ('Content-Disposition: form-data; name="md5"', "x"),
            ),
            "fields must come before the file part, and one file only",
        ),
        (
            multipart("XyZ", ('Content-Disposition: form-data; name="schema"', "x")),
            "unexpected field 'schema'",
        ),
        (
            multipart(
                "XyZ",
                ('Content-Disposition: form-data; name="md5"', "a"),
                ('Content-Disposition: form-data; name="md5"', "b"),
            ),
            "the field 'md5' is sent twice",
        ),
        (
            b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc',
            "the body ended inside the file part",
        ),
        (b"--XyZ\r\nContent-Disposition", "no file part"),
        (b"garbage", "the multipart body is malformed"),
    ],
)
def test_malformed_multipart_is_400(
    client: TestClient, uploads_dir: Path, body: bytes, detail: str
) -> None:
    response = post_raw(client, body)
    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert list(uploads_dir.iterdir()) == []


def test_a_multipart_without_boundary_is_400(client: TestClient) -> None:
    response = client.post(
        "/api/uploads", content=b"x", headers={"Content-Type": "multipart/form-data"}
    )
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Content-Type multipart/form-data needs a boundary parameter"
    )


def test_an_invalid_declared_digest_is_400(client: TestClient, settings: Settings) -> None:
    response = client.post("/api/uploads", data={"md5": "nope"}, files={"file": ("a.csv", CSV)})
    assert response.status_code == 400
    assert response.json()["detail"] == "md5 must be 32 hexadecimal digits"


def test_a_file_without_a_name(client: TestClient) -> None:
    body = multipart("XyZ", ('Content-Disposition: form-data; name="file"; filename=""', "data"))
    response = post_raw(client, body)
    assert response.status_code == 201
    assert response.json()["filename"] is None
