"""The SQLite projection: a function of the files under events/ alone.

A file is *ingested* (its original body becomes an `events` row, or its problems are
recorded) and then every event it affects is *refreshed*: its retraction and corrections are
resolved from the other rows, and its rows in the derived tables are rewritten. Nothing
depends on the order files arrive in, so applying them one by one, in any order, ends where
a full `build` does. Each file is applied in one transaction together with its `_files`
record (path, size, sha256) saying it was.
"""

from __future__ import annotations

import gc
import hashlib
import json
import multiprocessing
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import msgspec
import sqlite_utils

from . import database, dates, events, places, recorded
from .errors import CooplogError
from .resolution import CORRECTION, RETRACTION, Resolved, organization, resolve
from .schema import (
    FIRST_CREATORS,
    FTS_TABLES,
    TABLES,
    ensure_shape,
    new_change_epoch,
    ref_resolved,
    sql_list,
)
from .store import Store, contents

# A build reads files in this many processes (chunks of CHUNK files) when there are at
# least PARALLEL_FROM of them; fewer are read sooner than the processes start.
READERS = min(os.cpu_count() or 1, 4)
CHUNK = 500
# The parts a large build's files are read in, each into a SQLite file attached while the
# build lasts (SQLite attaches at most 10 databases, and lets one go only once the
# transaction that read it ends).
SPOOLS = 8
PARALLEL_FROM = 2000


class _Columns(dict):
    """Each table's column names in order, read from TABLES when first asked (so a table
    declared later, as a test's new type does, has them too)."""

    def __missing__(self, table: str) -> tuple[str, ...]:
        self[table] = tuple(TABLES[table][0])
        return self[table]


COLUMNS = _Columns()
TARGET_INDEX = "idx_events_target_type"  # sqlite-utils' name for INDEXES' events(target, type)
# Organizations' activity figures leave these types out: they are the organizations' own.
NOT_ORG_ACTIVITY = sql_list(events.ORGANIZATION_TYPES)
CATEGORY_ORDER = {c: i for i, c in enumerate(events.CATEGORIES, start=1)}


def open_db(path: Path) -> sqlite_utils.Database:
    """The database at `path`, in cooplog's shape (`database.claim` it first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(path)
    db.execute("pragma busy_timeout = 10000")
    ensure_shape(db)
    return db


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dumps(value) -> str | None:
    return None if value in (None, [], {}) else msgspec.json.encode(value).decode()


# --- rows derived from one current event, by type ---------------------------------------


@dataclass
class Rows:
    """Rows to insert, by table, as tuples in the table's column order (cheap to send
    from a reading process and to insert)."""

    tables: dict[str, list[tuple]] = field(default_factory=dict)

    def add(self, table: str, **row) -> None:
        self.tables.setdefault(table, []).append(tuple(map(row.get, COLUMNS[table])))

    def extend(self, more: Rows) -> None:
        for table, items in more.tables.items():
            self.tables.setdefault(table, []).extend(items)


def _when(event: events.Event) -> dict:
    if event.occurred is None:
        return {"occurred": None, "occurred_start": None, "occurred_end": None}
    start, end = dates.parse(event.occurred)
    return {"occurred": event.occurred, "occurred_start": start.isoformat(),
            "occurred_end": end.isoformat()}


def own_rows(event: events.Event, rows: Rows) -> None:
    """The rows its type declares: the key it creates or updates, its own table's row."""
    spec = event.spec
    if spec.creates or spec.updates_org:
        org = spec.registers_org or spec.updates_org
        rows.add("_keys", namespace="org" if org else "entity", key=event.data["key"],
                 kind="organization" if org else spec.creates,
                 role="update" if spec.updates_org else "create", event_id=event.id)
    if spec.table:
        when = _when(event)
        year = int(when["occurred_start"][:4]) if when["occurred_start"] else None
        own = spec.row(msgspec.convert(event.data, spec.data), event)
        rows.add(spec.table, **{**when, "year": year, **_encoded(own), "event_id": event.id})


def _encoded(columns: dict) -> dict:
    """Lists and objects as JSON text (empty ones as null), as every table holds them."""
    return {name: _dumps(value) if isinstance(value, list | dict) else value
            for name, value in columns.items()}


def derived_tables() -> tuple[str, ...]:
    """The tables holding rows of current events alone, cleared when one is refreshed: those
    of every event, and each type's own."""
    return ("event_orgs", "mandates", "_keys", "_refs",
            *dict.fromkeys(spec.table for spec in events.TYPES.values() if spec.table))


def references(event: events.Event, rows: Rows) -> None:
    for where, key in events.org_references(event):
        rows.add("_refs", event_id=event.id, field=where, namespace="org", key=key,
                 kinds="organization")
    for where, key, kinds in events.entity_references(event):
        rows.add("_refs", event_id=event.id, field=where, namespace="entity", key=key,
                 kinds=",".join(kinds))
    if event.spec.targets:
        rows.add("_refs", event_id=event.id, field="data.target", namespace="event",
                 key=event.data["target"], kinds="event")


