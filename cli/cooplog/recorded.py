"""The log as its database recorded it, with the files it has not recorded: what `add`'s
checks ask instead of reading every file (seconds on a large log), and only while the files
that the answer rests on are shown to be as the database recorded them; and which month
folders `report`'s catch-up need not list.

A file written, brought by git, removed or renamed changes its folder, and so the folder's
ctime, which (unlike its mtime) no program can set back: only the folders changed since the
files were last listed for the database (`_state.listed_at`, set by a build and a catch-up)
are listed, and each file in them is compared with its record. A file rewritten in place
changes no folder: the files an answer came from (and the corrections and retractions of
their events) are compared one by one, and for the catch-up, git names the committed files
rewritten. Whatever differs, and a correction or retraction the database has not recorded,
sends `add`'s checks to the files.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterable
from contextlib import closing
from pathlib import Path
from typing import TypeVar

from . import events
from .store import Store, default_db, read_only

T = TypeVar("T")

# File systems whose times are coarse, and a write under way while the files were listed.
MARGIN_NS = 2_000_000_000
AMENDING = ("event.corrected", "event.retracted")
LISTED_AT = "listed_at"  # the `_state` row: when the files were last listed, in ns
MONTHS = "[0-9][0-9][0-9][0-9]/[0-9][0-9]"


class Stale(Exception):
    """The database differs from the files where it matters: ask the files."""


def consult(store: Store, db: Path | None,
            ask: Callable[[object], tuple[T, Iterable[str]]]
            ) -> tuple[T, list[events.Event]] | None:
    """`ask(conn)`'s answer from the log's database (or `db`), with the valid events of the
    files it has not recorded. `ask` returns its answer and the ids of the events it rests
    on. None when there is no built database of cooplog's to ask, or it cannot answer for
    the files."""
    db = Path(db) if db else default_db(store.root)
    if not db.is_file():
        return None  # a log with no database: sqlite3 stays out of add's start-up
    import sqlite3

    from .database import marked

    if not marked(db):
        return None
    try:
        with closing(read_only(db)) as conn:
            if not conn.execute("select 1 from _files limit 1").fetchone():
                return None  # a database never built
            unrecorded = _unrecorded(store, conn)
            answer, resting_on = ask(conn)
            _unaffected(conn, unrecorded, _unchanged(store, conn, resting_on))
            return answer, unrecorded
    except (Stale, sqlite3.Error):
        return None


def listed(conn, began_ns: int) -> None:
    """Record that the files were listed for the database from `began_ns` on (in the
    transaction that applies what the listing found)."""
    conn.execute("insert or replace into _state (name, value) values (?, ?)",
                 [LISTED_AT, str(began_ns)])


def rewritten(store: Store, conn) -> set[str] | None:
    """The month folders of event files that git sees changed since the last commit the
    database recorded, in commits or in the working tree: a committed file rewritten in
    place (the hook skipped, or not yet committed) changed no folder. None when git cannot
    tell (no commit recorded in a repository that has some, or one git no longer has)."""
    from . import gitops

    last = conn.execute("select value from _state where name = 'last_commit'").fetchone()
    try:  # outside a git repository, git says so
        head = gitops.run(store.root, "rev-parse", "--verify", "-q", "HEAD", check=False)
        if head.returncode != 0:
            return set()  # not a repository, or no commit yet: nothing committed to rewrite
        if last is None:
            return None
        found = gitops.run(store.root, "diff", "--name-only", "-z", "--relative", last[0],
                           "--", "events/", check=False)
    except FileNotFoundError:  # no git: the log still works, uncommitted
        return set()
    if found.returncode != 0:
        return None
    return {name[:15] for name in found.stdout.split("\0") if name.count("/") == 3}


def settled(store: Store, conn) -> set[str]:
    """The month folders (`events/YYYY/MM/`) that nothing was added to, removed from or
    renamed in since the files were last listed for the database, and that hold no folder:
    their files are as it recorded them, but for one rewritten in place."""
    listed = conn.execute("select value from _state where name = ?", [LISTED_AT]).fetchone()
    if listed is None:
        return set()
    since = int(listed[0]) - MARGIN_NS
    found = set()
    for month in store.events_dir.glob(MONTHS):
        try:
            status = month.lstat()
        except OSError:
            continue
        # two links: its own name and its "."; each folder inside adds its ".."
        if stat.S_ISDIR(status.st_mode) and status.st_nlink == 2 and status.st_ctime_ns < since:
            found.add(store.relpath(month) + "/")
    return found


def _unrecorded(store: Store, conn) -> list[events.Event]:
    """The valid events of the files the database has not recorded, from the month folders
    not settled (Stale if a recorded file in them changed or went)."""
    skip = settled(store, conn)
    found = []
    for month in sorted(store.events_dir.glob(MONTHS)):
        if store.relpath(month) + "/" in skip:
            continue
        try:
            entries = [(entry.name, entry.stat(follow_symlinks=False))
                       for entry in os.scandir(month) if entry.name.endswith(".json")]
        except OSError:
            continue
        folder = store.relpath(month) + "/"
        recorded = {path: (size, mtime) for path, size, mtime in conn.execute(
            "select path, size, mtime_ns from _files where path >= ? and path < ?",
            [folder, folder[:-1] + "0"]) if "/" not in path[len(folder):]}
        for name, status in entries:
            record = recorded.pop(folder + name, None)
            if record == (status.st_size, status.st_mtime_ns):
                continue
            if record is not None:
                raise Stale(folder + name)
            try:
                event = store.read(month / name)
            except (events.Invalid, OSError):
                continue  # not an event: `validate`'s business, as for the full read
            if _amended(conn, event.id):
                raise Stale(folder + name)  # what that does is the database's to work out
            found.append(event)
        if recorded:
            raise Stale(next(iter(recorded)))
    return found


def _amended(conn, event_id: str) -> bool:
    """Whether a recorded correction or retraction targets this id (one that came before
    its target, as a merge may bring them)."""
    return conn.execute(
        "select 1 from events where target = ? and type in (?, ?) limit 1",
        [event_id, *AMENDING]).fetchone() is not None


def _unchanged(store: Store, conn, ids: Iterable[str]) -> set[str]:
    """These events with every correction and retraction of them (and of those, in turn);
    Stale unless their files are as recorded."""
    rows = conn.execute(
        "with recursive resting(id) as (select value from json_each(?) union "
        "select e.id from events e join resting r on e.target = r.id where e.type in (?, ?)) "
        "select r.id, f.path, f.size, f.mtime_ns from resting r "
        "left join _files f on f.event_id = r.id",
        [json.dumps(sorted(set(ids))), *AMENDING]).fetchall()
    for _, path, size, mtime_ns in rows:
        if path is None:
            continue  # an id the database does not hold: nothing rests on it
        try:
            status = os.lstat(store.root / path)
        except OSError:
            raise Stale(path) from None
        if (status.st_size, status.st_mtime_ns) != (size, mtime_ns):
            raise Stale(path)
    return {event_id for event_id, *_ in rows}


def _unaffected(conn, unrecorded: list[events.Event], resting: set[str]) -> None:
    """Stale if a correction or retraction the database has not recorded may change the
    answer: one of an event it rests on or of another unrecorded event, a retraction of a
    correction or retraction (which may restore anything), a correction of a key."""
    ids = {event.id for event in unrecorded}
    for event in unrecorded:
        if event.type not in AMENDING:
            continue
        target = event.data["target"]
        if target in resting or target in ids:
            raise Stale(event.id)
        if event.type == "event.retracted" and conn.execute(
                "select 1 from events where id = ? and type in (?, ?)",
                [target, *AMENDING]).fetchone():
            raise Stale(event.id)
        if event.type == "event.corrected" and any(
                name.startswith("data.key") for name in event.data["set"]):
            raise Stale(event.id)
