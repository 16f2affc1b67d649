"""The one error a reader raises: the file cannot be read as what it claims (or seems) to be."""

from __future__ import annotations

from loadbay.errors import InvalidInput


class UnreadableFile(InvalidInput):
    """A file that cannot be read, with where (byte offset, line or row when known) and why.

    ``reason`` is a short stable phrase tests and clients can match (``"truncated gzip
    stream"``, ``"zip bomb"``…); ``detail`` is the sentence shown to people.
    """

    slug = "unreadable-file"
    title = "Unreadable file"

    def __init__(
        self,
        format: str,
        reason: str,
        *,
        explanation: str | None = None,
        offset: int | None = None,
        line: int | None = None,
        row: int | None = None,
    ) -> None:
        where = [
            f"{label} {value}"
            for label, value in (("byte", offset), ("line", line), ("row", row))
            if value is not None
        ]
        detail = f"cannot read the {format} file: {reason}"
        if explanation:
            detail += f" ({explanation})"
        if where:
            detail += f" at {', '.join(where)}"
        super().__init__(detail, format=format, reason=reason, offset=offset, line=line, row=row)
        self.format = format
        self.reason = reason
        self.offset = offset
        self.line = line
        self.row = row
