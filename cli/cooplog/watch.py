"""Keeping the database in step with the files while cooplog runs.

The watchdog observer only says which paths to look at; one worker thread owns the database
connection and applies each file in its own transaction after a short debounce. Because the
kernel drops notifications silently when its queue overflows, a periodic reconciliation
(`catch_up`) compares every file with what was applied and heals whatever was missed.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from . import events
from .errors import CooplogError
from .projection import Projection
from .store import Store, contents

log = logging.getLogger("cooplog.watch")

DEBOUNCE = 0.01  # seconds to let a burst of writes to one file settle
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
    started_at: float | None = None
    applied: int = 0
    last_applied: str | None = None
    last_applied_at: float | None = None
    last_reconcile_at: float | None = None
    healed: int = 0
    errors: list[str] = field(default_factory=list)


class _Handler(FileSystemEventHandler):
    def __init__(self, paths: queue.Queue):
        self.paths = paths

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory:
            # a new month folder, or events/ itself removed or recreated: rescan
            if event.event_type in ("created", "deleted", "moved", "attrib"):  # chmod too
                self.paths.put(None)
            return
        for path in (event.src_path, getattr(event, "dest_path", "")):
            if path and str(path).endswith(".json"):
                self.paths.put(Path(str(path)))


class Watcher:
    """Watch `events/` and apply changes; `start()` catches up first, `stop()` joins."""

    def __init__(self, store: Store, db_path: Path, *, polling: bool = False,
                 debounce: float = DEBOUNCE, reconcile_every: float = RECONCILE_EVERY):
        self.store = store
        self.db_path = db_path
        self.polling = polling
        self.debounce = debounce
        self.reconcile_every = reconcile_every
        self.status = Status()
        self._paths: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer = None
        self._observer_lock = threading.Lock()
        self._watched: tuple[int, int] | None = None  # (device, inode) of events/ watched
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
            self._observer.schedule(_Handler(self._paths), str(folder), recursive=True)
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
        self._paths.put(None)
        with self._observer_lock:
            _stop(self._observer)
        if self._thread is not None:
            self._thread.join()
        logging.getLogger("watchdog").removeHandler(self._alarm)
        self.status.alive = False

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

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
        self.status.alive = True
        self.status.started_at = self.status.last_reconcile_at = time.time()
        self._ready.set()
        pending: dict[Path, tuple[float, int]] = {}  # path -> (due time, attempts)
        rescan = overflow = False
        checked = time.time()
        try:
            while not self._stopping.is_set():
                timeout = min((due for due, _ in pending.values()), default=None)
                wait = 0.5 if timeout is None else max(0.0, timeout - time.time())
                try:
                    item = self._paths.get(timeout=min(wait, 0.5))
                except queue.Empty:
                    item = _NOTHING
                asked, lost = self._drain(pending, item)
                rescan, overflow = rescan or asked, overflow or lost
                if self._stopping.is_set():
                    break
                now = time.time()
                if now - checked >= CHECK_EVERY:
                    checked = now
                    rescan |= self._check_folder()
                if overflow or (len(pending) > BULK
                                and len(pending) > self._known(projection) // 4):
                    # Many files at once (a checkout, a copy) or notifications lost: one
                    # rebuild, in one transaction, is quicker than file after file.
                    if overflow:
                        log.warning("the kernel dropped file notifications (its inotify queue "
                                    "overflowed): rebuilding from the files")
                    self._rebuild(projection, pending)
                    pending.clear()
                    rescan = overflow = False
                for path, (due, attempts) in list(pending.items()):
                    if due <= now:
                        del pending[path]
                        retry = self._apply(projection, path, attempts)
                        if retry:
                            pending[path] = (time.time() + 0.1 * (attempts + 1), attempts + 1)
                if rescan or now - self.status.last_reconcile_at >= self.reconcile_every:
                    if not rescan and len(pending) <= BULK:
                        # what notifications have reported is applied first, so that the
                        # reconciliation counts (and warns of) only what they missed
                        asked, lost = self._drain(pending)
                        rescan, overflow = rescan or asked, overflow or lost
                        for path, (_, attempts) in list(pending.items()):
                            del pending[path]
                            if self._apply(projection, path, attempts):
                                pending[path] = (time.time() + 0.1 * (attempts + 1),
                                                 attempts + 1)
                    self._reconcile(projection, expected=not rescan)
                    rescan = False
        finally:
            projection.close()
            self.status.alive = False

    def _drain(self, pending: dict[Path, tuple[float, int]], item=_NOTHING) -> tuple[bool, bool]:
        """Move what the handler queued (after `item`) into `pending`, one debounce for all of
        it: whether a rescan was asked for, whether notifications were lost."""
        rescan = overflow = False
        while True:
            if item is None:
                rescan = True
            elif item is OVERFLOW:
                overflow = True
            elif item is not _NOTHING:
                pending[item] = (time.time() + self.debounce, 0)
            try:
                item = self._paths.get_nowait()
            except queue.Empty:
                return rescan, overflow

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
            log.exception("could not apply %s", path)
            self.status.errors.append(f"{path}: {e}")
            del self.status.errors[:-20]
        return False

    def _known(self, projection: Projection) -> int:
        return projection.conn.execute("select count(*) from _files").fetchone()[0]

    def _rebuild(self, projection: Projection, pending: dict[Path, tuple[float, int]]) -> None:
        known = {p for (p,) in projection.conn.execute("select path from _files")}
        try:
            result = projection.build()
        except Exception as e:
            log.exception("rebuild failed")
            self.status.errors.append(f"rebuild: {e}")
            del self.status.errors[:-20]
            return
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

    def _reconcile(self, projection: Projection, expected: bool) -> None:
        try:
            result = projection.catch_up()
        except Exception as e:
            log.exception("reconciliation failed")
            self.status.errors.append(f"reconciliation: {e}")
            return
        self.status.last_reconcile_at = time.time()
        # an empty database is caught up by a full build, which counts files instead
        healed = sum(result.get(k, 0) for k in ("applied", "removed", "files"))
        if healed and expected:
            self.status.healed += healed
            log.warning("reconciliation applied %d change(s) that no notification reported "
                        "(the kernel's event queue may have overflowed, or its limit of "
                        "watched folders been reached: %s)", healed, LIMITS)


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
