"""9. Concurrency: 20 processes append 50 events each, all at once, into one git log while
`cooplog watch` keeps its database in step: exactly 1,000 new files, each a valid event,
1,000 new rows, every file committed by the process that wrote it (git's index lock and the
lost `git add` it would cause are handled: gitops holds an fcntl lock around add+commit),
the working tree clean, and `cooplog verify` clean.

Each process runs the append path `cooplog add` runs (`cooplog.append.append`, commit
included) 50 times; tests/test_processes.py starts the `cooplog add` script itself 20 times
at once. A process starts appending only once all 20 are ready."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

from faults import COOPLOG, ids, wait_until

from cooplog.rules import check_log
from cooplog.store import Store
from helpers import event_files, git

# the reliability suite (README, "Reliability"): minutes in all, so `-m "not slow"` skips it

PROCESSES = 20
APPENDS = 50

APPENDER = textwrap.dedent("""
    import sys
    from cooplog import append
    from cooplog.store import Store

    store, n = Store(sys.argv[1]), int(sys.argv[2])
    sys.stdin.read(1)  # ready: wait for the others
    for i in range(int(sys.argv[3])):
        append.append(store, [(f"{n}-{i}", {
            "type": "activity.noted", "occurred": "2009",
            "summary": f"Process {n}, append {i}."})])
""")


def test_twenty_processes_append_fifty_events_each_at_once(seeded, tmp_path):
    before = event_files(seeded)
    commits_before = int(git(seeded, "rev-list", "--count", "HEAD").stdout)
    db = tmp_path / "cooplog.db"
    err = tmp_path / "watch.err"
    with open(err, "wb") as f:
        watcher = subprocess.Popen([str(COOPLOG), "--root", str(seeded), "--db", str(db),
                                    "watch"], stdout=f, stderr=f)
    processes = []
    try:
        wait_until(lambda: db.exists() and ids(db) is not None and len(ids(db)) == len(before),
                   30, "the watcher caught up")
        processes = [subprocess.Popen([sys.executable, "-c", APPENDER, str(seeded), str(n),
                                       str(APPENDS)], stdin=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
                     for n in range(PROCESSES)]
        started = time.monotonic()
        for process in processes:
            process.stdin.write("go")
            process.stdin.close()
        failures = [(process.wait(timeout=600), process.stderr.read())
                    for process in processes]
        took = time.monotonic() - started
        assert failures == [(0, "")] * PROCESSES
        new = sorted(set(event_files(seeded)) - set(before))
        assert len(new) == PROCESSES * APPENDS
        assert len(event_files(seeded)) == len(before) + PROCESSES * APPENDS
        assert check_log(Store(seeded)) == []  # each one valid, no duplicate
        # every file committed, by its own commit, and nothing else left behind
        commits = int(git(seeded, "rev-list", "--count", "HEAD").stdout)
        assert commits == commits_before + PROCESSES * APPENDS
        assert git(seeded, "status", "--porcelain", "--untracked-files=all").stdout == ""
        assert sorted(git(seeded, "ls-files", "events/*.json").stdout.split()) == sorted(
            event_files(seeded))
        wait_until(lambda: len(ids(db)) == len(before) + PROCESSES * APPENDS, 60,
                   "the watcher has a row for every file")
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=30) == 0, err.read_text()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    verified = subprocess.run([str(COOPLOG), "--root", str(seeded), "verify"],
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Traceback" not in err.read_text()
    print(f"\n9. {PROCESSES} processes x {APPENDS} appends: {PROCESSES * APPENDS} files, rows "
          f"and commits in {took:.0f} s ({PROCESSES * APPENDS / took:.0f} appends/s); verify "
          "clean")
