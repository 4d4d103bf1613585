"""The site database follows each log by copying only what changed (issue 18, point 4): after
any sequence of changes in two logs it equals a site assembled afresh, and it copies a log
whole whenever its change record cannot say what changed (a database built again or
replaced, entries missing or pruned)."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cooplog import append, events, schema, site
from cooplog.logs import Log
from cooplog.projection import Projection
from cooplog.site_refresh import Refresher
from cooplog.store import Store
from helpers import built
from test_projection_properties import PROPERTY, body, logs, scratch, ulid, write
from test_site_serve import followed

TIMEOUT = 20.0
NEW = {"type": "activity.noted", "occurred": "2010-01", "orgs": ["wco"],
       "summary": "Trained customs officers in Lomé.", "data": {}}


def site_snapshot(path: Path) -> dict[str, list[tuple]]:
    """Every table and view of a site database, rows sorted (rowids left out), read in one
    transaction; its full-text indexes checked against their tables."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("begin")
        names = [n for (n,) in conn.execute(
            "select name from sqlite_master where type in ('table', 'view') "
            "and name not like 'sqlite%' and name not like '%\\_fts%' escape '\\'")]
        out = {name: sorted(conn.execute(f"select * from [{name}]"), key=repr)
               for name in names}
        conn.execute("commit")
        for table in schema.FTS_TABLES:
            conn.execute(f"insert into {table}_fts ({table}_fts, rank) "
                         "values ('integrity-check', 1)")
        return out
    finally:
        conn.close()


def afresh(logs: list[Log], folder: Path) -> dict[str, list[tuple]]:
    return site_snapshot(site.assemble(folder / "afresh.db", logs))


def refreshed(conn: sqlite3.Connection, log: Log, since: site.Copied | None):
    """`site.refresh` from `since`, reading the log's database as the refresher does."""
    source = sqlite3.connect(f"file:{log.db_path}?mode=ro", uri=True)
    try:
        return site.refresh(conn, log, since, source)
    finally:
        source.close()


def rowids(conn: sqlite3.Connection, log: str) -> dict[str, int]:
    """Where each of a log's events sits in the site's table: a row copied again moves."""
    return dict(conn.execute("select id, rowid from events where log = ?", [log]))


# --- any sequence of changes, refreshed at any points ------------------------------------


def fixes(root: Path, extras: list[str]) -> list[tuple[str, Path]]:
    """Steps that mend the bad files `write` made: the unfinished one finished (a valid
    event), the duplicate and the misnamed one removed."""
    steps = []
    for extra in extras:
        if extra == "broken":
            path = root / "events" / "2024" / "06" / f"{ulid(3000)}.json"
            steps.append(("rewrite", path))
        else:
            folder = "05" if extra == "duplicate" else "06"
            name = ulid(1) if extra == "duplicate" else ulid(2000)
            steps.append(("remove", root / "events" / "2024" / folder / f"{name}.json"))
    return steps


@pytest.mark.slow  # many random pairs of logs, each site assembled again and again
@PROPERTY
@given(first=logs(), second=logs(), data=st.data())
def test_any_sequence_of_changes_in_two_logs_ends_where_a_site_made_afresh_does(
        first, second, data):
    with scratch() as tmp:
        tmp = Path(tmp)
        pairs = []
        for name, (bodies, extras) in (("basel", first), ("stockholm", second)):
            root = tmp / name
            paths = write(root, bodies, extras)
            projection = Projection(Store(root))
            order = data.draw(st.permutations(paths), label=f"{name}'s arrival order")
            # the first files are there when the site starts: it copies them whole
            start = data.draw(st.integers(0, len(order)), label=f"{name}'s files at start")
            for path in order[:start]:
                projection.apply(path)
            steps = [("apply", p) for p in order[start:]] + fixes(root, extras)
            pairs.append((Log(name, root), projection, steps))
        logs_ = [log for log, _, _ in pairs]
        conn = site.connect(tmp / "site" / "cooplog.db")
        copied = {log.name: site.refresh(conn, log) for log in logs_}
        try:
            while any(steps for _, _, steps in pairs):
                log, projection, steps = data.draw(
                    st.sampled_from([p for p in pairs if p[2]]), label="next log")
                what, path = steps.pop(0)
                if what == "remove":
                    path.unlink()
                    projection.forget(projection.store.relpath(path))
                else:
                    if what == "rewrite":
                        path.write_bytes(events.encode(body(ulid(3000), "activity.noted", {})))
                    projection.apply(path)
                if data.draw(st.booleans(), label="refresh the site now"):
                    for each in logs_:
                        copied[each.name] = refreshed(conn, each, copied[each.name])
                    assert site_snapshot(conn_path(conn)) == afresh(logs_, tmp)
            for log in logs_:
                copied[log.name] = refreshed(conn, log, copied[log.name])
            assert site_snapshot(conn_path(conn)) == afresh(logs_, tmp)
        finally:
            conn.close()
            for _, projection, _ in pairs:
                projection.close()


