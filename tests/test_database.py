"""The database is only ever cooplog's (issue 21, defects 2 and 8): another application's
SQLite file given as --db is refused by every command that opens the database and left as it
was, byte for byte; a database of cooplog's that cannot be read is set aside, with a warning
naming both paths, and rebuilt from the files; `sync` checks it before it touches the
repository."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cooplog import watch
from cooplog.database import APPLICATION_ID
from cooplog.store import Store, default_db
from helpers import built, event_files, git
from test_serve import start_serve, stop_serve

COOPLOG = Path(sys.executable).parent / "cooplog"


def cooplog(root: Path, *args, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real command, in its own process: one that should refuse at once and instead
    runs on (watch, serve) fails the test by its time-out instead of hanging it."""
    return subprocess.run([str(COOPLOG), "--root", str(root), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def precious(path: Path, journal: str = "delete") -> None:
    """Another application's database: a table of its own, with a row."""
    conn = sqlite3.connect(path)
    conn.execute(f"pragma journal_mode = {journal}")
    conn.execute("create table precious (note text)")
    conn.execute("insert into precious values ('only copy')")
    conn.commit()
    conn.close()


def folder(path: Path) -> dict[str, bytes]:
    """Every file in the folder, by name, with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}


def count(db: Path, table: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"select count(*) from [{table}]").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def with_remote(seeded, tmp_path):
    """The seeded log with an `origin` one commit ahead of it (an event to come in)."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seeded), str(remote))
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    from cooplog import append

    append.append(Store(other), [("there", {"type": "activity.noted", "occurred": "2009",
                                            "summary": "Recorded in the other office.",
                                            "data": {}})], by="other@example.org")
    git(other, "push", "-q", "origin", "HEAD")
    git(seeded, "remote", "add", "origin", str(remote))
    return seeded


# --- another application's database -------------------------------------------------------

COMMANDS = [("build",), ("report", "--period", "2009"), ("export", "ics"), ("watch",),
            ("serve", "--port", "0"), ("sync",)]


@pytest.mark.parametrize("journal", ["delete", "wal"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.slow
def test_another_applications_database_is_refused_and_left_untouched(
        with_remote, tmp_path, command, journal):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    db = theirs / "other.db"
    precious(db, journal)
    before = folder(theirs)
    head = git(with_remote, "rev-parse", "HEAD").stdout

    result = cooplog(with_remote, "--db", db, *command, timeout=30)

    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: {db}: another application's SQLite database (cooplog writes only to a "
        "database it made): it is left as it is; pass another --db"]
    assert folder(theirs) == before  # byte for byte, and nothing put beside it
    assert git(with_remote, "rev-parse", "HEAD").stdout == head  # sync: nothing fetched in


def test_add_beside_a_watcher_leaves_another_applications_database_untouched(seeded, tmp_path,
                                                                              cli):
    db = tmp_path / "other.db"
    precious(db)
    before = db.read_bytes()
    with watch.Watcher(Store(seeded), default_db(seeded), reconcile_every=600):
        result = cli(seeded, "--db", db, "add", "activity", "--date", "2009", "--org", "wco",
                     "--summary", "Met the WCO.", "--no-commit")
    assert result.exit_code == 0, result.stderr
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("other")) == [
        "other.db"]


@pytest.mark.parametrize("made", ["no bytes", "no tables"])
def test_an_empty_file_is_claimed(seeded, tmp_path, cli, made):
    db = tmp_path / "new.db"
    if made == "no bytes":
        db.touch()
    else:
        sqlite3.connect(db).execute("pragma user_version = 3").connection.close()
    result = cli(seeded, "--db", db, "build")
    assert result.exit_code == 0, result.stderr
    assert count(db, "events") == len(event_files(seeded))
    conn = sqlite3.connect(db)
    assert conn.execute("pragma application_id").fetchone() == (APPLICATION_ID,)
    conn.close()


# --- a database that cannot be read ----------------------------------------------------------


def scrambled(db: Path) -> bytes:
    """Fill the database (and a -wal beside it) with random bytes, as `cat /dev/urandom`
    would; what the database file then holds."""
    db.parent.mkdir(parents=True, exist_ok=True)
    garbage = os.urandom(64 * 1024)
    db.write_bytes(garbage)
    Path(f"{db}-wal").write_bytes(os.urandom(4096))
    return garbage


def set_aside(db: Path) -> Path:
    """The one file the database was set aside as."""
    aside = [p for p in db.parent.iterdir() if p.name.startswith(f"{db.name}.corrupt-")
             and not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1, aside
    return aside[0]


@pytest.mark.parametrize("command", [("build",), ("report", "--period", "2009"),
                                     ("export", "ics")], ids=lambda c: c[0])
def test_an_unreadable_database_at_the_default_path_is_set_aside_and_rebuilt(
        seeded, cli, caplog, command):
    db = default_db(seeded)
    garbage = scrambled(db)
    with caplog.at_level(logging.WARNING, logger="cooplog.database"):
        result = cli(seeded, *command)
    assert result.exit_code == 0, result.stderr
    aside = set_aside(db)
    assert aside.read_bytes() == garbage
    assert Path(f"{aside}-wal").is_file()  # its journal with it
    assert [r.getMessage() for r in caplog.records] == [
        f"cooplog: {db} cannot be read (file is not a database): set aside as {aside}; a new "
        "one is built from the files"]
    assert count(db, "events") == len(event_files(seeded))


def test_the_watcher_starts_on_an_unreadable_database_by_setting_it_aside(seeded):
    db = default_db(seeded)
    garbage = scrambled(db)
    with watch.Watcher(Store(seeded), db, reconcile_every=600) as watcher:
        assert watcher.status.alive
        assert count(db, "events") == len(event_files(seeded))
    assert set_aside(db).read_bytes() == garbage


@pytest.mark.slow
def test_cooplog_serve_starts_on_an_unreadable_database(seeded, tmp_path):
    db = default_db(seeded)
    scrambled(db)
    process, _, stderr_path = start_serve(seeded, tmp_path)
    stop_serve(process, signal.SIGINT, stderr_path)
    assert f"set aside as {set_aside(db)}" in stderr_path.read_text(encoding="utf-8")
    assert count(db, "events") == len(event_files(seeded))


def test_an_unreadable_file_given_as_db_is_refused_unless_marked_as_ours(seeded, tmp_path,
                                                                        cli):
    stranger = tmp_path / "notes.db"
    stranger.write_bytes(b"not SQLite at all, and nobody's database\n" * 100)
    before = folder(tmp_path)
    result = cli(seeded, "--db", stranger, "build")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {stranger}: not a database cooplog can read (file is not a database), and "
        "not marked as cooplog's: it is left as it is; pass another --db"]
    assert folder(tmp_path) == before

    ours = built(seeded, tmp_path / "ours.db")
    with open(ours, "r+b") as f:  # cut short: its header still says whose it is
        f.truncate(8192)
    result = cli(seeded, "--db", ours, "build")
    assert result.exit_code == 0, result.stderr
    assert set_aside(ours).stat().st_size == 8192
    assert count(ours, "events") == len(event_files(seeded))


def test_damage_found_while_working_sets_the_database_aside_too(seeded, cli):
    """The header and the schema read fine; the events table's own page does not."""
    db = built(seeded)
    conn = sqlite3.connect(db)
    page_size = conn.execute("pragma page_size").fetchone()[0]
    root_page = conn.execute("select rootpage from sqlite_master where name = 'events'"
                             ).fetchone()[0]
    conn.close()
    with open(db, "r+b") as f:
        f.seek((root_page - 1) * page_size)
        f.write(b"\xff" * page_size)
    result = cli(seeded, "build")
    assert result.exit_code == 0, result.stderr
    assert set_aside(db).is_file()
    assert count(db, "events") == len(event_files(seeded))


# --- sync ----------------------------------------------------------------------------------


def test_sync_sets_an_unreadable_database_aside_before_it_syncs(with_remote, cli):
    db = default_db(with_remote)
    scrambled(db)
    result = cli(with_remote, "sync")
    assert result.exit_code == 0, result.stderr
    assert "1 commit(s) in" in result.stdout
    assert set_aside(db).is_file()
    assert count(db, "events") == len(event_files(with_remote))


def test_sync_refuses_an_unreadable_file_before_it_fetches(with_remote, tmp_path, cli):
    stranger = tmp_path / "notes.db"
    stranger.write_bytes(os.urandom(4096))
    head = git(with_remote, "rev-parse", "HEAD").stdout
    result = cli(with_remote, "--db", stranger, "sync")
    assert result.exit_code == 2
    assert git(with_remote, "rev-parse", "HEAD").stdout == head
    assert not (with_remote / ".git" / "FETCH_HEAD").exists()  # nothing was fetched
    assert git(with_remote, "branch", "--remotes").stdout == ""


def test_a_db_path_that_cannot_be_read_is_refused_in_one_line(seeded, tmp_path, cli):
    folder_as_db = tmp_path / "folder.db"
    folder_as_db.mkdir()
    result = cli(seeded, "--db", folder_as_db, "build")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {folder_as_db}: cannot be read as a database (Is a directory): pass another "
        "--db"]
    assert list(folder_as_db.iterdir()) == []
