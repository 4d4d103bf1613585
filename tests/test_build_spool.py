"""A large build's reading processes spool their rows to SQLite files that the building
process copies from in SQL (tests/test_projection_properties.py holds that this makes the
same database as reading every file in one process)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from cooplog import projection
from cooplog.projection import Projection
from cooplog.store import Store

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def log(tmp_path, monkeypatch) -> Store:
    shutil.copytree(REPO / "events", tmp_path / "log" / "events")
    monkeypatch.setattr(projection, "_readers", lambda files: 2)
    monkeypatch.setattr(projection, "CHUNK", 7)
    return Store(tmp_path / "log")


@pytest.mark.slow
def test_the_rows_of_a_large_build_come_by_sql_and_no_spool_is_left(log, tmp_path,
                                                                    monkeypatch):
    inserted: list[str] = []
    real = Projection._insert
    monkeypatch.setattr(Projection, "_insert",
                        lambda self, rows: inserted.extend(rows.tables) or real(self, rows))
    db = tmp_path / "db" / "cooplog.db"
    built = Projection(log, db)
    try:
        assert built.build()["readers"] == 2
    finally:
        built.close()
    # none of the rows of the files as recorded went through Python in the building process
    assert not {"events", "_files", "_file_problems"} & set(inserted)
    files = len(list(log.files()))
    conn = sqlite3.connect(db)
    assert conn.execute("select count(*) from _files").fetchone() == (files,)
    assert conn.execute("select count(*) from events").fetchone() == (files,)
    assert conn.execute("pragma database_list").fetchall() == [(0, "main", str(db))]
    assert sorted(p.name for p in db.parent.iterdir()) == ["cooplog.db", "cooplog.db-shm",
                                                           "cooplog.db-wal"]


def test_a_build_that_fails_leaves_the_database_and_no_spool(log, tmp_path, monkeypatch):
    db = tmp_path / "db" / "cooplog.db"
    first = Projection(log, db)
    first.build()
    first.close()
    before = sqlite3.connect(db).execute("select id, summary from events order by id").fetchall()
    monkeypatch.setattr(Projection, "refresh_orgs", lambda self, keys=None: 1 / 0)
    again = Projection(log, db)
    try:
        with pytest.raises(ZeroDivisionError):
            again.build()
    finally:
        again.close()
    after = sqlite3.connect(db).execute("select id, summary from events order by id").fetchall()
    assert after == before
    assert not list(db.parent.glob(".build-*"))


def test_the_spools_of_a_killed_build_are_removed_by_the_next(log, tmp_path):
    """A build killed (SIGKILL) cannot remove its spools: the next build removes those of
    builds no longer running, and leaves a running one's alone."""
    import os

    db = tmp_path / "db" / "cooplog.db"
    db.parent.mkdir()
    dead = db.parent / ".build-999999999-x"  # no process has this id (pid_max is lower)
    running = db.parent / f".build-{os.getpid()}-y"
    for folder in (dead, running):
        folder.mkdir()
        (folder / "0.db").write_bytes(b"rows")
    built = Projection(log, db)
    try:
        built.build()
    finally:
        built.close()
    assert not dead.exists()
    assert (running / "0.db").read_bytes() == b"rows"
