"""`add`'s checks ask the log's database and the files it has not recorded, never a
watcher: each case where the database cannot answer for the files sends them to the files
(an edited file, a file added behind its back, a retraction it has not seen, no database),
and the answer is the one the files give."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from cooplog import append, events, mistakes, recorded, rules
from cooplog import store as store_module
from cooplog.projection import Projection
from cooplog.store import Store, default_db
from helpers import built, git, numbered_ulid, written
from test_projection import snapshot

ACTIVITY = ["add", "activity", "--date", "2010-04", "--org", "wco",
            "--summary", "Briefed the WCO on e-waste.", "--no-commit"]


@pytest.fixture(autouse=True)
def no_margin(monkeypatch):
    """Folders changed up to 2 s before the files were listed count as changed (coarse
    file times); a test's log is younger than that."""
    monkeypatch.setattr(recorded, "MARGIN_NS", 0)


@pytest.fixture
def log_with_db(seeded) -> Path:
    """The seeded log with its database: its month folder is settled (unchanged since the
    files were listed), as any log's but the newest month's."""
    built(seeded)
    return seeded


@pytest.fixture
def files_read(monkeypatch) -> list[str]:
    """Each time a check reads the log through, instead of asking the database."""
    calls = []

    def spy(original):
        def read_through(store, *args):
            calls.append(original.__name__)
            return original(store, *args)
        return read_through

    monkeypatch.setattr(rules, "registry_of", spy(rules.registry_of))
    monkeypatch.setattr(mistakes, "_from_files", spy(mistakes._from_files))
    return calls


def _file_of(root: Path, key: str) -> Path:
    return next(p for p in Store(root).files()
                if json.loads(p.read_bytes())["data"].get("key") == key)


def _edit_in_place(path: Path, old: str, new: str) -> None:
    """Rewrite the file through the same inode, as an editor that truncates does: its
    folder does not change."""
    folder = path.parent.stat()
    raw = path.read_bytes().replace(old.encode(), new.encode())
    with open(path, "r+b") as f:
        f.write(raw)
        f.truncate()
    later = time.time_ns() + 10**9  # past whatever mtime the database recorded
    os.utime(path, ns=(later, later))
    assert path.parent.stat().st_ctime_ns == folder.st_ctime_ns


def test_a_name_is_found_in_the_database_without_reading_the_log(log_with_db, cli, files_read):
    result = cli(log_with_db, *ACTIVITY)
    assert (result.exit_code, result.stderr) == (0, "")
    assert files_read == []


def test_a_file_added_behind_its_back_is_found_by_the_listing(log_with_db, cli, files_read):
    """An organization registered after the database was written (the listing of the
    folder it changed finds it) is known, and the log is not read through."""
    result = cli(log_with_db, "add", "organization", "--key", "basel", "--name", "Basel",
                 "--category", "mea", "--no-commit")
    assert result.exit_code == 0, result.output
    result = cli(log_with_db, *ACTIVITY[:5], "basel", *ACTIVITY[6:])
    assert (result.exit_code, result.stderr) == (0, "")
    assert files_read == []


def test_an_edited_registration_sends_the_check_to_the_files(log_with_db, cli, files_read):
    """The database still has `wco`; its file, edited in place, no longer registers it."""
    _edit_in_place(_file_of(log_with_db, "wco"), '"wco"', '"wcx"')
    result = cli(log_with_db, *ACTIVITY)
    assert result.exit_code == 1
    assert "unknown organization 'wco'" in result.stderr
    assert files_read == ["registry_of"]


def test_a_retraction_it_has_not_recorded_sends_the_check_to_the_files(log_with_db, cli,
                                                                       files_read):
    registration = _file_of(log_with_db, "wco")
    retracted = cli(log_with_db, "retract", registration.stem, "--reason", "wrong", "--no-commit")
    assert retracted.exit_code == 0, retracted.output
    result = cli(log_with_db, *ACTIVITY)
    assert result.exit_code == 1
    assert "unknown organization 'wco'" in result.stderr
    assert files_read == ["registry_of"]


def test_without_a_database_the_files_answer(log_with_db, cli, files_read):
    default_db(log_with_db).unlink()
    result = cli(log_with_db, *ACTIVITY)
    assert (result.exit_code, result.stderr) == (0, "")
    assert files_read == ["registry_of", "_from_files"]


def test_an_edited_duplicate_is_no_longer_one(seeded, cli, files_read):
    """The database says an activity like this one exists; its file, edited in place since,
    says another summary and another date: no warning."""
    first = cli(seeded, *ACTIVITY)
    (_, rel), = written(first, seeded)
    built(seeded)
    _edit_in_place(seeded / rel, "Briefed the WCO on e-waste.", "Hosted the WCO for a day.")
    _edit_in_place(seeded / rel, '"2010-04"', '"2010-05"')
    files_read.clear()
    result = cli(seeded, *ACTIVITY)
    assert (result.exit_code, result.stderr) == (0, "")
    assert files_read == ["_from_files"]


def test_a_duplicate_added_behind_its_back_is_found(log_with_db, cli, files_read):
    first = cli(log_with_db, *ACTIVITY)
    (first_id, _), = written(first, log_with_db)
    result = cli(log_with_db, *ACTIVITY)
    assert result.exit_code == 0
    assert result.stderr.startswith(f"warning: add activity: likely a duplicate of {first_id}")
    assert files_read == []


# --- a catch-up (report, serve, sync, the watcher's start) lists only changed folders ------


