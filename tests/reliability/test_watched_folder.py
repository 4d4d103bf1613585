"""5. Watched folder trouble: events/ removed (or moved away) and recreated, a branch
switch that adds and removes many files, a file and a month folder nobody may read, the
inotify watch limit reached at start and for a new month folder. In each case the watcher
rescans, reports, or exits non-zero with a message saying what to do; it never hangs or goes
deaf silently.
Builds on tests/test_watch.py's helpers (the real watchdog observers, in-process) and runs
`cooplog watch` and `cooplog serve` as processes where exit codes matter."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from faults import COOPLOG, envelope, ids, ids_from, query, wait_until

from cooplog import events, repo, serve
from cooplog.store import Store
from helpers import git
from test_projection import snapshot
from test_serve import free_port
from test_watch import event_ids, fresh_build, new_ids, wait_for_ids, watching, write

# the reliability suite (README, "Reliability"): minutes in all; and watchdog's own
# complaint when nested folders appear at once, harmless
pytestmark = [pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")]


def health(store: Store, db: Path, watcher, monkeypatch) -> dict:
    monkeypatch.setattr(serve, "WATCHER", watcher)
    ds = serve.datasette(store.root, db)
    response = asyncio.run(ds.client.get("/-/cooplog.json"))
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize("how", ["removed", "moved away"])
def test_the_events_folder_removed_and_recreated(store, db, tmp_path, caplog, monkeypatch,
                                                how):
    first = new_ids(2)
    for event_id in first:
        write(store, event_id)
    saved = tmp_path / "saved"
    with caplog.at_level(logging.WARNING, logger="cooplog.watch"), \
            watching(store, db) as watcher:
        assert event_ids(db) == set(first)
        if how == "removed":
            shutil.copytree(store.events_dir, saved)
            shutil.rmtree(store.events_dir)
        else:
            os.rename(store.events_dir, saved)
        # the database follows the files (there are none), and the health says why
        wait_for_ids(db, set())
        wait_until(lambda: any("is gone" in e for e in watcher.status.errors), 10,
                   "the watcher reports that events/ is gone")
        status = health(store, db, watcher, monkeypatch)
        assert status["watcher"] == "alive"
        assert any("is gone" in e and "restore it" in e for e in status["recent_errors"])
        # back, with a file more: watched again, not only reconciled
        shutil.copytree(saved, store.events_dir)
        wait_for_ids(db, set(first))
        (later,) = new_ids(1)
        write(store, later)
        wait_for_ids(db, {*first, later})
        assert watcher.status.healed == 0  # notifications and rescans, no reconciliation
    assert any("watching" in r.getMessage() and "again" in r.getMessage()
               for r in caplog.records)


def branch_files(store: Store, when: datetime, count: int, targets: list[str]) -> list[str]:
    ids = ids_from(when, count)
    bodies = [envelope(i, "meeting.attended", {"title": f"Meeting {n}", "role": "observer",
                                              "location": {"city": "Geneva", "country": "CH"}},
                       occurred="2009-06")
              for n, i in enumerate(ids[:-2])]
    bodies.append(envelope(ids[-2], "event.corrected", {
        "target": targets[0], "set": {"summary": "Corrected on a branch."}, "reason": "R."}))
    bodies.append(envelope(ids[-1], "event.retracted", {"target": targets[1], "reason": "R."}))
    for body in bodies:
        path = store.path_for(body["id"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(events.encode(body))
    return ids


def test_a_branch_switch_adding_and_removing_many_files(tmp_path):
    root = tmp_path / "log"
    repo.init(root)
    store = Store(root)
    base = ids_from(datetime(2024, 3, 1, tzinfo=timezone.utc), 30)
    for event_id in base:
        write(store, event_id)
    git(root, "add", "events")
    git(root, "commit", "-q", "-m", "base")
    main = git(root, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    sizes = {"big": 1500, "small": 200}
    for branch, count in sizes.items():
        git(root, "checkout", "-q", "-b", branch, main if branch == "big" else "big")
        branch_files(store, datetime(2024, 4 + len(branch), 1, tzinfo=timezone.utc), count,
                     base)
        git(root, "add", "events")
        git(root, "commit", "-q", "-m", branch)
    git(root, "checkout", "-q", main)
    db = tmp_path / "cooplog.db"
    # files follow by notification; what git says of them (commits, commit_sha) is read at
    # a catch-up, so at the next reconciliation after HEAD moved
    with watching(store, db, reconcile_every=5.0) as watcher:
        # main -> big: 1,500 files and their month folders come; big -> small: 200 more;
        # small -> main: 1,700 go
        for branch in ("big", "small", main):
            git(root, "checkout", "-q", branch)
            fresh = snapshot(fresh_build(store, db))
            try:
                wait_until(lambda fresh=fresh: snapshot(db, live=True) == fresh, 60,
                           f"the database follows the switch to {branch}")
            except AssertionError:
                now = snapshot(db, live=True)
                raise AssertionError({name: (len(now[name]), len(rows)) for name, rows
                                      in fresh.items() if now[name] != rows},
                                     watcher.status) from None
        assert watcher.status.errors == []


UNPRIVILEGED = (["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
                if os.geteuid() == 0 else [])  # root reads a mode-000 file unless told not to


def test_a_file_and_a_folder_nobody_may_read(store, db, tmp_path):
    first, secret, other = new_ids(3)
    write(store, first)
    err = tmp_path / "watch.err"
    with open(err, "wb") as f:
        process = subprocess.Popen([*UNPRIVILEGED, str(COOPLOG), "--root", str(store.root),
                                    "--db", str(db), "watch"], stdout=f, stderr=f)
    try:
        wait_until(lambda: db.exists() and ids(db) == {first}, 30, "the watcher started")
        path = store.path_for(secret)
        path.write_bytes(events.encode(envelope(secret, "activity.noted", {})))
        path.chmod(0)
        write(store, other)
        rel = store.relpath(path)
        wait_until(lambda: query(db, "select path, message from problems") == [
            (rel, "cannot be read (Permission denied): check its permissions")], 20,
                   "the unreadable file is a problem")
        wait_for_ids(db, {first, other})
        checked = subprocess.run([*UNPRIVILEGED, str(COOPLOG), "--root", str(store.root),
                                  "validate"], capture_output=True, text=True, timeout=60)
        assert checked.returncode == 1
        assert f"{rel}: cannot be read (Permission denied)" in checked.stdout + checked.stderr
        path.chmod(0o644)  # a chmod changes no mtime: the watcher still reads it again
        wait_for_ids(db, {first, secret, other})
        assert query(db, "select count(*) from problems") == [(0,)]
        # a month folder nobody may list: named, not crashed on, and back once readable
        hidden = new_ids(2, datetime(2031, 1, 15, tzinfo=timezone.utc))
        for event_id in hidden:
            write(store, event_id)
        wait_for_ids(db, {first, secret, other, *hidden})
        folder = store.path_for(hidden[0]).parent
        folder.chmod(0)
        try:
            wait_until(lambda: query(db, "select path, message from problems") == [
                (store.relpath(folder), "a folder that cannot be read: check its permissions")],
                20, "the unreadable folder is a problem")
            wait_for_ids(db, {first, secret, other})
            checked = subprocess.run([*UNPRIVILEGED, str(COOPLOG), "--root", str(store.root),
                                      "validate"], capture_output=True, text=True, timeout=60)
            assert checked.returncode == 1 and "Traceback" not in checked.stderr
            assert "a folder that cannot be read" in checked.stdout + checked.stderr
        finally:
            folder.chmod(0o755)
        wait_for_ids(db, {first, secret, other, *hidden})
        assert query(db, "select count(*) from problems") == [(0,)]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Traceback" not in err.read_text()


# `cooplog` with every inotify_add_watch refused as the kernel refuses it past
# fs.inotify.max_user_watches (ENOSPC)
LIMITED = textwrap.dedent("""
    import ctypes, errno, sys
    import watchdog.observers.inotify_c as inotify

    def add_watch(fd, path, mask):
        ctypes.set_errno(errno.ENOSPC)
        return -1

    inotify.inotify_add_watch = add_watch
    from cooplog.cli import main
    main()
