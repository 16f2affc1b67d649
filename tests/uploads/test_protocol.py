"""tus 1.0.0 against the in-process app: one test per row of the protocol's status list."""

from __future__ import annotations

import email.utils
import hashlib
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from loadbay.db import utcnow
from loadbay.settings import Settings
from tests.uploads.conftest import (
    MAX_UPLOAD,
    OFFSET_STREAM,
    PROBLEM,
    TUS,
    b64,
    checksum,
    create,
    metadata,
    new_upload,
    patch,
    resource,
    sha256,
)

DATA = bytes(range(256)) * 40  # 10,240 bytes


def test_options_announces_version_extensions_and_limits(client: TestClient) -> None:
    for path in ("/api/uploads", f"/api/uploads/{uuid.uuid4()}"):
        response = client.options(path)  # no Tus-Resumable needed for discovery
        assert response.status_code == 204
        assert response.headers["tus-resumable"] == "1.0.0"
        assert response.headers["tus-version"] == "1.0.0"
        assert response.headers["tus-extension"].split(",") == [
            "creation",
            "creation-with-upload",
            "creation-defer-length",
            "termination",
            "checksum",
            "expiration",
            "concatenation",
        ]
        assert response.headers["tus-max-size"] == str(MAX_UPLOAD)
        assert response.headers["tus-checksum-algorithm"] == "sha1,md5,sha256"


def test_creation_answers_201_with_location_and_expiry(
    client: TestClient, settings: Settings, uploads_dir: Path
) -> None:
    before = utcnow()
    response = create(client, len(DATA), Upload_Metadata=metadata(filename="data.csv"))
    assert response.status_code == 201
    assert response.content == b""
    location = response.headers["location"]
    upload_id = uuid.UUID(location.rsplit("/", 1)[1])
    assert location == f"http://testserver/api/uploads/{upload_id}"
    assert response.headers["upload-offset"] == "0"
    assert response.headers["tus-resumable"] == "1.0.0"
    expires = email.utils.parsedate_to_datetime(response.headers["upload-expires"])
    assert abs((expires - before).total_seconds() - settings.upload_expiry) < 5
    assert (uploads_dir / upload_id.hex).stat().st_size == 0


def test_patch_answers_204_with_the_new_offset(client: TestClient) -> None:
    path = new_upload(client, len(DATA))
    first = patch(client, path, DATA[:4000], 0)
    assert first.status_code == 204
    assert first.headers["upload-offset"] == "4000"
    assert "upload-expires" in first.headers
    last = patch(client, path, DATA[4000:], 4000)
    assert last.status_code == 204
    assert last.headers["upload-offset"] == str(len(DATA))
    assert "upload-expires" not in last.headers  # complete uploads are kept
    body = resource(client, path)
    assert body["state"] == "complete"
    assert body["sha256"] == sha256(DATA)
    assert body["md5"] == hashlib.md5(DATA).hexdigest()


def test_head_reports_offset_length_metadata_and_no_store(client: TestClient) -> None:
    meta = metadata(filename="data.csv", filetype="text/csv") + ",flag"
    path = new_upload(client, len(DATA), Upload_Metadata=meta)
    patch(client, path, DATA[:100], 0)
    response = client.head(path, headers=TUS)
    assert response.status_code == 200
    assert response.headers["upload-offset"] == "100"
    assert response.headers["upload-length"] == str(len(DATA))
    assert response.headers["upload-metadata"] == meta
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["tus-resumable"] == "1.0.0"
    assert "upload-expires" in response.headers


def test_head_of_a_deferred_length_upload(client: TestClient) -> None:
    path = new_upload(client, Upload_Defer_Length="1")
    response = client.head(path, headers=TUS)
    assert response.headers["upload-defer-length"] == "1"
    assert "upload-length" not in response.headers
    assert "upload-metadata" not in response.headers


def test_offset_mismatch_is_409(client: TestClient) -> None:
    path = new_upload(client, len(DATA))
    patch(client, path, DATA[:10], 0)
    response = patch(client, path, DATA[5:20], 5)
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/upload-offset-mismatch"
    assert response.json()["detail"] == "Upload-Offset is 5 but the upload has 10 bytes"
    assert response.json()["offset"] == 10
    assert client.head(path, headers=TUS).headers["upload-offset"] == "10"


