"""What the modules in `datasette/plugins/` share (Datasette loads them by path, so they
cannot import one another): other projects' plugins registered again with a change,
results kept until the database changes, and read connections that follow the database's
path when the watcher rebuilds it."""

from __future__ import annotations

import os
import threading
import types
from collections import OrderedDict
from pathlib import Path

from .database import identity
from .store import read_only


def register_again(plugin: types.ModuleType, without: tuple[str, ...] = (), **hooks) -> None:
    """Register `plugin` again under its name, without the hooks named in `without` and with
    `hooks` in place of its own. Done once per process: Datasette imports the modules of
    `datasette/plugins/` anew for every instance it builds, and a plugin already changed is
    no longer registered under its own module."""
    from datasette.plugins import pm

    name = pm.get_name(plugin)
    if name is None:  # done already, or not installed as a plugin
        return
    pm.unregister(plugin)
    changed = types.ModuleType(plugin.__name__, plugin.__doc__)
    vars(changed).update({k: v for k, v in vars(plugin).items() if k not in without}, **hooks)
    pm.register(changed, name=name)


MISSING = object()


class KeptUntilChanged:
    """Results from one database kept until it changes, for what is read far more often than
    the log changes (a two-year report, a facet's counts over every event).

    `pragma data_version` on a connection changes when another connection (the watcher, a
    build) has committed since this one last asked: a connection of its own, asked before
    each look, sees every change; any change drops every result, including one still being
    worked out from before it."""

    def __init__(self, db: Path | str, size: int):
        self.db, self.size = db, size
        self.lock = threading.Lock()
        self.kept: OrderedDict = OrderedDict()
        self.current = 0  # generation: the number of changes seen
        self.observer = self.version = self.observed = None

    def generation(self) -> int:
        """The generation of results to keep from now (everything kept dropped if the
        database changed, or another file took its path: the watcher rebuilt it)."""
        with self.lock:
            now = current_file(self.db)
            if self.observer is not None and now is not None and now != self.observed:
                self.observer.close()
                self.observer = None
            if self.observer is None:
                self.observed = now
                self.observer = read_only(self.db, check_same_thread=False)
                self.version = None
            version = self.observer.execute("pragma data_version").fetchone()[0]
            if version != self.version:
                self.version = version
                self.kept.clear()
                self.current += 1
            return self.current

    def find(self, key):
        with self.lock:
            if key not in self.kept:
                return MISSING
            self.kept.move_to_end(key)
            return self.kept[key]

    def keep(self, key, value, generation: int) -> None:
        """Keep a result worked out since `generation` began, unless the database changed
        meanwhile."""
        with self.lock:
            if generation == self.current:
                self.kept[key] = value
                while len(self.kept) > self.size:
                    self.kept.popitem(last=False)

    def get(self, key, work_out):
        """work_out()'s result for key, worked out again only after the database changed."""
        generation = self.generation()
        found = self.find(key)
        if found is MISSING:
            found = work_out()
            self.keep(key, found, generation)
        return found


def current_file(db: Path | str) -> tuple[int, int] | None:
    """The identity of the database file to read at `db`: while a watcher in this process
    keeps it, the one it writes (None while it rebuilds: a file renamed over the old one may
    still have the old one's -wal beside it until the watcher has set that aside); else the
    file there."""
    from . import serve

    watcher = serve.WATCHER
    if watcher is not None and os.path.abspath(watcher.db_path) == os.path.abspath(db):
        return watcher.database_file
    return identity(db)


def reopen_when_replaced(datasette, database) -> None:
    """Read connections that follow the database's path: when another file takes it (the
    watcher rebuilt a database deleted, replaced or damaged under it), each thread's
    connection, still open on the old file, is closed and opened anew on the next query.
    Datasette 0.65 keeps one connection per thread (`datasette.database.connections`) and
    never reopens one."""
    from datasette.database import connections

    execute_fn, seen = database.execute_fn, threading.local()

    def following(conn):
        """The connection to use in this thread: `conn`, or a new one if its file went."""
        now = current_file(database.path)
        known = getattr(seen, "pair", None)
        if known is None or known[0] is not conn:  # opened just now, on the file there now
            seen.pair = (conn, now)
            return conn
        if now is None or now == known[1]:  # unchanged, or being rebuilt: the old file
            return conn
        fresh = database.connect()
        datasette._prepare_connection(fresh, database.name)
        if database._read_connection is conn:  # Datasette without threads
            database._read_connection = fresh
        else:
            setattr(connections, database.name, fresh)
        conn.close()
        seen.pair = (fresh, now)
        return fresh

    async def execute_fn_following(fn):
        return await execute_fn(lambda conn: fn(following(conn)))

    database.execute_fn = execute_fn_following
