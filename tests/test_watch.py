"""The watcher (cooplog.watch.Watcher) with the real watchdog observers, in a temporary log:
notifications apply files as they come, a start catches up with whatever changed while
stopped, and the periodic reconciliation heals notifications that never arrived. Every test
stops and joins its watcher; none may leave its worker (`cooplog-watch`) or its reconciler
(`cooplog-reconcile`) behind."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from ulid import ULID

from cooplog import events, lease, watch
from cooplog.projection import Projection
from cooplog.store import Store

TIMEOUT = 20.0
QUIET = 600.0  # a reconciliation period no test outlives: only notifications can help


@pytest.fixture(autouse=True)
def no_thread_left_behind():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while True:
        left = [t for t in threading.enumerate() if t.is_alive() and t not in before]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not [t for t in threading.enumerate()
                if t.name in ("cooplog-watch", "cooplog-reconcile")]
    assert not left, f"threads left running: {left}"


# --- helpers --------------------------------------------------------------------------------


def new_ids(count: int, when: datetime | None = None) -> list[str]:
    first = ULID.from_datetime(when) if when else ULID()
    return [str(ULID.from_int(int(first) + i)) for i in range(count)]


def body(event_id: str, summary: str | None = None) -> dict:
    recorded = ULID.from_str(event_id).datetime.astimezone(timezone.utc)
    return {"id": event_id, "type": "activity.noted", "schema": 1,
            "recorded_at": recorded.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "recorded_by": "watch@example.org", "occurred": "2009",
            "summary": summary or f"Activity {event_id}.", "orgs": [], "data": {}}


def write(store: Store, event_id: str, summary: str | None = None) -> Path:
    """An event file, as `cooplog add` writes one (atomically)."""
    return store.write(events.validate(body(event_id, summary)))


def drop(store: Store, event_id: str) -> Path:
    """An event file written in place, without ceremony (as a copy or a checkout would)."""
    path = store.path_for(event_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(events.encode(body(event_id)))
    return path


def query(db: Path, sql: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def wait_for(db: Path, sql: str, predicate, params=(), timeout: float = TIMEOUT,
             what: str = "") -> list[tuple]:
    """Poll the database (a separate connection) until predicate(rows) holds."""
    deadline = time.monotonic() + timeout
    while True:
        rows = query(db, sql, params)
        if predicate(rows):
            return rows
        if time.monotonic() > deadline:
            pytest.fail(f"after {timeout} s, {what or sql} still fails; last rows: {rows[:5]}")
        time.sleep(0.05)


def wait_for_healed(db: Path, watcher, count: int, timeout: float = TIMEOUT) -> None:
    """`status.healed` is counted once the rows healed are committed: wait for it too."""
    wait_for(db, "select 1", lambda rows: watcher.status.healed >= count, timeout=timeout,
             what=f"status.healed reaching {count}")


def event_ids(db: Path) -> set[str]:
    return {i for (i,) in query(db, "select id from events")}


def wait_for_ids(db: Path, expected: set[str], timeout: float = TIMEOUT) -> None:
    wait_for(db, "select id from events", lambda rows: {i for (i,) in rows} == expected,
             timeout=timeout, what=f"events == {len(expected)} expected ids")


def problems(db: Path) -> set[str]:
    return {p for (p,) in query(db, "select path from problems")}


@contextlib.contextmanager
def watching(store: Store, db: Path, **options):
    options.setdefault("reconcile_every", QUIET)
    watcher = watch.Watcher(store, db, **options)
    with watcher:
        assert watcher.status.alive
        yield watcher
    assert not watcher.status.alive


def events_rows(db: Path) -> list[tuple]:
    return query(db, "select * from events order by id")


def fresh_build(store: Store, db: Path) -> Path:
    other = db.parent / "fresh.db"
    other.unlink(missing_ok=True)
    projection = Projection(store, other)
    try:
        projection.build()
    finally:
        projection.close()
    return other


# --- notifications ----------------------------------------------------------------------------


@pytest.mark.slow  # 2,000 files through the real observer
def test_a_burst_of_2000_files_all_arrive(store, db):
    ids = new_ids(2000)
    files = [(store.path_for(i), events.encode(body(i))) for i in ids]
    files[0][0].parent.mkdir(parents=True)  # so that only file notifications tell
    with watching(store, db) as w:
        for path, raw in files:  # all at once, as a checkout writes them
            path.write_bytes(raw)
        wait_for(db, "select count(*) from events", lambda rows: rows[0][0] == 2000,
                 timeout=40, what="2,000 events")
        assert event_ids(db) == set(ids)
        assert query(db, "select count(*) from problems") == [(0,)]
        assert w.status.errors == []
        assert w.status.healed == 0  # every one of them came by notification


def test_a_file_moved_in_from_outside_arrives(store, db, tmp_path):
    (event_id,) = new_ids(1)
    outside = tmp_path / "outside"
    outside.mkdir()
    staged = outside / f"{event_id}.json"
    staged.write_bytes(events.encode(body(event_id)))
    store.path_for(event_id).parent.mkdir(parents=True)
    with watching(store, db) as w:
        os.rename(staged, store.path_for(event_id))
        wait_for_ids(db, {event_id})
        assert w.status.healed == 0


@pytest.mark.parametrize("arrival", ["renamed in", "written by add"])
def test_a_whole_file_is_applied_without_the_debounce(store, db, tmp_path, arrival):
    """A file renamed or linked into place is whole: it does not wait out the debounce
    (here longer than any test), which was most of the way from a file to its row."""
    (event_id,) = new_ids(1)
    store.path_for(event_id).parent.mkdir(parents=True)  # so that no rescan finds it
    staged = tmp_path / f"{event_id}.json"
    staged.write_bytes(events.encode(body(event_id)))
    with watching(store, db, debounce=QUIET) as w:
        if arrival == "written by add":
            write(store, event_id)
        else:
            os.rename(staged, store.path_for(event_id))
        wait_for_ids(db, {event_id})
        assert w.status.applied == 1 and w.status.healed == 0


def test_a_file_renamed_inside_events_follows_its_new_name(store, db):
    """A misplaced file renamed to where it belongs: the problem goes, the event stays."""
    (event_id,) = new_ids(1)
    right = store.path_for(event_id)
    wrong = right.parent / f"x{event_id}.json"
    right.parent.mkdir(parents=True)
    wrong.write_bytes(events.encode(body(event_id)))
    with watching(store, db):
        assert problems(db) == {store.relpath(wrong)}
        os.rename(wrong, right)
        wait_for(db, "select path from problems", lambda rows: rows == [],
                 what="the misplaced file's problem goes")
        wait_for(db, "select path from events", lambda rows: rows == [(store.relpath(right),)])


@pytest.mark.slow
def test_a_file_written_slowly_ends_projected_not_a_problem(store, db):
    (event_id,) = new_ids(1)
    path = store.path_for(event_id)
    path.parent.mkdir(parents=True)
    raw = events.encode(body(event_id))
    with watching(store, db) as w:
        with open(path, "wb") as f:
            f.write(raw[: len(raw) // 2])
            f.flush()
            time.sleep(0.3)  # a slow writer, not an assertion
            f.write(raw[len(raw) // 2:])
        wait_for_ids(db, {event_id})
        wait_for(db, "select path from problems", lambda rows: rows == [],
                 what="no problem left for the slowly written file")
        # the half-written file was retried, never applied as a broken file first
        assert w.status.applied == 1
        assert w.status.errors == []


@pytest.mark.slow
def test_a_file_in_a_new_month_folder_arrives(store, db):
    ids = new_ids(3, datetime(2031, 1, 15, tzinfo=timezone.utc))
    with watching(store, db):
        assert not (store.events_dir / "2031").exists()
        for event_id in ids:
            path = write(store, event_id)
            assert store.relpath(path).startswith("events/2031/01/")
        wait_for_ids(db, set(ids))
        assert problems(db) == set()


def test_a_file_deleted_while_running_disappears(store, db):
    keep, gone = new_ids(2)
    write(store, keep)
    path = write(store, gone)
    with watching(store, db):
        assert event_ids(db) == {keep, gone}
        path.unlink()
        wait_for_ids(db, {keep})
    assert query(db, "select path from _files") == [(store.relpath(store.path_for(keep)),)]


@pytest.mark.slow
def test_a_bad_file_stays_a_problem_until_removed(store, db):
    bad_id, good_id = new_ids(2)
    bad = store.path_for(bad_id)
    bad.parent.mkdir(parents=True)
    with watching(store, db):
        bad.write_text('{"id": "' + bad_id + '", "type": ', encoding="utf-8")
        rel = store.relpath(bad)
        wait_for(db, "select path, message from problems", lambda rows: [p for p, _ in rows]
                 == [rel], what="the bad file is a problem")
        (message,) = [m for p, m in query(db, "select path, message from problems")]
        assert message  # in words a person can act on
        write(store, good_id)
        wait_for_ids(db, {good_id})
        assert problems(db) == {rel}  # a new good file fixes nothing about it
        bad.unlink()
        wait_for(db, "select path from problems", lambda rows: rows == [],
                 what="removing the bad file clears its problem")
        assert event_ids(db) == {good_id}


@pytest.mark.slow
def test_the_polling_observer_works(store, db):
    (event_id,) = new_ids(1)
    store.path_for(event_id).parent.mkdir(parents=True)
    with watching(store, db, polling=True) as w:
        write(store, event_id)
        wait_for_ids(db, {event_id})
        assert w.status.healed == 0


# --- catching up ------------------------------------------------------------------------------


def test_a_restart_catches_up_with_what_changed_while_stopped(store, db):
    ids = new_ids(6)
    for event_id in ids[:4]:
        write(store, event_id)
    with watching(store, db):
        assert event_ids(db) == set(ids[:4])
    # stopped: two files added (one in a new month), two removed
    later = new_ids(1, datetime(2031, 2, 1, tzinfo=timezone.utc))
    for event_id in ids[4:] + later:
        write(store, event_id)
    for event_id in ids[:2]:
        store.path_for(event_id).unlink()
    with watching(store, db):
        # start() returns once caught up: no waiting needed
        assert event_ids(db) == set(ids[2:] + later)
        assert events_rows(db) == events_rows(fresh_build(store, db))


@pytest.mark.slow
def test_stop_joins_even_with_work_pending(store, db):
    ids = new_ids(300)
    store.path_for(ids[0]).parent.mkdir(parents=True)
    w = watch.Watcher(store, db, reconcile_every=QUIET)
    w.start()
    try:
        for event_id in ids:
            drop(store, event_id)
    finally:
        started = time.monotonic()
        w.stop()
    assert time.monotonic() - started < 10
    assert not w.status.alive
    # whatever it had not applied, the next start catches up with
    with watching(store, db):
        assert event_ids(db) == set(ids)


# --- reconciliation ---------------------------------------------------------------------------


@pytest.fixture
def blind(monkeypatch):
    """A handler that hears nothing, as when the kernel's queue overflows."""
    monkeypatch.setattr(watch._Handler, "on_any_event", lambda self, event: None)