def current_rows(event: events.Event, rows: Rows) -> None:
    """Everything a current (not retracted) event puts in the derived tables."""
    references(event, rows)
    if event.spec.amends:
        return
    for org in dict.fromkeys(event.orgs):
        rows.add("event_orgs", event_id=event.id, org_key=org)
    for mandate in dict.fromkeys(event.mandates):
        rows.add("mandates", event_id=event.id, mandate=mandate)
    own_rows(event, rows)


def event_columns(event: events.Event) -> dict:
    """The `events` columns that show an event's current (corrected) values."""
    when = _when(event)
    data = event.data
    spec = event.spec
    return {
        "type": event.type, **when,
        "year": int(when["occurred_start"][:4]) if when["occurred_start"] else None,
        "summary": event.summary, "title": data.get(spec.title), "orgs": _dumps(event.orgs),
        "mandates": _dumps(event.mandates),
        "documents": _dumps(event.documents),
        "source": event.source, "data": _dumps(data) or "{}",
        "recorded_at": event.recorded_at, "recorded_by": event.recorded_by,
        "target": data.get("target") if spec.targets else None,
        "lang": event.lang,
    }


# --- resolving retractions and corrections -------------------------------------------------


class Lookups:
    """What resolving one event needs to know about the others, from the database (the
    `resolution.Source` of the projection)."""

    def __init__(self, conn):
        self.conn = conn

    def retractions_of(self, event_id: str) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "select id from events where target = ? and type = ? order by id",
            [event_id, RETRACTION])]

    def corrections_of(self, event_id: str) -> list[events.Event]:
        return [_event(r[0]) for r in self.conn.execute(
            "select original from events where target = ? and type = ? order by id",
            [event_id, CORRECTION])]


def _claimed_id(raw: bytes) -> str | None:
    """The id an invalid file's body gives itself, if it is one."""
    try:
        claim = events.decode(raw).get("id")
    except events.Invalid:
        return None
    return claim if isinstance(claim, str) and events.ULID_RE.fullmatch(claim) else None


def _event(original: str) -> events.Event:
    return msgspec.json.decode(original, type=events.Event)


def _original_row(event: events.Event, rel: str, commit_sha: str | None = None) -> dict:
    """The `events` row of an event as recorded; resolving may later change it."""
    return {"id": event.id, **event_columns(event), "path": rel, "retracted": 0,
            "retracted_by": None, "corrected": 0, "corrected_by": None,
            "original": msgspec.json.encode(event).decode(), "commit_sha": commit_sha}


# --- reading files ----------------------------------------------------------------------------


@dataclass
class Examined:
    """One file as read: its sha256 (None if unreadable), its event if valid, and the
    bookkeeping rows that record it."""

    sha: str | None
    event: events.Event | None
    rows: Rows


def examine(store: Store, path: Path | str, rel: str, stat, applied_at: str) -> Examined:
    """Read and check one file: its bookkeeping rows, and its event if it is one."""
    raw = event = claim = None
    problems: list[tuple[str, str]] = []
    unreadable = False
    try:
        if stat is None:
            stat = os.lstat(path)
        raw = contents(path, stat)
    except OSError as e:
        unreadable = True  # no mtime is recorded: a chmod changes none, yet may fix it
        problems = [("", f"cannot be read ({e.strerror}): check its permissions")]
    except events.Invalid as e:  # too large: named unread
        problems = e.problems
    if raw is not None:
        try:
            event = store.parse(path, raw, stat.st_mode)
        except events.Invalid as e:
            problems = e.problems
            claim = _claimed_id(raw)
    sha = hashlib.sha256(raw).hexdigest() if raw is not None else None
    rows = Rows()
    rows.add("_files", path=rel, size=stat.st_size if stat else None,
             mtime_ns=stat.st_mtime_ns if stat and not unreadable else None, sha256=sha,
             event_id=event.id if event else None, _applied_at=applied_at)
    for field_, message in problems:
        rows.add("_file_problems", path=rel, field=field_, message=message)
    if claim:
        rows.add("_claims", path=rel, event_id=claim)
    return Examined(sha, event, rows)


@dataclass
class Chunk:
    """Files as the full build needs them: the rows of each (its bookkeeping always, and the
    rows of its event as recorded), by table, and the targets of the corrections and
    retractions among them: one list per table, not one per file, each inserted with one
    `executemany`."""

    rows: dict[str, list[tuple]]
    targets: list[str]
    files: int