def _old_month(root: Path, count: int = 3) -> list[Path]:
    """Activities of an old month (events/2024/06/), committed."""
    store = Store(root)
    paths = []
    for n in range(count):
        event = events.validate({
            "id": numbered_ulid(n), "type": "activity.noted", "schema": 1,
            "recorded_at": "2024-06-01T00:00:00Z", "recorded_by": "old@example.org",
            "occurred": "2009", "summary": f"Old activity {n}.", "orgs": ["wco"], "data": {}})
        paths.append(store.write(event))
    git(root, "add", "events")
    git(root, "commit", "-qm", "old month")
    return paths


@pytest.fixture
def listed(monkeypatch) -> list[str]:
    """The folders a walk lists, relative to the log."""
    folders = []
    real = store_module.os.scandir

    def scandir(path):
        folders.append(Path(path).as_posix().split("/events", 1)[-1])
        return real(path)

    monkeypatch.setattr(store_module.os, "scandir", scandir)
    return folders


def _caught_up_equals_a_build(root: Path, tmp_path: Path) -> None:
    _catch_up(root)
    _equals_a_build(root, tmp_path)


def _catch_up(root: Path) -> None:
    projection = Projection(Store(root))
    try:
        projection.catch_up()
    finally:
        projection.close()


def _equals_a_build(root: Path, tmp_path: Path) -> None:
    assert snapshot(default_db(root)) == snapshot(built(root, tmp_path / "fresh.db"))


def test_a_catch_up_lists_only_the_folders_changed_since_the_last_listing(
        seeded, tmp_path, listed):
    """A file added to this month's folder is applied; the old month's folder, unchanged
    since the build listed it, is not listed (a walk of 100,000 files, 1 s, on `report`)."""
    old = _old_month(seeded)
    built(seeded)
    new = cli_add(seeded)
    listed.clear()
    _catch_up(seeded)
    assert old[0].parent.as_posix().endswith("/2024/06")
    assert "/2024/06" not in listed and f"/{new.parent.parent.name}/{new.parent.name}" in listed
    _equals_a_build(seeded, tmp_path)


def test_a_file_brought_with_its_old_times_is_caught_up(seeded, tmp_path):
    """`cp -p`, rsync and tar set a folder's mtime back; its ctime says it changed."""
    old = _old_month(seeded)
    built(seeded)
    folder = old[0].parent.stat()
    brought = old[0].parent / f"{numbered_ulid(99)}.json"
    brought.write_bytes(old[0].read_bytes().replace(old[0].stem.encode(),
                                                    numbered_ulid(99).encode()))
    os.utime(old[0].parent, ns=(folder.st_atime_ns, folder.st_mtime_ns))
    os.utime(brought, ns=(folder.st_atime_ns, folder.st_mtime_ns))
    _caught_up_equals_a_build(seeded, tmp_path)
    assert _in_events(seeded, numbered_ulid(99))


@pytest.mark.slow
def test_a_committed_file_rewritten_in_place_is_caught_up(seeded, tmp_path):
    """Its folder does not change: git names it, committed (the hook skipped) or not."""
    old = _old_month(seeded)
    built(seeded)
    _edit_in_place(old[0], "Old activity 0.", "Rewritten in place.")
    _caught_up_equals_a_build(seeded, tmp_path)
    assert _summary(seeded, old[0].stem) == "Rewritten in place."
    _edit_in_place(old[1], "Old activity 1.", "Rewritten and committed.")
    git(seeded, "commit", "-qam", "a breach", "--no-verify")
    _caught_up_equals_a_build(seeded, tmp_path)
    assert _summary(seeded, old[1].stem) == "Rewritten and committed."


@pytest.mark.slow
def test_a_file_removed_from_an_old_month_is_forgotten(seeded, tmp_path):
    old = _old_month(seeded)
    built(seeded)
    old[2].unlink()
    _caught_up_equals_a_build(seeded, tmp_path)
    assert not _in_events(seeded, old[2].stem)


def cli_add(root: Path) -> Path:
    (_, path), = append.append(Store(root), [("new", {
        "type": "activity.noted", "occurred": "2010", "summary": "New.", "orgs": ["wco"]})],
        commit=False)
    return path


def _in_events(root: Path, event_id: str) -> bool:
    with closing(sqlite3.connect(default_db(root))) as conn:
        return conn.execute("select 1 from events where id = ?", [event_id]).fetchone() \
            is not None


def _summary(root: Path, event_id: str) -> str:
    with closing(sqlite3.connect(default_db(root))) as conn:
        return conn.execute("select summary from events where id = ?", [event_id]).fetchone()[0]


@pytest.mark.parametrize("state", ["listed_at", "last_commit"])
@pytest.mark.slow
def test_without_its_bookkeeping_a_catch_up_lists_every_folder(seeded, tmp_path, listed,
                                                               state):
    """A database from before the listing was recorded, or one whose last commit git no
    longer has (a history rewritten): nothing can be taken as settled."""
    old = _old_month(seeded)
    built(seeded)
    with closing(sqlite3.connect(default_db(seeded))) as conn, conn:
        if state == "listed_at":
            conn.execute("delete from _state where name = 'listed_at'")
        else:
            conn.execute("update _state set value = ? where name = 'last_commit'", ["f" * 40])
    if state == "last_commit":  # what only git could have named
        _edit_in_place(old[0], "Old activity 0.", "Rewritten in place.")
        git(seeded, "commit", "-qam", "a breach", "--no-verify")
    listed.clear()
    _catch_up(seeded)
    assert "/2024/06" in listed
    _equals_a_build(seeded, tmp_path)