@pytest.mark.slow  # waits out reconciliations, a second each
@pytest.mark.parametrize("already", [0, 2], ids=["empty-log", "log-with-files"])
def test_dropped_notifications_are_healed_by_reconciliation(store, db, blind, caplog, already):
    old = new_ids(already)
    for event_id in old:
        write(store, event_id)
    every = 1.0
    with caplog.at_level(logging.WARNING, logger="cooplog.watch"):
        with watching(store, db, reconcile_every=every) as w:
            assert event_ids(db) == set(old)
            (event_id,) = new_ids(1)
            write(store, event_id)
            written = time.monotonic()
            wait_for_ids(db, {*old, event_id}, timeout=every + 10)
            assert time.monotonic() - written < every + 5
            wait_for_healed(db, w, 1, timeout=5)
            if old:  # a removal no notification reported is healed too
                store.path_for(old[0]).unlink()
                wait_for_ids(db, {*old[1:], event_id}, timeout=every + 10)
    warnings = [r for r in caplog.records
                if r.name == "cooplog.watch" and r.levelno == logging.WARNING]
    assert warnings, "reconciliation healed a change silently"
    assert "reconciliation" in warnings[0].getMessage()


def hold_up_walks(store: Store, monkeypatch) -> tuple[threading.Event, threading.Event]:
    """From now on, a walk over the log (the reconciler's) waits once it starts until
    released: (started, release)."""
    walking, release = threading.Event(), threading.Event()
    entries = store.entries

    def held_up(*skip):
        walking.set()
        release.wait(2 * TIMEOUT)
        yield from entries(*skip)

    monkeypatch.setattr(store, "entries", held_up)
    return walking, release


