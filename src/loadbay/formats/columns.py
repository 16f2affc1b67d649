"""Source column names and header-row detection, shared by CSV and XLSX."""

from __future__ import annotations

from collections.abc import Sequence

from loadbay.formats.errors import UnreadableFile
from loadbay.formats.limits import MAX_COLUMNS


def source_columns(header: Sequence[str | None], *, format: str) -> list[str]:
    """Names for the header's cells: stripped; blank -> ``column_<n>``; repeats -> ``name_2``."""
    if len(header) > MAX_COLUMNS:
        raise UnreadableFile(
            format,
            "too many columns",
            explanation=f"{len(header)} columns, at most {MAX_COLUMNS} are accepted",
        )
    names: list[str] = []
    taken: set[str] = set()
    for position, cell in enumerate(header, start=1):
        base = (cell or "").strip() or f"column_{position}"
        name, suffix = base, 2
        while name in taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(name)
        names.append(name)
    return names


def find_header(rows: Sequence[Sequence[str | None]]) -> int | None:
    """Index of the header among the first rows, or None when every row is blank.

    The header is the first row filling more than half of the used width (the widest span
    of non-blank cells among the rows), which skips titles ("Sales 2024", or "Sales 2024,,,"
    as spreadsheets export them) and blank rows above it.
    """
    filled = [[bool(cell and cell.strip()) for cell in row] for row in rows]
    width = max((_used_width(cells) for cells in filled), default=0)
    for index, cells in enumerate(filled):
        if width and sum(cells) * 2 > width:
            return index
    return None


def _used_width(cells: list[bool]) -> int:
    return max((i + 1 for i, is_filled in enumerate(cells) if is_filled), default=0)
