"""`add`'s checks ask the log's database and the files it has not recorded, never a
watcher: each case where the database cannot answer for the files sends them to the files
(an edited file, a file added behind its back, a retraction it has not seen, no database),
and the answer is the one the files give."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from cooplog import check, mistakes
from cooplog.store import Store, default_db
from helpers import built, written

ACTIVITY = ["add", "activity", "--date", "2010-04", "--org", "wco",
            "--summary", "Briefed the WCO on e-waste.", "--no-commit"]
AN_HOUR = 3600 * 10**9


@pytest.fixture
def recorded(seeded) -> Path:
    """The seeded log with its database, its month folders last changed an hour before the
    database was written (as on any log but the newest month's)."""
    built(seeded)
    age_folders(seeded)
    return seeded


def age_folders(root: Path) -> None:
    for month in (root / "events").glob("*/*"):
        then = month.stat().st_mtime_ns - AN_HOUR
        os.utime(month, ns=(then, then))


@pytest.fixture
def files_read(monkeypatch) -> list[str]:
    """Each time a check reads the log through, instead of asking the database."""
    calls = []

    def spy(original):
        def read_through(store, *args):
            calls.append(original.__name__)
            return original(store, *args)
        return read_through

    monkeypatch.setattr(check, "registry_of", spy(check.registry_of))
    monkeypatch.setattr(mistakes, "_from_files", spy(mistakes._from_files))
    return calls


def _file_of(root: Path, key: str) -> Path:
    return next(p for p in Store(root).files()
                if json.loads(p.read_bytes())["data"].get("key") == key)


def _edit_in_place(path: Path, old: str, new: str) -> None:
    """Rewrite the file through the same inode, as an editor that truncates does: its
    folder's mtime does not change."""
    folder = path.parent.stat()
    raw = path.read_bytes().replace(old.encode(), new.encode())
    with open(path, "r+b") as f:
        f.write(raw)
        f.truncate()
    later = time.time_ns() + 10**9  # past whatever mtime the database recorded
    os.utime(path, ns=(later, later))
    os.utime(path.parent, ns=(folder.st_atime_ns, folder.st_mtime_ns))


def test_a_name_is_found_in_the_database_without_reading_the_log(recorded, cli, files_read):
    result = cli(recorded, *ACTIVITY)
    assert (result.exit_code, result.stderr) == (0, "")
    assert files_read == []


def test_a_file_added_behind_its_back_is_found_by_the_listing(recorded, cli, files_read):
    """An organization registered after the database was written (the listing of the
    folder it changed finds it) is known, and the log is not read through."""
    result = cli(recorded, "add", "organization", "--key", "basel", "--name", "Basel",
                 "--category", "mea", "--no-commit")
    assert result.exit_code == 0, result.output
    result = cli(recorded, *ACTIVITY[:5], "basel", *ACTIVITY[6:])
    assert (result.exit_code, result.stderr) == (0, "")
    assert files_read == []


def test_an_edited_registration_sends_the_check_to_the_files(recorded, cli, files_read):
    """The database still has `wco`; its file, edited in place, no longer registers it."""
    _edit_in_place(_file_of(recorded, "wco"), '"wco"', '"wcx"')
    result = cli(recorded, *ACTIVITY)
    assert result.exit_code == 1
    assert "unknown organization 'wco'" in result.stderr
    assert files_read == ["registry_of"]


def test_a_retraction_it_has_not_recorded_sends_the_check_to_the_files(recorded, cli,
                                                                       files_read):
    registration = _file_of(recorded, "wco")
    retracted = cli(recorded, "retract", registration.stem, "--reason", "wrong", "--no-commit")
    assert retracted.exit_code == 0, retracted.output
    result = cli(recorded, *ACTIVITY)
    assert result.exit_code == 1
    assert "unknown organization 'wco'" in result.stderr
    assert files_read == ["registry_of"]


def test_without_a_database_the_files_answer(recorded, cli, files_read):
    default_db(recorded).unlink()
    result = cli(recorded, *ACTIVITY)
    assert (result.exit_code, result.stderr) == (0, "")
    assert files_read == ["registry_of", "_from_files"]


def test_an_edited_duplicate_is_no_longer_one(seeded, cli, files_read):
    """The database says an activity like this one exists; its file, edited in place since,
    says another summary and another date: no warning."""
    first = cli(seeded, *ACTIVITY)
    (_, rel), = written(first, seeded)
    built(seeded)
    age_folders(seeded)
    _edit_in_place(seeded / rel, "Briefed the WCO on e-waste.", "Hosted the WCO for a day.")
    _edit_in_place(seeded / rel, '"2010-04"', '"2010-05"')
    files_read.clear()
    result = cli(seeded, *ACTIVITY)
    assert (result.exit_code, result.stderr) == (0, "")
    assert files_read == ["_from_files"]


def test_a_duplicate_added_behind_its_back_is_found(recorded, cli, files_read):
    first = cli(recorded, *ACTIVITY)
    (first_id, _), = written(first, recorded)
    result = cli(recorded, *ACTIVITY)
    assert result.exit_code == 0
    assert result.stderr.startswith(f"warning: add activity: likely a duplicate of {first_id}")
    assert files_read == []