@pytest.mark.parametrize("version", [None, "0.2.2", "1.0", ""])
def test_unsupported_tus_resumable_is_412_with_tus_version(
    client: TestClient, version: str | None
) -> None:
    path = new_upload(client, 10)
    headers = {} if version is None else {"Tus-Resumable": version}
    requests = [
        client.post("/api/uploads", headers=headers | {"Upload-Length": "10"}),
        client.head(path, headers=headers),
        client.patch(
            path,
            content=b"x",
            headers=headers | {"Upload-Offset": "0", "Content-Type": OFFSET_STREAM},
        ),
        client.delete(path, headers=headers),
    ]
    for response in requests:
        assert response.status_code == 412
        assert response.headers["tus-version"] == "1.0.0"
        assert response.headers["tus-resumable"] == "1.0.0"
    body = requests[0].json()
    assert body["type"] == "/problems/unsupported-tus-version"
    assert body["detail"] == f"Tus-Resumable must be 1.0.0, got {version!r}"
    assert client.head(path, headers=TUS).headers["upload-offset"] == "0"


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "text/plain"])
def test_patch_without_offset_stream_is_415(client: TestClient, content_type: str | None) -> None:
    path = new_upload(client, 10)
    headers = TUS | {"Upload-Offset": "0"}
    if content_type:
        headers["Content-Type"] = content_type
    response = client.patch(path, content=b"0123456789", headers=headers)
    assert response.status_code == 415
    assert response.json()["type"] == "/problems/unsupported-media-type"
    assert client.head(path, headers=TUS).headers["upload-offset"] == "0"


def test_upload_length_over_the_maximum_is_413(client: TestClient) -> None:
    response = create(client, MAX_UPLOAD + 1)
    assert response.status_code == 413
    assert response.json()["type"] == "/problems/upload-too-large"
    assert response.json()["detail"] == (
        f"Upload-Length {MAX_UPLOAD + 1} is larger than the maximum of {MAX_UPLOAD} bytes "
        "(LOADBAY_MAX_UPLOAD_BYTES)"
    )
    assert create(client, MAX_UPLOAD).status_code == 201


def test_data_past_the_declared_length_is_413_and_discarded(
    client: TestClient, uploads_dir: Path
) -> None:
    path = new_upload(client, 10)
    response = patch(client, path, b"0123456789A", 0)
    assert response.status_code == 413
    assert response.json()["detail"] == (
        "the data would end at byte 11, past the declared Upload-Length 10"
    )
    assert client.head(path, headers=TUS).headers["upload-offset"] == "0"
    assert (uploads_dir / path.rsplit("/", 1)[1].replace("-", "")).stat().st_size == 0


def test_data_past_the_maximum_with_deferred_length_is_413(client: TestClient) -> None:
    path = new_upload(client, Upload_Defer_Length="1")
    assert patch(client, path, b"x" * MAX_UPLOAD, 0).status_code == 204
    response = patch(client, path, b"y", MAX_UPLOAD)
    assert response.status_code == 413
    assert "past the maximum upload size" in response.json()["detail"]


def test_streamed_body_past_the_length_is_413(client: TestClient) -> None:
    """Without Content-Length (chunked), the limit is enforced while the bytes arrive."""
    path = new_upload(client, 100_000)

    def body() -> object:
        yield b"a" * 60_000
        yield b"b" * 60_000

    response = client.patch(
        path,
        content=body(),  # type: ignore[arg-type]
        headers=TUS | {"Upload-Offset": "0", "Content-Type": OFFSET_STREAM},
    )
    assert response.status_code == 413
    assert client.head(path, headers=TUS).headers["upload-offset"] == "0"


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({"Upload-Length": "-1"}, "Upload-Length must be a non-negative integer"),
        ({"Upload-Length": "ten"}, "Upload-Length must be a non-negative integer"),
        ({"Upload-Length": "1e3"}, "Upload-Length must be a non-negative integer"),
        ({"Upload-Length": " 10"}, "Upload-Length must be a non-negative integer"),
        ({"Upload-Length": "9" * 20}, "Upload-Length must be a non-negative integer"),
        ({}, "Upload-Length (or Upload-Defer-Length: 1) is required"),
        (
            {"Upload-Length": "10", "Upload-Defer-Length": "1"},
            "send either Upload-Length or Upload-Defer-Length, not both",
        ),
        ({"Upload-Defer-Length": "2"}, "Upload-Defer-Length must be 1 when present"),
        ({"Upload-Length": "10", "Upload-Concat": "whole"}, "Upload-Concat must be 'partial'"),
    ],
)
def test_malformed_creation_headers_are_400(
    client: TestClient, uploads_dir: Path, headers: dict[str, str], detail: str
) -> None:
    response = client.post("/api/uploads", headers=TUS | headers)
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/invalid-tus-header"
    assert detail in response.json()["detail"]
    assert list(uploads_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({"Upload-Offset": "-5"}, "Upload-Offset must be a non-negative integer"),
        ({"Upload-Offset": "abc"}, "Upload-Offset must be a non-negative integer"),
        ({"Upload-Offset": "0x10"}, "Upload-Offset must be a non-negative integer"),
        ({"Upload-Offset": "0", "Upload-Checksum": "crc32 AAAAAA=="}, "unsupported checksum"),
        (
            {"Upload-Offset": "0", "Upload-Checksum": "sha1"},
            "must be '<algorithm> <base64 digest>'",
        ),
        ({"Upload-Offset": "0", "Upload-Checksum": "sha1 %%%"}, "the digest is not base64"),
        ({"Upload-Offset": "0", "Upload-Checksum": "md5 AAAA"}, "a md5 digest has 16 bytes"),
        ({"Upload-Offset": "0", "Upload-Length": "x"}, "Upload-Length must be"),
    ],
)
def test_malformed_patch_headers_are_400(
    client: TestClient, headers: dict[str, str], detail: str
) -> None:
    path = new_upload(client, 10)
    response = client.patch(
        path, content=b"0123456789", headers=TUS | {"Content-Type": OFFSET_STREAM} | headers
    )
    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert client.head(path, headers=TUS).headers["upload-offset"] == "0"


