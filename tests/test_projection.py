"""The projection against DESIGN.md's rules ("The projection — rules that tests hold it to"):
files are the truth, order does not matter (tests/test_projection_properties.py holds the
general case), idempotence, corrections and retractions, incremental cost; and the shape of
the read side, asserted once.

Event files are written directly (ids chosen, references not checked) unless a test is
about appending; every database is a real SQLite file under tmp_path."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import pytest

from cooplog import append, events, report
from cooplog.projection import Projection
from cooplog.rules import check_log
from cooplog.schema import TABLES
from cooplog.store import Store
from helpers import built, numbered_ulid

REPO = Path(__file__).resolve().parents[1]
PREFIX = "01J0G00000"  # a ULID time in 2024-06: files land in events/2024/06/
BY = "tester@example.org"


def ulid(n: int) -> str:
    return numbered_ulid(n, PREFIX)


def body(n: int, type_: str, data: dict | None = None, **envelope) -> dict:
    """Event number `n` (ids increase with n) as a file holds it."""
    out = {"id": ulid(n), "type": type_, "schema": 1, "recorded_at": "2024-06-01T00:00:00Z",
           "recorded_by": BY}
    if events.TYPES[type_].dated:
        out["occurred"] = envelope.pop("occurred", "2009")
        out["summary"] = envelope.pop("summary", f"{type_} number {n}")
    return {**out, "orgs": [], **envelope, "data": data or {}}


class Files:
    """A log written file by file."""

    def __init__(self, root: Path):
        self.root = root
        self.store = Store(root)
        self.store.events_dir.mkdir(parents=True, exist_ok=True)

    def put(self, n: int, type_: str, data: dict | None = None, **envelope) -> str:
        event = body(n, type_, data, **envelope)
        self.raw(self.rel(event["id"]), events.encode(event))
        return event["id"]

    def org(self, n: int, key: str, category: str = "intergovernmental", **data) -> str:
        return self.put(n, "organization.registered",
                        {"key": key, "name": f"The {key.upper()}", "category": category, **data})

    def raw(self, rel: str, content: bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return path

    def rel(self, event_id: str) -> str:
        return self.store.relpath(self.store.path_for(event_id))

    def path(self, event_id: str) -> Path:
        return self.store.path_for(event_id)

    def paths(self) -> list[Path]:
        return list(self.store.files())


@contextmanager
def opened(root: Path, db: Path):
    projection = Projection(Store(root), db)
    try:
        yield projection
    finally:
        projection.close()


def applied(root: Path, db: Path, paths) -> Path:
    """The database after applying these files one at a time, in this order."""
    with opened(root, db) as projection:
        for path in paths:
            projection.apply(path)
    return db


def q(db: Path | Projection, sql: str, *params) -> list[tuple]:
    if isinstance(db, Projection):
        return db.conn.execute(sql, params).fetchall()
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def row(db: Path, table: str, where: str, *params) -> dict:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        found = conn.execute(f"select * from [{table}] where {where}", params).fetchall()
    finally:
        conn.close()
    assert len(found) == 1, found
    return dict(found[0])


def contract_names(conn: sqlite3.Connection) -> list[str]:
    return [name for (name,) in conn.execute(
        "select name from sqlite_master where type in ('table', 'view') and name not like '\\_%'"
        " escape '\\' and name not like '%\\_fts%' escape '\\' and name not like 'sqlite%'"
        " order by name")]


def holding_event_ids(conn: sqlite3.Connection) -> list[str]:
    """Every contract table and view with an `event_id` column, read from the database
    itself: one a new event type adds is held to the same rules without a test naming it."""
    return [name for name in contract_names(conn)
            if any(r[1] == "event_id" for r in conn.execute(f"pragma table_info([{name}])"))]


def snapshot(db: Path, bookkeeping: bool = False, live: bool = False
             ) -> dict[str, list[tuple]]:
    """Every row of every contract table and view, `_` columns left out, sorted; with
    `bookkeeping`, every table and every column. Read in one transaction (one state of the
    database); then the full-text index is checked against its table, unless the database is
    `live` (being written by a watcher: the check is a statement that writes)."""
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    try:
        conn.execute("begin")
        names = [n for (n,) in conn.execute(
            "select name from sqlite_master where type in ('table', 'view') "
            "and name not like 'sqlite%' order by name")] if bookkeeping else contract_names(conn)
        out = {}
        for name in names:
            columns = [r[1] for r in conn.execute(f"pragma table_info([{name}])")
                       if bookkeeping or not r[1].startswith("_")]
            rows = conn.execute(f"select {', '.join(f'[{c}]' for c in columns)} from [{name}]")
            out[name] = sorted(rows, key=repr)
        conn.execute("commit")
        if not live:
            for table in ("events", "translations"):
                conn.execute(f"insert into {table}_fts({table}_fts, rank) values "
                             "('integrity-check', 1)")
        return out
    finally:
        conn.close()


def problems(db: Path) -> list[tuple]:
    return sorted(q(db, "select path, field, message from problems"))


# --- the shape ------------------------------------------------------------------------------

SHAPE = {
    "tables": {
        "agreements": (["key", "event_id", "kind", "title", "parties", "occurred", "year",
                        "revisions", "last_revised", "status", "status_since"], ["key"]),
        "commits": (["sha", "author", "email", "committed_at", "message"], ["sha"]),
        "event_orgs": (["event_id", "org_key"], ["event_id", "org_key"]),
        "events": (["id", "type", "occurred", "occurred_start", "occurred_end", "year",
                    "summary", "title", "orgs", "mandates", "documents", "source", "data",
                    "recorded_at", "recorded_by", "path", "target", "retracted",
                    "retracted_by", "corrected", "corrected_by", "original", "commit_sha",
                    "lang"], ["id"]),
        "mandates": (["event_id", "mandate"], ["event_id", "mandate"]),
        "meetings": (["event_id", "title", "role", "planned", "city", "country",
                      "country_name", "online",
                      "organizer", "occurred", "occurred_start", "occurred_end", "year",
                      "latitude", "longitude"], ["event_id"]),
        "organizations": (["key", "name", "acronym", "category", "group_order", "parent", "url",
                           "registered_by", "first_activity", "last_activity",
                           "activity_count"], ["key"]),
        "partnerships": (["event_id", "partnership", "role", "occurred", "year"], ["event_id"]),
        "projects": (["key", "event_id", "title", "funder", "countries", "occurred", "year",
                      "status", "status_since"], ["key"]),
        "requests": (["key", "event_id", "to_org", "subject", "occurred", "year", "status",
                      "status_since"], ["key"]),
        "revisions": (["event_id", "agreement", "change", "occurred", "occurred_end"],
                      ["event_id"]),
        "statuses": (["event_id", "subject", "status", "note", "occurred", "occurred_start",
                      "occurred_end"], ["event_id"]),
        "submissions": (["key", "event_id", "to_org", "body", "title", "items", "occurred",
                         "year", "status", "status_since"], ["key"]),
        "translations": (["event_id", "target", "lang", "summary", "title"], ["event_id"]),
    },
    "views": {
        "current_translations": ["event_id", "target", "lang", "summary", "title"],
        "calendar": ["event_id", "title", "occurred", "occurred_start", "occurred_end",
                     "planned", "role", "city", "country", "latitude", "longitude", "summary",
                     "updated"],
        "open_items": ["kind", "key", "title", "to_org", "status", "status_since", "event_id"],
        "problems": ["path", "field", "message", "event_id"],
        "timeline": ["occurred_start", "occurred_end", "occurred", "type", "summary", "title",
                     "org_key", "org_name", "org_acronym", "category", "event_id"],
        "unplaced_meetings": ["event_id", "title", "occurred", "city", "country", "online",
                              "why"],
    },
    "full_text": {"events_fts": ["summary", "title"], "translations_fts": ["summary", "title"]},
}


def test_the_read_side_has_the_contract_shape(tmp_path):
    """DESIGN.md: table names are part of the contract. A change here is a change to it."""
    with opened(tmp_path, tmp_path / "shape.db") as projection:
        conn = projection.conn
        found: dict = {"tables": {}, "views": {}}
        for kind, name in conn.execute(
                "select type, name from sqlite_master where type in ('table', 'view') "
                "and name not like '\\_%' escape '\\' and name not like 'sqlite%' "
                "and name not like '%\\_fts%' escape '\\' order by name"):
            info = conn.execute(f"pragma table_info([{name}])").fetchall()
            columns = [r[1] for r in info]
            if kind == "table":
                found["tables"][name] = (columns, [r[1] for r in sorted(info, key=lambda r: r[5])
                                                   if r[5]])
            else:
                found["views"][name] = columns
        found["full_text"] = {}
        for table in ("events", "translations"):
            fts = conn.execute("select sql from sqlite_master where name = ?",
                               [f"{table}_fts"]).fetchone()
            assert "tokenize='trigram'" in fts[0] and f'content="{table}"' in fts[0]
            found["full_text"][f"{table}_fts"] = [
                r[1] for r in conn.execute(f"pragma table_info({table}_fts)")]
    assert found == SHAPE


def test_opening_a_database_again_changes_nothing_in_its_shape(tmp_path):
    with opened(tmp_path, tmp_path / "shape.db") as projection:
        first = projection.conn.execute("select type, name, sql from sqlite_master").fetchall()
    with opened(tmp_path, tmp_path / "shape.db") as projection:
        again = projection.conn.execute("select type, name, sql from sqlite_master").fetchall()
        # a build drops indexes and triggers and makes them again, each in its turn
        projection.build()
        built = projection.conn.execute("select type, name, sql from sqlite_master").fetchall()
    assert again == first
    assert sorted(built) == sorted(first)


def test_a_build_keeps_the_index_its_refresh_finds_a_targets_corrections_by(tmp_path):
    from cooplog.projection import TARGET_INDEX

    with opened(tmp_path, tmp_path / "shape.db") as projection:
        columns = [r[2] for r in projection.conn.execute(f"pragma index_info({TARGET_INDEX})")]
    assert columns == ["target", "type"]


# --- rule 1: files are the truth -----------------------------------------------------------


def sample_log(root: Path) -> Files:
    """The repository's sample log (the 2008–2009 annex), with corrections and retractions
    appended, including a retracted correction and a retracted retraction."""
    shutil.copytree(REPO / "events", root / "events")
    files = Files(root)
    store = files.store
    by_type: dict[str, list[events.Event]] = {}
    for path in files.paths():
        event = store.read(path)
        by_type.setdefault(event.type, []).append(event)
    meeting, other_meeting = by_type["meeting.attended"][:2]
    [(fix, _)] = append.correct(store, meeting.id, {"summary": "Corrected summary.",
                                                    "occurred": "2009-02"},
                                "Wrong month.", by=BY, commit=False)
    append.correct(store, other_meeting.id, {"data.title": "Corrected title"}, "Typo.",
                   by=BY, commit=False)
    append.retract(store, fix.id, "The month was right.", by=BY, commit=False)
    [(gone, _)] = append.retract(store, by_type["activity.noted"][0].id, "Not ours.", by=BY,
                                 commit=False)
    append.retract(store, gone.id, "It was ours after all.", by=BY, commit=False)
    never = by_type["meeting.attended"][2].id
    append.retract(store, never, "Never happened.", by=BY, commit=False)
    files.retracted = {fix.id, gone.id, never}
    return files


@pytest.mark.slow
def test_deleting_the_database_and_rebuilding_gives_the_same_tables(tmp_path):
    files = sample_log(tmp_path / "log")
    db = built(files.root, tmp_path / "cooplog.db")
    before = snapshot(db)
    shipped = sum(1 for _ in (REPO / "events").rglob("*.json"))  # the sample log grows
    assert len(before["events"]) == len(files.paths()) == shipped + 6
    assert q(db, "select id from events where retracted = 1") == sorted(
        (i,) for i in files.retracted)
    assert before["problems"] == []
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    assert snapshot(built(files.root, db)) == before
    # the files alone decide: applied one by one, newest first, into another database
    again = applied(files.root, tmp_path / "incremental.db", reversed(files.paths()))
    assert snapshot(again) == before


def test_bad_files_are_only_problems_and_never_stop_the_others(tmp_path):
    files = Files(tmp_path / "log")
    wco = files.org(1, "wco")
    meeting = files.put(2, "meeting.attended", {"title": "HS Committee", "role": "observer"},
                        orgs=["wco"])
    month = "events/2024/06"
    bad = {
        f"{month}/{ulid(10)}.json": b'{"id": "' + ulid(10).encode() + b'", "type": ',
        f"{month}/{ulid(11)}.json": b"\xff\xfe not text",
        f"{month}/{ulid(12)}.json": b"[]",
        f"{month}/{ulid(13)}.json": events.encode({**body(13, "activity.noted"), "schema": 2}),
        f"{month}/{ulid(14)}.json": events.encode({**body(14, "activity.noted"),
                                                   "type": "activity.guessed"}),
        f"{month}/{ulid(15)}.json": events.encode({**body(15, "activity.noted"),
                                                   "colour": "blue"}),
        f"{month}/{ulid(16)}.json": events.encode(body(16, "meeting.attended",
                                                       {"role": "observer"})),
        f"{month}/{ulid(17)}.json": events.encode(body(17, "activity.noted",
                                                       occurred="2009-13")),
        f"events/2001/01/{ulid(18)}.json": events.encode(body(18, "activity.noted")),
        f"{month}/{ulid(19)}.json": events.encode(body(20, "activity.noted")),  # misnamed
        f"events/2024/05/{meeting}.json": files.path(meeting).read_bytes(),  # a copy
    }
    for rel, content in bad.items():
        files.raw(rel, content)
    folder = files.root / month / f"{ulid(21)}.json"
    folder.mkdir()
    link = files.root / month / f"{ulid(22)}.json"
    link.symlink_to(files.path(wco))

    db = built(files.root, tmp_path / "full.db")
    listed = problems(db)
    assert [(path, field) for path, field, _ in listed] == sorted([
        (f"{month}/{ulid(10)}.json", ""), (f"{month}/{ulid(11)}.json", ""),
        (f"{month}/{ulid(12)}.json", ""), (f"{month}/{ulid(13)}.json", "schema"),
        (f"{month}/{ulid(14)}.json", "type"), (f"{month}/{ulid(15)}.json", "colour"),
        (f"{month}/{ulid(16)}.json", "data.title"), (f"{month}/{ulid(17)}.json", "occurred"),
        (f"events/2001/01/{ulid(18)}.json", "id"), (f"{month}/{ulid(19)}.json", "id"),
        (f"events/2024/05/{meeting}.json", "id"),
        (f"{month}/{ulid(21)}.json", ""), (f"{month}/{ulid(22)}.json", ""),
    ])
    # in words a person can act on: the same as `cooplog validate` says
    assert listed == sorted(tuple(p.__dict__.values()) for p in check_log(files.store))
    messages = dict(((p, f), m) for p, f, m in listed)
    assert "newer cooplog" in messages[(f"{month}/{ulid(13)}.json", "schema")]
    assert "not valid JSON" in messages[(f"{month}/{ulid(10)}.json", "")]
    assert "UTF-8" in messages[(f"{month}/{ulid(11)}.json", "")]
    assert messages[(f"events/2024/05/{meeting}.json", "id")].startswith(
        f"duplicate: {files.rel(meeting)} has this id")
    # the good files went in whole
    assert q(db, "select id, retracted from events order by id") == [(wco, 0), (meeting, 0)]
    assert q(db, "select key, activity_count from organizations") == [("wco", 1)]
    assert q(db, "select event_id, title from meetings") == [(meeting, "HS Committee")]
    # and one at a time, in any order, the same
    incremental = applied(files.root, tmp_path / "inc.db", reversed(files.paths()))
    assert snapshot(incremental) == snapshot(db)


def test_references_are_problems_until_they_resolve(tmp_path):
    files = Files(tmp_path / "log")
    meeting = files.put(1, "meeting.attended", {"title": "T", "role": "observer",
                                                "organizer": ["unece"]}, orgs=["wco"])
    status = files.put(2, "status.changed", {"subject": "wco-mou", "status": "accepted"})
    revision = files.put(3, "agreement.revised", {"agreement": "wco-mou", "change": "Longer."})
    correction = files.put(4, "event.corrected", {"target": ulid(9), "set": {
        "summary": "Corrected."}, "reason": "Typo."})
    retraction = files.put(5, "event.retracted", {"target": ulid(8), "reason": "Wrong."})
    submission = files.put(6, "submission.made", {"key": "hs", "to": "wco", "title": "HS"})
    db = tmp_path / "inc.db"
    with opened(files.root, db) as projection:
        for path in files.paths():
            projection.apply(path)
        unknown = ("unknown organization '{0}': register it with `cooplog add organization "
                   "--key {0} ...` or fix the key")
        no_mou = "no agreement has the key 'wco-mou': record it first or fix the key"
        no_status_mou = ("no agreement or submission or request or project has the key "
                         "'wco-mou': record it first or fix the key")
        assert problems(db) == sorted([
            (files.rel(meeting), "orgs[0]", unknown.format("wco")),
            (files.rel(meeting), "data.organizer[0]", unknown.format("unece")),
            (files.rel(status), "data.subject", no_status_mou),
            (files.rel(revision), "data.agreement", no_mou),
            (files.rel(correction), "data.target", f"no event has the id {ulid(9)}"),
            (files.rel(retraction), "data.target", f"no event has the id {ulid(8)}"),
            (files.rel(submission), "data.to", unknown.format("wco")),
        ])
        # valid events all the same: they are rows of `events`
        assert len(q(projection, "select id from events")) == 6
        assert q(projection, "select key, status from submissions") == [("hs", None)]

        arrivals = [
            files.org(10, "wco"), files.org(11, "unece"),
            files.put(12, "agreement.signed", {"key": "wco-mou", "kind": "mou", "title": "MoU",
                                               "parties": ["wco"]}),
            files.put(9, "activity.noted", summary="Original."),
            files.put(8, "activity.noted", summary="To retract."),
        ]
        for event_id in arrivals:
            assert projection.apply(files.path(event_id)) is True
        assert problems(db) == []
        assert q(projection, "select summary, corrected_by from events where id = ?",
                 ulid(9)) == [("Corrected.", json.dumps([correction]))]
        assert q(projection, "select retracted, retracted_by from events where id = ?",
                 ulid(8)) == [(1, retraction)]
        assert q(projection, "select key, status, revisions from agreements") == [
            ("wco-mou", "accepted", 1)]

        # and back: the registration goes, the problems return
        files.path(ulid(10)).unlink()
        projection.forget(files.rel(ulid(10)))
        assert [p[:2] for p in problems(db)] == sorted([
            (files.rel(meeting), "orgs[0]"), (files.rel(submission), "data.to"),
            (files.rel(ulid(12)), "data.parties[0]")])
    assert snapshot(db) == snapshot(built(files.root, tmp_path / "full.db"))


@pytest.mark.slow
def test_a_copy_of_an_event_is_a_duplicate_while_the_original_is_there(tmp_path):
    """Whether a stray copy is a "duplicate" or only "misplaced" depends on another file:
    the projection follows the original's arrival and removal."""
    files = Files(tmp_path / "log")
    original = files.put(1, "activity.noted")
    copy = files.raw(f"events/2024/05/{original}.json", files.path(original).read_bytes())
    copy_rel = "events/2024/05/" + copy.name
    db = tmp_path / "inc.db"
    with opened(files.root, db) as projection:
        projection.apply(copy)
        assert [p[:2] for p in problems(db)] == [(copy_rel, "id")]
        assert problems(db)[0][2].startswith("duplicate:")  # the original is on disk
        projection.apply(files.path(original))
        assert snapshot(db) == snapshot(built(files.root, tmp_path / "a.db"))
        files.path(original).unlink()
        projection.forget(files.rel(original))
        assert problems(db) == [(copy_rel, "id", "misplaced: an event with this id belongs "
                                 f"at {files.rel(original)}")]
        assert q(projection, "select id from events") == []
        assert snapshot(db) == snapshot(built(files.root, tmp_path / "b.db"))
        files.put(1, "activity.noted")
        projection.apply(files.path(original))
        assert problems(db)[0][2].startswith("duplicate:")
        assert snapshot(db) == snapshot(built(files.root, tmp_path / "c.db"))


