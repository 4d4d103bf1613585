"""EDTF level 0 dates without times: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, or two joined by `/`.

The `edtf` package parses far more than level 0 (uncertainty, seasons, times), which we would
have to refuse anyway, and importing it costs more than a whole command-line append; the
test suite checks these bounds against it instead.
"""

from __future__ import annotations

import calendar
import functools
import re
from datetime import date

# [0-9], not \d: \d also matches other scripts' digits (٢٠٠٩), which EDTF does not allow.
_PART = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")


class DateError(ValueError):
    pass


def _bounds(part: str) -> tuple[date, date]:
    match = _PART.fullmatch(part)
    if not match:
        raise DateError(f"{part!r} is not YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = (int(g) if g else None for g in match.groups())
    if year == 0:  # EDTF allows it (1 BC), Python's dates do not, and no log needs it
        raise DateError(f"{part!r}: the year 0000 is not supported")
    if month is None:
        return date(year, 1, 1), date(year, 12, 31)
    if not 1 <= month <= 12:
        raise DateError(f"{part!r} has no month {month:02d}")
    last = calendar.monthrange(year, month)[1]
    if day is None:
        return date(year, month, 1), date(year, month, last)
    if not 1 <= day <= last:
        raise DateError(f"{part!r} is not a calendar day")
    return date(year, month, day), date(year, month, day)


@functools.lru_cache(maxsize=4096)  # a log repeats its dates: 2009, 2008/2009, …
def parse(value: str) -> tuple[date, date]:
    """The first and last calendar day that an `occurred` value covers."""
    if not isinstance(value, str):
        raise DateError("a date must be a string such as 2009, 2009-03 or 2009-03-23")
    parts = value.split("/")
    if len(parts) == 1:
        return _bounds(value)
    if len(parts) == 2:
        start, _ = _bounds(parts[0])
        _, end = _bounds(parts[1])
        if end < start:
            raise DateError(f"{value!r} ends before it starts")
        return start, end
    raise DateError(f"{value!r} has more than one '/'")


def start(value: str) -> date:
    return parse(value)[0]


def end(value: str) -> date:
    return parse(value)[1]