""")


def test_the_inotify_watch_limit_reached_at_start(store, tmp_path):
    for command in (["watch"], ["serve", "--port", str(free_port())]):
        done = subprocess.run([sys.executable, "-c", LIMITED, "--root", str(store.root),
                               *command], capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, (command, done.stderr)
        assert "Traceback" not in done.stderr
        (line,) = [x for x in done.stderr.splitlines() if x.startswith("error:")]
        assert "inotify" in line and "fs.inotify.max_user_watches" in line, line
        assert "--polling" in line, line
    # what the message offers works under the same limit
    (event_id,) = new_ids(1)
    err = tmp_path / "polling.err"
    with open(err, "wb") as f:
        process = subprocess.Popen([sys.executable, "-c", LIMITED, "--root",
                                    str(store.root), "watch", "--polling"], stdout=f, stderr=f)
    db = store.root / ".cooplog" / "cooplog.db"
    try:
        wait_until(lambda: b"watching" in err.read_bytes() and db.exists() and ids(db) == set(),
                   30, "cooplog watch --polling starts")
        write(store, event_id)
        wait_until(lambda: ids(db) == {event_id}, 20, "polling sees the new file")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, err.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_inotify_watch_limit_reached_for_a_new_folder(store, db, monkeypatch, caplog):
    """A month folder made while running cannot be watched: reconciliation finds its files
    and the warning says which limit to raise."""
    import watchdog.observers.inotify_c as inotify

    real = inotify.inotify_add_watch
    refused = []

    def add_watch(fd, path, mask):
        if b"/2031" in path:
            refused.append(path)
            ctypes.set_errno(errno.ENOSPC)
            return -1
        return real(fd, path, mask)

    monkeypatch.setattr(inotify, "inotify_add_watch", add_watch)
    ids = new_ids(3, datetime(2031, 1, 15, tzinfo=timezone.utc))
    with caplog.at_level(logging.WARNING, logger="cooplog.watch"), \
            watching(store, db, reconcile_every=1.0) as watcher:
        # the files only once the folder's watch was refused and the walk that a new folder
        # asks for is over: found by that walk, they would be expected, not healed
        (store.events_dir / "2031").mkdir()
        wait_until(lambda: refused, 10, "a watch on the new folder asked for")
        for _ in range(2):  # that walk, and one more in case a periodic one came first
            walked = watcher.status.last_reconcile_at or time.time()
            wait_until(lambda after=walked: (watcher.status.last_reconcile_at or 0) > after,
                       10, "a reconciliation")
        for event_id in ids:
            write(store, event_id)
        wait_for_ids(db, set(ids), timeout=15)
        assert watcher.status.healed >= 1
    # one warning, or one for each reconciliation that found some of the files
    warnings = {r.getMessage() for r in caplog.records if "reconciliation" in r.getMessage()}
    assert warnings and all("fs.inotify.max_user_watches" in w for w in warnings)
