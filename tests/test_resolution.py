"""One resolver and one set of problem messages: the files read (`validate`, `show`,
`orgs`) and the projection's database give an event the same current state, and the
`problems` view says in SQL exactly what the checks say in Python (issue 19)."""

from __future__ import annotations

import sqlite3
import string

import pytest

from cooplog import rules, state
from cooplog.projection import Lookups
from cooplog.resolution import Among, resolve
from cooplog.store import Store
from test_projection import Files, opened, ulid


@pytest.mark.parametrize("name", sorted(rules.MESSAGES))
def test_the_problems_view_says_what_the_checks_say(name):
    values = {field: f"v{i}'x" for i, (_, field, _, _) in enumerate(
        string.Formatter().parse(rules.MESSAGES[name])) if field}
    expressions = {field: "'" + value.replace("'", "''") + "'"
                   for field, value in values.items()}
    conn = sqlite3.connect(":memory:")
    try:
        said = conn.execute("select " + rules.sql_message(name, **expressions)).fetchone()[0]
    finally:
        conn.close()
    assert said == rules.message(name, **values)


def test_files_and_database_resolve_an_event_alike(tmp_path):
    files = Files(tmp_path / "log")
    files.org(1, "wco")
    meeting = files.put(2, "meeting.attended", {"title": "HS Committee", "role": "observer"},
                        orgs=["wco"])
    files.put(3, "event.corrected", {"target": meeting, "set": {"data.title": "Second"},
                                     "reason": "Misnamed."})
    files.put(4, "event.corrected", {"target": meeting, "set": {"data.role": "dancer"},
                                     "reason": "Refused: no such role."})
    files.put(5, "event.corrected", {"target": meeting, "set": {"summary": "Gone."},
                                     "reason": "Retracted below."})
    files.put(6, "event.retracted", {"target": ulid(5), "reason": "No."})
    files.put(7, "event.retracted", {"target": meeting, "reason": "Not attended."})
    files.put(8, "event.retracted", {"target": ulid(7), "reason": "It was."})
    store = Store(files.root)
    by_id = {event.id: event for event in map(store.read, store.files())}

    from_files = resolve(Among(by_id), by_id[meeting])
    with opened(files.root, tmp_path / "db") as projection:
        projection.catch_up()
        from_database = resolve(Lookups(projection.conn), by_id[meeting])
    shown = state.show(store, meeting)

    assert from_files == from_database
    assert (from_files.retracted_by, from_files.corrected_by) == (None, [ulid(3)])
    assert [c for c, _ in from_files.refused] == [ulid(4)]
    assert (shown.event, shown.retracted_by) == (from_files.event, [])
    assert [c.id for c in shown.corrections] == from_files.corrected_by
    assert from_files.event.data["title"] == "Second"
