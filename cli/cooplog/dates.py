"""EDTF level 0 dates without times: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, or two joined by `/`.

The `edtf` package parses far more than level 0 (uncertainty, seasons, times), which we would
have to refuse anyway, and importing it costs more than a whole command-line append; the
test suite checks these bounds against it instead.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
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


# --- dates in words ---------------------------------------------------------------------
# UN editorial style: "9 February 2009", "14–16 December 2009", "23 March–11 May 2009",
# "November 2008", "2008–2009": day, month and year words in the CLDR forms Babel gives, the
# parts of a span joined by an en dash with no spaces, and what both ends share said once.
# Each language is a row of CLDR patterns: what one end of a span drops when the other says
# it, which end drops it (Chinese says the year first, so its end drops it:
# 2009年3月23日至5月11日), and what joins the two.

DASH = "\N{EN DASH}"


@dataclass(frozen=True)
class Style:
    patterns: dict[str, str]  # by precision: "day", "month", "year"
    shortened: dict[tuple[str, str], str]  # by (precision, what both ends share)
    join: str = DASH
    shortens_end: bool = False  # else the start is shortened


_DAY_FIRST = Style({"day": "d MMMM y", "month": "MMMM y", "year": "y"},
                   {("day", "month"): "d", ("day", "year"): "d MMMM",
                    ("month", "year"): "MMMM"})
STYLES = {
    "en": _DAY_FIRST, "fr": _DAY_FIRST, "ar": _DAY_FIRST,
    "es": Style({"day": "d 'de' MMMM 'de' y", "month": "MMMM 'de' y", "year": "y"},
                {("day", "month"): "d", ("day", "year"): "d 'de' MMMM",
                 ("month", "year"): "MMMM"}),
    # genitive month names after a day (марта), the nominative alone (март 2009 г.)
    "ru": Style({"day": "d MMMM y 'г'.", "month": "LLLL y 'г'.", "year": "y"},
                {("day", "month"): "d", ("day", "year"): "d MMMM",
                 ("month", "year"): "LLLL"}),
    "zh": Style({"day": "y年M月d日", "month": "y年M月", "year": "y年"},
                {("day", "month"): "d日", ("day", "year"): "M月d日", ("month", "year"): "M月"},
                join="至", shortens_end=True),
}


def _precision(part: str) -> str:
    return {4: "year", 7: "month"}.get(len(part), "day")


@functools.lru_cache(maxsize=8192)
def in_words(value: str, lang: str = "en") -> str:
    """An `occurred` value as people read it in a UN document in `lang` (one of STYLES):
    `2009-12-14/2009-12-16` is "14–16 December 2009". Cached: a log repeats its dates, and
    Babel's formatting is the slow part of a report."""
    from babel.dates import format_date

    style, locale = STYLES[lang], _locale(lang)
    first, last = parse(value)
    parts = value.split("/")
    if len(parts) == 1 or parts[0] == parts[1]:
        return format_date(first, style.patterns[_precision(parts[0])], locale=locale)
    start, end = _precision(parts[0]), _precision(parts[1])
    shared = ("month" if (first.year, first.month) == (last.year, last.month) and
              start == end == "day" else "year" if first.year == last.year else None)
    if style.shortens_end:
        end_pattern = style.shortened.get((end, shared), style.patterns[end])
        start_pattern = style.patterns[start]
    else:
        start_pattern = style.shortened.get((start, shared), style.patterns[start])
        end_pattern = style.patterns[end]
    return (format_date(first, start_pattern, locale=locale).replace("\u202f", " ")
            + style.join + format_date(last, end_pattern, locale=locale).replace("\u202f", " "))


@functools.cache
def _locale(lang: str):
    """Babel's Locale for `lang`, parsed once: given its code instead, format_date parses it
    again at each call, two fifths of the cost of a date not yet in in_words' cache."""
    from babel import Locale

    return Locale.parse(lang)