def conn_path(conn: sqlite3.Connection) -> Path:
    return Path(conn.execute("pragma database_list").fetchone()[2])


# --- what an incremental refresh copies, and when it copies everything ---------------------


@pytest.fixture
def two(seeded, tmp_path) -> list[Log]:
    other = shutil.copytree(seeded, tmp_path / "stockholm", symlinks=True)
    for root in (seeded, other):
        built(root)
    return [Log("basel", seeded), Log("stockholm", other)]


@pytest.fixture
def copied(two, tmp_path):
    """A site holding both logs, copied whole once: its connection and how far each goes."""
    conn = site.connect(tmp_path / "site" / "cooplog.db")
    marks = {log.name: site.refresh(conn, log) for log in two}
    yield conn, marks
    conn.close()


def added(log: Log, summary: str) -> str:
    """A new event in the log, applied to its database; its id."""
    (event, path), = append.append(Store(log.root), [("new", {**NEW, "summary": summary})],
                                   commit=False)
    projection = Projection(Store(log.root))
    try:
        assert projection.apply(path)
    finally:
        projection.close()
    return event.id


def test_a_refresh_copies_only_what_changed_and_the_site_equals_one_made_afresh(
        two, copied, tmp_path):
    conn, marks = copied
    basel, stockholm = two
    before = {log.name: rowids(conn, log.name) for log in two}
    new = added(basel, "A new activity in Basel.")
    mark = refreshed(conn, basel, marks["basel"])
    assert mark.epoch == marks["basel"].epoch and mark.seq > marks["basel"].seq
    after = rowids(conn, "basel")
    assert {i: after[i] for i in before["basel"]} == before["basel"]  # none copied again
    assert new in after
    assert rowids(conn, "stockholm") == before["stockholm"]
    assert site_snapshot(conn_path(conn)) == afresh(two, tmp_path)
    # nothing changed since: nothing copied, and the same mark
    assert refreshed(conn, basel, mark) == mark
    assert rowids(conn, "basel") == after


def whole_copy_after(conn, log: Log, mark, two, tmp_path) -> None:
    """`log`'s refresh from `mark` copies every one of its rows again, and the site then
    equals one made afresh."""
    before = rowids(conn, log.name)
    refreshed(conn, log, mark)
    after = rowids(conn, log.name)
    assert not set(before.items()) & set(after.items()), "some rows were not copied again"
    assert site_snapshot(conn_path(conn)) == afresh(two, tmp_path)


def log_db(log: Log) -> sqlite3.Connection:
    return sqlite3.connect(log.db_path, isolation_level=None)


def test_a_log_database_built_again_in_place_is_copied_whole(two, copied, tmp_path):
    conn, marks = copied
    basel = two[0]
    # a file the build finds, and no change record names: a build starts a new record
    append.append(Store(basel.root), [("new", NEW)], commit=False)
    built(basel.root)
    whole_copy_after(conn, basel, marks["basel"], two, tmp_path)


@pytest.mark.parametrize("lost", ["the epoch", "the record's table", "entries in the middle",
                                  "an unknown table"])
def test_a_change_record_that_cannot_say_what_changed_means_a_whole_copy(
        two, copied, tmp_path, lost):
    conn, marks = copied
    basel = two[0]
    first = added(basel, "First new activity.")
    added(basel, "Second new activity.")
    with log_db(basel) as db:
        if lost == "the epoch":
            db.execute("delete from _state where name = ?", [schema.CHANGES_EPOCH])
        elif lost == "the record's table":
            db.execute("drop table _changes")
        elif lost == "entries in the middle":  # the first event's: a copy from them misses it
            db.execute("delete from _changes where table_name = 'events' and key = ?", [first])
        else:
            db.execute("insert into _changes (table_name, key) values ('newer_table', 'x')")
    whole_copy_after(conn, basel, marks["basel"], two, tmp_path)


def test_a_pruned_change_record_leaves_a_gap_that_means_a_whole_copy(two, copied, tmp_path):
    conn, marks = copied
    basel = two[0]
    with log_db(basel) as db:
        db.execute("with recursive n(i) as (select 1 union all select i + 1 from n where i < ?) "
                   "insert into _changes (table_name, key) select 'events', 'none' from n",
                   [schema.CHANGES_KEPT + schema.CHANGES_PRUNE_EVERY])
        oldest, newest = db.execute("select min(seq), max(seq) from _changes").fetchone()
    assert newest - oldest < schema.CHANGES_KEPT  # the oldest were pruned
    assert oldest > marks["basel"].seq + 1
    added(basel, "After the pruning.")
    whole_copy_after(conn, basel, marks["basel"], two, tmp_path)


