"""Meetings as iCalendar (RFC 5545), built with the `icalendar` library: for `cooplog export
ics` and for the `.ics` links Datasette shows (datasette/plugins/cooplog_calendar.py), so a
file and a subscribed feed say the same thing.

A meeting's `occurred` names days, never times, so every meeting is an all-day span:
DTSTART is its first day and DTEND the day after its last (RFC 5545 makes DTEND exclusive),
as VALUE=DATE, with no time zone to shift it. How precisely it is dated decides the rest,
by its coarsest part:

- days (2009-03-24, 2009-03-24/2009-03-26): the span itself;
- months (2009-11, 2009-11/2010-02): the whole month(s), marked as such in the summary
  ("November 2009, days not recorded": dates in words, as everywhere people read them),
  shown free rather than busy (TRANSP:TRANSPARENT), the date as recorded in the
  description: a calendar must not claim days the log does not know;
- years (2009, 2008/2009): left out, since a year-long event tells a calendar nothing;
  `left_out` names them and `cooplog export ics` lists them.

A row no calendar event can be made of (a date or record time that is no date, as a
database built by an older cooplog or a `?sql=` query may hold) is left out and named too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone

from . import dates
from .countries import place

PRODID = "-//cooplog//meetings calendar//EN"
UID_DOMAIN = "cooplog"

# What `event` reads from a row: the `calendar` view's columns.
COLUMNS = ("event_id", "title", "occurred", "updated", "summary", "role", "city", "country",
           "latitude", "longitude", "planned")
QUERY = "select * from calendar order by occurred_start, occurred_end, event_id"
YEAR_ONLY = "dated only to the year"  # why most rows a calendar leaves out are left out


def precision(occurred: str) -> str:
    """'day', 'month' or 'year': that of the coarsest part of an EDTF level 0 value."""
    widths = {len(part) for part in occurred.split("/")}
    return "year" if 4 in widths else "month" if 7 in widths else "day"


def span(occurred: str) -> tuple[date, date] | None:
    """(DTSTART, exclusive DTEND) of an all-day span, or None for year-precision dates."""
    if precision(occurred) == "year":
        return None
    first, last = dates.parse(occurred)
    return first, last + timedelta(days=1)


def _utc(timestamp) -> datetime | None:
    """The UTC instant a stored timestamp names, or None if it names none."""
    try:
        return datetime.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None


def why_left_out(row: Mapping) -> str | None:
    """Why a row makes no calendar event, or None if it makes one. A database built by an
    older cooplog, or a `?sql=` query, can hold any value: such a row is named, never a
    failed calendar."""
    occurred = row["occurred"]
    try:
        if span(occurred) is None:
            return YEAR_ONLY
    except (AttributeError, dates.DateError):
        return f"its date {occurred!r} is not EDTF level 0"
    except OverflowError:  # 9999-12-31: RFC 5545's exclusive end would be in the year 10000
        return f"its date {occurred!r} ends on the last day a calendar can name"
    if _utc(row["updated"]) is None:
        return f"its record time {row['updated']!r} is no UTC instant"
    return None


def _text(value) -> str | None:
    return None if value is None else str(value)


def _geo(row: Mapping) -> tuple[float, float] | None:
    try:
        latitude, longitude = float(row["latitude"]), float(row["longitude"])
    except (TypeError, ValueError):
        return None
    return (latitude, longitude) if abs(latitude) <= 90 and abs(longitude) <= 180 else None


def event(row: Mapping):
    """One VEVENT from a row of the `calendar` view that `why_left_out` lets through."""
    import icalendar

    start, end = span(row["occurred"])
    month_only = precision(row["occurred"]) == "month"
    title = _text(row["title"]) or ""
    vevent = icalendar.Event()
    vevent.add("uid", f"{row['event_id']}@{UID_DOMAIN}")
    vevent.add("dtstamp", _utc(row["updated"]))
    vevent.add("dtstart", start)
    vevent.add("dtend", end)
    when = dates.in_words(row["occurred"])
    vevent.add("summary", f"{title} ({when}, days not recorded)" if month_only else title)
    description = [_text(row["summary"])] if row["summary"] else []
    if month_only:
        description.append(f"Recorded as {when} ({row['occurred']}): the exact days are "
                           "not known.")
    if row["role"]:
        description.append(f"The secretariat's role: {row['role']}.")
    if description:
        vevent.add("description", "\n".join(description))
    where = place(_text(row["city"]), _text(row["country"]))
    if where:
        vevent.add("location", where)
    if (geo := _geo(row)) is not None:
        vevent.add("geo", geo)
    vevent.add("categories", ["meeting", "planned" if row["planned"] else "attended"])
    vevent.add("transp", "TRANSPARENT" if month_only else "OPAQUE")
    return vevent


def calendar(rows: Iterable[Mapping], name: str = "Meetings"):
    """An icalendar.Calendar of the rows that have days or months (see the module's doc)."""
    import icalendar

    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    for row in rows:
        if why_left_out(row) is None:
            cal.add_component(event(row))
    return cal


def left_out(rows: Iterable[Mapping]) -> list[tuple[Mapping, str]]:
    """The rows a calendar leaves out, each with why: dated only to the year, or unreadable."""
    return [(row, why) for row in rows if (why := why_left_out(row)) is not None]


def export(conn, name: str = "Meetings") -> tuple[bytes, list[tuple[Mapping, str]]]:
    """The calendar of every current meeting, and the meetings it leaves out, with why."""
    cursor = conn.execute(QUERY)
    columns = [c[0] for c in cursor.description]
    rows = [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]
    return calendar(rows, name).to_ical(), left_out(rows)