# --- rule 3: idempotent ----------------------------------------------------------------------


def varied_log(root: Path) -> Files:
    """A bit of everything: orgs, a meeting, an agreement with statuses and a revision, a
    correction, a retraction, a bad file."""
    files = Files(root)
    files.org(1, "wco")
    files.org(2, "wto", category="un")
    files.put(3, "meeting.attended", {"title": "HS Committee", "role": "presenter",
                                      "location": {"city": "Brussels", "country": "BE"}},
              occurred="2009-03-16/2009-03-20", orgs=["wco"], mandates=["IX/11"])
    files.put(4, "agreement.signed", {"key": "mou", "kind": "mou", "title": "MoU",
                                      "parties": ["wco"]}, occurred="2008-06", orgs=["wco"])
    files.put(5, "status.changed", {"subject": "mou", "status": "pending"}, occurred="2008-06")
    files.put(6, "status.changed", {"subject": "mou", "status": "accepted"}, occurred="2008-09")
    files.put(7, "agreement.revised", {"agreement": "mou", "change": "Extended."},
              occurred="2009")
    files.put(8, "request.made", {"key": "cte", "to": "wto", "subject": "Observer status"},
              orgs=["wto"])
    files.put(9, "event.corrected", {"target": ulid(3), "set": {"data.title": "HS Committee 43"},
                                     "reason": "Session number."})
    files.put(10, "activity.noted", orgs=["wto"])
    files.put(11, "event.retracted", {"target": ulid(10), "reason": "Not ours."})
    files.raw(f"events/2024/06/{ulid(12)}.json", b"{")
    return files


