"""2. Crash during projection: `cooplog build` and `cooplog watch` killed (SIGKILL) at random
points mid-batch, 50 runs each. After every run the database passes PRAGMA integrity_check,
holds no half-applied event (it is exactly the projection of the files its `_files` table
records as applied: an event's rows and its applied-record were committed together or not
at all), and the next catch-up ends equal to a fresh build.

The log is faults.varied_log: organizations, meetings, agreements with statuses and
revisions, corrections and retractions (some before their targets), bad files. Commands run
in children forked from a warm Python (faults.Forker), a few through the installed script;
kill delays come from a seeded generator, spread over the time an unkilled run takes."""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

from faults import (
    COOPLOG,
    Forker,
    References,
    applied_paths,
    built,
    caught_up,
    no_half_applied_event,
    put,
    put_atomically,
    varied_log,
)

from test_projection import snapshot

# the reliability suite (README, "Reliability"): minutes in all, so `-m "not slow"` skips it

RUNS = 50  # of each command
SEED = 2


def remove_db(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def installed(*argv, out: Path) -> subprocess.Popen:
    with open(out, "wb") as f:
        return subprocess.Popen([str(COOPLOG), *map(str, argv)], stdout=f, stderr=f)


def test_build_killed_at_random_points(tmp_path):
    files = dict(varied_log(200, seed=SEED))
    root = tmp_path / "log"
    put(root, sorted(files.items()))
    references = References(files, tmp_path / "references")
    everything, half = set(files), set(sorted(files)[:100])
    complete = references.of(everything)
    stale = built(_subset(root, half, tmp_path / "half"), tmp_path / "half.db")
    db = tmp_path / "db" / "cooplog.db"
    out = tmp_path / "build.out"
    rng = random.Random(SEED)
    outcomes: Counter = Counter()
    forker = Forker()
    try:
        durations = []
        for _ in range(2):  # how long a build from nothing takes here, unkilled
            remove_db(db)
            started = time.monotonic()
            assert forker.wait(forker.start("--root", root, "--db", db, "build", out=out)) == 0
            durations.append(time.monotonic() - started)
        span = 1.1 * max(durations)
        for run in range(RUNS):
            state = rng.choice(["none", "stale", "complete"])
            if state == "none":
                remove_db(db)
            elif state == "stale":
                remove_db(db)
                shutil.copy(stale, db)
            if run % 10 == 9:  # the installed script: start-up included
                process = installed("--root", root, "--db", db, "build", out=out)
                time.sleep(rng.uniform(0, 3 * span))
                process.kill()
                code = process.wait(timeout=30)
            else:
                pid = forker.start("--root", root, "--db", db, "build", out=out)
                time.sleep(rng.uniform(0, span))
                code = forker.kill(pid)
            assert code in (0, -9), out.read_text()
            applied = no_half_applied_event(db, references)
            before = {"none": set(), "stale": half, "complete": everything}[state]
            assert applied in (before, everything), (state, len(applied))
            outcomes[f"from {state}: " + ("done" if applied == everything else
                                         "rolled back" if code else "finished")] += 1
            caught_up(root, db)
            assert snapshot(db) == complete, run
    finally:
        forker.close()
    print(f"\n2. build killed at random points: {RUNS} runs, delays 0-{span:.2f} s: "
          f"{dict(outcomes)}")


def _subset(root: Path, paths: set[str], to: Path) -> Path:
    (to / "events").mkdir(parents=True)
    for rel in paths:
        (to / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / rel, to / rel)
    return to


def test_watcher_killed_at_random_points(tmp_path):
    pool = varied_log(250, seed=SEED + 1)
    files = dict(pool)
    base, batches = pool[:100], [pool[100 + 30 * i:130 + 30 * i] for i in range(5)]
    root = tmp_path / "log"
    put(root, base)
    references = References(files, tmp_path / "references")
    template = built(root, tmp_path / "base.db")
    db = tmp_path / "db" / "cooplog.db"
    db.parent.mkdir()
    out = tmp_path / "watch.out"
    rng = random.Random(SEED)
    outcomes: Counter = Counter()
    forker = Forker()
    dropped: list[tuple[str, bytes]] = []

    def run_once(batch, delay: float | None, when: str, script: bool = False):
        """Drop the batch (before the watcher starts, or once it runs), kill the watcher
        after `delay` seconds (None: once every file is applied); the delay taken."""
        for rel, _ in dropped:
            (root / rel).unlink()
        dropped[:] = batch
        remove_db(db)
        shutil.copy(template, db)
        if when == "before":
            put_atomically(root, batch, tmp_path / "staging")
        started = time.monotonic()
        if script:
            process = installed("--root", root, "--db", db, "watch", out=out)
        else:
            pid = forker.start("--root", root, "--db", db, "watch", out=out)
        if when == "after":
            put_atomically(root, batch, tmp_path / "staging")
        wanted = {rel for rel, _ in base + batch}
        if delay is None:
            deadline = started + 60
            while applied_paths(db) != wanted:
                assert time.monotonic() < deadline, out.read_text()
                time.sleep(0.01)
            delay = time.monotonic() - started
        else:
            time.sleep(max(0.0, delay - (time.monotonic() - started)))
        if script:
            process.kill()
            code = process.wait(timeout=30)
        else:
            code = forker.kill(pid)
        assert code == -9, out.read_text()  # a watcher runs until stopped
        return delay

    try:
        span = 1.1 * max(run_once(batches[i], None, when) for i, when in
                         ((0, "before"), (1, "after")))
        for run in range(RUNS):
            batch = batches[run % len(batches)]
            when = rng.choice(["before", "after"])
            script = run % 10 == 9
            run_once(batch, rng.uniform(0, 4 * span if script else span), when, script)
            applied = no_half_applied_event(db, references)
            wanted = {rel for rel, _ in base + batch}
            assert applied <= wanted
            outcomes["all applied" if applied == wanted else "part applied"] += 1
            caught_up(root, db)
            assert snapshot(db) == references.of(wanted), run
    finally:
        forker.close()
    print(f"\n2. watch killed at random points: {RUNS} runs, delays 0-{span:.2f} s: "
          f"{dict(outcomes)}")


def test_a_large_build_killed_takes_its_reading_processes_with_it(tmp_path):
    """A build of a large log reads its files in forked processes: killed (SIGKILL) while
    they read, it leaves no process behind and the database as it was."""
    import sqlite3

    from cooplog.projection import READERS

    files = dict(varied_log(2500, seed=SEED))
    root = tmp_path / "log"
    put(root, sorted(files.items()))
    db = tmp_path / "db" / "cooplog.db"
    assert subprocess.run([str(COOPLOG), "--root", str(root), "--db", str(db), "build"],
                          capture_output=True).returncode == 0
    before = snapshot(db)
    (root / "events" / "2024" / "05" / "late.json").write_text("{}")  # so a rebuild differs
    for _ in range(3):
        process = installed("--root", root, "--db", db, "build", out=tmp_path / "build.out")
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
        readers: list[str] = []
        while len(readers) < READERS and process.poll() is None:
            readers = children.read_text().split()
            time.sleep(0.005)
        assert len(readers) == READERS, "the build ended before its readers were seen"
        process.kill()
        assert process.wait(timeout=30) == -9
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in readers):
            assert time.monotonic() < deadline, f"reading processes {readers} outlived the build"
            time.sleep(0.05)
        assert sqlite3.connect(db).execute("pragma integrity_check").fetchone() == ("ok",)
        assert snapshot(db) == before
