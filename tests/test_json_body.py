"""JSON bodies: every unreadable one is a precise 400, never a 500."""

from __future__ import annotations

import pytest

from loadbay.api_errors import HTTPProblem
from loadbay.json_body import parse_json


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"[" * 100_000, "the JSON document is nested too deeply"),
        (b"1" * 5000, "a number has more than 4300 digits"),
        (b'{"a": 1', "Expecting ',' delimiter at line 1, column 8"),
        (b"\xff{}", "body is not UTF-8: invalid byte at offset 0"),
        (b"", "Expecting value at line 1, column 1"),
    ],
)
def test_unreadable_bodies_are_400(raw: bytes, detail: str) -> None:
    with pytest.raises(HTTPProblem) as caught:
        parse_json(raw)
    assert caught.value.status == 400
    assert caught.value.slug == "malformed-json"
    assert caught.value.detail.startswith(detail)


def test_offset_counts_bytes_not_characters() -> None:
    with pytest.raises(HTTPProblem) as caught:
        parse_json('{"é": ]'.encode())
    assert caught.value.extra["offset"] == 7