def test_applying_a_file_twice_changes_nothing(tmp_path):
    files = varied_log(tmp_path / "log")
    db = tmp_path / "inc.db"
    with opened(files.root, db) as projection:
        assert [projection.apply(p) for p in files.paths()] == [True] * 12
        before = snapshot(db, bookkeeping=True)
        assert [projection.apply(p) for p in reversed(files.paths())] == [False] * 12
        assert snapshot(db, bookkeeping=True) == before
        # touched, not changed: not applied again, and nothing but the stat recorded changes
        touched = files.path(ulid(3))
        os.utime(touched, ns=(1_000_000_000, 1_000_000_000))
        assert projection.apply(touched) is False
        assert snapshot(db) == snapshot(built(files.root, tmp_path / "full.db"))
        assert q(projection, "select mtime_ns from _files where path = ?",
                 files.rel(ulid(3))) == [(1_000_000_000,)]
        assert projection.catch_up() == {"applied": 0, "removed": 0}
        assert projection.forget("events/2024/06/never-there.json") is False
    with opened(files.root, db) as projection:  # a build over a built database, likewise
        projection.build()
        projection.build()
    assert snapshot(db) == snapshot(tmp_path / "full.db")


# --- rule 4: corrections and retractions -------------------------------------------------


def test_corrections_apply_in_id_order_whatever_the_arrival_order(tmp_path):
    files = Files(tmp_path / "log")
    files.org(1, "wco")
    files.org(2, "wto")
    original = body(3, "meeting.attended", {
        "title": "HS Committee", "role": "observer",
        "location": {"city": "Brussels", "country": "BE"}},
        occurred="2009-03", summary="Met the customs people.", orgs=["wco"],
        mandates=["IX/11"], source="UNEP/CHW/OEWG/7/17, annex")
    files.raw(files.rel(original["id"]), events.encode(original))
    meeting = original["id"]
    first = files.put(10, "event.corrected", {"target": meeting, "set": {
        "summary": "Met the customs people in Brussels.", "occurred": "2009-03-16/2009-03-20",
        "data.title": "HS Committee, 43rd session"}, "reason": "Details."})
    second = files.put(11, "event.corrected", {"target": meeting, "set": {
        "data.title": "HS Committee, 44th session", "data.role": "presenter",
        "orgs": ["wco", "wto"], "documents": [{"symbol": "NC1234"}]}, "reason": "Details."})
    refused = files.put(12, "event.corrected", {"target": meeting, "set": {
        "data.role": "dancer"}, "reason": "Wrong."})
    order = [files.path(second), files.path(meeting), files.path(refused), files.path(first),
             files.path(ulid(2)), files.path(ulid(1))]
    db = applied(files.root, tmp_path / "inc.db", order)

    current = row(db, "events", "id = ?", meeting)
    for name in ("orgs", "mandates", "documents", "data", "corrected_by", "original"):
        current[name] = json.loads(current[name])
    assert current == {
        "id": meeting, "type": "meeting.attended", "occurred": "2009-03-16/2009-03-20",
        "occurred_start": "2009-03-16", "occurred_end": "2009-03-20", "year": 2009,
        "summary": "Met the customs people in Brussels.",
        "title": "HS Committee, 44th session",  # the larger id wins, though applied first
        "orgs": ["wco", "wto"], "mandates": ["IX/11"], "documents": [{"symbol": "NC1234"}],
        "source": "UNEP/CHW/OEWG/7/17, annex",
        "data": {"title": "HS Committee, 44th session", "role": "presenter",
                 "location": {"city": "Brussels", "country": "BE"}},
        "recorded_at": "2024-06-01T00:00:00Z", "recorded_by": BY, "path": files.rel(meeting),
        "target": None, "retracted": 0, "retracted_by": None, "corrected": 1,
        "corrected_by": [first, second],
        "original": original,  # the body as filed, beside the corrected values
        "commit_sha": None, "lang": None,
    }
    assert q(db, "select title, role, occurred, occurred_start, occurred_end, year "
                 "from meetings") == [("HS Committee, 44th session", "presenter",
                                       "2009-03-16/2009-03-20", "2009-03-16", "2009-03-20",
                                       2009)]
    assert q(db, "select * from event_orgs where event_id = ? order by org_key", meeting) == [
        (meeting, "wco"), (meeting, "wto")]
    assert q(db, "select key, first_activity, last_activity, activity_count "
                 "from organizations order by key") == [
        ("wco", "2009-03-16", "2009-03-20", 1), ("wto", "2009-03-16", "2009-03-20", 1)]
    assert problems(db) == [(files.rel(refused), "data.set", q(
        db, "select message from problems")[0][0])]
    assert problems(db)[0][2].startswith(f"would make {meeting} invalid: data.role")
    # the full-text index follows the corrected values
    assert q(db, "select e.id from events_fts join events e on e.rowid = events_fts.rowid "
                 "where events_fts match '\"44th\"'") == [(meeting,)]
    assert q(db, "select rowid from events_fts where events_fts match '\"43rd\"'") == []
    assert snapshot(db) == snapshot(built(files.root, tmp_path / "full.db"))


