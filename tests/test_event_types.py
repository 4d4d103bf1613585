"""A new event type is one entry in `events.TYPES` (with its struct) and one table in
`schema.TABLES`: validation, `add`, the projection, retraction and `events.title` all follow
from the entry, with no list elsewhere to extend (issue 19)."""

from __future__ import annotations

import sqlite3

import pytest

from cooplog import events, schema
from cooplog.projection import Projection
from cooplog.store import Store
from helpers import built, read_json, written


class VisitMade(events.Strict, kw_only=True):
    place: events.Text
    country: events.Country | None = None
    host: events.Key | None = None


VISIT = events.EventType(
    "visit.made", "visit", VisitMade, "A visit paid to an organization.",
    title="place", table="visits", org_refs=("host",), countries=("country",),
)
VISITS = ({"event_id": str, "place": str, "country": str, "host": str, "occurred": str,
           "year": int}, "event_id", [("event_id", "events", "id")])


@pytest.fixture
def visits(monkeypatch):
    """The table of types and the schema as a log with visits has them, for this test only."""
    monkeypatch.setitem(events.TYPES, VISIT.name, VISIT)
    monkeypatch.setitem(schema.TABLES, "visits", VISITS)


def rows(db, sql: str, *params) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_a_new_type_validates_by_its_entry(visits):
    body = {"id": "01J0G000000000000000000001", "type": "visit.made", "schema": 1,
            "recorded_at": "2024-06-01T00:00:00Z", "recorded_by": "me@example.org",
            "occurred": "2009-05", "summary": "Visited the WCO.", "orgs": [],
            "data": {"place": "Brussels", "country": "XX"}}
    with pytest.raises(events.Invalid) as caught:
        events.validate(body)
    # its country field is checked because the entry names it, not by a list of types
    assert caught.value.problems == [
        ("data.country", "'XX' is not an ISO 3166-1 alpha-2 country code")]
    assert events.validate({**body, "data": {"place": "Brussels", "country": "BE"}}
                           ).spec is VISIT


@pytest.mark.slow
def test_a_new_type_is_added_projected_titled_and_retracted(visits, seeded, cli, tmp_path):
    assert "visit" in cli(seeded, "add", "--help").stdout
    added = cli(seeded, "add", "visit", "--place", "Brussels", "--country", "be",
                "--host", "wco", "--date", "2009-05", "--summary", "Visited the WCO.",
                "--org", "wco")
    assert (added.exit_code, added.stderr) == (0, "")
    (visit, rel), = written(added, seeded)
    assert read_json(seeded / rel)["data"] == {"place": "Brussels", "country": "BE",
                                               "host": "wco"}

    db = tmp_path / "incremental.db"
    projection = Projection(Store(seeded), db)
    try:
        projection.catch_up()
        assert rows(db, "select event_id, place, country, host, occurred, year from visits"
                    ) == [(visit, "Brussels", "BE", "wco", "2009-05", 2009)]
        assert rows(db, "select title from events where id = ?", visit) == [("Brussels",)]
        assert rows(db, "select key, activity_count from organizations where key = 'wco'"
                    ) == [("wco", 3)]  # its MoU, its submission and the visit

        retracted = cli(seeded, "retract", visit, "--reason", "It never happened.")
        assert retracted.exit_code == 0, retracted.stderr
        (retraction, retraction_rel), = written(retracted, seeded)
        projection.apply(seeded / retraction_rel)
    finally:
        projection.close()
    assert rows(db, "select * from visits") == []
    assert rows(db, "select retracted_by from events where id = ?", visit) == [(retraction,)]

    full = built(seeded, tmp_path / "full.db")
    assert rows(full, "select * from visits") == []
    assert rows(full, "select title, retracted_by from events where id = ?", visit) == [
        ("Brussels", retraction)]
    assert rows(full, "select * from problems") == []