def test_missing_upload_offset_is_400(client: TestClient) -> None:
    path = new_upload(client, 10)
    response = client.patch(path, content=b"x", headers=TUS | {"Content-Type": OFFSET_STREAM})
    assert response.status_code == 400
    assert response.json()["detail"] == "Upload-Offset is required"


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256"])
def test_checksum_mismatch_is_460_and_the_offset_does_not_move(
    client: TestClient, uploads_dir: Path, algorithm: str
) -> None:
    path = new_upload(client, len(DATA))
    assert patch(client, path, DATA[:1000], 0, Upload_Checksum=checksum(algorithm, DATA[:1000]))
    wrong = checksum(algorithm, b"something else")
    response = patch(client, path, DATA[1000:], 1000, Upload_Checksum=wrong)
    assert response.status_code == 460
    assert response.json()["type"] == "/problems/checksum-mismatch"
    assert response.json()["detail"] == (
        f"the {algorithm} of the {len(DATA) - 1000}-byte chunk differs from Upload-Checksum; "
        "the chunk was discarded and the offset did not move"
    )
    assert client.head(path, headers=TUS).headers["upload-offset"] == "1000"
    upload_file = uploads_dir / path.rsplit("/", 1)[1].replace("-", "")
    assert upload_file.read_bytes() == DATA[:1000]
    # the whole-file hash was rewound with the file: finishing gives the right digests
    good = checksum(algorithm, DATA[1000:])
    assert patch(client, path, DATA[1000:], 1000, Upload_Checksum=good).status_code == 204
    assert resource(client, path)["sha256"] == sha256(DATA)


def test_patch_to_a_final_upload_is_403(client: TestClient) -> None:
    part = new_upload(client, 3, Upload_Concat="partial")
    patch(client, part, b"abc", 0)
    final = new_upload(client, Upload_Concat=f"final;{part}")
    response = patch(client, final, b"x", 3)
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/upload-not-writable"


def test_unknown_uploads_are_404(client: TestClient) -> None:
    for path in (f"/api/uploads/{uuid.uuid4()}", "/api/uploads/not-an-id", "/api/uploads/%2E%2E"):
        assert client.head(path, headers=TUS).status_code == 404
        assert patch(client, path, b"x", 0).status_code == 404
        assert client.delete(path, headers=TUS).status_code == 404
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["type"] == "/problems/upload-not-found"
    assert client.get("/api/uploads/..%2F..").status_code == 404  # no route at all
    upper = f"/api/uploads/{str(uuid.uuid4()).upper()}"  # only the canonical spelling
    assert client.head(upper, headers=TUS).status_code == 404


def test_terminated_uploads_are_410(client: TestClient, uploads_dir: Path) -> None:
    path = new_upload(client, len(DATA))
    patch(client, path, DATA[:10], 0)
    response = client.delete(path, headers=TUS)
    assert response.status_code == 204
    assert response.headers["tus-resumable"] == "1.0.0"
    assert list(uploads_dir.iterdir()) == []
    assert client.head(path, headers=TUS).status_code == 410
    assert patch(client, path, DATA[10:], 10).status_code == 410
    assert client.delete(path, headers=TUS).status_code == 410
    gone = client.get(path)
    assert gone.status_code == 410
    assert gone.json()["detail"].endswith("was terminated; its data is deleted")


