"""Problems that come from git (a committed event file changed or deleted in the working
tree) end when their fix is made, incrementally as in a full build (issue 21, defect 10):
the exact `git restore` that `problems` advises clears the row under a running watcher, and
after a restart; any sequence of deletions, edits and restores applied file by file ends
with the problems of a fresh build."""

from __future__ import annotations

import re
import shlex
import sqlite3
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cooplog import append, watch
from cooplog.projection import Projection
from cooplog.store import Store, default_db
from helpers import built, event_files, git
from test_projection_properties import PROPERTY, scratch

TIMEOUT = 20.0


def problems(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return sorted(conn.execute("select path, field, message from problems"))
    finally:
        conn.close()


def wait_for_problems(db: Path, predicate, what: str) -> list[tuple]:
    deadline = time.monotonic() + TIMEOUT
    while not predicate(found := problems(db)):
        assert time.monotonic() < deadline, f"{what}; problems: {found}"
        time.sleep(0.05)
    return found


def advised(message: str) -> list[str]:
    """The git command a problem's message advises, as arguments."""
    command = re.search(r"`(git restore [^`]*)`", message)
    assert command, message
    return shlex.split(command.group(1))[1:]


@pytest.mark.slow
def test_the_advised_restore_clears_the_problem_under_a_watcher_and_after_a_restart(seeded):
    db = default_db(seeded)
    victim = seeded / event_files(seeded)[0]
    with watch.Watcher(Store(seeded), db, reconcile_every=600):
        victim.unlink()
        (problem,) = wait_for_problems(db, lambda found: len(found) == 1,
                                       "the deletion was never listed")
        assert problem[0] == victim.relative_to(seeded).as_posix()
        git(seeded, *advised(problem[2]))
        assert victim.is_file()
        wait_for_problems(db, lambda found: found == [], "the restored file is still listed")
    with watch.Watcher(Store(seeded), db, reconcile_every=600):
        assert problems(db) == []
    assert problems(built(seeded, seeded / "fresh.db")) == []


def test_a_problem_left_by_an_earlier_catch_up_ends_at_the_next(seeded):
    """A database that lists a breach already fixed (as one made before this fix may)."""
    db = built(seeded)
    conn = sqlite3.connect(db)
    conn.execute("insert into _breaches values ('events/2009/01/gone.json', 'deleted: …')")
    conn.commit()
    conn.close()
    projection = Projection(Store(seeded), db)
    try:
        projection.catch_up()
    finally:
        projection.close()
    assert problems(db) == []


@pytest.mark.slow
def test_the_reconciliation_ends_a_problem_that_git_alone_ended(seeded):
    """Committing the change (hook skipped) ends the working-tree problem with no file
    changed: the next reconciliation sees it."""
    db = default_db(seeded)
    victim = seeded / event_files(seeded)[0]
    with watch.Watcher(Store(seeded), db, reconcile_every=0.5):
        victim.write_bytes(victim.read_bytes().replace(b'"The ', b'"Our '))
        wait_for_problems(db, lambda found: len(found) == 1, "the edit was never listed")
        git(seeded, "commit", "-q", "--no-verify", "-am", "edited in place")
        wait_for_problems(db, lambda found: found == [], "the committed edit is still listed")
    assert problems(built(seeded, seeded / "fresh.db")) == []


# --- as a property ----------------------------------------------------------------------------

STEPS = st.lists(st.tuples(st.sampled_from(["delete", "edit", "restore", "add"]),
                           st.integers(0, 2)), min_size=1, max_size=8)


@settings(PROPERTY, max_examples=max(1, PROPERTY.max_examples // 2))  # each is a clone
@given(steps=STEPS)
@pytest.mark.slow
def test_any_deletions_edits_and_restores_end_with_a_fresh_builds_problems(
        _templates, steps):
    with scratch() as tmp:
        root = Path(tmp) / "log"
        git(Path(tmp), "clone", "-q", str(_templates[1]), str(root))  # the seeded log
        projection = Projection(Store(root), Path(tmp) / "incremental.db")
        try:
            projection.build()
            files = event_files(root)
            for action, n in steps:
                path = root / files[n % len(files)]
                rel = files[n % len(files)]
                if action == "delete" and path.exists():
                    path.unlink()
                    projection.forget(rel)
                elif action == "edit" and path.exists():
                    path.write_bytes(path.read_bytes().replace(b"}", b' }', 1))
                    projection.apply(path)
                elif action == "restore":
                    git(root, "restore", "--staged", "--worktree", rel)
                    projection.apply(path)
                elif action == "add":
                    (_, added), = append.append(Store(root), [("new", {
                        "type": "activity.noted", "occurred": "2009",
                        "summary": f"Step {n}.", "data": {}})], by="prop@example.org")
                    projection.apply(added)
            incremental = problems(projection.db_path)
            projection.catch_up()  # as after a restart
            restarted = problems(projection.db_path)
        finally:
            projection.close()
        fresh = problems(built(root, Path(tmp) / "fresh.db"))
        assert incremental == fresh
        assert restarted == fresh