def test_a_corrected_organization_reads_as_corrected(tmp_path):
    files = Files(tmp_path / "log")
    wco = files.org(1, "wco", category="other", acronym="WC")
    files.put(2, "organization.updated", {"key": "wco", "url": "https://www.wcoomd.org"})
    files.put(3, "event.corrected", {"target": wco, "set": {
        "data.name": "World Customs Organization", "data.acronym": "WCO",
        "data.category": "intergovernmental"}, "reason": "Full name."})
    files.put(4, "activity.noted", orgs=["wco"], occurred="2009-05")
    db = applied(files.root, tmp_path / "inc.db", reversed(files.paths()))
    assert row(db, "organizations", "key = 'wco'") == {
        "key": "wco", "name": "World Customs Organization", "acronym": "WCO",
        "category": "intergovernmental", "group_order": 4, "parent": None,
        "url": "https://www.wcoomd.org", "registered_by": wco,
        "first_activity": "2009-05-01", "last_activity": "2009-05-31", "activity_count": 1}
    assert snapshot(db) == snapshot(built(files.root, tmp_path / "full.db"))


def test_a_retracted_event_stays_in_events_and_leaves_everything_else(tmp_path):
    files = Files(tmp_path / "log")
    files.org(1, "wco")
    meeting = files.put(2, "meeting.attended", {"title": "HS Committee", "role": "observer"},
                        orgs=["wco"], mandates=["IX/11"], occurred="2009-03",
                        summary="Attended the HS Committee.")
    files.put(3, "request.made", {"key": "obs", "to": "wco", "subject": "Observer status"},
              orgs=["wco"], occurred="2008-05", summary="Asked for observer status.")
    granted = files.put(4, "status.changed", {"subject": "obs", "status": "granted"},
                        occurred="2009-01")
    joined = files.put(5, "partnership.joined", {"partnership": "PACE", "role": "member"},
                       orgs=["wco"])
    retractions = [files.put(10 + i, "event.retracted", {"target": t, "reason": "No."})
                   for i, t in enumerate((meeting, granted, joined))]
    # a correction that would break the meeting: moot, and no problem, once it is retracted
    files.put(20, "event.corrected", {"target": meeting, "set": {"data.role": "dancer"},
                                      "reason": "Wrong."})
    db = applied(files.root, tmp_path / "inc.db", reversed(files.paths()))

    assert q(db, "select id, retracted, retracted_by from events where retracted = 1 "
                 "order by id") == [(meeting, 1, retractions[0]), (granted, 1, retractions[1]),
                                    (joined, 1, retractions[2])]
    conn = sqlite3.connect(db)
    try:
        holding = holding_event_ids(conn)
        left = {name: conn.execute(f"select event_id from [{name}] where event_id in (?, ?, ?)",
                                   [meeting, granted, joined]).fetchall() for name in holding}
    finally:
        conn.close()
    assert set(holding) >= {name for name, (columns, _, _) in TABLES.items()
                            if "event_id" in columns and not name.startswith("_")}
    assert {name: rows for name, rows in left.items() if rows} == {}
    assert q(db, "select key, activity_count, first_activity from organizations") == [
        ("wco", 1, "2008-05-01")]
    assert q(db, "select event_id from timeline order by event_id") == [(ulid(3),)]
    assert q(db, "select kind, key, status from open_items") == [("request", "obs", None)]
    assert q(db, "select key, status, status_since from requests") == [("obs", None, None)]
    text = report.markdown(report.build(sqlite3.connect(db), "2008/2009"))
    assert "Asked for observer status." in text
    assert "HS Committee" not in text
    assert problems(db) == []
    assert snapshot(db) == snapshot(built(files.root, tmp_path / "full.db"))


