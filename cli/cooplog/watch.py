"""Keeping the database in step with the files while cooplog runs.

The watchdog observer only says which paths to look at; one worker thread owns the database
connection and applies each file in its own transaction after a short debounce. Because the
kernel drops notifications silently when its queue overflows, a periodic reconciliation
(`catch_up`) compares every file with what was applied and heals whatever was missed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from . import events
from .projection import Projection
from .store import Store

log = logging.getLogger("cooplog.watch")

DEBOUNCE = 0.01  # seconds to let a burst of writes to one file settle
RECONCILE_EVERY = 30.0
PARSE_RETRIES = 3  # a file not yet parsable may still be being written


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
            if event.event_type in ("created", "deleted", "moved"):
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

    def start(self) -> None:
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        self.store.events_dir.mkdir(parents=True, exist_ok=True)
        self._observer = PollingObserver(timeout=0.5) if self.polling else Observer()
        self._observer.schedule(_Handler(self._paths), str(self.store.events_dir),
                                recursive=True)
        self._observer.start()  # before catching up, so nothing written meanwhile is missed
        self._thread = threading.Thread(target=self._run, name="cooplog-watch", daemon=True)
        self._thread.start()
        self._ready.wait()
        if not self.status.alive:
            self.stop()
            raise RuntimeError(self.status.errors[-1] if self.status.errors else "failed")

    def stop(self) -> None:
        self._stopping.set()
        self._paths.put(None)
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
        if self._thread is not None:
            self._thread.join()
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
        rescan = False
        try:
            while not self._stopping.is_set():
                timeout = min((due for due, _ in pending.values()), default=None)
                wait = 0.5 if timeout is None else max(0.0, timeout - time.time())
                try:
                    item = self._paths.get(timeout=min(wait, 0.5))
                    while True:  # drain what has arrived, one debounce for all of it
                        if item is None:
                            rescan = True
                        else:
                            pending[item] = (time.time() + self.debounce, 0)
                        item = self._paths.get_nowait()
                except queue.Empty:
                    pass
                if self._stopping.is_set():
                    break
                now = time.time()
                for path, (due, attempts) in list(pending.items()):
                    if due <= now:
                        del pending[path]
                        retry = self._apply(projection, path, attempts)
                        if retry:
                            pending[path] = (time.time() + 0.1 * (attempts + 1), attempts + 1)
                if rescan or now - self.status.last_reconcile_at >= self.reconcile_every:
                    self._reconcile(projection, expected=not rescan)
                    rescan = False
        finally:
            projection.close()
            self.status.alive = False

    def _apply(self, projection: Projection, path: Path, attempts: int) -> bool:
        """Apply one path; True to try again shortly (a file not yet whole)."""
        try:
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
                        "(the kernel's event queue may have overflowed)", healed)


def _parsable(path: Path) -> bool:
    try:
        events.decode(path.read_bytes())
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
        pass
    finally:
        watcher.stop()
