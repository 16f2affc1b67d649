"""Upload-Metadata: the strict parser, its encoder, and the keys loadbay interprets."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadbay.uploads.errors import InvalidMetadata
from loadbay.uploads.metadata import (
    MAX_HEADER_CHARS,
    Description,
    clean_filename,
    describe,
    encode,
    parse,
)

KEYS = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters=","),
    min_size=1,
    max_size=20,
)
PAIRS = st.dictionaries(KEYS, st.binary(max_size=40), max_size=10)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@given(PAIRS)
def test_encode_then_parse_gives_the_pairs_back(pairs: dict[str, bytes]) -> None:
    assert parse(encode(pairs)) == pairs


@given(PAIRS, st.sampled_from([",", ", ", " ,", "\t,\t"]))
def test_whitespace_around_commas_is_tolerated(pairs: dict[str, bytes], comma: str) -> None:
    header = comma.join(f"{key} {b64(value)}" for key, value in pairs.items())
    assert parse(header) == pairs


@given(st.text(max_size=200))
def test_any_text_parses_or_fails_with_invalid_metadata(header: str) -> None:
    failure: InvalidMetadata | None = None
    try:
        pairs = parse(header)
    except InvalidMetadata as exc:
        failure = exc
    if failure is None:
        assert parse(encode(pairs)) == pairs
    else:
        assert all(str(e.path).startswith("Upload-Metadata") for e in failure.errors)


@given(st.binary(min_size=1, max_size=30))
def test_non_canonical_base64_is_refused(raw: bytes) -> None:
    canonical = b64(raw)
    for variant in (canonical.rstrip("="), canonical + "==", canonical.replace("+", "-")):
        if variant != canonical:
            with pytest.raises(InvalidMetadata, match="not canonical base64"):
                parse(f"k {variant}")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("filename bm90IGJhc2U2NA==,filename YQ==", "key 'filename' appears more than once"),
        ("filename !!!", "pair 1 (filename): the value is not canonical base64"),
        ("a YQ==,,b Yg==", "pair 2 is empty"),
        ("my key YQ==", "pair 1 (my): the value is not canonical base64"),
        ("key  YQ==", "pair 1 (key): the value is not canonical base64"),
        ("k\u00e9y YQ==", "key 'kéy' must be 1-128 printable ASCII"),
        ("a YQ==,", "pair 2 is empty"),
        ("k" * 129 + " YQ==", "must be 1-128 printable ASCII"),
        (",".join(f"k{i}" for i in range(65)), "65 pairs; at most 64"),
        ("k " + "A" * MAX_HEADER_CHARS, f"longer than {MAX_HEADER_CHARS} characters"),
    ],
)
def test_malformed_headers_are_refused_precisely(header: str, message: str) -> None:
    with pytest.raises(InvalidMetadata) as caught:
        parse(header)
    assert message in caught.value.detail


def test_empty_values_and_empty_header() -> None:
    assert parse("is_confidential,empty ,name YQ==") == {
        "is_confidential": b"",
        "empty": b"",
        "name": b"a",
    }
    assert parse("") == {}  # tuspy sends an empty header when there is no metadata
    assert parse(None) == {}


def test_describe_reads_the_known_keys() -> None:
    pairs = {
        "filename": "Résumé.csv".encode(),
        "filetype": b"Text/CSV; charset=utf-8",
        "md5": b"D41D8CD98F00B204E9800998ECF8427E",
        "sha256": b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "other": b"\xff\xfe",
    }
    assert describe(pairs) == Description(
        filename="Résumé.csv",
        content_type="text/csv; charset=utf-8",
        md5="d41d8cd98f00b204e9800998ecf8427e",
        sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    )
    # Uppy's keys, and nothing at all
    assert describe({"name": b"a.csv", "type": b"text/csv"}) == Description("a.csv", "text/csv")
    assert describe({}) == Description()
    assert describe({"filename": b"", "filetype": b""}) == Description()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../../x", "must be a file name, not a path"),
        ("..\\x", "must be a file name, not a path"),
        ("/etc/passwd", "must be a file name, not a path"),
        ("a\x00b", "contains control characters"),
        ("line\nbreak", "contains control characters"),
        ("x" * 10_000, "longer than 255 bytes"),
        ("é" * 128, "longer than 255 bytes"),
        ("..", "is not a file name"),
        ("  ", "is not a file name"),
        ("\u202e", "is not a file name"),
    ],
)
def test_filenames_that_are_paths_or_unprintable_are_refused(name: str, message: str) -> None:
    with pytest.raises(InvalidMetadata, match=message):
        describe({"filename": name.encode()})


def test_filenames_are_cleaned_for_display() -> None:
    assert clean_filename("  report.csv ") == "report.csv"
    assert clean_filename("e\u0301t\u00e9.csv") == "\u00e9t\u00e9.csv"  # NFC
    # A right-to-left override would show "invoice\u202excs.exe" as "invoiceexe.scv"
    assert clean_filename("invoice\u202excs.exe") == "invoicexcs.exe"
    assert clean_filename("family \U0001f468\u200d\U0001f469.png") == "family 👨\u200d👩.png"


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ({"filename": b"\xff"}, "filename is not UTF-8 text"),
        ({"filetype": b"csv"}, "filetype must be a media type"),
        ({"filetype": b"text/csv\r\nX: y"}, "filetype must be a media type"),
        ({"md5": b"abc"}, "md5 must be 32 hexadecimal digits"),
        ({"sha256": b"z" * 64}, "sha256 must be 64 hexadecimal digits"),
        ({"sha256": b""}, "sha256 must be 64 hexadecimal digits"),
    ],
)
def test_known_keys_are_validated(pairs: dict[str, bytes], message: str) -> None:
    with pytest.raises(InvalidMetadata, match=message) as caught:
        describe(pairs)
    key = next(iter(pairs))
    assert caught.value.errors[0].path == f"Upload-Metadata.{key}"
