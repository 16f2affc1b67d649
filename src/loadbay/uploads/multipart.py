"""``multipart/form-data`` with one file, read as a stream (python-multipart's parser).

The file's bytes are handed on as they arrive, so they go straight into the upload's own
file; nothing is spooled elsewhere. Optional text fields ``md5`` and ``sha256`` (the digest
the client expects) must come before the file part, since the upload is created when the
file part begins. Anything else is a 400 naming what was wrong.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from loadbay.api_errors import HTTPProblem

FILE_FIELD = "file"
TEXT_FIELDS = frozenset({"md5", "sha256"})
MAX_TEXT_FIELD = 256
# Boundaries, part headers and the text fields on top of the file itself.
ENVELOPE_BYTES = 64 * 1024


def bad_multipart(detail: str) -> HTTPProblem:
    return HTTPProblem(400, "malformed-multipart", "Malformed multipart body", detail)


@dataclass(slots=True)
class _Part:
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    name: str = ""
    filename: str | None = None
    content_type: str | None = None
    is_file: bool = False
    data: bytearray = field(default_factory=bytearray)


@dataclass(slots=True)
class FilePart:
    """The file part: its announced name and type, the text fields before it, its bytes."""

    filename: str | None
    content_type: str | None
    fields: dict[str, str]
    data: AsyncIterator[bytes]


class _Reader:
    def __init__(self, stream: AsyncIterator[bytes], boundary: bytes, *, max_bytes: int) -> None:
        self._stream = stream
        self._max_bytes = max_bytes
        self._received = 0
        self._part = _Part()
        self._header_name = bytearray()
        self._header_value = bytearray()
        self.fields: dict[str, str] = {}
        self.file: _Part | None = None
        self.file_done = False
        self.finished = False
        self.pending: list[bytes] = []
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": lambda data, start, end: self._header_name.extend(
                    data[start:end]
                ),
                "on_header_value": lambda data, start, end: self._header_value.extend(
                    data[start:end]
                ),
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
        )

    async def feed(self) -> bool:
        """Parse the next chunk of the body; False once the body has ended."""
        try:
            chunk = await anext(self._stream)
        except StopAsyncIteration:
            return False
        self._received += len(chunk)
        if self._received > self._max_bytes:
            raise HTTPProblem(
                413,
                "upload-too-large",
                "Upload too large",
                f"the multipart body is larger than {self._max_bytes} bytes "
                "(LOADBAY_MAX_MULTIPART_BYTES)",
                limit=self._max_bytes,
            )
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise bad_multipart(f"the multipart body is malformed: {exc}") from None
        return True

    async def file_data(self) -> AsyncIterator[bytes]:
        while True:
            if self.pending:
                data = b"".join(self.pending)
                self.pending.clear()
                yield data
            if self.file_done:
                break
            if not await self.feed():
                raise bad_multipart("the body ended inside the file part")
        while not self.finished:
            if not await self.feed():
                raise bad_multipart("the body ended before the closing boundary")

    def _on_part_begin(self) -> None:
        if self.file_done:
            raise bad_multipart("fields must come before the file part, and one file only")
        self._part = _Part()

    def _on_header_end(self) -> None:
        self._part.headers.append((bytes(self._header_name).lower(), bytes(self._header_value)))
        self._header_name.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        part = self._part
        headers = dict(part.headers)
        _, options = parse_options_header(headers.get(b"content-disposition", b""))
        part.name = _text(options.get(b"name", b""))
        if b"filename" in options:
            part.is_file = True
            part.filename = _text(options[b"filename"]) or None
            content_type = headers.get(b"content-type")
            part.content_type = _text(content_type) if content_type else None
        if part.is_file and part.name != FILE_FIELD:
            raise bad_multipart(f"the file must be sent in the field {FILE_FIELD!r}")
        if not part.is_file and part.name not in TEXT_FIELDS:
            raise bad_multipart(
                f"unexpected field {part.name!r}; send {FILE_FIELD!r} and optionally "
                f"{', '.join(sorted(TEXT_FIELDS))}"
            )
        if not part.is_file and part.name in self.fields:
            raise bad_multipart(f"the field {part.name!r} is sent twice")
        if part.is_file:
            self.file = part

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part.is_file:
            self.pending.append(data[start:end])
            return
        self._part.data.extend(data[start:end])
        if len(self._part.data) > MAX_TEXT_FIELD:
            raise bad_multipart(f"the field {self._part.name!r} is longer than {MAX_TEXT_FIELD}")

    def _on_part_end(self) -> None:
        if self._part.is_file:
            self.file_done = True
        else:
            self.fields[self._part.name] = _text(bytes(self._part.data))

    def _on_end(self) -> None:
        self.finished = True


async def read_file_part(
    stream: AsyncIterator[bytes], content_type: str, *, max_bytes: int
) -> FilePart:
    """Parse up to the start of the file part; its bytes follow through ``FilePart.data``."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise bad_multipart("Content-Type multipart/form-data needs a boundary parameter")
    try:
        reader = _Reader(stream, boundary, max_bytes=max_bytes + ENVELOPE_BYTES)
    except (MultipartParseError, ValueError) as exc:
        raise bad_multipart(f"invalid boundary: {exc}") from None
    while reader.file is None:
        if reader.finished or not await reader.feed():
            raise bad_multipart(f"no file part: send the file in the field {FILE_FIELD!r}")
    return FilePart(
        filename=reader.file.filename,
        content_type=reader.file.content_type,
        fields=dict(reader.fields),
        data=reader.file_data(),
    )


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_multipart("part headers must be UTF-8") from None
