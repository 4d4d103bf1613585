"""What the modules in `datasette/plugins/` share (Datasette loads them by path, so they
cannot import one another): other projects' plugins registered again with a change, and
results kept until the database changes."""

from __future__ import annotations

import threading
import types
from collections import OrderedDict
from pathlib import Path

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
        self.observer = self.version = None

    def generation(self) -> int:
        """The generation of results to keep from now (everything kept dropped if the
        database changed)."""
        with self.lock:
            if self.observer is None:
                self.observer = read_only(self.db, check_same_thread=False)
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
