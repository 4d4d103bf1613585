"""Meetings as iCalendar (calendar_export, `cooplog export ics`, the `.ics` feed): all-day
spans with the exclusive DTEND that RFC 5545 requires, partial dates as README's "Calendar"
says, read back with a real parser (icalendar)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import date, datetime, timezone
from pathlib import Path

import icalendar
import pytest
from ulid import ULID

from cooplog import append, calendar_export, serve
from cooplog.projection import Projection
from cooplog.store import Store

REPO = Path(__file__).resolve().parents[1]
BY = "calendar@example.org"


def vevents(data: bytes) -> dict[str, icalendar.Event]:
    """The calendar's events by UID, after a strict parse."""
    cal = icalendar.Calendar.from_ical(data)
    assert cal["version"] == "2.0" and cal["prodid"]
    return {str(e["uid"]): e for e in cal.walk("VEVENT")}


def sample_export(sample_db):
    conn = sqlite3.connect(sample_db)
    try:
        return calendar_export.export(conn)
    finally:
        conn.close()


@pytest.mark.parametrize("occurred, expected", [
    ("2009-03-24/2009-03-26", (date(2009, 3, 24), date(2009, 3, 27))),
    ("2009-07-13", (date(2009, 7, 13), date(2009, 7, 14))),
    ("2009-12-31", (date(2009, 12, 31), date(2010, 1, 1))),
    ("2009-11", (date(2009, 11, 1), date(2009, 12, 1))),
    ("2009-02", (date(2009, 2, 1), date(2009, 3, 1))),
    ("2009-11/2010-02", (date(2009, 11, 1), date(2010, 3, 1))),
    ("2009-03-23/2009-05", (date(2009, 3, 23), date(2009, 6, 1))),
    ("2009", None),
    ("2008/2009", None),
    ("2009-11-04/2010", None),
])
def test_spans_are_all_day_with_an_exclusive_end(occurred, expected):
    assert calendar_export.span(occurred) == expected


def test_the_sample_log_exports_every_meeting_with_days_or_months(sample_db):
    data, left_out = sample_export(sample_db)
    events = vevents(data)
    conn = sqlite3.connect(sample_db)
    meetings = dict(conn.execute("select event_id, occurred from meetings").fetchall())
    conn.close()
    assert len(events) + len(left_out) == len(meetings) == 40
    assert {row["occurred"] for row, _ in left_out} == {"2009", "2008/2009"}
    for uid, event in events.items():
        event_id = uid.removesuffix("@cooplog")
        first, end = calendar_export.span(meetings[event_id])
        # all-day: dates, not date-times, and no time zone to move them
        assert type(event.decoded("dtstart")) is date and type(event.decoded("dtend")) is date
        assert (event.decoded("dtstart"), event.decoded("dtend")) == (first, end)
        assert event.decoded("dtend") > event.decoded("dtstart")
        assert event.decoded("dtstamp").tzinfo is not None


def test_a_three_day_meeting_is_written_as_the_standard_says(sample_db):
    data, _ = sample_export(sample_db)
    text = data.decode("utf-8")
    assert "\r\n" in text  # RFC 5545 lines end in CRLF
    block = next(b for b in text.split("BEGIN:VEVENT")
                 if "Regional workshop on Trade and Environment" in b)
    assert "DTSTART;VALUE=DATE:20090324\r\n" in block
    assert "DTEND;VALUE=DATE:20090327\r\n" in block
    assert "TRANSP:OPAQUE" in block


def test_a_month_only_meeting_spans_its_month_marked_and_free(sample_db):
    data, _ = sample_export(sample_db)
    gef = next(e for e in vevents(data).values()
               if str(e["summary"]).startswith("GEF Council meetings"))
    assert (gef.decoded("dtstart"), gef.decoded("dtend")) == (date(2009, 11, 1),
                                                              date(2009, 12, 1))
    assert str(gef["summary"]) == "GEF Council meetings (November 2009, days not recorded)"
    assert str(gef["transp"]) == "TRANSPARENT"
    assert ("Recorded as November 2009 (2009-11): the exact days are not known."
            in str(gef["description"]))


def test_place_coordinates_and_kind_are_carried(sample_db):
    data, _ = sample_export(sample_db)
    enforcement = next(e for e in vevents(data).values()
                       if str(e["summary"]) == "29th session of the WCO Enforcement Committee")
    assert str(enforcement["location"]) == "Brussels, Belgium"
    latitude, longitude = enforcement["geo"].latitude, enforcement["geo"].longitude
    assert (round(latitude), round(longitude)) == (51, 4)
    assert [str(c) for c in enforcement["categories"].cats] == ["meeting", "attended"]
    planned = [e for e in vevents(data).values() if "planned" in e["categories"].cats]
    assert len(planned) == 1


