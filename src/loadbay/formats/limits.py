"""Limits that keep a hostile or broken file from exhausting memory (a settings hook later)."""

from __future__ import annotations

from typing import Final

# Bytes of (decompressed) content read to sniff format, encoding, delimiter and header.
SNIFF_BYTES: Final = 256 * 1024
# Records parsed from JSON/NDJSON to learn the source columns.
SNIFF_RECORDS: Final = 1000
# Rows looked at for the header row (leading title and blank rows are skipped).
HEADER_SCAN_ROWS: Final = 20

# Excel's own limit (column XFD); wider files are refused rather than half-read.
MAX_COLUMNS: Final = 16_384
# A batch holds at most this many cells, so a very wide file gets shorter batches.
MAX_BATCH_CELLS: Final = 4_000_000
# The longest CSV field or JSON record accepted, in characters (a 10 MB field must work).
MAX_FIELD_CHARS: Final = 64 * 1024 * 1024

# Zip checks made from the central directory before an XLSX is inflated.
MAX_ZIP_ENTRIES: Final = 10_000
MAX_ZIP_UNCOMPRESSED_BYTES: Final = 1024 * 1024 * 1024
# Ratio of uncompressed to compressed size; real sheets stay well under 100.
MAX_ZIP_RATIO: Final = 200
# Entries smaller than this are not ratio-checked (tiny files compress oddly).
ZIP_RATIO_MIN_BYTES: Final = 1024 * 1024
