"""Keeping the database in step with the files while cooplog runs.

The watchdog observer only says which paths to look at; one worker thread owns the database
connection and applies each file in its own transaction, at once when the notification says
the file is whole, else after a short debounce. Because the
kernel drops notifications silently when its queue overflows, a second thread, the
reconciler, compares every file with what was applied (through its own read-only
connection), periodically and whenever a folder changes, and hands the worker only the
difference: walking a large log never holds up the files notifications report.

Once a second the worker also looks at the database file itself: one deleted, replaced or
overwritten under it, or found damaged, is built anew beside its path and renamed into place,
while `status.rebuilding` says so (the site goes on reading the old file until then).
"""

from __future__ import annotations

import errno
import logging
import math
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from . import database, events, lease
from .errors import CooplogError
from .projection import Projection, compared
from .store import Store, contents, read_only

log = logging.getLogger("cooplog.watch")

DEBOUNCE = 0.01  # seconds to let a burst of writes to one file settle
# Notifications after which a file is whole (renamed or linked into place, as `add` and git
# put files, closed after writing, deleted): applied at once, without the debounce, which
# was most of a file's way to its row. One found unfinished is tried again (PARSE_RETRIES).
WHOLE = ("moved", "created", "closed", "deleted")
RECONCILE_EVERY = 30.0
PARSE_RETRIES = 3  # a file not yet parsable may still be being written
CHECK_EVERY = 1.0  # seconds between looks at whether events/ is still the folder watched
BULK = 1000  # files at once beyond which one rebuild beats applying them one by one
OVERFLOW = "overflow"  # queued when the kernel says it dropped notifications
_NOTHING = object()
LIMITS = ("raise the limits (sysctl fs.inotify.max_user_watches=524288 and "
          "fs.inotify.max_user_instances=512), or run with --polling")


@dataclass
class Status:
    """What `serve` shows about the watcher."""

    alive: bool = False
    applied: int = 0
    last_applied: str | None = None
    last_applied_at: float | None = None
    last_reconcile_at: float | None = None
    healed: int = 0
    rebuilding: bool = False  # the database file was deleted, replaced or damaged
    errors: list[str] = field(default_factory=list)


@dataclass
class Reconciled:
    """What a reconciliation found out of step, queued behind the notifications received
    until then: paths the walk saw new or changed, and paths recorded that it did not see.
    `expected` is False for a rescan asked for (a new folder, events/ recreated): its
    changes are no sign of lost notifications."""

    changed: list[Path]
    gone: list[Path]
    expected: bool
    done: threading.Event = field(default_factory=threading.Event)


class _Handler(FileSystemEventHandler):
    def __init__(self, paths: queue.Queue, rescan: threading.Event):
        self.paths = paths
        self.rescan = rescan

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory:
            # a new month folder, or events/ itself removed or recreated: rescan
            if event.event_type in ("created", "deleted", "moved", "attrib"):  # chmod too
                self.rescan.set()
            return
        for path in (event.src_path, getattr(event, "dest_path", "")):
            if path and str(path).endswith(".json"):
                self.paths.put((Path(str(path)), event.event_type in WHOLE))