def test_expired_uploads_are_410(client: TestClient, settings: Settings) -> None:
    import datetime as dt

    import sqlalchemy as sa

    from loadbay.db import create_engine
    from loadbay.uploads.models import Upload

    path = new_upload(client, len(DATA))
    engine = create_engine(settings.metadata_url())
    with engine.begin() as conn:
        conn.execute(sa.update(Upload).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    engine.dispose()
    assert client.head(path, headers=TUS).status_code == 410
    response = patch(client, path, DATA, 0)
    assert response.status_code == 410
    assert response.json()["detail"].endswith("was expired; its data is deleted")


def test_x_http_method_override(client: TestClient) -> None:
    path = new_upload(client, 6)
    sent = TUS | {"Upload-Offset": "0", "Content-Type": OFFSET_STREAM}
    response = client.post(path, content=b"abc", headers=sent | {"X-HTTP-Method-Override": "PATCH"})
    assert response.status_code == 204
    assert response.headers["upload-offset"] == "3"
    head = client.post(path, headers=TUS | {"X-HTTP-Method-Override": "HEAD"})
    assert head.headers["upload-offset"] == "3"
    bad = client.post(path, headers=TUS | {"X-HTTP-Method-Override": "TRACE"})
    assert bad.status_code == 400
    assert bad.json()["type"] == "/problems/invalid-method-override"
    assert bad.headers["tus-resumable"] == "1.0.0"
    deleted = client.post(path, headers=TUS | {"X-HTTP-Method-Override": "delete"})
    assert deleted.status_code == 204
    assert client.head(path, headers=TUS).status_code == 410


def test_every_response_carries_tus_resumable(client: TestClient) -> None:
    path = new_upload(client, 1)
    responses = [
        client.options("/api/uploads"),
        client.head(path, headers=TUS),
        client.get(path),
        client.get("/api/uploads/nope"),
        client.put(path),  # 405 from the router
        client.post("/api/uploads", headers={"Upload-Length": "1"}),  # 412
    ]
    assert [r.headers.get("tus-resumable") for r in responses] == ["1.0.0"] * len(responses)
    assert "tus-resumable" not in client.get("/api/imports").headers


def test_creation_with_upload(client: TestClient) -> None:
    response = client.post(
        "/api/uploads",
        content=DATA[:500],
        headers=TUS
        | {
            "Upload-Length": str(len(DATA)),
            "Content-Type": OFFSET_STREAM,
            "Upload-Checksum": checksum("sha256", DATA[:500]),
        },
    )
    assert response.status_code == 201
    assert response.headers["upload-offset"] == "500"
    path = response.headers["location"]
    assert patch(client, path, DATA[500:], 500).status_code == 204
    assert resource(client, path)["sha256"] == sha256(DATA)


def test_creation_with_a_body_of_another_type_is_415(client: TestClient) -> None:
    response = client.post(
        "/api/uploads",
        content=b"abc",
        headers=TUS | {"Upload-Length": "3", "Content-Type": "text/csv"},
    )
    assert response.status_code == 415


def test_creation_with_a_body_longer_than_the_length_is_413(client: TestClient) -> None:
    response = client.post(
        "/api/uploads",
        content=b"abcd",
        headers=TUS | {"Upload-Length": "3", "Content-Type": OFFSET_STREAM},
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "the body has 4 bytes, more than the Upload-Length 3"


def test_creation_defer_length(client: TestClient) -> None:
    path = new_upload(client, Upload_Defer_Length="1")
    assert patch(client, path, DATA[:100], 0).status_code == 204
    assert resource(client, path)["size"] is None
    response = patch(client, path, DATA[100:], 100, Upload_Length=str(len(DATA)))
    assert response.status_code == 204
    body = resource(client, path)
    assert (body["state"], body["size"], body["sha256"]) == ("complete", len(DATA), sha256(DATA))


def test_deferred_length_can_be_declared_with_an_empty_patch(client: TestClient) -> None:
    path = new_upload(client, Upload_Defer_Length="1")
    patch(client, path, b"abc", 0)
    too_small = patch(client, path, b"", 3, Upload_Length="2")
    assert too_small.status_code == 400
    assert too_small.json()["detail"] == (
        "Upload-Length 2 is smaller than the 3 bytes already stored"
    )
    assert patch(client, path, b"", 3, Upload_Length="3").status_code == 204
    assert resource(client, path)["state"] == "complete"
    conflicting = patch(client, path, b"", 3, Upload_Length="4")
    assert conflicting.status_code == 400
    assert "differs from the length already declared (3)" in conflicting.json()["detail"]


def test_zero_length_upload_is_complete_at_once(client: TestClient) -> None:
    path = new_upload(client, 0)
    body = resource(client, path)
    assert body["state"] == "complete"
    assert body["sha256"] == sha256(b"")
    assert body["expires_at"] is None


def test_empty_patch_on_a_complete_upload_is_idempotent(client: TestClient) -> None:
    path = new_upload(client, 3)
    patch(client, path, b"abc", 0)
    again = patch(client, path, b"", 3)
    assert again.status_code == 204
    assert again.headers["upload-offset"] == "3"
    assert patch(client, path, b"d", 3).status_code == 413


def test_concatenation(client: TestClient) -> None:
    pieces = [DATA[:3000], DATA[3000:3001], DATA[3001:]]
    parts = []
    for piece in pieces:
        part = new_upload(client, len(piece), Upload_Concat="partial")
        assert client.head(part, headers=TUS).headers["upload-concat"] == "partial"
        assert patch(client, part, piece, 0).status_code == 204
        parts.append(part)
    absolute = [f"http://testserver{p}" for p in parts]
    response = create(
        client,
        Upload_Concat="final;" + " ".join([absolute[0], parts[1], absolute[2]]),
        Upload_Metadata=metadata(filename="joined.bin", sha256=sha256(DATA)),
    )
    assert response.status_code == 201
    final = response.headers["location"]
    head = client.head(final, headers=TUS)
    assert head.headers["upload-offset"] == head.headers["upload-length"] == str(len(DATA))
    assert head.headers["upload-concat"] == "final;" + " ".join(absolute)
    body = resource(client, final)
    assert (body["kind"], body["state"], body["sha256"]) == ("final", "complete", sha256(DATA))
    assert body["parts"] == [p.rsplit("/", 1)[1] for p in parts]
    assert body["filename"] == "joined.bin"
    assert resource(client, parts[0])["kind"] == "partial"


@pytest.mark.parametrize(
    ("concat", "detail"),
    [
        ("final;", "Upload-Concat must be 'partial' or 'final;<url> <url> ...'"),
        ("final;/api/other/1", "is not the URL of an upload"),
        ("final;/api/uploads/0b9e5b4e-6c53-4d43-9a3c-1f1e2d3c4b5a", "does not exist"),
        ("final;{unfinished}", "is not finished (1 of 2 bytes)"),
        ("final;{single}", "is not a partial upload"),
    ],
)
def test_invalid_final_uploads_are_400(client: TestClient, concat: str, detail: str) -> None:
    unfinished = new_upload(client, 2, Upload_Concat="partial")
    patch(client, unfinished, b"a", 0)
    single = new_upload(client, 1)
    patch(client, single, b"a", 0)
    response = create(client, Upload_Concat=concat.format(unfinished=unfinished, single=single))
    assert response.status_code == 400
    assert detail in response.json()["detail"]


def test_final_upload_with_a_length_is_400(client: TestClient) -> None:
    part = new_upload(client, 1, Upload_Concat="partial")
    response = create(client, 1, Upload_Concat=f"final;{part}")
    assert response.status_code == 400
    assert response.json()["detail"] == "a final upload takes its length from its partial uploads"


def test_location_honours_forwarded_headers_only_when_trusted(
    client: TestClient, settings: Settings
) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "uploads.example.com"}
    untrusted = create(client, 1, **{k.replace("-", "_"): v for k, v in forwarded.items()})
    assert untrusted.headers["location"].startswith("http://testserver/api/uploads/")

    from loadbay.app import create_app

    trusting = settings.model_copy(update={"trust_proxy": True})
    with TestClient(create_app(trusting)) as proxied:
        response = proxied.post("/api/uploads", headers=TUS | forwarded | {"Upload-Length": "1"})
        assert response.headers["location"].startswith("https://uploads.example.com/api/uploads/")
        hostile = proxied.post(
            "/api/uploads",
            headers=TUS | {"X-Forwarded-Host": "evil.example/x?", "Upload-Length": "1"},
        )
        assert hostile.headers["location"].startswith("http://testserver/api/uploads/")


def test_upload_metadata_with_b64_helper_round_trips(client: TestClient) -> None:
    meta = f"filename {b64('ünïcode.csv')},relativePath {b64('a/b/c.csv')},empty"
    path = new_upload(client, 1, Upload_Metadata=meta)
    body = resource(client, path)
    assert body["filename"] == "ünïcode.csv"
    assert body["metadata"] == {"filename": "ünïcode.csv", "relativePath": "a/b/c.csv", "empty": ""}
    assert client.head(path, headers=TUS).headers["upload-metadata"] == meta
