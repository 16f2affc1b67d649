"""Every format and encoding gives the same rows; bad files give precise errors."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadbay.formats import Detected, UnreadableFile, detect, read_batches, sample
from loadbay.formats.limits import MAX_COLUMNS, MAX_ZIP_UNCOMPRESSED_BYTES

HEADER = ["id", "name", "city"]
ROWS = [["007", 'Zoë, "the" first', "Paris"], ["010", "Renée\nMüller", "Zürich"]]
CJK_ROWS = {
    "gb18030": [["007", "张伟", "北京市朝阳区"], ["010", "李娜", "上海市浦东新区"]],
    "shift_jis": [["007", "山田太郎", "東京都新宿区"], ["010", "佐藤花子", "大阪府大阪市"]],
}


def rows_of(path: Path, detected: Detected | None = None) -> list[list[str | None]]:
    detected = detected or detect(path)
    out: list[list[str | None]] = []
    for batch in read_batches(path, detected):
        out.extend(list(row) for row in batch.values.iter_rows())
    return out


def csv_text(rows: list[list[str]], delimiter: str = ",", newline: str = "\r\n") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=newline).writerows([HEADER, *rows])
    return buffer.getvalue()


# --- CSV / TSV, encodings ---------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters(tmp_path: Path, delimiter: str) -> None:
    path = tmp_path / "data.txt"
    path.write_text(csv_text(ROWS, delimiter), encoding="utf-8", newline="")
    detected = detect(path)
    assert (detected.format, detected.delimiter, detected.columns) == ("csv", delimiter, HEADER)
    assert rows_of(path) == ROWS


@pytest.mark.parametrize(
    ("encoding", "bom", "expected"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", b"\xef\xbb\xbf", "utf-8"),
        ("utf-16-le", b"\xff\xfe", "utf-16-le"),
        ("utf-16-be", b"\xfe\xff", "utf-16-be"),
        ("utf-16-le", b"", "utf-16-le"),
        ("cp1252", b"", "cp1252"),
        ("latin-1", b"", "cp1252"),
    ],
)
def test_encodings(tmp_path: Path, encoding: str, bom: bytes, expected: str) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(bom + csv_text(ROWS * 10).encode(encoding))
    detected = detect(path)
    assert (detected.encoding, detected.bom) == (expected, bool(bom))
    assert detected.columns == HEADER
    assert rows_of(path) == ROWS * 10


@pytest.mark.parametrize("encoding", ["gb18030", "shift_jis"])
def test_cjk_encodings(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(csv_text(CJK_ROWS[encoding] * 10).encode(encoding))
    assert detect(path).encoding in {"gb18030", "cp932", "shift-jis"}
    assert rows_of(path) == CJK_ROWS[encoding] * 10


def test_mixed_line_ends_title_rows_and_leading_zeros(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b'Sales report,,\r\n\r\nid,name,city\r001,a,b\n002,"x\r\ny",c\r\n\n003,,\r\n')
    detected = detect(path)
    assert (detected.header_row, detected.columns) == (2, HEADER)
    batch = sample(path, detected)
    assert batch.values.rows() == [("001", "a", "b"), ("002", "x\r\ny", "c"), ("003", "", "")]
    assert batch.row_numbers.to_list() == [1, 2, 3]


def test_duplicate_and_blank_header_names(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a, a ,,b\n1,2,3,4\n")
    assert detect(path).columns == ["a", "a_2", "column_3", "b"]


def test_header_only_has_columns_and_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("id,name\n")
    detected = detect(path)
    assert detected.columns == ["id", "name"]
    assert list(read_batches(path, detected)) == []
    assert sample(path, detected).values.shape == (0, 2)


def test_ragged_rows_are_kept_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b,c\n1,2,3\n4,5\n6,7,8,9\n")
    (batch,) = read_batches(path, detect(path))
    assert batch.values.rows() == [("1", "2", "3"), ("4", "5", None), ("6", "7", "8")]
    assert [(e.row, e.rule, e.value, e.message) for e in batch.errors] == [
        (2, "record", "4,5", "row has 2 fields, the header has 3 (line 3)"),
        (3, "record", "6,7,8,9", "row has 4 fields, the header has 3 (line 4)"),
    ]


def test_ten_megabyte_field(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    big = "x" * 10_000_000
    path.write_text(f'a,b\n1,"{big}"\n2,y\n')
    assert rows_of(path) == [["1", big], ["2", "y"]]


def test_wide_files_get_short_batches_and_too_wide_are_refused(tmp_path: Path) -> None:
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(2000)) + "\n" + "1," * 1999 + "1\n")
    assert detect(wide).columns[-1] == "c1999"
    too_wide = tmp_path / "too_wide.csv"
    too_wide.write_text(",".join(f"c{i}" for i in range(20_000)) + "\n" + "1," * 19_999 + "1\n")
    with pytest.raises(UnreadableFile) as caught:
        detect(too_wide)
    assert caught.value.reason == "too many columns"
    assert caught.value.detail == (
        f"cannot read the csv file: too many columns "
        f"(20000 columns, at most {MAX_COLUMNS} are accepted)"
    )


def test_streaming_a_million_rows_in_bounded_batches(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w") as out:
        out.write("id,v\n")
        out.writelines(f"{i},{i % 7}\n" for i in range(1_000_000))
    detected = detect(path)
    sizes, last = [], 0
    for batch in read_batches(path, detected, batch_rows=250_000):
        sizes.append(batch.values.height)
        assert batch.row_numbers[0] == last + 1
        last = batch.row_numbers[-1]
    assert sizes == [250_000] * 4
    assert last == 1_000_000


# --- the other formats -------------------------------------------------------------------

EXPECTED = [["007", "Zoë", "12"], ["010", None, "3.5"]]


def test_json_ndjson_and_gzip(tmp_path: Path) -> None:
    records = [{"id": "007", "name": "Zoë", "n": 12}, {"id": "010", "name": None, "n": 3.5}]
    array = tmp_path / "a"
    array.write_text(json.dumps(records, indent=2))
    lines = tmp_path / "b"
    lines.write_text("\n".join(map(json.dumps, records)) + "\n\n")
    gzipped = tmp_path / "c"
    gzipped.write_bytes(gzip.compress(lines.read_bytes()))
    for path, fmt in ((array, "json"), (lines, "ndjson"), (gzipped, "ndjson")):
        detected = detect(path)
        assert (detected.format, detected.columns) == (fmt, ["id", "name", "n"])
        (batch,) = read_batches(path, detected)
        assert [list(r) for r in batch.values.iter_rows()] == EXPECTED
        assert batch.kinds is not None
        assert batch.kinds["n"].to_list() == [2, 3]  # integer, float
    assert detect(gzipped).compression == "gzip"


def test_ndjson_bad_line_is_a_row_error(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_text('{"a": 1}\n{"a": \n[1]\n{"a": 2}\n')
    (batch,) = read_batches(path, detect(path))
    assert batch.values["a"].to_list() == ["1", None, None, "2"]
    assert [(e.row, e.message) for e in batch.errors] == [
        (2, "line 2: invalid JSON: Expecting value at column 7"),
        (3, "expected an object, got array"),
    ]


def test_json_array_is_streamed_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "data"
    records = [{"id": i, "text": "é" * (i % 50)} for i in range(30_000)]
    path.write_text(json.dumps(records))
    out = [
        row for b in read_batches(path, detect(path), batch_rows=7000) for row in b.values.rows()
    ]
    assert out == [(str(r["id"]), r["text"]) for r in records]


def test_parquet(tmp_path: Path) -> None:
    import datetime as dt

    path = tmp_path / "data"
    pl.DataFrame(
        {
            "id": ["007", "010"],
            "day": [dt.date(2024, 1, 2), None],
            "at": [dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime(2024, 1, 2, 3, 4, 5, 500000)],
            "n": [1, 2],
        }
    ).write_parquet(path)
    detected = detect(path)
    assert (detected.format, detected.columns) == ("parquet", ["id", "day", "at", "n"])
    assert sample(path, detected).values.rows() == [
        ("007", "2024-01-02", "2024-01-02T03:04:05", "1"),
        ("010", None, "2024-01-02T03:04:05.500", "2"),
    ]


def test_xlsx_sheet_choice_dates_and_leading_zeros(tmp_path: Path) -> None:
    import datetime as dt

    path = tmp_path / "data"
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.append(["ignored"])
    second = book.create_sheet("Data")
    second.append(["Export of 2024"])
    second.append([])
    second.append(["id", "day", "at", "n"])
    second.append(["007", dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5), 5.0])
    second.append(["010", None, None, 2.5])
    book.save(path)
    detected = detect(path, sheet="Data")
    assert (detected.format, detected.header_row) == ("xlsx", 2)
    assert detected.columns == ["id", "day", "at", "n"]
    assert rows_of(path, detected) == [
        ["007", "2024-01-02", "2024-01-02T03:04:05", "5"],
        ["010", None, None, "2.5"],
    ]
    with pytest.raises(UnreadableFile, match="no such sheet"):
        detect(path, sheet="Nope")


# --- bad files ----------------------------------------------------------------------------


def _reason(path: Path) -> UnreadableFile:
    with pytest.raises(UnreadableFile) as caught:
        rows_of(path)
    return caught.value


def test_empty_and_blank_files(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"")
    assert _reason(path).reason == "empty file"
    path.write_bytes(b"\r\n  \n")
    assert _reason(path).reason == "empty file"


def test_binary_junk(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(bytes(range(256)) * 64)
    assert _reason(path).reason == "binary content"


def test_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "f"
    rows = [[str(i), f"name {i * 7919 % 10007}", "x"] for i in range(100_000)]
    path.write_bytes(gzip.compress(csv_text(rows).encode())[:-100])
    error = _reason(path)
    assert (error.format, error.reason) == ("csv", "truncated gzip stream")
    assert error.offset == path.stat().st_size


def test_unterminated_quote(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text('a,b\n1,2\n3,"open\n4,5\n')
    error = _reason(path)
    assert (error.reason, error.line) == ("unterminated quote", 4)


def test_bad_json_array_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text('[\n{"a": 1},\n{"a": 2,}\n]')
    error = _reason(path)
    assert (error.format, error.reason, error.line) == ("json", "invalid JSON", 3)
    path.write_text('[{"a": 1}, {"a": 2}')
    assert _reason(path).reason == "truncated JSON"


def test_zip_that_is_not_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "f"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert _reason(path).reason == "not an XLSX workbook"


def test_xlsx_that_is_not_a_zip(tmp_path: Path) -> None:
    from loadbay.formats.excel import check_zip

    path = tmp_path / "f.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UnreadableFile) as caught:
        check_zip(path)
    assert caught.value.reason == "not a zip archive"


def test_zip_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    path = tmp_path / "bomb"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as entry:
            block = b"\0" * (1 << 20)
            for _ in range(MAX_ZIP_UNCOMPRESSED_BYTES // len(block) // 8):
                entry.write(block)
    error = _reason(path)
    assert (error.format, error.reason) == ("xlsx", "zip bomb")
    assert "inflates more than 200 times" in error.detail


# --- round trips --------------------------------------------------------------------------

cell = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
# At least two columns: a one-column text file has no delimiter to detect.
tables = st.integers(2, 4).flatmap(
    lambda width: st.lists(st.lists(cell, min_size=width, max_size=width), min_size=1, max_size=8)
)
HEADS = ["alpha", "beta", "gamma", "delta"]


def _write(path: Path, fmt: str, names: list[str], rows: list[list[str]]) -> None:
    records = [dict(zip(names, row, strict=True)) for row in rows]
    if fmt in {"csv", "tsv"}:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\r\n")
        writer.writerows([names, *rows])
        path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    elif fmt == "json":
        path.write_text(json.dumps(records))
    elif fmt == "ndjson":
        path.write_bytes(gzip.compress("\n".join(map(json.dumps, records)).encode()))
    elif fmt == "parquet":
        pl.DataFrame(rows, schema=names, orient="row").write_parquet(path)
    else:
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        for row in [names, *rows]:
            sheet.append(row)
        book.save(path)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "ndjson", "parquet"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=tables)
def test_round_trip(tmp_path: Path, fmt: str, rows: list[list[str]]) -> None:
    names = HEADS[: len(rows[0])]
    path = tmp_path / f"rt_{fmt}"
    _write(path, fmt, names, rows)
    detected = detect(path)
    assert detected.columns == names
    assert rows_of(path, detected) == rows
