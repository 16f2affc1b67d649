"""Opening a file's content: decompressed, decoded, with low-level failures made precise."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO

from loadbay.formats.errors import UnreadableFile
from loadbay.formats.model import Compression, Detected

GZIP_MAGIC = b"\x1f\x8b"


@contextmanager
def open_content(path: Path, compression: Compression | None, *, format: str) -> Iterator[BinaryIO]:
    """The file's bytes, gunzipped on the fly when compressed; gzip damage (truncation, bad
    CRC, corrupt deflate data) raised as ``UnreadableFile`` with the compressed byte offset."""
    with path.open("rb") as raw:
        if compression is None:
            yield raw
            return
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield unzipped  # type: ignore[misc]  # GzipFile is a BinaryIO in practice
        except EOFError as exc:
            raise UnreadableFile(
                format, "truncated gzip stream", explanation=str(exc), offset=raw.tell()
            ) from exc
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise UnreadableFile(
                format, "corrupt gzip stream", explanation=str(exc), offset=raw.tell()
            ) from exc


@contextmanager
def open_text(path: Path, detected: Detected) -> Iterator[IO[str]]:
    """The content decoded to ``str`` incrementally (no whole-file load), byte order mark
    skipped, line endings untouched (``newline=""``: the CSV reader handles CR, LF, CRLF)."""
    assert detected.encoding is not None
    with open_content(path, detected.compression, format=detected.format) as content:
        if detected.bom:
            content.read(len(bom_for(detected.encoding)))
        text = io.TextIOWrapper(content, encoding=detected.encoding, newline="")
        try:
            yield text
        finally:
            text.detach()  # the binary stream is closed by its own context


def consumed(text: IO[str]) -> int:
    """Bytes of the stored file read so far under a text stream from ``open_text`` (read-ahead
    buffers included: a position for progress, not for seeking)."""
    content = text.buffer  # type: ignore[attr-defined]  # a TextIOWrapper over our stream
    if isinstance(content, gzip.GzipFile):
        content = content.fileobj
    return int(content.tell())


BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def bom_for(encoding: str) -> bytes:
    return next(bom for bom, name in BOMS if name == encoding)


def decode_error(
    detected: Detected, exc: UnicodeDecodeError, *, line: int | None = None
) -> UnreadableFile:
    """Text is decoded in blocks, so ``line`` is where reading stood: the bad byte is there
    or a few kilobytes after."""
    return UnreadableFile(
        detected.format,
        f"not valid {detected.encoding} text",
        explanation=f"byte {exc.object[exc.start : exc.start + 1]!r} cannot be decoded",
        line=line,
    )
