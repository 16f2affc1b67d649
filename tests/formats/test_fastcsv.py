"""The polars fast path of the CSV reader yields exactly the exact reader's batches.

Every test reads one file twice, through ``delimited.read`` (the fast path where it applies,
falling back to the exact reader where it cannot) and through ``delimited.read_exact`` (the
``csv`` module only), and compares values (nulls included), row numbers and ragged-row errors
batch by batch, or the error both raise. Blocks are made tiny in most tests so that block
boundaries, carried partial lines and the hand-over to the exact reader all happen in small
files.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadbay.formats import Detected, SourceBatch, UnreadableFile, detect, fastcsv
from loadbay.formats.delimited import read, read_exact

HEADER = ["id", "name", "city"]


@contextmanager
def tiny_blocks(first: int = 7, largest: int = 64) -> Iterator[None]:
    with (
        mock.patch.object(fastcsv, "FIRST_BLOCK_BYTES", first),
        mock.patch.object(fastcsv, "MAX_BLOCK_BYTES", largest),
    ):
        yield


def batches(path: Path, detected: Detected, *, exact: bool, batch_rows: int) -> object:
    """The batches as comparable tuples, or the error raised (as its detail)."""
    reader = read_exact if exact else read
    try:
        return [
            (batch.values.rows(), batch.row_numbers.to_list(), batch.errors)
            for batch in reader(path, detected, batch_rows=batch_rows)
        ]
    except UnreadableFile as exc:
        return ("unreadable", exc.detail)


def assert_same(path: Path, *, batch_rows: int = 3) -> Detected | None:
    try:
        detected = detect(path)
    except UnreadableFile:
        return None  # nothing to read for either reader
    exact = batches(path, detected, exact=True, batch_rows=batch_rows)
    fast = batches(path, detected, exact=False, batch_rows=batch_rows)
    assert fast == exact
    return detected


def fast_only(path: Path, *, batch_rows: int = 3) -> list[SourceBatch]:
    """The fast path's batches, failing if it handed anything to the exact reader."""
    detected = detect(path)
    assert fastcsv.eligible(detected)

    def refuse(start: int) -> Iterator[SourceBatch]:
        raise AssertionError(f"fell back to the exact reader at row {start}")

    size = batch_rows
    return list(fastcsv.read(path, detected, size=size, fallback=refuse))


def write(tmp_path: Path, content: bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def csv_bytes(rows: list[list[str]], *, newline: str = "\n", header: list[str] = HEADER) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=newline).writerows([header, *rows])
    return buffer.getvalue().encode()


# --- generated files -----------------------------------------------------------------------