def test_a_retracted_correction_no_longer_applies(tmp_path):
    files = Files(tmp_path / "log")
    event = files.put(1, "activity.noted", summary="Original.")
    fix = files.put(2, "event.corrected", {"target": event, "set": {"summary": "Fixed."},
                                           "reason": "Typo."})
    db = tmp_path / "inc.db"
    with opened(files.root, db) as projection:
        for path in files.paths():
            projection.apply(path)
        assert q(projection, "select summary, corrected from events where id = ?", event) == [
            ("Fixed.", 1)]
        undo = files.put(3, "event.retracted", {"target": fix, "reason": "It was right."})
        projection.apply(files.path(undo))
        assert q(projection, "select id, summary, corrected, corrected_by, retracted "
                             "from events order by id") == [
            (event, "Original.", 0, None, 0), (fix, None, 0, None, 1), (undo, None, 0, None, 0)]
    assert snapshot(db) == snapshot(built(files.root, tmp_path / "full.db"))


def test_a_retracted_retraction_restores_its_target(tmp_path):
    files = Files(tmp_path / "log")
    files.org(1, "wco")
    meeting = files.put(2, "meeting.attended", {"title": "T", "role": "host"}, orgs=["wco"])
    chain = [meeting]
    db = tmp_path / "inc.db"
    with opened(files.root, db) as projection:
        projection.apply(files.path(ulid(1)))
        projection.apply(files.path(meeting))
        seen = []
        for n in range(3):  # retract, retract the retraction, retract that one
            chain.append(files.put(10 + n, "event.retracted", {"target": chain[-1],
                                                               "reason": "No."}))
            projection.apply(files.path(chain[-1]))
            seen.append((q(projection, "select retracted from events where id = ?", meeting),
                         q(projection, "select count(*) from meetings"),
                         q(projection, "select activity_count from organizations")))
        assert seen == [([(1,)], [(0,)], [(0,)]), ([(0,)], [(1,)], [(1,)]),
                        ([(1,)], [(0,)], [(0,)])]
        assert q(projection, "select id, retracted, retracted_by from events where "
                             "type = 'event.retracted' order by id") == [
            (chain[1], 0, None),  # its retraction is retracted
            (chain[2], 1, chain[3]), (chain[3], 0, None)]
    assert snapshot(db) == snapshot(built(files.root, tmp_path / "full.db"))
    # arriving the other way round: the last retraction first
    again = applied(files.root, tmp_path / "reversed.db", reversed(files.paths()))
    assert snapshot(again) == snapshot(db)


