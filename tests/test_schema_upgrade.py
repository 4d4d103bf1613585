"""A database left by another cooplog version (another shape, no application id, cooplog's
own tables) is emptied and rebuilt from the files, never used half-fitting."""

from __future__ import annotations

import sqlite3

from cooplog.database import APPLICATION_ID
from cooplog.projection import Projection
from cooplog.store import Store


def test_a_database_of_another_shape_is_rebuilt(seeded, tmp_path):
    db = tmp_path / "old.db"
    old = sqlite3.connect(db)
    old.execute("create table meetings (event_id text primary key, title text)")
    old.execute("insert into meetings values ('x', 'from an older version')")
    old.execute("create table _files (path text primary key)")
    old.execute("insert into _files values ('events/gone.json')")
    old.execute("create table events (id text primary key, summary text)")
    old.execute("pragma user_version = 7")
    old.commit()
    old.close()

    projection = Projection(Store(seeded), db)
    projection.catch_up()
    columns = [c[1] for c in projection.conn.execute("pragma table_info(meetings)")]
    assert "latitude" in columns
    assert projection.conn.execute("select count(*) from meetings where event_id = 'x'"
                                   ).fetchone() == (0,)
    files = projection.conn.execute("select count(*) from _files").fetchone()[0]
    assert files == len(list(Store(seeded).files()))
    assert projection.conn.execute("pragma application_id").fetchone() == (APPLICATION_ID,)
    projection.close()


def test_the_same_shape_is_kept_as_it_is(seeded, tmp_path):
    db = tmp_path / "cooplog.db"
    first = Projection(Store(seeded), db)
    first.build()
    count = first.conn.execute("select count(*) from events").fetchone()[0]
    first.close()
    again = Projection(Store(seeded), db)
    assert again.conn.execute("select count(*) from events").fetchone()[0] == count > 0
    again.close()
