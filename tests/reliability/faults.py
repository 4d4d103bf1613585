"""What the reliability tests share: a forker that runs `cooplog` commands without paying
Python's start-up each time (so that random kill points fall in the command's own work), a
varied log to project, and the checks a database must pass after a crash.

Everything a test starts it stops: `Forker.close()` kills what is left of its children."""

from __future__ import annotations

import json
import os
import queue
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from ulid import ULID

import helpers
from cooplog import events
from cooplog.projection import Projection
from cooplog.store import Store
from test_projection import snapshot

HERE = Path(__file__).resolve().parent
COOPLOG = Path(sys.executable).parent / "cooplog"
FORKER = HERE / "forker.py"
BY = "reliability@example.org"


# --- running commands ----------------------------------------------------------------------


class Forker:
    """A warm Python that forks one child per `cooplog` command (see forker.py)."""

    def __init__(self, env: dict | None = None):
        self.process = subprocess.Popen(
            [sys.executable, str(FORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env=env or os.environ.copy())
        self.answers: queue.Queue = queue.Queue()
        self.reader = threading.Thread(target=self._read, name="forker-reader")
        self.reader.start()
        self.children: set[int] = set()
        self._answer(timeout=60)  # {"ready": pid}

    def _read(self) -> None:
        for line in self.process.stdout:
            self.answers.put(json.loads(line))
        self.answers.put(None)

    def _answer(self, timeout: float) -> dict:
        try:
            answer = self.answers.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the forker gave no answer within {timeout} s") from None
        assert answer is not None, "the forker ended"
        return answer

    def _ask(self, request: dict, timeout: float) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._answer(timeout)

    def start(self, *argv, out: Path) -> int:
        pid = self._ask({"argv": [str(a) for a in argv], "out": str(out)}, 30)["pid"]
        self.children.add(pid)
        return pid

    def wait(self, pid: int, timeout: float = 60) -> int:
        """The child's exit code (negative: killed by that signal); killed if it outlives
        `timeout`, and the test fails."""
        self.process.stdin.write(json.dumps({"wait": pid}) + "\n")
        self.process.stdin.flush()
        try:
            code = self.answers.get(timeout=timeout)
        except queue.Empty:
            os.kill(pid, signal.SIGKILL)
            self._answer(30)
            self.children.discard(pid)
            raise AssertionError(f"cooplog (pid {pid}) still ran after {timeout} s") from None
        self.children.discard(pid)
        return code["code"]

    def kill(self, pid: int) -> int:
        os.kill(pid, signal.SIGKILL)
        return self.wait(pid)

    def close(self) -> None:
        for pid in list(self.children):
            try:
                self.kill(pid)
            except (ProcessLookupError, AssertionError):
                pass
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.reader.join(timeout=30)


def wait_until(predicate, timeout: float, what: str, every: float = 0.05):
    """Poll until predicate() is truthy (and return it); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout} s: {what}")
        time.sleep(every)


# --- a varied log ---------------------------------------------------------------------------


def ids_from(when: datetime, count: int) -> list[str]:
    first = int(ULID.from_datetime(when))
    return [str(ULID.from_int(first + i)) for i in range(count)]


def envelope(event_id: str, type_: str, data: dict, **fields) -> dict:
    recorded = ULID.from_str(event_id).datetime.astimezone(timezone.utc)
    body = {"id": event_id, "type": type_, "schema": 1,
            "recorded_at": recorded.strftime("%Y-%m-%dT%H:%M:%SZ"), "recorded_by": BY}
    if events.TYPES[type_].dated:
        body["occurred"] = fields.pop("occurred", "2009")
        body["summary"] = fields.pop("summary", f"{type_} {event_id}.")
    return {**body, "orgs": fields.pop("orgs", []), **fields, "data": data}


CITIES = [("Geneva", "CH"), ("Nairobi", "KE"), ("Brussels", "BE"), (None, "JP")]
STATUSES = ["pending", "accepted", "rejected", "under-consideration"]


def varied_log(count: int, seed: int = 1) -> list[tuple[str, bytes]]:
    """`count` files (relative path, bytes) of every kind the projection handles: six
    organizations, meetings, agreements with statuses and revisions, corrections and
    retractions (some arriving before their targets in path order), and a few bad files."""
    rng = random.Random(seed)
    ids = ids_from(datetime(2024, 5, 20, tzinfo=timezone.utc), count)
    rng.shuffle(ids)  # ids, so path order, unrelated to the order they refer to each other
    orgs = [f"org-{i}" for i in range(6)]
    bodies: list[dict | bytes] = []
    made: list[str] = []  # ids of events that can be corrected or retracted
    agreements: list[str] = []
    for n, event_id in enumerate(ids):
        some = rng.sample(orgs, rng.randint(1, 2))
        when = f"{rng.randint(2005, 2012)}-{rng.randint(1, 12):02d}"
        roll = rng.random()
        if n < len(orgs):
            body = envelope(event_id, "organization.registered", {
                "key": orgs[n], "name": f"Organization {n}",
                "category": events.CATEGORIES[n % len(events.CATEGORIES)]})
        elif n % 97 == 13:  # a bad file now and then
            body = rng.choice([b'{"id": "' + event_id.encode() + b'", "type": ',
                               events.encode(envelope(event_id, "activity.noted", {},
                                                      orgs=["nowhere"]))])
        elif roll < 0.3:
            city, country = rng.choice(CITIES)
            body = envelope(event_id, "meeting.attended", {
                "title": f"Meeting {n}", "role": rng.choice(events.MEETING_ROLES),
                "location": {"country": country, **({"city": city} if city else {})}},
                occurred=when, orgs=some, mandates=["IX/11"] if roll < 0.05 else [])
        elif roll < 0.42:
            key = f"agreement-{n}"
            agreements.append(key)
            body = envelope(event_id, "agreement.signed", {
                "key": key, "kind": "mou", "title": f"MoU {n}", "parties": some},
                occurred=when, orgs=some)
        elif roll < 0.55 and agreements:
            body = envelope(event_id, "status.changed", {
                "subject": rng.choice(agreements), "status": rng.choice(STATUSES)},
                occurred=when, orgs=some)
        elif roll < 0.6 and agreements:
            body = envelope(event_id, "agreement.revised", {
                "agreement": rng.choice(agreements), "change": f"Change {n}."}, occurred=when)
        elif roll < 0.68 and made:
            body = envelope(event_id, "event.corrected", {
                "target": rng.choice(made), "set": {"summary": f"Corrected by {n}."},
                "reason": "A better summary."})
        elif roll < 0.72 and made:
            body = envelope(event_id, "event.retracted", {
                "target": rng.choice(made), "reason": "Recorded twice."})
        else:
            body = envelope(event_id, "activity.noted", {}, occurred=when, orgs=some,
                            summary=rng.choice(["秘书处与海关合作。", f"Activity {n}."]))
        if isinstance(body, dict) and not body["type"].startswith(("event.", "organization.")):
            made.append(event_id)
        bodies.append(body)
    store = Store(".")
    return [(store.relpath(store.path_for(event_id)),
             body if isinstance(body, bytes) else events.encode(body))
            for event_id, body in zip(ids, bodies, strict=True)]


def put(root: Path, files: list[tuple[str, bytes]]) -> None:
    for rel, raw in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)


def put_atomically(root: Path, files: list[tuple[str, bytes]], staging: Path) -> None:
    """As `cooplog add` or a checkout would: each file whole, by a rename."""
    staging.mkdir(parents=True, exist_ok=True)
    for rel, raw in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = staging / path.name
        temporary.write_bytes(raw)
        os.replace(temporary, path)


# --- a database after a crash ---------------------------------------------------------------


def query(db: Path, sql: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def ids(db: Path) -> set[str] | None:
    """The event ids in the database; None while it has no tables yet."""
    try:
        return {i for (i,) in query(db, "select id from events")}
    except sqlite3.OperationalError:
        return None


def integrity(db: Path) -> None:
    """PRAGMA integrity_check passes (and the full-text index agrees with its table)."""
    assert query(db, "pragma integrity_check") == [("ok",)]


def applied_paths(db: Path) -> set[str]:
    """The files the database records as applied (an empty set if it has no tables yet)."""
    try:
        return {p for (p,) in query(db, "select path from _files")}
    except sqlite3.OperationalError:
        return set()



def built(root: Path, db: Path) -> Path:
    """`helpers.built` into a new file: what a killed build left at `db` is not reused."""
    db.unlink(missing_ok=True)
    return helpers.built(root, db)


def caught_up(root: Path, db: Path) -> dict:
    projection = Projection(Store(root), db)
    try:
        return projection.catch_up()
    finally:
        projection.close()


class References:
    """Snapshots of fresh builds of subsets of a log, each made once."""

    def __init__(self, files: dict[str, bytes], work: Path):
        self.files = files
        self.work = work
        self.made: dict[frozenset, dict] = {}

    def of(self, paths) -> dict:
        key = frozenset(paths)
        if key not in self.made:
            root = self.work / f"subset-{len(self.made)}"
            shutil.rmtree(root, ignore_errors=True)
            (root / "events").mkdir(parents=True)
            put(root, [(rel, self.files[rel]) for rel in sorted(key)])
            self.made[key] = snapshot(built(root, self.work / f"subset-{len(self.made)}.db"))
        return self.made[key]


def no_half_applied_event(db: Path, references: References) -> set[str]:
    """The database is exactly the projection of the files it records as applied: each
    file's rows came with its `_files` record, or neither did. The applied paths."""
    integrity(db)
    applied = applied_paths(db)
    assert applied <= set(references.files), applied - set(references.files)
    if applied:
        assert snapshot(db) == references.of(applied)
        return applied
    # nothing applied (killed before its first commit, maybe while creating the tables)
    tables = {n for (n,) in query(db, "select name from sqlite_master where type = 'table'")}
    for table in tables & {"events", "event_orgs", "meetings", "organizations", "statuses",
                           "_file_problems", "_keys", "_refs"}:
        assert query(db, f"select count(*) from [{table}]") == [(0,)], table
    return applied
