"""Keep the site database in step with each log's own database while the site is served.

Each log's watcher keeps its database and wakes this thread when it has written (a poll
catches what other processes write); the thread notices a commit there (`pragma
data_version` changes when another connection commits) and brings that log's rows in the
site in step, one log at a time, one transaction each: only what the log's change record
lists since the last refresh, or every row of the log when the database is another file
than the one last copied, or the record cannot say. A log whose database cannot be read is
named in its status and skipped: the others go on."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import site
from .database import identity
from .logs import Log

POLL_SECONDS = 0.2


@dataclass
class LogStatus:
    """What the health endpoint shows of one log's copy in the site."""

    refreshed: int = 0
    last_refreshed_at: float | None = None
    failing: bool = False  # the last attempt to read the log's database failed
    errors: list[str] = field(default_factory=list)


class Refresher:
    def __init__(self, logs: list[Log], site_db: Path, poll: float = POLL_SECONDS):
        self.logs = logs
        self.site_db = Path(site_db)
        self.poll = poll
        self.status = {log.name: LogStatus() for log in logs}
        self._versions: dict[str, tuple] = {}
        self._copied: dict[str, site.Copied | None] = {}  # how far each log's copy goes
        # each log's database as last opened: (its file's identity, a connection to it)
        self._sources: dict[str, tuple[tuple[int, int] | None, sqlite3.Connection]] = {}
        self._stopping = threading.Event()
        self._woken = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None

    def start(self) -> None:
        """Assemble every log once, then follow them on a thread of its own."""
        self._conn = site.connect(self.site_db)
        self.refresh_changed()
        self._thread = threading.Thread(target=self._run, name="cooplog-site", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """A log's watcher has written: refresh now, not at the next poll."""
        self._woken.set()

    def stop(self) -> None:
        self._stopping.set()
        self._woken.set()
        if self._thread:
            self._thread.join()
        for _, conn in self._sources.values():
            conn.close()
        self._sources.clear()
        if self._conn:
            self._conn.close()

    def _run(self) -> None:
        while True:
            self._woken.wait(self.poll)
            if self._stopping.is_set():
                return
            self._woken.clear()  # before looking: a write meanwhile wakes it again
            self.refresh_changed()

    def refresh_changed(self) -> None:
        """Refresh each log whose database has committed since its last refresh."""
        for log in self.logs:
            status = self.status[log.name]
            try:
                version = self._version(log)
                if version == self._versions.get(log.name):
                    continue
                self._copied[log.name] = site.refresh(self._conn, log,
                                                      self._copied.get(log.name),
                                                      self._sources[log.name][1])
            except sqlite3.Error as e:
                self._forget(log)
                status.failing = True
                status.errors = [*status.errors[-4:], f"{log.db_path}: {e}"]
                continue
            status.failing = False
            self._versions[log.name] = version
            status.refreshed += 1
            status.last_refreshed_at = time.time()

    def _version(self, log: Log) -> tuple[tuple[int, int] | None, int]:
        """The log database's file and commit count as seen now: a watcher that rebuilt
        it beside and moved it into place made a new file, which a connection to the old
        one would never see change."""
        now = identity(log.db_path)
        held = self._sources.get(log.name)
        if held is None or held[0] != now:
            self._forget(log)
            conn = sqlite3.connect(f"file:{Path(log.db_path).resolve()}?mode=ro", uri=True,
                                   check_same_thread=False)
            held = self._sources[log.name] = (now, conn)
        return now, held[1].execute("pragma data_version").fetchone()[0]

    def _forget(self, log: Log) -> None:
        held = self._sources.pop(log.name, None)
        if held:
            held[1].close()
        self._versions.pop(log.name, None)
        self._copied.pop(log.name, None)  # another file, or unreadable: copied whole next
