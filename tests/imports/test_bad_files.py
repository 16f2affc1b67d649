"""Broken and hostile files through the API: each unreadable one ends ``failed`` with an
``unreadable-file`` failure saying why and where, none stays in a working state, and the
server goes on importing good files. Odd but readable files import as the readers promise."""

from __future__ import annotations

import gzip
import io
import random
import zipfile
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.imports.files_helpers import (
    HEADER,
    SETTLED,
    customers_csv,
    import_file,
    register_customers,
    table_rows,
    wait_for,
)

NOTES: dict[str, Any] = {
    "name": "notes",
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "body", "type": "string"},
    ],
    "primaryKey": ["id"],
}


@pytest.fixture
def schemas(client: TestClient) -> None:
    register_customers(client)
    register_customers(client, NOTES)


def assert_unreadable(body: dict[str, Any], *phrases: str) -> str:
    """The import failed on its file; the detail holds every phrase. Returns the detail."""
    assert body["state"] == "failed", body
    assert body["failure"]["type"] == "unreadable-file", body["failure"]
    detail: str = body["failure"]["detail"]
    for phrase in phrases:
        assert phrase in detail, detail
    assert body["counts"]["rows_loaded"] == 0
    return detail


def assert_still_works(client: TestClient, engine: sa.Engine) -> None:
    """A good file imported after the bad one completes."""
    body = import_file(client, customers_csv(5), schema="customers", options={"auto_commit": True})
    assert body["state"] == "completed", body
    assert [row[0] for row in table_rows(engine, "customers", ["id"])] == [1, 2, 3, 4, 5]