@pytest.mark.slow  # a reconciliation held open while files arrive
@pytest.mark.parametrize("how", ["periodic", "rescan"])
def test_files_are_applied_while_a_reconciliation_walks_the_log(store, db, monkeypatch,
                                                               caplog, how):
    """The walk over every file runs beside the worker: a file notified while a (here held
    up) walk is under way is applied before the walk ends, and, as a notification applied
    it, the walk that finds it too counts nothing healed."""
    ids = new_ids(2001)
    old, late = ids[:-1], ids[-1]
    for event_id in old:
        drop(store, event_id)
    every = 0.5 if how == "periodic" else QUIET
    with caplog.at_level(logging.WARNING, logger="cooplog.watch"), \
            watching(store, db, reconcile_every=every) as w:
        assert len(event_ids(db)) == len(old)
        walking, release = hold_up_walks(store, monkeypatch)
        if how == "rescan":
            (store.events_dir / "2031").mkdir()  # a new year's folder asks for one
        try:
            assert walking.wait(TIMEOUT), "no reconciliation started"
            before = w.status.last_reconcile_at
            write(store, late)
            wait_for_ids(db, {*old, late}, timeout=10)
            assert not release.is_set()  # the walk has not ended yet
        finally:
            release.set()
        wait_for(db, "select 1", lambda rows: w.status.last_reconcile_at > before, timeout=10,
                 what="the reconciliation ends")
        assert w.status.healed == 0
        assert w.status.errors == []
    assert not [r for r in caplog.records if "reconciliation" in r.getMessage()]


