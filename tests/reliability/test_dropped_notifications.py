"""4. Dropped notifications: 20,000 event files written as fast as possible while the
watcher cannot read its notifications. The `cooplog watch` process is stopped (SIGSTOP, as
a machine under load, a debugger or a suspended VM would stop it) while a separate writer
makes the files, so the kernel's inotify queue (fs.inotify.max_queued_events, 16,384 by
default) overflows for real and most notifications are lost. Once the watcher runs again,
every file is projected well within the reconciliation interval, and it logs a warning."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

from faults import COOPLOG, envelope, ids_from, put, query, wait_until

from cooplog import events, watch
from cooplog.store import Store

# the reliability suite (README, "Reliability"): minutes in all, so `-m "not slow"` skips it

FILES = 20_000

def test_20000_files_while_notifications_are_dropped(tmp_path):
    queued = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    assert queued < 3 * FILES, f"fs.inotify.max_queued_events is {queued}: no overflow"
    root = tmp_path / "log"
    store = Store(root)
    early = ids_from(datetime(2024, 1, 1, tzinfo=timezone.utc), 10)
    put(root, [(store.relpath(store.path_for(i)), events.encode(envelope(i, "activity.noted",
                                                                        {})))
               for i in early])
    # the burst, spread over three months (two of them new folders), prepared beforehand
    ids = [i for month in (1, 2, 3)
           for i in ids_from(datetime(2024, month, 15, tzinfo=timezone.utc), FILES // 3 + 1)]
    ids = ids[:FILES]
    staged = tmp_path / "burst.bin"
    staged.write_bytes(b"".join(
        store.relpath(store.path_for(i)).encode() + b"\0" +
        events.encode(envelope(i, "activity.noted", {}, summary=f"Burst {n}.")) + b"\0"
        for n, i in enumerate(ids)))
    db = root / ".cooplog" / "cooplog.db"
    err = tmp_path / "watch.err"
    with open(err, "wb") as stderr:
        watcher = subprocess.Popen([str(COOPLOG), "--root", str(root), "watch"],
                                   stdout=stderr, stderr=stderr)
    try:
        wait_until(lambda: db.exists() and _count(db) == len(early), 30,
                   "the watcher caught up with the first files")
        # one more file, seen by notification: the observer runs
        (probe,) = ids_from(datetime(2024, 1, 2, tzinfo=timezone.utc), 1)
        put(root, [(store.relpath(store.path_for(probe)),
                    events.encode(envelope(probe, "activity.noted", {})))])
        early.append(probe)
        wait_until(lambda: _count(db) == len(early), 30, "the watcher saw a new file")
        os.kill(watcher.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            subprocess.run([sys.executable, "-c", WRITE, str(root), str(staged)], check=True,
                           timeout=300)
            written = time.monotonic() - started
        finally:
            os.kill(watcher.pid, signal.SIGCONT)
        resumed = time.monotonic()
        wait_until(lambda: _count(db) == len(early) + FILES, watch.RECONCILE_EVERY,
                   f"all {FILES} files projected within {watch.RECONCILE_EVERY} s")
        caught = time.monotonic() - resumed
        assert {i for (i,) in query(db, "select id from events")} == set(early) | set(ids)
        assert query(db, "select count(*) from problems") == [(0,)]
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=30) == 0, err.read_text()
    finally:
        if watcher.poll() is None:
            os.kill(watcher.pid, signal.SIGCONT)
            watcher.kill()
            watcher.wait()
    log = err.read_text()
    assert "dropped file notifications" in log, log
    assert "Traceback" not in log
    print(f"\n4. {FILES} files written in {written:.1f} s with the watcher stopped (kernel "
          f"queue {queued} events): all projected {caught:.1f} s after it resumed "
          f"(reconciliation interval {watch.RECONCILE_EVERY:.0f} s)")


def _count(db: Path) -> int:
    try:
        return query(db, "select count(*) from events")[0][0]
    except sqlite3.OperationalError:  # not created yet
        return -1


WRITE = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    root = Path(sys.argv[1])
    parts = Path(sys.argv[2]).read_bytes().split(b"\\0")
    for rel, raw in zip(parts[0::2], parts[1::2]):
        path = root / rel.decode()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
""")
