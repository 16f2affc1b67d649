"""``detect``: format, compression, encoding, delimiter, header row and columns, from content.

Order: gzip magic (then everything below applies to the decompressed bytes), zip (XLSX, with
the bomb checks), ``PAR1`` (Parquet), then text: a byte order mark, else strict UTF-8, else
charset-normalizer. charset-normalizer is trusted for multi-byte encodings (GB18030,
Shift_JIS/CP932, UTF-16 without BOM…); when it names a single-byte code page the file is read
as Windows-1252 (a superset of Latin-1's printable characters, and what Western spreadsheets
write), since it cannot tell those code pages apart reliably on short samples. Text starting
with ``[`` is JSON, with ``{`` NDJSON, anything else delimited text.
"""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import charset_normalizer

from loadbay.formats import delimited, excel, jsonfile, parquet
from loadbay.formats.errors import UnreadableFile
from loadbay.formats.limits import SNIFF_BYTES
from loadbay.formats.model import Compression, Detected
from loadbay.formats.source import BOMS, GZIP_MAGIC, bom_for, open_content

_MULTI_BYTE = ("utf", "gb", "big5", "cp932", "shift_jis", "euc", "cp949", "iso2022", "hz")
_FALLBACK_SINGLE_BYTE = "cp1252"


def detect(path: Path, *, sheet: str | None = None) -> Detected:
    """How to read ``path``; ``sheet`` picks an XLSX sheet (default: the first)."""
    with path.open("rb") as raw:
        magic = raw.read(4)
    compression: Compression | None = "gzip" if magic.startswith(GZIP_MAGIC) else None
    if compression is None and zipfile.is_zipfile(path):
        return excel.detect(path, sheet=sheet)
    with open_content(path, compression, format="gzip" if compression else "file") as content:
        head = content.read(SNIFF_BYTES)
        complete = not content.read(1)
    if head.startswith(b"PAR1"):
        if compression:
            raise UnreadableFile("parquet", "gzip-compressed Parquet is not supported")
        return Detected(format="parquet", columns=parquet.columns(path))
    if head.startswith(b"PK\x03\x04"):
        if compression is None:  # a zip's signature, yet not a zip: damaged or fake
            excel.check_zip(path)  # raises "not a zip archive" with zipfile's reason
        raise UnreadableFile("xlsx", "gzip-compressed XLSX is not supported")
    encoding, bom = _encoding(head, complete=complete)
    text = head[len(bom_for(encoding)) if bom else 0 :].decode(encoding, errors="ignore")
    if not text.strip():
        raise UnreadableFile("csv", "empty file")
    first = text.lstrip()[0]
    partial = Detected(format="csv", compression=compression, encoding=encoding, bom=bom)
    if first == "[":
        return jsonfile.detect(path, replace(partial, format="json"))
    if first == "{":
        return jsonfile.detect(path, replace(partial, format="ndjson"))
    return delimited.detect(path, text, partial, complete=complete)


def _encoding(head: bytes, *, complete: bool) -> tuple[str, bool]:
    """The codec of ``head`` and whether it starts with a byte order mark."""
    for bom, name in BOMS:
        if head.startswith(bom):
            return name, True
    sample = head if complete else _whole_lines(head)
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if b"\x00" not in sample:
            return "utf-8", False
    best = charset_normalizer.from_bytes(sample).best()
    if best is None or (b"\x00" in sample and not best.encoding.startswith("utf_")):
        nul = sample.find(b"\x00")
        raise UnreadableFile(
            "file",
            "binary content",
            explanation="not text in any known encoding",
            offset=nul if nul >= 0 else None,  # where: the first NUL byte, when there is one
        )
    name = best.encoding.replace("_", "-")
    if name.startswith(_MULTI_BYTE):
        return name, False
    return _FALLBACK_SINGLE_BYTE, False


def _whole_lines(head: bytes) -> bytes:
    """The sample cut after its last newline, so no character is cut in half."""
    cut = head.rfind(b"\n")
    return head[: cut + 1] if cut > 0 else head