def test_the_export_is_a_function_of_the_log(sample_db, tmp_path):
    first, _ = sample_export(sample_db)
    again = Projection(Store(REPO), tmp_path / "cooplog.db")
    try:
        again.build()
        second, _ = calendar_export.export(again.conn)
    finally:
        again.close()
    assert first == second


@pytest.mark.slow
def test_the_datasette_feed_says_what_the_file_says(sample_db):
    ds = serve.datasette(REPO, sample_db)
    response = asyncio.run(ds.client.get("/cooplog/meetings_calendar.ics"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    feed = icalendar.Calendar.from_ical(response.content)
    assert str(feed["x-wr-calname"]) == "Meetings calendar"
    data, _ = sample_export(sample_db)

    def fields(events):
        return {uid: (e.decoded("dtstart"), e.decoded("dtend"), str(e["summary"]))
                for uid, e in events.items()}

    assert fields(vevents(response.content)) == fields(vevents(data))
    subscribed = asyncio.run(ds.client.get("/cooplog/meetings_calendar.ics?limit=1000"))
    assert subscribed.content == response.content  # 34 meetings: fewer than either limit
    page = asyncio.run(ds.client.get("/cooplog/meetings_calendar"))
    assert "/cooplog/meetings_calendar.ics?limit=1000" in page.text  # offered on the page


def test_the_calendar_query_shows_a_page_at_a_time(sample_db):
    """Its HTML page showed every meeting up to 1,000 (200 ms on a large log): 100 at a
    time now, like the other queries that can return thousands of rows."""
    ds = serve.datasette(REPO, sample_db)

    def ids(**params):
        response = asyncio.run(ds.client.get("/cooplog/meetings_calendar.json",
                                             params={"_shape": "objects", **params}))
        return [row["event_id"] for row in response.json()["rows"]]

    every = ids()
    assert len(every) == sqlite3.connect(sample_db).execute(
        "select count(*) from calendar").fetchone()[0] == 40
    assert ids(limit="10") + ids(limit="10", offset="10") == every[:20]
    page = asyncio.run(ds.client.get("/cooplog/meetings_calendar?limit=10&offset=10")).text
    assert 'rel="next"' in page and 'rel="prev"' in page
    assert len(vevents(asyncio.run(ds.client.get(
        "/cooplog/meetings_calendar.ics?limit=10")).content)) <= 10


def test_export_ics_command(sample_db, cli, tmp_path):
    target = tmp_path / "meetings.ics"
    result = cli(REPO, "--db", sample_db, "export", "ics", "--output", target)
    assert result.exit_code == 0, result.output
    assert len(vevents(target.read_bytes())) == 34
    assert "left out, dated only to the year" in result.stderr
    assert ("left out, dated only to the year: 01M8E9BDJV9T2HQHD8W2W51V7Q 2009 Children, "
            "Environment and Health Conference\n") in result.stderr
    to_stdout = cli(REPO, "--db", sample_db, "export", "ics")
    assert to_stdout.exit_code == 0
    assert to_stdout.stdout_bytes == target.read_bytes()


def test_a_correction_moves_the_event_and_its_stamp(log, monkeypatch):
    def minted_at(when: datetime):
        monkeypatch.setattr(append, "mint_ids", lambda count: [
            str(ULID.from_timestamp(when.timestamp() + i)) for i in range(count)])

    store = Store(log)
    minted_at(datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc))
    (org, _), (meeting, _) = append.append(store, [
        ("org", {"type": "organization.registered",
                 "data": {"key": "wco", "name": "World Customs Organization",
                          "category": "intergovernmental"}}),
        ("meeting", {"type": "meeting.planned", "occurred": "2026-03-02/2026-03-05",
                     "summary": "The Secretariat will present at the Enforcement Committee.",
                     "orgs": ["wco"],
                     "data": {"title": "Enforcement Committee", "role": "presenter",
                              "location": {"city": "Brussels", "country": "BE"}}}),
    ], by=BY, commit=False)
    minted_at(datetime(2026, 2, 1, 12, 30, tzinfo=timezone.utc))
    append.correct(store, meeting.id, {"occurred": "2026-03-03/2026-03-06"}, "moved by a day",
                   by=BY, commit=False)
    data, left_out = exported(store)
    assert left_out == []
    (event,) = vevents(data).values()
    assert (event.decoded("dtstart"), event.decoded("dtend")) == (date(2026, 3, 3),
                                                                  date(2026, 3, 7))
    assert event.decoded("dtstamp") == datetime(2026, 2, 1, 12, 30, tzinfo=timezone.utc)
    assert str(event["uid"]) == f"{meeting.id}@cooplog"


def test_a_calendar_of_any_value_the_database_holds(log, cli):
    """A database built by an older cooplog can hold an impossible date or record time, and
    a `.ics?sql=` query any value at all: the feed answered 500 and `export ics` died with a
    traceback. Now such a row is left out, and `export ics` says which and why. A meeting on
    9999-12-31, a valid date, has no exclusive end a calendar can write: it is named too."""
    store = Store(log)

    def meeting(title: str, occurred: str) -> tuple[str, dict]:
        return title, {"type": "meeting.attended", "occurred": occurred, "summary": title,
                       "orgs": [], "data": {"title": title, "role": "observer",
                                            "location": {"city": "Geneva", "country": "CH"}}}

    (good, _), (odd_date, _), (odd_time, _), (last_day, _) = append.append(store, [
        meeting("Good meeting", "2009-03-24"), meeting("Odd date", "2009-03-25"),
        meeting("Odd time", "2009-03-26"), meeting("Last day", "9999-12-31")],
        by=BY, commit=False)
    projection = Projection(store)
    try:
        projection.build()
    finally:
        projection.close()
    conn = sqlite3.connect(projection.db_path)
    with conn:
        conn.execute("update meetings set occurred = '2009-13-45' where event_id = ?",
                     [odd_date.id])
        conn.execute("update events set recorded_at = '2026-13-45T99:99:99Z' where id = ?",
                     [odd_time.id])
    conn.close()

    result = cli(log, "export", "ics")
    assert result.exit_code == 0, result.output
    assert list(vevents(result.stdout_bytes)) == [f"{good.id}@cooplog"]
    assert result.stderr.splitlines() == [
        f"left out, its date '2009-13-45' is not EDTF level 0: {odd_date.id} 2009-13-45 "
        "Odd date",
        f"left out, its record time '2026-13-45T99:99:99Z' is no UTC instant: {odd_time.id} "
        "2009-03-26 Odd time",
        "left out, its date '9999-12-31' ends on the last day a calendar can name: "
        f"{last_day.id} 9999-12-31 Last day",
    ]
    ds = serve.datasette(log)
    feed = asyncio.run(ds.client.get("/cooplog/meetings_calendar.ics"))
    assert feed.status_code == 200
    assert list(vevents(feed.content)) == [f"{good.id}@cooplog"]
    def calendar_with(**odd: str) -> str:
        return "select " + ", ".join(f"{odd.get(c, c)} as {c}"
                                     for c in calendar_export.COLUMNS) + " from calendar"

    for hostile in [
        calendar_with(occurred="2009"), calendar_with(occurred="null"),
        calendar_with(occurred="'2009-02-30'"), calendar_with(updated="null"),
        calendar_with(updated="42"), calendar_with(title="null"),
        calendar_with(latitude="'north'", longitude="x'00'"),
        calendar_with(latitude="100", country="'ZZZ'", city="6", summary="char(1, 2)",
                      role="5", planned="'x'"),
    ]:
        response = asyncio.run(ds.client.get("/cooplog.ics", params={"sql": hostile}))
        assert response.status_code == 200, (hostile, response.text[:300])
        vevents(response.content)


def test_places_carry_the_un_names_of_their_countries(log):
    store = Store(log)
    meetings = {"KR": "Seoul", "VN": "Hanoi", "IR": "Tehran", "TR": "Ankara", "US": "New York"}
    append.append(store, [
        ("org", {"type": "organization.registered",
                 "data": {"key": "wco", "name": "World Customs Organization",
                          "category": "intergovernmental"}}),
        *((code, {"type": "meeting.attended", "occurred": "2009-05-04/2009-05-06",
                  "summary": "Attended.", "orgs": ["wco"],
                  "data": {"title": f"Workshop in {city}", "role": "participant",
                           "location": {"city": city, "country": code}}})
          for code, city in meetings.items())], by=BY, commit=False)
    data, _ = exported(store)
    assert sorted(str(e["location"]) for e in vevents(data).values()) == [
        "Ankara, Türkiye", "Hanoi, Viet Nam", "New York, United States of America",
        "Seoul, Republic of Korea", "Tehran, Iran (Islamic Republic of)"]


def exported(store: Store):
    """The calendar of a fresh build of the log, and what it leaves out."""
    projection = Projection(store)
    try:
        projection.build()
        return calendar_export.export(projection.conn)
    finally:
        projection.close()
