"""`validate` and `verify` of several logs (`--log`): each log's own checks, its problems
named with the log, and the one rule that spans logs: a public log may not name keys only a
private log defines (DESIGN.md, "Several logs"), since such a reference would publish a
confidential record's key and point at nothing on the public site."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace
from pathlib import Path

from . import audit, rules
from .errors import Problem
from .logs import Log
from .site import caught_up

UNRESOLVED = """select e.path, r.field, r.namespace, r.key from _refs r
                  join events e on e.id = r.event_id
                 where r._resolved = 0 and r.namespace <> 'event'
                 order by e.path, r.field"""
CREATED = "select 1 from _keys where namespace = ? and key = ? and role = 'create' limit 1"


def named_by_public_logs(logs: list[Log]) -> list[Problem]:
    """Each reference of a public log to a key that only a private log of `logs` creates,
    its path prefixed with the log's name."""
    private = [log for log in logs if log.private]
    if not private:
        return []
    caught_up(logs)
    found = []
    sources = {log.name: _read_only(log.db_path) for log in private}
    try:
        for log in logs:
            if log.private:
                continue
            with closing(_read_only(log.db_path)) as conn:
                unresolved = conn.execute(UNRESOLVED).fetchall()
            for path, field, namespace, key in unresolved:
                owners = [name for name, conn in sources.items()
                          if conn.execute(CREATED, (namespace, key)).fetchone()]
                if owners:
                    found.append(Problem(
                        f"{log.name}: {path}", field,
                        f"'{key}' is defined only in the private log {', '.join(owners)}: a "
                        "public log may not name a private log's keys; record it in this "
                        "log too, or remove the reference"))
    finally:
        for conn in sources.values():
            conn.close()
    return found


def review(logs: list[Log]) -> tuple[list[Problem], list[Problem], int]:
    """Every log's problems and warnings (paths prefixed `NAME: `), the references across
    logs among the problems, and the number of event files read."""
    from .store import Store

    problems, warnings, files = [], [], 0
    for log in logs:
        store = Store(log.root)
        found, warned = rules.review(store)
        problems += [_in(log, p) for p in found]
        warnings += [_in(log, w) for w in warned]
        files += sum(1 for _ in store.files())
    return problems + named_by_public_logs(logs), warnings, files


def verify(logs: list[Log], range_: str | None = None
           ) -> tuple[list[tuple[str, audit.Report]], list[Problem]]:
    """Each log's append-only proof, by name, and the references across logs."""
    return ([(log.name, audit.verify(log.root, range_)) for log in logs],
            named_by_public_logs(logs))


def _in(log: Log, problem: Problem) -> Problem:
    return replace(problem, path=f"{log.name}: {problem.path}")


def _read_only(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{Path(db).resolve()}?mode=ro", uri=True)