def test_a_build_records_no_change_and_a_watched_change_is_recorded(two):
    basel = two[0]
    with log_db(basel) as db:
        assert db.execute("select count(*) from _changes").fetchone() == (0,)
    new = added(basel, "Recorded.")
    with log_db(basel) as db:
        recorded = db.execute("select table_name, key from _changes").fetchall()
    assert ("events", new) in recorded and ("event_orgs", new) in recorded
    assert ("organizations", "wco") in recorded  # its activity figures changed


# --- the watchers and the refresher, running ----------------------------------------------


@pytest.fixture
def following(two, tmp_path):
    """Each log's watcher, waking the site's refresher, which never polls in a test's time:
    only being woken brings the site in step."""
    with followed(two, tmp_path / "site" / "cooplog.db", poll=3600, woken=True) as running:
        yield running


def settles_afresh(refresher: Refresher, logs: list[Log], folder: Path) -> None:
    """The site ends equal to one assembled afresh from the logs' databases."""
    deadline = time.monotonic() + TIMEOUT
    while (found := site_snapshot(refresher.site_db)) != (expected := afresh(logs, folder)):
        if time.monotonic() > deadline:
            assert found == expected
        time.sleep(0.1)


@pytest.mark.slow
def test_watched_changes_in_two_logs_reach_the_site_as_they_happen(two, following, tmp_path):
    """Adds, a correction, a retraction, an organization registered in both logs
    differently, a bad file and its removal: the watchers wake the refresher, which copies
    what changed."""
    _, refresher = following
    basel, stockholm = two
    store_b, store_s = Store(basel.root), Store(stockholm.root)
    copies = refresher.status["basel"].refreshed
    (meeting, _), = append.append(store_b, [("meeting", {
        "type": "meeting.attended", "occurred": "2010-03", "orgs": ["wco"],
        "summary": "Met the WCO.", "data": {"title": "Enforcement Committee",
                                            "role": "participant"}})])
    append.correct(store_b, meeting.id, {"data.role": "presenter"}, "we presented")
    (extra, _), = append.append(store_s, [("extra", NEW)])
    append.retract(store_s, extra.id, "recorded twice")
    for store, name in ((store_b, "The Secretariat's partner"), (store_s, "Another one")):
        append.append(store, [("org", {"type": "organization.registered", "data": {
            "key": "partner", "name": name, "category": "other"}})])
    bad = stockholm.root / "events" / "2010" / "01" / "broken.json"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("{ not json", encoding="utf-8")
    shows(refresher, "select log, role from meetings where event_id = ?",
          [("basel", "presenter")], meeting.id)
    shows(refresher, "select log, retracted from events where id = ?", [("stockholm", 1)],
          extra.id)
    shows(refresher, "select log from organization_conflicts where key = ?",
          [("basel",), ("stockholm",)], "partner")
    shows(refresher, "select log from problems where path like ?", [("stockholm",)],
          "%broken.json")
    settles_afresh(refresher, two, tmp_path)
    bad.unlink()
    shows(refresher, "select log from problems where path like ?", [], "%broken.json")
    settles_afresh(refresher, two, tmp_path)
    assert refresher.status["basel"].refreshed > copies


def shows(refresher: Refresher, sql: str, expected: list[tuple], *params) -> None:
    deadline = time.monotonic() + TIMEOUT
    while (found := site_rows(refresher, sql, *params)) != expected:
        assert time.monotonic() < deadline, (sql, found, expected)
        time.sleep(0.05)


def site_rows(refresher: Refresher, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(f"file:{refresher.site_db}?mode=ro", uri=True) as conn:
        return sorted(conn.execute(sql, params).fetchall())


@pytest.mark.slow
def test_a_log_database_replaced_under_the_site_is_copied_whole(two, following, tmp_path):
    """The watcher builds a database deleted under it anew, beside, and moves it into
    place: the site copies that new file whole, and follows it afterwards."""
    watchers, refresher = following
    basel = two[0]
    with sqlite3.connect(f"file:{refresher.site_db}?mode=ro", uri=True) as conn:
        before = rowids(conn, "basel")
    basel.db_path.unlink()
    deadline = time.monotonic() + TIMEOUT
    while (after := site_rowids(refresher, "basel")) == before or \
            not set(after) >= set(before):
        assert time.monotonic() < deadline, "the new database was never copied"
        time.sleep(0.05)
    assert not set(before.items()) & set(after.items())  # copied whole
    (new, _), = append.append(Store(basel.root), [("new", NEW)])
    deadline = time.monotonic() + TIMEOUT
    while new.id not in site_rowids(refresher, "basel"):
        assert time.monotonic() < deadline, "a new file after the rebuild never showed"
        time.sleep(0.05)
    settles_afresh(refresher, two, tmp_path)
    assert not watchers["basel"].status.rebuilding


def site_rowids(refresher: Refresher, log: str) -> dict[str, int]:
    with sqlite3.connect(f"file:{refresher.site_db}?mode=ro", uri=True) as conn:
        return rowids(conn, log)