CELL = st.lists(st.sampled_from([*'ab ,;"\n\r\t|xyzé€张😀', "\r\n", '""']), max_size=6).map("".join)
ROW = st.lists(CELL, min_size=1, max_size=5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(ROW, max_size=12),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
    blank_lines=st.lists(st.integers(min_value=0, max_value=14), max_size=3),
    title=st.booleans(),
    batch_rows=st.integers(min_value=1, max_value=5),
    trailing_newline=st.booleans(),
)
def test_generated_files_read_the_same(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[list[str]],
    newline: str,
    bom: bool,
    blank_lines: list[int],
    title: bool,
    batch_rows: int,
    trailing_newline: bool,
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    lines_rows: list[list[str]] = [HEADER, *rows]
    if title:
        lines_rows.insert(0, ["Customer export"])
    for record in lines_rows:
        writer.writerow(record)
    lines = buffer.getvalue().split(newline)
    for position in blank_lines:  # inserted between physical lines: may land inside a quote
        lines.insert(min(position, len(lines)), "")
    text = newline.join(lines)
    if not trailing_newline:
        text = text.removesuffix(newline)
    content = (codecs.BOM_UTF8 if bom else b"") + text.encode()
    path = write(tmp_path_factory.mktemp("gen"), content)
    with tiny_blocks():
        assert_same(path, batch_rows=batch_rows)


@settings(max_examples=200, deadline=None)
@given(
    cells=st.lists(st.lists(st.sampled_from(["a", "", "x y", '"q"', "c,d", "é"]), max_size=5)),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    batch_rows=st.integers(min_value=1, max_value=4),
)
def test_ragged_rows_and_delimiters(
    tmp_path_factory: pytest.TempPathFactory,
    cells: list[list[str]],
    delimiter: str,
    batch_rows: int,
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows([["id", "name", "city", "zip"], ["1", "2", "3", "4"], *cells])
    path = write(tmp_path_factory.mktemp("ragged"), buffer.getvalue().encode())
    with tiny_blocks():
        assert_same(path, batch_rows=batch_rows)


# --- named cases ---------------------------------------------------------------------------


def test_plain_file_stays_on_the_fast_path(tmp_path: Path) -> None:
    rows = [[str(i), f'Customer {i}, "the {i}th"', "Zürich" if i % 2 else ""] for i in range(50)]
    path = write(tmp_path, csv_bytes(rows, newline="\r\n"))
    with tiny_blocks(first=16, largest=128):
        fast = fast_only(path, batch_rows=7)
        assert_same(path, batch_rows=7)
    assert [len(b.values) for b in fast] == [7] * 7 + [1]
    assert fast[0].values.row(0) == ("0", 'Customer 0, "the 0th"', "")
    assert fast[-1].row_numbers.to_list() == [50]


def test_header_only(tmp_path: Path) -> None:
    for content in (b"id,name,city\n", b"id,name,city", b"id,name,city\r\n\r\n\n"):
        path = write(tmp_path, content)
        assert assert_same(path) is not None
        assert batches(path, detect(path), exact=False, batch_rows=3) == []


def test_ragged_rows_report_row_and_line(tmp_path: Path) -> None:
    content = b'Title\n\nid,name,city\n1,a,b\n\n2,"x\n"\n3,a,b,c,d\n4,"only"\n5,a,b\n'
    path = write(tmp_path, content)
    assert_same(path, batch_rows=2)
    # The quoted newline in row 2 sends the rest to the exact reader; without it the fast
    # path reports the ragged rows itself.
    path = write(tmp_path, b'Title\n\nid,name,city\n1,a,b\n\n3,a,b,c,d\n4,"only"\n5,a,b\n')
    with tiny_blocks():
        fast = fast_only(path, batch_rows=2)
    errors = [e for b in fast for e in b.errors]
    assert [(e.row, e.rule, e.value, e.message) for e in errors] == [
        (2, "record", "3,a,b,c,d", "row has 5 fields, the header has 3 (line 6)"),
        (3, "record", "4,only", "row has 2 fields, the header has 3 (line 7)"),
    ]
    assert [row for b in fast for row in b.values.rows()] == [
        ("1", "a", "b"),
        ("3", "a", "b"),
        ("4", "only", None),
        ("5", "a", "b"),
    ]
    assert_same(path, batch_rows=2)


def test_stray_quotes_read_literally_on_the_fast_path(tmp_path: Path) -> None:
    path = write(tmp_path, b'id,name,city\n1,a"b,c\n2, "x",y\n')
    with tiny_blocks():
        fast = fast_only(path)
        assert_same(path)
    assert fast[0].values.rows() == [("1", 'a"b', "c"), ("2", ' "x"', "y")]


def test_field_spanning_lines_hands_over_at_a_batch_boundary(tmp_path: Path) -> None:
    rows = [[str(i), "plain", "x"] for i in range(1, 10)] + [["10", "two\nlines", "y"]]
    rows += [[str(i), "plain", "x"] for i in range(11, 15)]
    path = write(tmp_path, csv_bytes(rows))
    detected = detect(path)
    starts: list[int] = []

    def rest(start: int) -> Iterator[SourceBatch]:
        starts.append(start)
        return read_exact(path, detected, batch_rows=4, start_row=start)

    with tiny_blocks(first=40, largest=40):
        got = list(fastcsv.read(path, detected, size=4, fallback=rest))
        assert_same(path, batch_rows=4)
    assert starts
    assert starts[0] % 4 == 0
    assert [b.row_numbers.to_list() for b in got] == [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
        [9, 10, 11, 12],
        [13, 14],
    ]
    assert got[2].values.row(1) == ("10", "two\nlines", "y")


@pytest.mark.parametrize(
    "content",
    [
        b'id,name,city\n1,"a"b,c\n',  # text after a closing quote
        b'id,name,city\n1,a,b\n2,"open,c\n',  # unterminated quote
        b"id,name,city\n1,a,b\n2,\xff\xfe,c\n",  # not UTF-8
        b"id,name,city\n1,a,b\n2,a\x00,c\n",  # NUL
        b"id,name,city\n1,a\rb,c\n2,d,e\n",  # a bare CR ends a line for the exact reader
        b"id,name,city\r1,a,b\r2,c,d\r",  # CR line ends throughout
        b"id,name,city\n1,a,b\n\xef\xbb\xbf2,c,d\n",  # a BOM character inside the file
    ],
)
def test_what_polars_reads_differently_is_left_to_the_exact_reader(
    tmp_path: Path, content: bytes
) -> None:
    path = write(tmp_path, content)
    with tiny_blocks():
        assert_same(path, batch_rows=1)
    assert_same(path, batch_rows=100)


def test_mixed_line_ends_and_bom(tmp_path: Path) -> None:
    content = codecs.BOM_UTF8 + b'id,name,city\r\n1,"a,b",c\n2,d,e\r\n\r\n3,"f ""g""",h\n'
    path = write(tmp_path, content)
    with tiny_blocks():
        fast = fast_only(path, batch_rows=2)
        assert_same(path, batch_rows=2)
    assert [row for b in fast for row in b.values.rows()] == [
        ("1", "a,b", "c"),
        ("2", "d", "e"),
        ("3", 'f "g"', "h"),
    ]


def test_header_spanning_lines_and_title_rows(tmp_path: Path) -> None:
    content = b'Report\n\n"id","full\nname",city\n1,a,b\n2,c,d\n'
    path = write(tmp_path, content)
    with tiny_blocks():
        fast = fast_only(path)
        assert_same(path)
    assert fast[0].values.columns == ["id", "full\nname", "city"]
    assert fast[0].values.rows() == [("1", "a", "b"), ("2", "c", "d")]


def test_single_column_file(tmp_path: Path) -> None:
    path = write(tmp_path, b'name\na\n\n""\nb\n')
    with tiny_blocks():
        assert_same(path, batch_rows=2)


def test_ineligible_files_use_the_exact_reader(tmp_path: Path) -> None:
    path = write(tmp_path, "id;name\n1;é\n".encode("cp1252"))
    detected = detect(path)
    assert not fastcsv.eligible(detected)
    assert_same(path)


def test_offsets_never_run_ahead_of_the_rows(tmp_path: Path) -> None:
    rows = [[str(i), "name", "city"] for i in range(1, 101)]
    content = csv_bytes(rows)
    path = write(tmp_path, content)
    fast = fast_only(path, batch_rows=10)
    # A sample of a small file read in one block must not look like a read of all of it.
    assert fast[0].offset is not None
    assert fast[0].offset < len(content)
    assert fast[-1].offset == len(content)
    offsets = [b.offset or 0 for b in fast]
    assert offsets == sorted(offsets)