def bomb(entry_bytes: int) -> bytes:
    """A zip posing as XLSX whose sheet entry inflates ``entry_bytes`` of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as entry:
            block = b"\0" * (1 << 20)
            for _ in range(entry_bytes // len(block)):
                entry.write(block)
    return out.getvalue()


def with_declared_size(content: bytes, name: str, size: int) -> bytes:
    """``content`` (a zip) with the central directory claiming ``size`` bytes for ``name``:
    only a reader that trusts the directory before inflating can object to it."""
    record = content.rindex(b"PK\x01\x02", 0, content.rindex(name.encode()))
    at = record + 24  # signature, versions, flags, method, time, date, crc, compressed size
    return content[:at] + size.to_bytes(4, "little") + content[at + 4 :]


@pytest.mark.usefixtures("schemas")
def test_truncated_gzip_fails_with_its_byte_offset(
    client: TestClient, target_engine: sa.Engine
) -> None:
    whole = gzip.compress(customers_csv(30_000), compresslevel=1)
    # Cut after the sniffed head: analysis succeeds, validation meets the end of the stream.
    body = import_file(client, whole[: len(whole) // 2], schema="customers", name="c.csv.gz")
    detail = assert_unreadable(body, "cannot read the csv file: truncated gzip stream", " at byte ")
    offset = int(detail.rsplit(" at byte ", 1)[1])
    assert 0 < offset <= len(whole) // 2
    assert body["analysis"]["compression"] == "gzip"
    assert_still_works(client, target_engine)


@pytest.mark.usefixtures("schemas")
def test_gzip_cut_inside_the_sniffed_head_fails_at_analysis(
    client: TestClient, target_engine: sa.Engine
) -> None:
    whole = gzip.compress(customers_csv(200))
    body = import_file(client, whole[:-40], schema="customers", name="c.csv.gz")
    assert_unreadable(body, "truncated gzip stream", " at byte ")
    assert body["analysis"] is None  # it never got as far as knowing how to read the file
    assert_still_works(client, target_engine)


@pytest.mark.usefixtures("schemas")
def test_xlsx_that_is_not_a_zip(client: TestClient, target_engine: sa.Engine) -> None:
    body = import_file(client, b"PK\x03\x04 not really a zip", schema="customers", name="x.xlsx")
    assert_unreadable(body, "cannot read the xlsx file: not a zip archive")
    assert_still_works(client, target_engine)


@pytest.mark.usefixtures("schemas")
def test_zip_bomb_is_refused_by_its_ratio(client: TestClient, target_engine: sa.Engine) -> None:
    content = bomb(32 << 20)
    assert len(content) < 64 * 1024  # 32 MiB of zeros deflate to a few kilobytes
    body = import_file(client, content, schema="customers", name="bomb.xlsx")
    assert_unreadable(
        body,
        "cannot read the xlsx file: zip bomb",
        "entry 'xl/worksheets/sheet1.xml' inflates more than 200 times",
    )
    assert_still_works(client, target_engine)


@pytest.mark.usefixtures("schemas")
def test_zip_bomb_is_refused_by_its_declared_size(
    client: TestClient, target_engine: sa.Engine
) -> None:
    # Nothing here inflates to more than a megabyte: the directory alone claims 3.75 GiB.
    content = with_declared_size(bomb(1 << 20), "xl/worksheets/sheet1.xml", 0xF000_0000)
    body = import_file(client, content, schema="customers", name="bomb.xlsx")
    assert_unreadable(body, "zip bomb", f"{0xF000_0000 + 19} bytes uncompressed")
    assert_still_works(client, target_engine)


@pytest.mark.usefixtures("schemas")
def test_unterminated_quote_names_its_line(client: TestClient, target_engine: sa.Engine) -> None:
    content = customers_csv(10) + b'11,user11@example.com,"User 11,41,2024-02-29,1.5,FR,true\r\n'
    content += b"12,user12@example.com,User 12,42,2024-02-29,1.5,FR,true\r\n"
    body = import_file(client, content, schema="customers")
    # The open quote swallows the rest of the file: the end is where reading stopped.
    assert_unreadable(body, "cannot read the csv file: unterminated quote at line 13")
    assert_still_works(client, target_engine)


@pytest.mark.usefixtures("schemas")
def test_ten_megabyte_field_imports(client: TestClient, target_engine: sa.Engine) -> None:
    # The reader accepts fields up to MAX_FIELD_CHARS (64 Mi characters): 10 MB must load.
    big = "x" * 10_000_000
    content = f'id,body\n1,"{big}"\n2,short\n'.encode()
    body = import_file(client, content, schema="notes", options={"auto_commit": True})
    assert body["state"] == "completed", body
    assert body["counts"]["rows_loaded"] == 2
    with target_engine.connect() as conn:
        lengths = conn.execute(sa.text("SELECT id, length(body) FROM notes ORDER BY id")).all()
    assert [tuple(row) for row in lengths] == [(1, 10_000_000), (2, 5)]
    assert_still_works(client, target_engine)


@pytest.mark.usefixtures("schemas")
def test_too_many_columns(client: TestClient, target_engine: sa.Engine) -> None:
    width = 20_000
    content = (",".join(f"c{i}" for i in range(width)) + "\n" + "1," * (width - 1) + "1\n").encode()
    body = import_file(client, content, schema="notes")
    assert_unreadable(
        body,
        "cannot read the csv file: too many columns (20000 columns, at most 16384 are accepted)",
    )
    assert_still_works(client, target_engine)


@pytest.mark.usefixtures("schemas")
def test_ragged_rows_are_kept_as_record_errors(
    client: TestClient, target_engine: sa.Engine
) -> None:
    lines = customers_csv(6).decode().split("\r\n")
    lines[3] = lines[3].rsplit(",", 2)[0]  # row 3: two fields short
    lines[5] += ",extra"  # row 5: one field too many
    body = import_file(client, "\r\n".join(lines).encode(), schema="customers")
    assert body["state"] == "validated", body
    assert body["counts"]["rows_total"] == 6
    assert body["counts"]["rows_invalid"] == 2
    records = {(e["row"], e["column"], e["rule"]) for e in body["first_errors"]}
    assert {(3, None, "record"), (5, None, "record")} <= records
    messages = {e["row"]: e["message"] for e in body["first_errors"] if e["rule"] == "record"}
    assert messages == {
        3: "row has 6 fields, the header has 8 (line 4)",
        5: "row has 9 fields, the header has 8 (line 6)",
    }
    # Valid rows can still be committed; the ragged ones are left out.
    commit = client.post(f"/api/imports/{body['id']}/commit", json={"on_error": "skip"})
    assert commit.status_code == 202, commit.text
    assert_still_works_after_skip(client, target_engine, body["id"])


def assert_still_works_after_skip(client: TestClient, engine: sa.Engine, import_id: str) -> None:
    done = wait_for(client, import_id, SETTLED - {"validated"})
    assert done["state"] == "completed", done
    assert done["counts"]["rows_loaded"] == 4
    assert [row[0] for row in table_rows(engine, "customers", ["id"])] == [1, 2, 4, 6]


@pytest.mark.usefixtures("schemas")
def test_binary_junk(client: TestClient, target_engine: sa.Engine) -> None:
    junk = random.Random(7).randbytes(64 * 1024)
    nul = b"\x00"
    assert not junk.startswith((b"\x1f\x8b", b"PK", b"PAR1"))
    body = import_file(client, junk, schema="customers", name="junk.csv")
    assert_unreadable(
        body,
        "binary content (not text in any known encoding)",
        f" at byte {junk.index(nul)}",  # the first NUL byte
    )
    assert_still_works(client, target_engine)


@pytest.mark.usefixtures("schemas")
@pytest.mark.parametrize("content", [b"", b"\r\n\r\n   \n"], ids=["empty", "blank"])
def test_empty_file(client: TestClient, target_engine: sa.Engine, content: bytes) -> None:
    body = import_file(client, content, schema="customers")
    assert_unreadable(body, "cannot read the csv file: empty file")
    assert_still_works(client, target_engine)


@pytest.mark.usefixtures("schemas")
def test_header_only_file_completes_with_no_rows(
    client: TestClient, target_engine: sa.Engine
) -> None:
    # The header maps every field exactly, so nothing needs a person; there are no rows to
    # fail, so validation ends validated with 0 rows and auto_commit completes it.
    body = import_file(
        client, (HEADER + "\r\n").encode(), schema="customers", options={"auto_commit": True}
    )
    assert body["state"] == "completed", body
    assert body["failure"] is None
    counts = body["counts"]
    assert (counts["rows_total"], counts["rows_valid"], counts["rows_loaded"]) == (0, 0, 0)
    assert body["progress"] == 1.0
    assert table_rows(target_engine, "customers", ["id"]) == []
    # Without auto_commit it rests validated, with nothing to commit but nothing wrong either.
    waiting = import_file(client, (HEADER + "\r\n").encode(), schema="customers")
    assert waiting["state"] == "validated", waiting
    assert waiting["counts"]["rows_total"] == 0
    assert_still_works(client, target_engine)


@pytest.mark.usefixtures("schemas")
def test_xlsx_with_a_missing_sheet(client: TestClient, target_engine: sa.Engine) -> None:
    workbook = openpyxl.Workbook()
    out = io.BytesIO()
    workbook.save(out)
    body = import_file(
        client, out.getvalue(), schema="customers", name="x.xlsx", options={"sheet": "Nope"}
    )
    assert_unreadable(body, "cannot read the xlsx file: no such sheet", "'Nope'")
    assert_still_works(client, target_engine)