class Watcher:
    """Watch `events/` and apply changes; `start()` catches up first, `stop()` joins."""

    def __init__(self, store: Store, db_path: Path, *, polling: bool = False,
                 debounce: float = DEBOUNCE, reconcile_every: float = RECONCILE_EVERY,
                 on_change: Callable[[], None] | None = None):
        self.store = store
        # told, from the worker, each time it has committed something: the site follows at
        # once instead of at its next look
        self.on_change = on_change
        self.db_path = db_path
        self.polling = polling
        self.debounce = debounce
        self.reconcile_every = reconcile_every
        self.status = Status()
        self._paths: queue.Queue = queue.Queue()
        self._rescan = threading.Event()  # the reconciler is asked to walk the log now
        self._working = threading.Lock()  # held by the worker at work: the walk waits
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._reconciler: threading.Thread | None = None
        self._observer = None
        self._observer_lock = threading.Lock()
        self._watched: tuple[int, int] | None = None  # (device, inode) of events/ watched
        self._damage: Exception | None = None  # SQLite found the database file broken
        # (device, inode) of the database file written, for the site to read the same one;
        # None while it is being rebuilt
        self.database_file: tuple[int, int] | None = None
        self._lease: int | None = None
        # (descriptor, file identity) through which the database's header is read
        self._header: tuple[int, tuple[int, int]] | None = None
        self._alarm = _OverflowAlarm(self._paths)

    def start(self) -> None:
        self.store.events_dir.mkdir(parents=True, exist_ok=True)
        logging.getLogger("watchdog").addHandler(self._alarm)
        try:
            self._observe()  # before catching up, so nothing written meanwhile is missed
        except BaseException:
            logging.getLogger("watchdog").removeHandler(self._alarm)
            raise
        self._thread = threading.Thread(target=self._run, name="cooplog-watch", daemon=True)
        self._thread.start()
        self._ready.wait()
        if not self.status.alive:
            self.stop()
            raise CooplogError(self.status.errors[-1] if self.status.errors else
                               "the watcher could not start")
        self._reconciler = threading.Thread(target=self._reconcile, name="cooplog-reconcile",
                                            daemon=True)
        self._reconciler.start()

    def _observe(self) -> None:
        """Start a new observer on events/ (the old one, if any, stopped)."""
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        with self._observer_lock:
            if self._stopping.is_set():
                return
            _stop(self._observer)
            folder = self.store.events_dir
            status = folder.stat()
            self._watched = (status.st_dev, status.st_ino)
            self._observer = PollingObserver(timeout=0.5) if self.polling else Observer()
            self._observer.schedule(_Handler(self._paths, self._rescan), str(folder),
                                    recursive=True)
            try:
                self._observer.start()
            except OSError as e:
                self._observer = None
                if e.errno in (errno.ENOSPC, errno.EMFILE):
                    raise CooplogError(
                        f"{folder}: cannot watch for changes: {e.strerror} (the system's "
                        f"inotify limit): {LIMITS}") from None
                raise

    def stop(self) -> None:
        self._stopping.set()
        self._rescan.set()  # wakes the reconciler
        self._paths.put(_NOTHING)  # wakes the worker
        with self._observer_lock:
            _stop(self._observer)
        for thread in (self._thread, self._reconciler):
            if thread is not None:
                thread.join()
        logging.getLogger("watchdog").removeHandler(self._alarm)
        self.status.alive = False

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # The worker: the only thread that writes to the database ------------------------------

    def _run(self) -> None:
        try:
            projection = Projection(self.store, self.db_path)
            # The database is derived and WAL keeps it consistent: sync at checkpoints, not
            # at each file's commit (halves the cost of a file).
            projection.conn.execute("pragma synchronous = normal")
            projection.catch_up()
        except Exception as e:  # the caller of start() reports it
            self.status.errors.append(f"cannot start: {e}")
            self._ready.set()
            return
        self._lease = lease.take(self.db_path)
        self.database_file = projection.files[""]
        self.status.alive = True
        self.status.last_reconcile_at = time.time()
        self._ready.set()
        pending: dict[Path, tuple[float, int]] = {}  # path -> (due time, attempts)
        found: list[Reconciled] = []
        overflow = False
        checked = time.time()
        written = None  # (connection, its total changes) when on_change was last told
        try:
            while not self._stopping.is_set():
                timeout = min((due for due, _ in pending.values()), default=None)
                wait = 0.5 if timeout is None else max(0.0, timeout - time.time())
                try:
                    item = self._paths.get(timeout=min(wait, 0.5))
                except queue.Empty:
                    item = _NOTHING
                with self._working:
                    overflow |= self._drain(pending, found, item)
                    if self._stopping.is_set():
                        break
                    now = time.time()
                    if now - checked >= CHECK_EVERY:
                        checked = now
                        if self._check_folder():
                            self._rescan.set()
                        if trouble := self._database_trouble(projection):
                            projection = self._renew(projection, trouble)
                            if projection is None:
                                return
                    if overflow or (len(pending) > BULK
                                    and len(pending) > self._known(projection) // 4):
                        # Many files at once (a checkout, a copy) or notifications lost: one
                        # rebuild, in one transaction, is quicker than file after file.
                        if overflow:
                            log.warning("the kernel dropped file notifications (its inotify "
                                        "queue overflowed): rebuilding from the files")
                        self._rebuild(projection, pending)
                        pending.clear()
                        overflow = False
                    self._apply_due(projection, pending, now)
                    if found:
                        # what notifications have reported, even since the walk, is applied
                        # first, so that the reconciliation counts (and warns of) only what
                        # they missed
                        overflow |= self._drain(pending, found)
                        self._apply_due(projection, pending)
                        for reconciled in found:
                            self._settle(projection, pending, reconciled)
                        found.clear()
                now_written = (projection.conn, projection.conn.total_changes)
                if now_written != written:
                    written = now_written
                    if self.on_change is not None:
                        self.on_change()
        finally:
            if projection is not None:
                projection.close()
            if self._header is not None:
                os.close(self._header[0])
                self._header = None
            self.status.alive = False
            if self._lease is not None:
                os.close(self._lease)
                self._lease = None

    def _drain(self, pending: dict[Path, tuple[float, int]], found: list[Reconciled],
               item=_NOTHING) -> bool:
        """Move what was queued (after `item`) into `pending`, one debounce for all of it,
        and reconciliations into `found`: whether notifications were lost."""
        overflow = False
        while True:
            if item is OVERFLOW:
                overflow = True
            elif isinstance(item, Reconciled):
                found.append(item)
            elif item is not _NOTHING:
                path, whole = item
                pending[path] = (time.time() + (0.0 if whole else self.debounce), 0)
            try:
                item = self._paths.get_nowait()
            except queue.Empty:
                return overflow

    def _apply_due(self, projection: Projection, pending: dict[Path, tuple[float, int]],
                   now: float = math.inf) -> None:
        """Apply the pending paths due by `now` (all by default); one not yet whole is tried
        again a little later."""
        for path, (due, attempts) in list(pending.items()):
            if due <= now:
                del pending[path]
                if self._apply(projection, path, attempts):
                    pending[path] = (time.time() + 0.1 * (attempts + 1), attempts + 1)

    def _apply(self, projection: Projection, path: Path, attempts: int) -> bool:
        """Apply one path; True to try again shortly (a file not yet whole)."""
        try:
            if any(p.endswith(".json") for p in Path(self.store.relpath(path)).parent.parts):
                return False  # inside a folder named like an event file: not in the log
            if not path.exists() and not path.is_symlink():
                projection.forget(self.store.relpath(path))
                return False
            if attempts < PARSE_RETRIES and path.is_file() and not _parsable(path):
                return True
            if projection.apply(path):
                self.status.applied += 1
                self.status.last_applied = self.store.relpath(path)
                self.status.last_applied_at = time.time()
        except Exception as e:  # never let one file kill the watcher
            self._failed(str(path), e)
        return False

    def _settle(self, projection: Projection, pending: dict[Path, tuple[float, int]],
                reconciled: Reconciled) -> None:
        """Apply what a reconciliation found out of step. What notifications reported is
        already applied, so `apply` and `forget` find nothing to do for it: only what they
        missed counts as healed."""
        try:
            # a rescan asked for meanwhile (a new folder) explains what the walk found too
            expected = reconciled.expected and not self._rescan.is_set()
            # those still being written are left to their notifications
            changed = [(p, True) for p in reconciled.changed if p not in pending]
            paths = changed + [(p, False) for p in reconciled.gone if p not in pending]
            if len(paths) > BULK and len(paths) > self._known(projection) // 4:
                missed = self._rebuild(projection, pending)  # which warns of them
                pending.clear()
                if expected:
                    self.status.healed += missed
                return
            healed = sum(self._heal(projection, path, seen) for path, seen in paths)
            with projection.conn:  # what a catch-up records from git besides the files
                projection.record_commits()
                if healed or projection.breached():
                    projection.record_breaches()
            self.status.last_reconcile_at = time.time()
            if healed and expected:
                self.status.healed += healed
                log.warning("reconciliation applied %d change(s) that no notification "
                            "reported (the kernel's event queue may have overflowed, or its "
                            "limit of watched folders been reached: %s)", healed, LIMITS)
        except Exception as e:
            self._failed("reconciliation", e)
        finally:
            reconciled.done.set()

    def _heal(self, projection: Projection, path: Path, seen: bool) -> bool:
        """Bring one path the reconciliation found out of step into the database; whether
        anything changed. One the walk did not `see` may be there again, or there but no
        longer in the log (a folder that can be listed again)."""
        try:
            if os.path.lexists(path) and (seen or path.name.endswith(".json")):
                return projection.apply(path)
            return projection.forget(self.store.relpath(path))
        except Exception as e:
            self._failed(str(path), e)
            return False

    def _known(self, projection: Projection) -> int:
        return projection.conn.execute("select count(*) from _files").fetchone()[0]

    def _rebuild(self, projection: Projection, pending: dict[Path, tuple[float, int]]) -> int:
        """Rebuild from the files; how many files no notification had reported."""
        known = {p for (p,) in projection.conn.execute("select path from _files")}
        try:
            result = projection.build()
        except Exception as e:
            self._failed("rebuild", e)
            return 0
        self.status.applied += len(pending)
        if pending:
            self.status.last_applied = self.store.relpath(max(pending))
        self.status.last_applied_at = self.status.last_reconcile_at = time.time()
        log.info("rebuilt the database from %d file(s)", result.get("files", 0))
        reported = known | {self.store.relpath(p) for p in pending}
        missed = sum(1 for (p,) in projection.conn.execute("select path from _files")
                     if p not in reported)
        if missed:  # watchdog does not always say so; some may still be on their way
            log.warning("the rebuild found %d file(s) that no notification had reported yet: "
                        "the kernel may have dropped file notifications (its inotify queue "
                        "overflowed)", missed)
        return missed

    def _database_trouble(self, projection: Projection) -> str | None:
        """Why the database must be built anew: its file deleted or replaced under the
        watcher (which would go on writing to the old one, and the site reading it),
        overwritten, or found damaged; None when it is fine."""
        now = database.identity(self.db_path)
        if now is None:
            return "was deleted"
        if now != projection.files[""]:
            return "was replaced"
        if self._damage is not None:
            return f"is damaged ({self._damage})"
        if not database.marked(self.db_path, self._read_header(now)):
            return "was overwritten: its header is no longer cooplog's"
        return None

    def _read_header(self, identity: tuple[int, int]) -> bytes:
        """The database file's first 100 bytes, through one descriptor held while the
        watcher writes to that file. Closing any descriptor of a file drops every POSIX lock
        the process holds on it, SQLite's among them: opening and closing the file once a
        second let another process's reader take it for unused, checkpoint it and remove
        its -wal in the middle of a rebuild ("database disk image is malformed")."""
        if self._header is None or self._header[1] != identity:
            if self._header is not None:  # another file's, which no connection here writes
                os.close(self._header[0])
            fd = os.open(self.db_path, os.O_RDONLY)
            opened = os.fstat(fd)
            self._header = (fd, (opened.st_dev, opened.st_ino))
        return os.pread(self._header[0], 100, 0)

    def _renew(self, projection: Projection, trouble: str) -> Projection | None:
        """Build the database anew, beside its path, rename it into place and carry on with
        it; None (the watcher stops, saying why) when what is now at the path is not
        cooplog's to build over. Until done, `status.rebuilding` tells the health endpoint;
        the site reopens its connections when it sees another file at the path.

        A file renamed in is never opened here, even a copy of ours: connections of this
        process (the site's) may have opened it beside the old file's -shm, and SQLite
        shares one -shm among a process's connections to a file: it is built over."""
        self.status.rebuilding = True
        self.database_file = None
        log.warning("%s %s: rebuilding it from the files", self.db_path, trouble)
        self._damage = None
        projection.close()
        try:
            here = database.identity(self.db_path)
            if here == projection.files[""]:  # broken in place
                database.set_aside(self.db_path, trouble)
            else:
                database.discard_stale(self.db_path, projection.files)
                if here is not None:
                    database.claim(self.store.root, self.db_path, by_header=True)
            self._build_beside()
            renewed = Projection(self.store, self.db_path)
            renewed.conn.execute("pragma synchronous = normal")
            renewed.catch_up()  # what changed during the build
        except Exception as e:
            self._report(f"{self.db_path}: cannot rebuild the database: {e}")
            return None
        finally:
            self.status.rebuilding = False
        if self._lease is not None:
            os.close(self._lease)
        self._lease = lease.take(self.db_path)
        self.database_file = renewed.files[""]
        self.status.last_applied_at = self.status.last_reconcile_at = time.time()
        log.warning("%s rebuilt from the files", self.db_path)
        return renewed

    def _build_beside(self) -> None:
        """Build a new database beside the path, then rename it into place: the site reads
        the old one, whole, until the new one is whole."""
        building = Path(f"{self.db_path}.rebuilding")
        for leftover in ("", *database.SIDE_FILES):  # from a rebuild cut short
            Path(f"{building}{leftover}").unlink(missing_ok=True)
        projection = Projection(self.store, building)
        try:
            projection.build()
            projection.conn.execute("pragma journal_mode = delete")  # one file to rename
        finally:
            projection.close()
        for side in database.SIDE_FILES:  # what is beside the path is not the new file's
            Path(f"{self.db_path}{side}").unlink(missing_ok=True)
        os.replace(building, self.db_path)

    def _check_folder(self) -> bool:
        """Whether events/ was removed, replaced or left unwatched: watch it again (once it is
        back) and say so; True when the files must be looked at again."""
        with self._observer_lock:
            observer = self._observer
        alive = (observer is not None and observer.is_alive() and bool(observer.emitters)
                 and all(emitter.is_alive() for emitter in observer.emitters))
        try:
            status = os.stat(self.store.events_dir)
            folder = (status.st_dev, status.st_ino)
        except OSError:
            folder = None
        if alive and folder == self._watched:
            return False
        if folder is None:
            if self._watched is not None:
                self._watched = None
                self._report(f"{self.store.events_dir} is gone: the database follows (no "
                             "files, no events) until it is back; restore it or restart "
                             "cooplog with --root pointing at the log")
                return True
            return False
        try:
            self._observe()
        except Exception as e:
            self._report(f"cannot watch {self.store.events_dir} again: {e}")
            return False
        log.warning("watching %s again", self.store.events_dir)
        return True

    def _report(self, message: str) -> None:
        log.error("%s", message)
        self.status.errors.append(message)
        del self.status.errors[:-20]

    def _failed(self, what: str, error: Exception) -> None:
        """Log an unexpected error with its traceback and show it in the status: the
        threads carry on."""
        log.error("%s: %s", what, error, exc_info=error)
        self.status.errors.append(f"{what}: {error}")
        if database.is_damage(error):
            self._damage = error
        del self.status.errors[:-20]

    # The reconciler: walks the log, never writes ---------------------------------------

    def _reconcile(self) -> None:
        """Every `reconcile_every` seconds, or at once when a rescan is asked for, queue for
        the worker what differs from the database, then wait until it has settled that."""
        due = time.monotonic() + self.reconcile_every
        while self.status.alive and not self._stopping.is_set():
            asked = self._rescan.wait(max(0.0, due - time.monotonic()))
            if self._stopping.is_set():
                return
            self._rescan.clear()
            try:
                with closing(read_only(self.db_path, timeout=10)) as conn:
                    found = self._differences(conn)
            except Exception as e:
                self._failed("reconciliation", e)
                found = None
            if found is not None:
                reconciled = Reconciled(*found, expected=not asked)
                self._paths.put(reconciled)
                while not reconciled.done.wait(0.5):
                    if self._stopping.is_set() or not self.status.alive:
                        return
            due = time.monotonic() + self.reconcile_every

    def _give_way(self) -> None:
        """Wait while the worker applies files: otherwise, at each of the worker's many
        pauses (a query, a read), the walk takes the interpreter from it for up to a switch
        interval, and a file notified during a walk can take many times as long."""
        with self._working:
            pass

    def _differences(self, conn: sqlite3.Connection
                     ) -> tuple[list[Path], list[Path]] | None:
        """The files whose size or mtime differ from their record (new ones included), and
        the paths recorded that the walk did not see; None when stopped meanwhile."""
        rows = conn.execute("select path, size, mtime_ns from _files")
        known: dict[str, tuple[int, int]] = {}
        while batch := rows.fetchmany(1000):
            self._give_way()
            known.update((path, (size, mtime)) for path, size, mtime in batch)
        differ = []
        for path, unchanged in compared(self.store, known):
            if self._stopping.is_set():
                return None
            self._give_way()
            if not unchanged:
                differ.append(Path(path))
        return differ, [self.store.root / rel for rel in known]


class _OverflowAlarm(logging.Handler):
    """watchdog says only in its log that the kernel dropped notifications."""

    def __init__(self, paths: queue.Queue):
        super().__init__(logging.WARNING)
        self.paths = paths

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in str(record.msg).lower():
            self.paths.put(OVERFLOW)


def _stop(observer) -> None:
    if observer is not None:
        observer.stop()
        if observer.is_alive():
            observer.join()


def _parsable(path: Path) -> bool:
    try:
        events.decode(contents(path, path.lstat()))
        return True
    except (events.Invalid, OSError):
        return False


def watch(root: Path, db_path: Path, polling: bool = False) -> None:
    """Run until interrupted (the `cooplog watch` command)."""
    store = Store(root)
    watcher = Watcher(store, db_path, polling=polling)
    watcher.start()
    try:
        while watcher.status.alive:
            time.sleep(0.5)
    except KeyboardInterrupt:
        return
    finally:
        watcher.stop()
    errors = watcher.status.errors
    raise CooplogError(f"the watcher stopped: {errors[-1] if errors else 'no reason given'}")
