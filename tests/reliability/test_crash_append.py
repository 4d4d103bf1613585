"""1. Crash during append: `cooplog add` killed (SIGKILL) at random points, 200 runs. After
every run every *.json under events/ is a whole, valid event, no temporary file carries a
.json name, and the next append works (and is committed).

The command runs in a child forked from a warm Python (faults.Forker: the real entry point,
`cooplog.cli.main`), so that the random delays, drawn from a seeded generator over the time
an unkilled add takes here, fall in the command's own work: validating, writing the
temporary file, fsync, link, git add, git commit. Only the cooplog process is killed, as
`kill -9 PID` or the OOM killer would: a git it started runs on to its end. Two logs are
worked on side by side (one thread each) to use both cores."""

from __future__ import annotations

import random
import shutil
import statistics
import threading
import time
from collections import Counter
from pathlib import Path

from faults import Forker

from cooplog import append, audit, events
from cooplog.rules import check_log
from cooplog.store import Store
from helpers import git

# the reliability suite (README, "Reliability"): minutes in all, so `-m "not slow"` skips it

RUNS = 200
LANES = 2
SEED = 1127


def commands(run: int) -> list[str]:
    if run % 2:  # names an organization: reads the log for references first
        return ["add", "meeting", "--title", f"Meeting {run}", "--role", "observer",
                "--org", "wco", "--city", "Brussels", "--country", "BE", "--date", "2009-03",
                "--summary", f"Attended meeting {run}."]
    return ["add", "activity", "--date", "2009", "--summary", f"Activity {run}."]


class Lane:
    """One log, one forker, one seeded generator of kill delays."""

    def __init__(self, root: Path, seed: int):
        self.root = root
        self.store = Store(root)
        self.rng = random.Random(seed)
        self.out = root.parent / f"{root.name}.out"
        self.checked: dict[Path, tuple[int, int]] = {}
        self.outcomes: Counter = Counter()
        self.leftovers: list[str] = []
        self.error: BaseException | None = None

    def whole_events(self) -> int:
        """The number of event files; fails on any .json that is not a whole event as
        cooplog writes it, or a temporary file named otherwise than `.ID.XXXX.tmp`."""
        count, self.leftovers = 0, []
        for path in sorted((self.root / "events").rglob("*")):
            if path.is_dir() or path.name == ".gitkeep":
                continue
            if not path.name.endswith(".json"):
                assert path.name.startswith(".") and path.name.endswith(".tmp"), path
                self.leftovers.append(path.name)
                continue
            status = path.stat()
            seen = (status.st_size, status.st_mtime_ns)
            if self.checked.get(path) != seen:  # a file once whole never changes: read once
                event = self.store.read(path)  # Invalid for a partial or broken file
                assert path.read_bytes() == events.encode(event), f"{path} is not whole"
                self.checked[path] = seen
            count += 1
        return count

    def calibrate(self, forker: Forker) -> float:
        """How long an add takes here, unkilled, while the other lane works too."""
        durations = []
        for run in range(4):
            started = time.monotonic()
            pid = forker.start("--root", self.root, *commands(run), out=self.out)
            assert forker.wait(pid) == 0, self.out.read_text()
            durations.append(time.monotonic() - started)
        return statistics.median(durations)

    def run(self, runs: range) -> None:
        forker = Forker()
        try:
            span = self.span = self.calibrate(forker)
            files = self.whole_events()
            for run in runs:
                before = files
                pid = forker.start("--root", self.root, *commands(run), out=self.out)
                time.sleep(self.rng.uniform(0, span))
                code = forker.kill(pid)
                assert code in (0, -9), (code, self.out.read_text())
                files = self.whole_events()
                written = files - before
                assert written in (0, 1), written
                self.outcomes["finished before the kill" if code == 0 else
                              f"killed, {'its file' if written else 'nothing'} written"] += 1
                # the next append works, and commits its file
                (_, path), = append.append(self.store, [(f"next {run}", {
                    "type": "activity.noted", "occurred": "2010", "summary": f"Next {run}."})])
                rel = self.store.relpath(path)
                assert git(self.root, "log", "--format=%H", "--", rel).stdout.strip(), rel
                files = self.whole_events()
        except BaseException as e:
            self.error = e
        finally:
            forker.close()


def test_add_killed_at_random_points_leaves_only_whole_events(seeded, tmp_path):
    lanes = [Lane(shutil.copytree(seeded, tmp_path / f"log{i}", symlinks=True), SEED + i)
             for i in range(LANES)]
    started = time.monotonic()
    threads = [threading.Thread(target=lane.run, args=(range(i, RUNS, LANES),))
               for i, lane in enumerate(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for lane in lanes:
        if lane.error:
            raise lane.error
    outcomes = sum((lane.outcomes for lane in lanes), Counter())
    assert sum(outcomes.values()) == RUNS
    # the kills fell before, during and after the write: each kind of crash was tried
    assert outcomes["killed, nothing written"] >= 10, outcomes
    assert outcomes["killed, its file written"] >= 10, outcomes
    for lane in lanes:
        assert check_log(lane.store) == []
        # a file a killed add wrote but did not commit is there, whole, to be committed;
        # nothing committed was changed, deleted or renamed
        assert audit.verify(lane.root).breaches == []
    files = sum(lane.whole_events() for lane in lanes)
    leftovers = sum(len(lane.leftovers) for lane in lanes)
    uncommitted = sum(len(git(lane.root, "status", "--porcelain", "--untracked-files=all",
                              "--", "events/*.json").stdout.splitlines()) for lane in lanes)
    print(f"\n1. add killed at random points: {RUNS} runs in {time.monotonic() - started:.0f} s, "
          f"delays 0-{max(lane.span for lane in lanes):.2f} s: {dict(outcomes)}; {files} "
          "event files, all whole; "
          f"{uncommitted} written but left uncommitted by a killed add; {leftovers} temporary "
          "file(s) left, none named .json")