@pytest.mark.slow  # waits out two reconciliations
def test_a_failed_reconciliation_is_reported_and_the_next_one_heals(store, db, blind,
                                                                    monkeypatch):
    (event_id,) = new_ids(1)
    calls = []
    entries = store.entries

    def failing_once(*skip):
        calls.append(1)
        if len(calls) == 1:
            raise OSError(errno.EIO, "Input/output error")
        yield from entries(*skip)

    with watching(store, db, reconcile_every=0.3) as w:
        monkeypatch.setattr(store, "entries", failing_once)
        write(store, event_id)  # unheard: only a reconciliation finds it
        wait_for_ids(db, {event_id})
        assert any(e.startswith("reconciliation:") for e in w.status.errors)
        wait_for_healed(db, w, 1)
        assert w.status.healed == 1
        assert w.status.alive


@pytest.mark.slow
def test_a_reconciliation_finding_many_files_rebuilds_once(store, db, blind, monkeypatch,
                                                          caplog):
    """More than BULK files missed, and more than a quarter of the log: one rebuild."""
    (first,) = new_ids(1)
    write(store, first)
    missed = new_ids(watch.BULK + 200, datetime(2030, 5, 1, tzinfo=timezone.utc))
    with caplog.at_level(logging.INFO, logger="cooplog.watch"), \
            watching(store, db, reconcile_every=0.3) as w:
        _, release = hold_up_walks(store, monkeypatch)
        try:
            for event_id in missed:  # unheard, all found by the same walk
                drop(store, event_id)
        finally:
            release.set()
        wait_for_ids(db, {first, *missed})
        wait_for_healed(db, w, len(missed))
        assert w.status.healed == len(missed)
        assert w.status.errors == []
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("rebuilt the database") for m in messages) == 1
    assert any(f"the rebuild found {len(missed)} file(s)" in m for m in messages)


# --- the lease: whether a watcher keeps the database in step ---------------------------------


def test_a_running_watcher_holds_the_lease_and_a_second_takes_none(store, db):
    assert not lease.kept_in_step(db)
    with watching(store, db):
        assert lease.kept_in_step(db)
        with watching(store, db):  # serve twice on one database: the first holds it
            assert lease.kept_in_step(db)
        assert lease.kept_in_step(db)
    assert not lease.kept_in_step(db)


def test_report_reads_what_a_running_watcher_keeps_without_its_own_catch_up(
        store, db, cli, monkeypatch):
    org, first, second, third = new_ids(4)
    store.write(events.validate({**body(org), "type": "organization.registered",
                                 "occurred": None, "summary": None,
                                 "data": {"key": "wco", "name": "The WCO",
                                          "category": "intergovernmental"}}))

    def activity(event_id: str) -> None:
        store.write(events.validate({**body(event_id), "orgs": ["wco"]}))

    def reported() -> set[str]:
        result = cli(store.root, "--db", db, "report", "--period", "2009", "--json")
        assert result.exit_code == 0, result.output
        return {a["event_id"] for g in json.loads(result.stdout)["groups"]
                for o in g["organizations"] for a in o["activities"]}

    activity(first)
    with watching(store, db):
        activity(second)
        wait_for_ids(db, {org, first, second})
        with monkeypatch.context() as patch:
            patch.setattr(Projection, "catch_up", lambda self: pytest.fail("caught up"))
            assert reported() == {first, second}
    activity(third)  # no watcher now: the report catches up itself
    assert reported() == {first, second, third}
