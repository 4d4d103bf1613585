"""Several logs served as one site (issue 18): each log's own watcher, the site database
following each, and one log's bad file or dead watcher never stopping the others."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from cooplog import append, serve
from cooplog.logs import Log
from cooplog.site_refresh import Refresher
from cooplog.store import Store
from cooplog.watch import Watcher
from test_logs import private
from test_serve import free_port, stop_serve

TIMEOUT = 20.0
NEW = {"type": "activity.noted", "occurred": "2010-01", "orgs": ["wco"],
       "summary": "Trained customs officers in Lomé.", "data": {}}


@pytest.fixture
def two(seeded, tmp_path) -> list[Log]:
    other = shutil.copytree(seeded, tmp_path / "stockholm", symlinks=True)
    return [Log("basel", seeded), Log("stockholm", other)]


def rows(db: Path, sql: str, params=()) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql, params).fetchall()


def wait_for(db: Path, sql: str, expected, params=()) -> None:
    deadline = time.monotonic() + TIMEOUT
    while (found := rows(db, sql, params)) != expected:
        assert time.monotonic() < deadline, (sql, found, expected)
        time.sleep(0.05)


@contextmanager
def followed(logs: list[Log], site_db: Path, poll: float, woken: bool = False):
    """Each log's watcher and the site's refresher (polling every `poll` seconds, and woken
    by the watchers if `woken`), running; stopped and joined after."""
    refresher = Refresher(logs, site_db, poll=poll)
    watchers = {log.name: Watcher(Store(log.root), log.db_path,
                                  on_change=refresher.wake if woken else None)
                for log in logs}
    for watcher in watchers.values():
        watcher.start()
    refresher.start()
    try:
        yield watchers, refresher
    finally:
        refresher.stop()
        for watcher in watchers.values():
            watcher.stop()
    assert not [t for t in threading.enumerate()
                if t.name in ("cooplog-watch", "cooplog-reconcile", "cooplog-site")]


@pytest.fixture
def following(two, tmp_path):
    with followed(two, tmp_path / "site" / "cooplog.db", poll=0.05) as running:
        yield running


@pytest.mark.slow
def test_a_dead_watcher_or_a_bad_file_in_one_log_stops_no_other(two, following):
    watchers, refresher = following
    basel, stockholm = two
    site_db = refresher.site_db
    counts = "select log, count(*) from events group by log order by log"
    before = rows(site_db, counts)
    assert [log for log, _ in before] == ["basel", "stockholm"]

    watchers["basel"].stop()  # basel's watcher is dead, and its database unreadable:
    garbage = basel.db_path.with_name("garbage")  # stockholm goes on
    garbage.write_bytes(b"not a database" * 1000)
    garbage.replace(basel.db_path)
    for side in ("-wal", "-shm"):
        Path(f"{basel.db_path}{side}").unlink(missing_ok=True)
    deadline = time.monotonic() + TIMEOUT
    while not refresher.status["basel"].failing:
        assert time.monotonic() < deadline, "the unreadable database was never noticed"
        time.sleep(0.05)
    (event, _), = append.append(Store(stockholm.root), [("new", NEW)])
    wait_for(site_db, "select log from events where id = ?", [("stockholm",)], (event.id,))
    bad = stockholm.root / "events" / "2010" / "01" / "broken.json"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("{ not json", encoding="utf-8")
    wait_for(site_db, "select log, path from problems where path like '%broken.json'",
             [("stockholm", "events/2010/01/broken.json")])
    (later, _), = append.append(Store(stockholm.root), [("later", {**NEW, "occurred": "2010-02"})])
    wait_for(site_db, "select log from events where id = ?", [("stockholm",)], (later.id,))
    assert rows(site_db, "select count(*) from events where log = 'basel'") == [before[0][1:]]

    serve.WATCHERS.update(watchers)
    serve.REFRESHER = refresher
    try:
        health = asyncio.run(_site(refresher.site_db).client.get("/-/cooplog.json"))
    finally:
        serve.WATCHERS.clear()
        serve.REFRESHER = None
    assert health.status_code == 503  # one log is unwell, and it is named
    logs = health.json()["logs"]
    assert (logs["basel"]["healthy"], logs["basel"]["watcher"]) == (False, "stopped")
    assert "file is not a database" in logs["basel"]["site_errors"][-1]
    assert (logs["stockholm"]["healthy"], logs["stockholm"]["watcher"]) == (True, "alive")


def test_a_refresh_of_one_log_leaves_the_others_rows_as_they_were(two, following):
    """A reader of the site sees a log's rows before its refresh or after, never between:
    the site's copy of basel is the same set of rows throughout stockholm's refreshes."""
    _, refresher = following
    basel, stockholm = two
    everything = "select log, id, summary from events order by log, id"
    first = rows(refresher.site_db, everything)
    for i in range(3):
        append.append(Store(stockholm.root), [("new", {**NEW, "summary": f"Visit {i}."})])
    wait_for(refresher.site_db, "select count(*) from events where summary like 'Visit %'",
             [(3,)])
    after = rows(refresher.site_db, everything)
    assert [r for r in after if r[0] == "basel"] == [r for r in first if r[0] == "basel"]


def _site(site_db: Path):
    from datasette.app import Datasette

    from cooplog import log_assets

    return Datasette([str(site_db)], settings=serve.SETTINGS,
                     template_dir=str(log_assets.TEMPLATES), plugins_dir=str(log_assets.plugins()))


@contextmanager
def serving(tmp_path: Path, *options: str):
    """`cooplog serve OPTIONS` on a free port, once it answers: a client of it, and the
    file its stderr goes to; stopped with Ctrl-C after, which must end it cleanly."""
    port = free_port()
    stderr_path = tmp_path / "serve.err"
    cooplog = Path(sys.executable).parent / "cooplog"
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen([str(cooplog), "serve", "--port", str(port), *options],
                                   stdout=subprocess.DEVNULL, stderr=stderr, cwd=tmp_path,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + TIMEOUT
            while True:
                assert process.poll() is None, stderr_path.read_text()
                try:
                    client.get("/-/cooplog.json")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "serve never answered"
                    time.sleep(0.1)
            yield client, stderr_path
    finally:
        stop_serve(process, signal.SIGINT, stderr_path)


@pytest.mark.slow  # a real serve of two logs, started and stopped
def test_serve_of_two_logs_shows_each_and_a_new_file_in_either(two, tmp_path):
    basel, stockholm = two
    private(stockholm.root)
    with serving(tmp_path, "--log", f"basel={basel.root}",
                 "--log", f"stockholm={stockholm.root}") as (client, stderr_path):
        health = client.get("/-/cooplog.json")
        assert health.status_code == 200, health.text
        assert set(health.json()["logs"]) == {"basel", "stockholm"}
        for log in two:
            (event, _), = append.append(Store(log.root), [(log.name, {
                **NEW, "summary": f"Recorded in {log.name}."})])
            deadline = time.monotonic() + TIMEOUT
            while (page := client.get(f"/event/{event.id}")).status_code != 200:
                assert time.monotonic() < deadline, f"{log.name}'s event never showed"
                time.sleep(0.05)
            assert f"Recorded in {log.name}." in page.text
            assert ("Confidential" in page.text) == (log.name == "stockholm")
        facets = client.get("/cooplog/events.json").json()["facet_results"]
        assert {v["value"] for v in facets["log"]["results"]} == {"basel", "stockholm"}
        only = client.get("/cooplog/events.json", params={"log": "basel",
                                                         "_shape": "objects"}).json()
        assert only["rows"] and {r["log"] for r in only["rows"]} == {"basel"}
        logs = client.get("/cooplog/logs.json", params={"_shape": "objects"}).json()
        assert {(r["name"], r["visibility"]) for r in logs["rows"]} == {
            ("basel", "public"), ("stockholm", "private")}
    assert "serving basel (public), stockholm (private)" in stderr_path.read_text()


@pytest.mark.slow  # a real serve, started and stopped
def test_serve_public_never_opens_a_private_log(two, tmp_path):
    basel, stockholm = two
    private(stockholm.root)
    (secret, _), = append.append(Store(stockholm.root), [("secret", {
        **NEW, "summary": "Confidential talks."})])
    assert not (stockholm.root / ".cooplog").exists()  # no database made for it yet
    with serving(tmp_path, "--public", "--log", f"basel={basel.root}",
                 "--log", f"stockholm={stockholm.root}") as (client, stderr_path):
        assert set(client.get("/-/cooplog.json").json()["logs"]) == {"basel"}
        assert client.get(f"/event/{secret}").status_code == 404
        assert "Confidential talks" not in client.get("/search", params={"q": "talks"}).text
        logs = client.get("/cooplog/logs.json", params={"_shape": "array"}).json()
        assert [row["name"] for row in logs] == ["basel"]
    assert not (stockholm.root / ".cooplog").exists()  # never built, never watched
    told = stderr_path.read_text()
    assert "--log stockholm: left out: private" in told and "serving basel (public) " in told