def test_the_current_status_is_the_latest_occurred_end_not_the_last_applied(tmp_path):
    files = Files(tmp_path / "log")
    files.org(1, "wto")
    files.put(2, "request.made", {"key": "obs", "to": "wto", "subject": "Observer status"},
              occurred="2008-03")
    statuses = {  # n: (status, occurred); ends: 07-02, 06-30, 07-31, 07-31 (tie), 02-28
        10: ("pending", "2009-03-15/2009-07-02"), 11: ("deferred", "2009-06"),
        12: ("under-consideration", "2009-07-31"), 13: ("granted", "2009-07"),
        14: ("refused", "2009-02"),
    }
    for n, (status, occurred) in statuses.items():
        files.put(n, "status.changed", {"subject": "obs", "status": status},
                  occurred=occurred)
    paths = {n: files.path(ulid(n)) for n in statuses}
    with opened(files.root, tmp_path / "inc.db") as projection:
        current = []
        for n in (1, 2, 13, 12, 10, 11, 14):  # the tie's larger id comes before the smaller
            projection.apply(paths.get(n) or files.path(ulid(n)))
            current.append(q(projection, "select status, status_since from requests"))
        assert current == [[], [(None, None)]] + [[("granted", "2009-07")]] * 5
        # its retraction hands the status back to the one before
        files.put(20, "event.retracted", {"target": ulid(13), "reason": "Not yet."})
        projection.apply(files.path(ulid(20)))
        assert q(projection, "select status, status_since from requests") == [
            ("under-consideration", "2009-07-31")]
        assert q(projection, "select count(*) from statuses where subject = 'obs'") == [(4,)]
    assert snapshot(tmp_path / "inc.db") == snapshot(built(files.root, tmp_path / "full.db"))