def read_files(root: str, files: list[tuple[str, str]], applied_at: str) -> Chunk:
    """`examine` and the rows as recorded for each (path, relative path). Only the file at
    an id's place can hold that event (`Store.parse`), so no two files give one event."""
    store = Store(root)
    rows, targets = Rows(), []
    for path, rel in files:
        seen = examine(store, path, rel, None, applied_at)
        rows.extend(seen.rows)
        if event := seen.event:
            rows.add("events", **_original_row(event, rel))
            current_rows(event, rows)
            if event.spec.amends:
                targets.append(event.data["target"])
    return Chunk(rows.tables, targets, len(files))


@dataclass
class Spooled:
    """A part of the log read by a reading process into a SQLite file of its own."""

    path: str
    targets: list[str]
    files: int


def spool_files(root: str, files: list[tuple[str, str]], applied_at: str, path: str
                ) -> Spooled:
    """`read_files` for a part of the log, its rows written to a SQLite file at `path` (one
    table each, no index, no journal), for the building process to copy a table at a time
    in SQL: receiving and binding each row there cost it three times as much as the copy,
    on the one core a build writes with."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("pragma journal_mode = off")
        conn.execute("pragma synchronous = off")
        conn.execute("begin")
        made: set[str] = set()
        targets: list[str] = []
        for i in range(0, len(files), CHUNK):
            chunk = read_files(root, files[i:i + CHUNK], applied_at)
            targets += chunk.targets
            for table, items in chunk.rows.items():
                names = COLUMNS[table]
                if table not in made:
                    conn.execute(f"create table [{table}] ({', '.join(map(_quoted, names))})")
                    made.add(table)
                conn.executemany(f"insert into [{table}] values ({', '.join('?' * len(names))})",
                                 _located(items) if table == "meetings" else items)
        conn.execute("commit")
    finally:
        conn.close()
    return Spooled(path, targets, len(files))


def _quoted(name: str) -> str:
    return f"[{name}]"


def _readers(files: int) -> int:
    """How many processes read the files of a build (1: this one). Reading, parsing and
    checking cost as much as writing, so they are done on the other cores meanwhile.
    They are forked, so they start at once and never import the caller's main module again
    (as spawned ones do); but only from a process with one thread: a fork copies no other
    thread, and locks those hold stay held in the copy (the watcher's rebuilds read here)."""
    if files < PARALLEL_FROM or threading.active_count() > 1:
        return 1
    return READERS


def _read_all(store: Store, files: list[tuple[str, str]], applied_at: str) -> Iterator[Chunk]:
    """Every (path, relative path) read here, in chunks, in that order."""
    for i in range(0, len(files), CHUNK):
        yield read_files(str(store.root), files[i:i + CHUNK], applied_at)


def _spool_all(store: Store, files: list[tuple[str, str]], applied_at: str, readers: int,
               folder: str) -> Iterator[Spooled]:
    """Every (path, relative path) read by `readers` forked processes, in SPOOLS parts in
    that order, each spooled to a file in `folder`."""
    size = -(-len(files) // SPOOLS)
    parts = [files[i:i + size] for i in range(0, len(files), size)]
    places.load()  # the readers locate meetings
    with multiprocessing.get_context("fork").Pool(readers) as pool:
        pending = [pool.apply_async(spool_files, (str(store.root), part, applied_at,
                                                  os.path.join(folder, f"{n}.db")))
                   for n, part in enumerate(parts)]
        for result in pending:
            yield result.get()


def compared(store: Store, known: dict[str, tuple[int, int]],
             skip: frozenset[str] | set[str] = frozenset()) -> Iterator[tuple[str, bool]]:
    """Each file's path, and whether its size and mtime are those `known` records for it
    (path -> (size, mtime_ns), from `_files`). A path found is taken out of `known`: what
    is left when the walk ends are the files recorded that are gone. Paths are given as
    strings: a `Path` for each of 100,000 files costs more than their `lstat`s. The folders
    in `skip` are not walked (`known` should hold none of their files)."""
    for entry in store.entries(skip):
        recorded = known.pop(store.relpath(entry.path), None)
        try:
            stat = entry.stat(follow_symlinks=False)
            unchanged = recorded == (stat.st_size, stat.st_mtime_ns)
        except OSError:
            unchanged = False
        yield entry.path, unchanged


def _located(meetings: list[tuple]) -> list[tuple]:
    """Meeting rows with their coordinates, found where rows are written (or spooled, by
    reading processes forked once the gazetteer is loaded: they share its 40 MB)."""
    city, country = COLUMNS["meetings"].index("city"), COLUMNS["meetings"].index("country")
    latitude = COLUMNS["meetings"].index("latitude")
    return [row[:latitude] + (places.locate(row[city], row[country]) or (None, None))
            + row[latitude + 2:] for row in meetings]


# --- the projection -------------------------------------------------------------------------


@dataclass
class Touched:
    """Keys whose rows depend on the events just refreshed."""

    orgs: set[str] = field(default_factory=set)
    entities: set[str] = field(default_factory=set)
    keys: set[tuple[str, str]] = field(default_factory=set)  # (namespace, key) in `_keys`


class Projection:
    def __init__(self, store: Store, db_path: Path | None = None):
        self.store = store
        self.db_path = database.claim(store.root, db_path)
        self.db = open_db(self.db_path)
        self.conn = self.db.conn
        self.files = database.identities(self.db_path)  # the files this connection uses

    def close(self) -> None:
        self.db.close()

    # Applying single files (the watcher, catch-up) -------------------------------------

    def apply(self, path: Path) -> bool:
        """Bring one file's state into the database, in one transaction. False if the file
        was already applied as it is."""
        with self.conn:
            rel = self.store.relpath(path)
            known = self.conn.execute("select 1 from _files where path = ?", [rel]).fetchone()
            dirty = self._ingest(path)
            if dirty is None:
                return False
            self._refresh(dirty)
            # a file changed after it was applied (was it a committed one?), or one listed as
            # changed or deleted, back as git has it (the `git restore` a problem advises)
            if known or self.breached(rel):
                self.record_breaches()
        return True

    def forget(self, rel: str) -> bool:
        """The file at `rel` is gone: remove what it contributed."""
        with self.conn:
            row = self.conn.execute("select event_id from _files where path = ?",
                                    [rel]).fetchone()
            if row is None:
                return False
            self.conn.execute("delete from _files where path = ?", [rel])
            self.conn.execute("delete from _file_problems where path = ?", [rel])
            self.conn.execute("delete from _claims where path = ?", [rel])
            dirty = self._release(row[0], rel) if row[0] else set()
            self._refresh(dirty | self._recheck_claims(rel))
            self.record_breaches()
        return True

    def catch_up(self, progress: Callable[[int], None] | None = None) -> dict:
        """Compare the files with what the database recorded (path, size, then sha256) and
        apply the difference; an empty database gets a full build. Never a timestamp
        watermark: `git pull` delivers old events late."""
        return self._mending(lambda: self._catch_up(progress), progress)

    def _mending(self, work: Callable[[], dict], progress: Callable[[int], None] | None
                 ) -> dict:
        """`work()`, unless SQLite finds the file damaged meanwhile (damage the look at its
        header and schema could not see): then it is set aside and built anew. It is ours:
        `database.claim` said so when it was opened."""
        try:
            return work()
        except sqlite3.DatabaseError as e:
            if not database.is_damage(e):
                raise
            damage = e
        self.db.close()
        database.set_aside(self.db_path, damage)
        self.db = open_db(self.db_path)
        self.conn = self.db.conn
        self.files = database.identities(self.db_path)
        return self._build(progress)

    def _catch_up(self, progress: Callable[[int], None] | None) -> dict:
        if not self.conn.execute("select 1 from _files limit 1").fetchone():
            return self.build(progress)
        began = time.time_ns()  # recorded once the walk's difference is applied
        skip, rewritten = set(), recorded.rewritten(self.store, self.conn)
        if rewritten is not None:
            skip = recorded.settled(self.store, self.conn) - rewritten
        known = {path: (size, mtime) for path, size, mtime in self.conn.execute(
            "select path, size, mtime_ns from _files where substr(path, 1, 15) not in "
            "(select value from json_each(?))", [json.dumps(sorted(skip))])}
        applied = removed = 0
        for path, unchanged in compared(self.store, known, skip):
            if not unchanged:
                applied += self.apply(Path(path))
            if progress:
                progress(1)
        for rel in known:  # recorded, and not found now
            removed += self.forget(rel)
        with self.conn:
            recorded.listed(self.conn, began)
            self.record_commits()
            if applied or removed or self.breached():
                self.record_breaches()
        return {"applied": applied, "removed": removed}

    def breached(self, rel: str | None = None) -> bool:
        """Whether a breach is recorded (for the file at `rel`, or any): git alone may have
        ended it (a restore, a commit), with no file left to change."""
        if rel is None:
            return self.conn.execute("select 1 from _breaches limit 1").fetchone() is not None
        return self.conn.execute("select 1 from _breaches where path = ?", [rel]
                                 ).fetchone() is not None

    def record_breaches(self) -> None:
        """Name committed event files that were changed or deleted: the tables follow the
        files as they are, and `problems` says that the append-only rule was broken."""
        from . import audit

        self.conn.execute("delete from _breaches")
        self.conn.executemany(
            "insert or replace into _breaches (path, message) values (?, ?)",
            [(f.path, f"{f.detail}: a committed event file is never changed; fix a mistake "
                      "with `cooplog correct` or `cooplog retract`")
             for f in audit.changed_in_working_tree(self.store.root)])

    def record_commits(self) -> None:
        """Bring `commits` and `events.commit_sha` up to git's HEAD, walking only the
        commits after the last one recorded."""
        from . import audit

        last = self.conn.execute("select value from _state where name = 'last_commit'"
                                 ).fetchone()
        commits = audit.commits_since(self.store.root, last[0] if last else None)
        for commit in commits:
            self.conn.execute(
                "insert or replace into commits (sha, author, email, committed_at, message) "
                "values (?, ?, ?, ?, ?)", [commit[k] for k in TABLES["commits"][0]])
        added = {}
        for commit in commits:  # a path committed on two branches: the first counts
            for path in commit["added"]:
                added.setdefault(path, commit["sha"])
        self.conn.executemany("insert or replace into _added (path, sha) values (?, ?)",
                              added.items())
        self.conn.executemany("update events set commit_sha = ? where path = ?",
                              [(sha, path) for path, sha in added.items()])
        if commits:
            self.conn.execute("insert or replace into _state (name, value) "
                              "values ('last_commit', ?)", [commits[-1]["sha"]])

    def _ingest(self, path: Path, force: bool = False, recheck: bool = True
                ) -> set[str] | None:
        """Record the file's state; the ids whose rows need refreshing, or None if it was
        already recorded as it is (unless `force`). `recheck`: a new path may turn other
        files' "misplaced" into "duplicate" (see `_recheck_claims`)."""
        rel = self.store.relpath(path)
        previous = self.conn.execute(
            "select size, mtime_ns, sha256, event_id from _files where path = ?", [rel]
        ).fetchone()
        try:
            stat = path.lstat()
        except OSError:
            stat = None
        if not force and stat and previous and previous[:2] == (stat.st_size, stat.st_mtime_ns):
            return None
        seen = examine(self.store, path, rel, stat, _now())
        if not force and previous and seen.sha is not None and seen.sha == previous[2]:
            self.conn.execute("update _files set mtime_ns = ? where path = ?",
                              [stat.st_mtime_ns, rel])
            return None
        if not force and previous and previous[1:3] == (None, None) and seen.sha is None:
            return None  # unreadable still, as recorded
        self.conn.execute("delete from _file_problems where path = ?", [rel])
        self.conn.execute("delete from _claims where path = ?", [rel])
        self._insert(seen.rows)
        dirty: set[str] = set()
        if previous and previous[3] and previous[3] != (seen.event.id if seen.event else None):
            dirty |= self._release(previous[3], rel)
        if seen.event:
            holder = self.conn.execute("select path from events where id = ?",
                                       [seen.event.id]).fetchone()
            if holder is None or holder[0] >= rel:
                self._put_original(seen.event, rel)
                dirty.add(seen.event.id)
        if recheck and previous is None:
            dirty |= self._recheck_claims(rel)
        return dirty

    def _recheck_claims(self, rel: str) -> set[str]:
        """A file appeared at `rel` or went from it: read again the other files naming the
        id whose place that is, since `Store.read` calls such a file a duplicate while the
        place is taken and misplaced once it is free."""
        dirty: set[str] = set()
        for (other,) in self.conn.execute(
                "select path from _claims where event_id = ? and path != ?",
                [PurePosixPath(rel).stem, rel]).fetchall():
            path = self.store.root / other
            if path.exists() or path.is_symlink():  # else it is being forgotten too
                dirty |= self._ingest(path, force=True, recheck=False) or set()
        return dirty

    def _release(self, event_id: str, rel: str) -> set[str]:
        """`rel` no longer holds `event_id`: another file with that id takes over its row,
        or the row goes."""
        row = self.conn.execute("select path, target from events where id = ?",
                                [event_id]).fetchone()
        if row is None or row[0] != rel:
            return set()
        dirty = {event_id} | ({row[1]} if row[1] else set())
        for (other,) in self.conn.execute(
            "select path from _files where event_id = ? and path != ? order by path",
            [event_id, rel]).fetchall():
            try:
                self._put_original(self.store.read(self.store.root / other), other)
                return dirty
            except (events.Invalid, OSError):
                continue
        self.conn.execute("delete from events where id = ?", [event_id])
        return dirty

    def _put_original(self, event: events.Event, rel: str) -> None:
        added = self.conn.execute("select sha from _added where path = ?", [rel]).fetchone()
        rows = Rows()
        rows.add("events", **_original_row(event, rel, added[0] if added else None))
        self._insert(rows)

    def _refresh(self, dirty: Iterable[str], building: bool = False) -> None:
        """Re-resolve these events and everything that follows from them, a round at a time
        (the targets of the corrections and retractions among them next). A full build
        (`building`) makes the rows that gather many events once, for all, afterwards."""
        lookups = Lookups(self.conn)
        touched = Touched()
        rows = Rows()
        batch, seen = set(dirty), set()
        while batch:
            seen |= batch
            if not building:
                for event_id in batch:
                    self._touched_by(event_id, touched)
            self._clear(batch)
            targets = set()
            for event_id in batch:
                row = self.conn.execute("select original from events where id = ?",
                                        [event_id]).fetchone()
                if row is None:
                    continue
                resolved = resolve(lookups, _event(row[0]))
                rows.extend(self._rewrite(resolved))
                if resolved.event.spec.amends:
                    targets.add(resolved.event.data["target"])
            batch = targets - seen
        # resolving reads only `events`: the derived rows of them all go in at once
        self._insert(rows)
        if not building:
            for event_id in seen:
                self._touched_by(event_id, touched)
            self._resolve_refs(seen, touched.keys)
            self.refresh_orgs(touched.orgs)
            self.refresh_entities(touched.entities)

    def _resolve_refs(self, event_ids: set[str], keys: set[tuple[str, str]]) -> None:
        """Set `_refs._resolved` where it may have changed: the references these events
        make and those naming them (their rows came or went), and those naming keys whose
        creators changed."""
        update = f"update _refs set _resolved = ({ref_resolved()}) where "
        ids = [(i,) for i in event_ids]
        self.conn.executemany(update + "event_id = ?", ids)
        self.conn.executemany(update + "namespace = 'event' and key = ?", ids)
        self.conn.executemany(update + "namespace = ? and key = ?", keys)

    def _resolve_all_refs(self) -> None:
        """Set every `_refs._resolved`, finding each key's first creator once, not once for
        each of the (hundreds of thousands of) references naming it."""
        self.conn.execute(f"create temp table first_creators as {FIRST_CREATORS}")
        self.conn.execute("create index temp.first_creators_key on first_creators (namespace, key)")
        self.conn.execute(f"update _refs set _resolved = ({ref_resolved('temp.first_creators')})")
        self.conn.execute("drop table temp.first_creators")

    def _touched_by(self, event_id: str, touched: Touched) -> None:
        touched.orgs.update(k for (k,) in self.conn.execute(
            "select org_key from event_orgs where event_id = ?", [event_id]))
        for namespace, key in self.conn.execute(
                "select namespace, key from _keys where event_id = ?", [event_id]):
            (touched.orgs if namespace == "org" else touched.entities).add(key)
            touched.keys.add((namespace, key))
        touched.entities.update(k for (k,) in self.conn.execute(
            "select key from _refs where event_id = ? and namespace = 'entity'", [event_id]))

    def _clear(self, event_ids: Iterable[str]) -> None:
        ids = [(event_id,) for event_id in event_ids]
        for table in derived_tables():
            self.conn.executemany(f"delete from [{table}] where event_id = ?", ids)
        self.conn.executemany("delete from _correction_problems where target = ?", ids)

    def _rewrite(self, resolved: Resolved) -> Rows:
        """Update the event's own row to its resolved state; the derived rows it needs."""
        event = resolved.event
        columns = {**event_columns(event), "retracted": int(bool(resolved.retracted_by)),
                   "retracted_by": resolved.retracted_by,
                   "corrected": int(bool(resolved.corrected_by)),
                   "corrected_by": _dumps(resolved.corrected_by)}
        # only the columns that change: an update of a column rewrites each index holding it
        stored = self.conn.execute(
            f"select {', '.join(f'[{name}]' for name in columns)} from events where id = ?",
            [event.id]).fetchone()
        changed = {name: value for (name, value), before
                   in zip(columns.items(), stored, strict=True) if value != before}
        if changed:
            assignments = ", ".join(f"[{name}] = ?" for name in changed)
            self.conn.execute(f"update events set {assignments} where id = ?",
                              [*changed.values(), event.id])
        rows = Rows()
        if not resolved.retracted_by:  # a retracted event's corrections are moot
            for correction, message in resolved.refused:
                rows.add("_correction_problems", target=event.id, correction=correction,
                         message=message)
            current_rows(event, rows)
        return rows

    def _insert(self, rows: Rows) -> None:
        for table, items in rows.tables.items():
            names = COLUMNS[table]
            self.conn.executemany(
                f"insert or replace into [{table}] ({', '.join(names)}) "
                f"values ({', '.join('?' * len(names))})",
                _located(items) if table == "meetings" else items)

    # Rows that gather many events ------------------------------------------------------

    def refresh_orgs(self, keys: Iterable[str] | None = None) -> None:
        """Rewrite organizations: the first registration (smallest id) with its updates in
        id order, and its activity figures. All of them when `keys` is None."""
        keys = self._emptied(["organizations"], keys)
        among, params = _among(keys)
        # all of them: every event once, in the order it is stored (five times quicker than
        # looking up each organization's events one by one); a few: through their index
        joined = ("events e cross join event_orgs eo on eo.event_id = e.id" if keys is None
                  else "event_orgs eo join events e on e.id = eo.event_id")
        figures = {key: rest for key, *rest in self.conn.execute(
            "select eo.org_key, min(e.occurred_start), max(e.occurred_end), count(*) "
            f"from {joined} where e.type not in ({NOT_ORG_ACTIVITY}) "
            f"{among.format('eo.org_key')} group by eo.org_key", params)}
        entries: dict[str, list[tuple]] = {}
        for key, *entry in self.conn.execute(
                "select k.key, k.role, e.id, e.data from _keys k join events e "
                f"on e.id = k.event_id where k.namespace = 'org' {among.format('k.key')} "
                "order by k.event_id", params):
            entries.setdefault(key, []).append(entry)
        rows = Rows()
        for key, found in entries.items():
            org = organization([(role, json.loads(data)) for role, _, data in found])
            if org is None:
                continue
            registered_by = next(event_id for role, event_id, _ in found if role == "create")
            first, last, count = figures.get(key, (None, None, 0))
            rows.add("organizations", key=key, **org,
                     group_order=CATEGORY_ORDER[org["category"]], registered_by=registered_by,
                     first_activity=first, last_activity=last, activity_count=count)
        self._insert(rows)

    def refresh_entities(self, keys: Iterable[str] | None = None) -> None:
        """Rewrite agreements, submissions, requests and projects from the event that
        created each key first, with their revisions and current status. All of them when
        `keys` is None; each of the three lookups is one query whatever the number of keys."""
        among, params = _among(self._emptied(events.ENTITY_TABLES.values(), keys))
        creators: dict[str, tuple] = {}
        for key, *creator in self.conn.execute(
                "select k.key, k.kind, e.id, e.data, e.occurred, e.year from _keys k "
                "join events e on e.id = k.event_id where k.namespace = 'entity' "
                f"and k.role = 'create' {among.format('k.key')} order by k.event_id", params):
            creators.setdefault(key, creator)  # the smallest id
        statuses = {subject: (status, occurred) for subject, status, occurred in
                    self.conn.execute(  # the latest occurred end (ties: the larger id) last
                        f"select subject, status, occurred from statuses where true "
                        f"{among.format('subject')} order by occurred_end, event_id", params)}
        revisions = {agreement: (count, last) for agreement, count, last in self.conn.execute(
            "select agreement, count(*), max(occurred_end) from revisions where true "
            f"{among.format('agreement')} group by agreement", params)}
        rows = Rows()
        for key, (kind, event_id, data, occurred, year) in creators.items():
            entity = events.ENTITIES[kind]
            status, since = statuses.get(key, (None, None))
            # its data fields (under the table's names), then what gathers other events
            row = {entity.renamed.get(name, name): value
                   for name, value in _encoded(json.loads(data)).items()}
            row.update(key=key, event_id=event_id, occurred=occurred, year=year,
                       status=status, status_since=since)
            if "revisions" in COLUMNS[entity.table]:
                row["revisions"], row["last_revised"] = revisions.get(key, (0, None))
            rows.add(entity.table, **row)
        self._insert(rows)

    def _emptied(self, tables: Iterable[str], keys: Iterable[str] | None) -> list[str] | None:
        """Delete these keys' rows from the tables (all rows at once when `keys` is None,
        not key by key); the keys, listed."""
        keys = None if keys is None else list(keys)
        for table in tables:
            if keys is None:
                self.conn.execute(f"delete from [{table}]")
            else:
                self.conn.executemany(f"delete from [{table}] where key = ?",
                                      [(key,) for key in keys])
        return keys

    # The full build --------------------------------------------------------------------

    def build(self, progress: Callable[[int], None] | None = None) -> dict:
        """Rebuild every table from the files, in place, in one transaction: readers see
        the old tables until it commits, and an interrupted build leaves them intact.

        One pass over the files writes each event as it was recorded, which is what it
        stays unless a correction or retraction names it; those few are then refreshed as
        the watcher would refresh them, and the rows gathering many events are made once."""
        return self._mending(lambda: self._build(progress), progress)

    def _build(self, progress: Callable[[int], None] | None) -> dict:
        spools = _spool_folder(self.db_path.parent)
        attached: list[str] = []
        try:
            return self._build_with(progress, spools, attached)
        finally:
            for name in attached:  # possible once the build's transaction has ended
                self.conn.execute(f"detach {name}")
            _remove(spools)

    def _copy(self, spooled: Spooled, attached: list[str]) -> None:
        """The rows a reading process spooled, a table at a time."""
        name = f"spool{len(attached)}"
        self.conn.execute(f"attach ? as {name}", [spooled.path])
        attached.append(name)
        # read once, in order: a page cache of its own for each (2 MB) would only add up
        self.conn.execute(f"pragma {name}.cache_size = 16")
        for (table,) in self.conn.execute(
                f"select name from {name}.sqlite_master where type = 'table'").fetchall():
            names = ", ".join(map(_quoted, COLUMNS[table]))
            self.conn.execute(f"insert or replace into main.[{table}] ({names}) "
                              f"select {names} from {name}.[{table}]")

    def _build_with(self, progress: Callable[[int], None] | None, spools: str,
                    attached: list[str]) -> dict:
        with self.conn, _no_cycle_collection():
            if not self.conn.in_transaction:  # dropping a trigger does not open one
                self.conn.execute("begin")
            # the full-text index is rebuilt once, at the end, and the change record starts
            # afresh: a build is no change to copy but a new database to copy whole
            triggers = self.conn.execute(
                "select name, sql from sqlite_master where type = 'trigger' and tbl_name in "
                f"({', '.join('?' * len(TABLES))})", list(TABLES)).fetchall()
            for name, _ in triggers:
                self.conn.execute(f"drop trigger [{name}]")
            for table in TABLES:
                self.conn.execute(f"delete from [{table}]")
            # and each index once, after the rows: sorting them all beats keeping it in order
            indexes = self.conn.execute(
                "select name, tbl_name, sql from sqlite_master where type = 'index' "
                f"and sql is not null and tbl_name in ({', '.join('?' * len(TABLES))})",
                list(TABLES)).fetchall()
            for name, _, _ in indexes:
                self.conn.execute(f"drop index [{name}]")
            # those of the rows rewritten after the pass (events', _refs') after that, but
            # the one a target's corrections and retractions are looked up by
            late = [sql for name, table, sql in indexes
                    if table in ("events", "_refs") and name != TARGET_INDEX]
            count = 0
            named: set[str] = set()  # targets of corrections and retractions
            began = time.time_ns()  # recorded with the rows, once the readers are done
            files = [(e.path, self.store.relpath(e.path)) for e in self.store.entries()]
            readers = _readers(len(files))
            if readers < 2:
                read: Iterable[Chunk | Spooled] = _read_all(self.store, files, _now())
            else:
                read = _spool_all(self.store, files, _now(), readers, spools)
            for part in read:
                if isinstance(part, Spooled):
                    self._copy(part, attached)
                else:
                    self._insert(Rows(part.rows))
                named.update(part.targets)
                count += part.files
                if progress:
                    progress(part.files)
            for _, _, sql in indexes:
                if sql not in late:
                    self.conn.execute(sql)
            self._refresh(named, building=True)
            self._resolve_all_refs()
            for sql in late:
                self.conn.execute(sql)
            self.refresh_orgs()
            self.refresh_entities()
            for table in FTS_TABLES:
                self.conn.execute(f"insert into {table}_fts ({table}_fts) values ('rebuild')")
            recorded.listed(self.conn, began)
            self.record_commits()
            self.record_breaches()
            for _, sql in triggers:
                self.conn.execute(sql)
            new_change_epoch(self.conn)
        return {"files": count, "readers": readers}


def _spool_folder(folder: Path) -> str:
    """A new folder for a build's spools, named for its process; those of builds killed
    before they could remove theirs (as large as the database) are removed first."""
    for name in os.listdir(folder):
        pid = name.split("-")[1] if name.startswith(".build-") else ""
        if pid.isdigit() and not _alive(int(pid)):
            _remove(os.path.join(folder, name))
    return tempfile.mkdtemp(prefix=f".build-{os.getpid()}-", dir=folder)


def _remove(spools: str) -> None:
    """A spool folder and its files (plain files only: `listdir` and `unlink`, no walk)."""
    try:
        for name in os.listdir(spools):
            os.unlink(os.path.join(spools, name))
        os.rmdir(spools)
    except OSError:
        pass  # a later build tries again


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def _among(keys: list[str] | None) -> tuple[str, list]:
    """A condition that a column (put in its `{}`) is one of these keys, or none when `keys`
    is None (all of them); and its parameters."""
    if keys is None:
        return "", []
    return "and {} in (select value from json_each(?))", [json.dumps(keys)]


@contextmanager
def _no_cycle_collection():
    """A build makes millions of short-lived rows and no reference cycles, while Python's
    cycle collector, triggered by allocations, walks everything alive again and again
    (the list of files, the rows in flight): without it a build takes a sixth less time, in
    the same memory. Its reading processes, forked meanwhile, go without it too."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def project(root: Path, db_path: Path | None = None) -> Projection:
    store = Store(root)
    if not store.events_dir.is_dir():
        raise CooplogError(f"{store.events_dir}: no events/ folder here: pass --root or run "
                           "`cooplog init`", exit_code=2)
    return Projection(store, db_path)


@contextmanager
def fresh(root: Path, db_path: Path | None = None) -> Iterator[Projection]:
    """The projection in step with the files, for reading (`report`, `export ics`) or for
    nothing more (`sync`): caught up now, unless a running watcher keeps it in step (its
    lease): then catching up too would only contend with it for the database."""
    from .lease import kept_in_step

    projection = project(root, db_path)
    try:
        if not kept_in_step(projection.db_path):
            projection.catch_up()
        yield projection
    finally:
        projection.close()
