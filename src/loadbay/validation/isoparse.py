"""ISO 8601 parsing exactly as ``dateutil.parser.isoparse`` (python-dateutil 2.7+) does it.

frictionless reads default-format datetimes and times with dateutil's ``isoparse``; dateutil is
not a runtime dependency of loadbay, so this is a faithful port of its ``isoparser`` with the
default (any single character) date/time separator. It is only used for the few cells the
vectorised fast path does not accept, so clarity matters more than speed here.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

_DATE_SEP = "-"
_TIME_SEP = ":"
_FRACTION = re.compile(r"[.,]([0-9]+)")


def isoparse(text: str) -> datetime:
    """Parse an ISO 8601 date or datetime; ``ValueError``/``OverflowError`` when it is not one."""
    if not text.isascii():
        raise ValueError("ISO-8601 strings should contain only ASCII characters")
    (year, month, day), pos = _parse_date(text)
    clock: list[int] = [0, 0, 0, 0]  # hour, minute, second, microsecond
    offset: tzinfo | None = None
    if len(text) > pos:
        clock, offset = _parse_time(text[pos + 1 :])
    hour, minute, second, micro = clock
    if hour == 24:  # 24:00 is the midnight that ends the day
        moment = datetime(year, month, day, 0, minute, second, micro, tzinfo=offset)
        return moment + timedelta(days=1)
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=offset)


def _digits(text: str, pos: int, count: int) -> int:
    """The number in ``text[pos:pos + count]`` read as dateutil reads every one: ``int()``
    of the slice, so a shorter slice at the end of the text counts (``2024W1`` is week 1) and
    so do the spaces, sign and underscores ``int`` allows (``2024-W 1``)."""
    return int(text[pos : pos + count])


def _parse_date(text: str) -> tuple[list[int], int]:
    """(year, month, day) and the position after the date."""
    try:
        return _parse_date_common(text)
    except ValueError:
        return _parse_date_uncommon(text)


def _parse_date_common(text: str) -> tuple[list[int], int]:
    length = len(text)
    components = [1, 1, 1]
    if length < 4:
        raise ValueError("ISO string too short")
    components[0] = _digits(text, 0, 4)
    pos = 4
    if pos >= length:
        return components, pos
    has_sep = text[pos : pos + 1] == _DATE_SEP
    if has_sep:
        pos += 1
    if length - pos < 2:
        raise ValueError("invalid common month")
    components[1] = _digits(text, pos, 2)
    pos += 2
    if pos >= length:
        if has_sep:
            return components, pos
        raise ValueError("invalid ISO format")
    if has_sep:
        if text[pos : pos + 1] != _DATE_SEP:
            raise ValueError("invalid separator in ISO string")
        pos += 1
    if length - pos < 2:
        raise ValueError("invalid common day")
    components[2] = _digits(text, pos, 2)
    return components, pos + 2


def _parse_date_uncommon(text: str) -> tuple[list[int], int]:
    if len(text) < 4:
        raise ValueError("ISO string too short")
    year = _digits(text, 0, 4)
    has_sep = text[4:5] == _DATE_SEP
    pos = 4 + has_sep
    if text[pos : pos + 1] == "W":
        pos += 1
        week = _digits(text, pos, 2)
        pos += 2
        day = 1
        if len(text) > pos:
            if (text[pos : pos + 1] == _DATE_SEP) != has_sep:
                raise ValueError("inconsistent use of dash separator")
            pos += has_sep
            day = _digits(text, pos, 1)
            pos += 1
        base = _week_date(year, week, day)
    else:
        if len(text) - pos < 3:
            raise ValueError("invalid ordinal day")
        ordinal = _digits(text, pos, 3)
        pos += 3
        if ordinal < 1 or ordinal > 365 + calendar.isleap(year):
            raise ValueError(f"invalid ordinal day {ordinal} for year {year}")
        base = date(year, 1, 1) + timedelta(days=ordinal - 1)
    return [base.year, base.month, base.day], pos


def _week_date(year: int, week: int, day: int) -> date:
    if not 0 < week < 54:
        raise ValueError(f"invalid week: {week}")
    if not 0 < day < 8:
        raise ValueError(f"invalid weekday: {day}")
    jan_4 = date(year, 1, 4)  # ISO week 1 always holds January 4th
    week_1 = jan_4 - timedelta(days=jan_4.isocalendar()[2] - 1)
    return week_1 + timedelta(days=(week - 1) * 7 + (day - 1))


def _parse_time(text: str) -> tuple[list[int], tzinfo | None]:
    length = len(text)
    components = [0, 0, 0, 0]  # hour, minute, second, microsecond
    offset: tzinfo | None = None
    pos = 0
    comp = -1
    if length < 2:
        raise ValueError("ISO time too short")
    has_sep = False
    while pos < length and comp < 5:
        comp += 1
        if text[pos : pos + 1] in "-+Zz":
            offset = _parse_offset(text[pos:])
            pos = length
            break
        if comp == 1 and text[pos : pos + 1] == _TIME_SEP:
            has_sep = True
            pos += 1
        elif comp == 2 and has_sep:
            if text[pos : pos + 1] != _TIME_SEP:
                raise ValueError("inconsistent use of colon separator")
            pos += 1
        if comp < 3:
            components[comp] = _digits(text, pos, 2)
            pos += 2
        if comp == 3:
            fraction = _FRACTION.match(text[pos:])
            if not fraction:
                continue
            micros = fraction.group(1)[:6]  # truncated, not rounded, to microseconds
            components[comp] = int(micros) * 10 ** (6 - len(micros))
            pos += len(fraction.group())
    if pos < length:
        raise ValueError("unused components in ISO string")
    if components[0] == 24 and any(component != 0 for component in components[1:]):
        raise ValueError("hour may only be 24 at 24:00:00.000")
    return components, offset


def _parse_offset(text: str) -> tzinfo:
    if text in ("Z", "z"):
        return UTC
    if len(text) not in {3, 5, 6}:
        raise ValueError("time zone offset must be 1, 3, 5 or 6 characters")
    if text[0] == "-":
        sign = -1
    elif text[0] == "+":
        sign = 1
    else:
        raise ValueError("time zone offset requires sign")
    hours = _digits(text, 1, 2)
    # The rest of the offset, whatever its length (``+01:5`` is 5 minutes), as dateutil.
    rest = text[4 if text[3:4] == _TIME_SEP else 3 :]
    minutes = int(rest) if len(text) > 3 else 0
    if hours == 0 and minutes == 0:
        return UTC
    if minutes > 59:
        raise ValueError("invalid minutes in time zone offset")
    if hours > 23:
        raise ValueError("invalid hours in time zone offset")
    return timezone(timedelta(minutes=sign * (hours * 60 + minutes)))