@pytest.mark.slow
def test_when_two_events_create_one_key_the_smaller_id_wins(tmp_path):
    files = Files(tmp_path / "log")
    files.org(1, "wco")
    first = files.put(2, "request.made", {"key": "k", "to": "wco", "subject": "First"})
    second = files.put(3, "agreement.signed", {"key": "k", "kind": "mou", "title": "Second",
                                               "parties": ["wco"]})
    revision = files.put(4, "agreement.revised", {"agreement": "k", "change": "More."})
    db = tmp_path / "inc.db"
    with opened(files.root, db) as projection:
        for path in reversed(files.paths()):
            projection.apply(path)
        assert q(projection, "select key, event_id from requests") == [("k", first)]
        assert q(projection, "select key from agreements") == []
        assert problems(db) == sorted([
            (files.rel(second), "data.key",
             f"the key 'k' was already created by {first}: choose another key"),
            (files.rel(revision), "data.agreement",  # the key is a request's, not an MoU's
             "no agreement has the key 'k': record it first or fix the key"),
        ])
        assert problems(db) == sorted(tuple(p.__dict__.values()) for p in check_log(
            files.store))
        # a build, resolving every reference at once, finds the same
        assert snapshot(db) == snapshot(built(files.root, tmp_path / "before.db"))
        # the first one retracted, the key passes to the second
        files.put(5, "event.retracted", {"target": first, "reason": "Duplicate."})
        projection.apply(files.path(ulid(5)))
        assert q(projection, "select key, event_id, revisions from agreements") == [
            ("k", second, 1)]
        assert q(projection, "select key from requests") == []
        assert problems(db) == []
    assert snapshot(db) == snapshot(built(files.root, tmp_path / "full.db"))


# --- rule 5: incremental cost ----------------------------------------------------------------


def background(root: Path, size: int) -> Files:
    """`size` events over ten organizations: meetings, agreements with statuses, corrections
    and retractions; and `quiet`, an organization with the same two events whatever the
    size."""
    files = Files(root)
    for i in range(10):
        files.org(1 + i, f"org{i}")
    files.org(11, "quiet")
    files.put(12, "agreement.signed", {"key": "quiet-mou", "kind": "mou", "title": "MoU",
                                       "parties": ["quiet"]}, orgs=["quiet"])
    for n in range(13, size + 1):
        org = f"org{n % 10}"
        if n % 5 == 0:
            files.put(n, "agreement.signed", {"key": f"mou{n}", "kind": "mou", "title": "MoU",
                                              "parties": [org]}, orgs=[org], occurred="2008")
        elif n % 5 == 1:
            files.put(n, "status.changed", {"subject": f"mou{n - 1}", "status": "accepted"})
        elif n % 5 == 3:
            files.put(n, "event.corrected", {"target": ulid(n - 1), "set": {
                "summary": "Corrected."}, "reason": "Typo."})
        elif n % 10 == 9:
            files.put(n, "event.retracted", {"target": ulid(n - 2), "reason": "No."})
        else:
            files.put(n, "meeting.attended", {"title": f"Meeting {n}", "role": "observer"},
                      orgs=[org], occurred=f"{2000 + n % 10}-0{1 + n % 9}")
    return files


def cost(tmp_path: Path, size: int) -> list[tuple[int, int]]:
    """(SQL statements, hundreds of SQLite VM steps) to apply each of a few kinds of new
    file to a projection of `size` events. Statements are ours, not those SQLite runs inside
    the full-text index (traced with a leading "--"), whose merges come and go."""
    files = background(tmp_path / f"log{size}", size)
    new = [
        lambda n: files.put(n, "meeting.attended", {"title": "New", "role": "host"},
                            orgs=["quiet"], mandates=["IX/11"]),
        lambda n: files.put(n, "status.changed", {"subject": "quiet-mou", "status": "ended"}),
        lambda n: files.put(n, "event.corrected", {"target": ulid(12), "set": {
            "data.title": "Corrected"}, "reason": "Typo."}),
        lambda n: files.put(n, "event.retracted", {"target": ulid(n - 3), "reason": "No."}),
        lambda n: files.put(n, "activity.noted", orgs=["nobody"]),
    ]
    out = []
    with opened(files.root, tmp_path / f"cost{size}.db") as projection:
        projection.build()
        for i, make in enumerate(new):
            path = files.path(make(10_000 + i))
            statements, steps = [], []
            projection.conn.set_trace_callback(statements.append)
            projection.conn.set_progress_handler(lambda steps=steps: steps.append(1), 100)
            try:
                assert projection.apply(path) is True
            finally:
                projection.conn.set_trace_callback(None)
                projection.conn.set_progress_handler(None, 0)
            out.append((sum(not s.startswith("--") for s in statements), len(steps)))
    return out


@pytest.mark.slow
def test_one_new_file_costs_the_same_with_50_or_1000_events(tmp_path):
    small, large = cost(tmp_path, 50), cost(tmp_path, 1000)
    assert [s for s, _ in large] == [s for s, _ in small]  # statements: exactly the same
    # work: about the same for 20 times the log (the full-text index's merges come and go;
    # without the index on events.target, a retraction's lookups alone triple it)
    assert sum(s for _, s in large) <= 1.5 * sum(s for _, s in small), (small, large)
    for (_, few), (_, many) in zip(small, large, strict=True):
        assert many <= 2 * few + 10, (small, large)


# --- the command, and catching up ----------------------------------------------------------


def test_cooplog_build_rebuilds_the_database_from_the_files(tmp_path, cli):
    files = varied_log(tmp_path / "log")
    db = files.root / ".cooplog" / "cooplog.db"
    stray = files.put(30, "activity.noted", summary="Gone before the build.")
    applied(files.root, db, [files.path(stray)])
    files.path(stray).unlink()  # the database still has it; a build must not

    result = cli(files.root, "build")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"12 file(s) into {db}; 1 problem(s)\n"
    assert snapshot(db) == snapshot(built(files.root, tmp_path / "other.db"))
    assert q(db, "select count(*) from events where id = ?", stray) == [(0,)]


@pytest.mark.slow
def test_catching_up_after_files_came_and_went_while_stopped_equals_a_build(tmp_path):
    files = varied_log(tmp_path / "log")
    db = built(files.root, tmp_path / "cooplog.db")
    # stopped: a retraction and the bad file go, a correction and an organization come
    files.path(ulid(11)).unlink()
    (files.root / f"events/2024/06/{ulid(12)}.json").unlink()
    files.put(20, "event.corrected", {"target": ulid(4), "set": {"occurred": "2008-07"},
                                      "reason": "Month."})
    files.org(21, "unep", category="unep")
    with opened(files.root, db) as projection:
        assert projection.catch_up() == {"applied": 2, "removed": 2}
        assert projection.catch_up() == {"applied": 0, "removed": 0}
    assert snapshot(db) == snapshot(built(files.root, tmp_path / "fresh.db"))
    assert q(db, "select id, retracted from events where id = ?", ulid(10)) == [(ulid(10), 0)]
    assert q(db, "select key, occurred from agreements") == [("mou", "2008-07")]
    assert problems(db) == []


def test_a_build_reads_in_other_processes_only_a_large_log_from_one_thread(monkeypatch):
    import threading

    from cooplog import projection

    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert projection._readers(projection.PARALLEL_FROM - 1) == 1
    assert projection._readers(projection.PARALLEL_FROM) == projection.READERS
    monkeypatch.setattr(threading, "active_count", lambda: 2)  # e.g. the watcher's rebuild
    assert projection._readers(10 * projection.PARALLEL_FROM) == 1


def test_a_build_leaves_the_cycle_collector_as_it_found_it(store, db, monkeypatch):
    import gc

    from cooplog import projection

    seen = []
    real = projection._read_all

    def watched(*args):
        seen.append(gc.isenabled())
        yield from real(*args)

    monkeypatch.setattr(projection, "_read_all", watched)
    projection_ = Projection(store, db)
    try:
        assert gc.isenabled()
        projection_.build()
        assert gc.isenabled() and seen == [False]
        gc.disable()
        projection_.build()
        assert not gc.isenabled()
    finally:
        gc.enable()
        projection_.close()
