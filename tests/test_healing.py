"""The database deleted, replaced or overwritten under a running `serve` (issue 21, defect 9):
the watcher notices, builds it anew at its path, and the site reads the new file (its
connections, facet counts and reports follow); until then `/-/cooplog.json` says
"rebuilding" with a 503."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from cooplog import append, serve, watch
from cooplog.store import Store
from helpers import built
from test_serve import BY, start_serve, write_log

pytestmark = pytest.mark.slow  # real servers and processes, seconds each

# the interval the watcher reconciles at in these tests: the site must heal within it
RECONCILE = 10.0


def deleted(db: Path) -> None:
    db.unlink()


def deleted_with_its_journal(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def replaced_by_a_copy(db: Path) -> None:
    """Another build of the same log renamed over it (a restored backup)."""
    copy = built(db.parents[1], db.with_name("copy.db"))
    os.replace(copy, db)


def overwritten(db: Path) -> None:
    with open(db, "r+b") as f:  # in place: the same file, other bytes
        f.write(os.urandom(os.path.getsize(db)))


@pytest.fixture
def served(tmp_path, monkeypatch):
    """The small log under a running watcher (reconciling every RECONCILE seconds) and a
    Datasette over its database, as `serve` runs them: (root, db, datasette, watcher)."""
    root = tmp_path / "log"
    write_log(root)
    db = root / ".cooplog" / "cooplog.db"
    with watch.Watcher(Store(root), db, reconcile_every=RECONCILE) as watcher:
        monkeypatch.setattr(serve, "WATCHER", watcher)
        ds = serve.datasette(root, db)
        asyncio.run(ds.invoke_startup())
        yield root, db, ds, watcher


def get(ds, path: str, **params) -> httpx.Response:
    return asyncio.run(ds.client.get(path, params=params))


def watch_errors():
    return serve.WATCHER.status.errors if serve.WATCHER else None


def healed(ds, until: float, **expected_rows) -> None:
    """Wait until every page answers 200 with the rows expected, and the watcher is alive."""
    while True:
        statuses = {path: get(ds, path).status_code
                    for path in ("/", "/cooplog", "/cooplog/events", "/report")}
        counts = {table: get(ds, f"/cooplog/{table}.json", _shape="array", _size="max")
                  for table in expected_rows}
        health = get(ds, "/-/cooplog.json")
        if (set(statuses.values()) == {200} and health.status_code == 200
                and all(r.status_code == 200 and len(r.json()) == expected_rows[t]
                        for t, r in counts.items())):
            assert health.json()["watcher"] == "alive"
            return
        assert time.monotonic() < until, (statuses, health.json(), watch_errors(),
                                          {t: r.status_code for t, r in counts.items()})
        time.sleep(0.1)


@pytest.mark.parametrize("trouble", [deleted, deleted_with_its_journal, replaced_by_a_copy,
                                     overwritten])
def test_the_site_heals_when_the_database_goes_under_it(served, trouble):
    root, db, ds, watcher = served
    events = len(get(ds, "/cooplog/events.json", _shape="array", _size="max").json())
    facets = get(ds, "/cooplog/events.json").json()["facet_results"]["type"]["results"]
    assert get(ds, "/report", period="2009").status_code == 200

    trouble(db)
    healed(ds, time.monotonic() + RECONCILE, events=events)

    (event, _), = append.append(Store(root), [("late", {
        "type": "activity.noted", "occurred": "2009-12", "orgs": ["wco"],
        "summary": "Opened a customs liaison desk.", "data": {}})], by=BY, commit=False)
    healed(ds, time.monotonic() + RECONCILE, events=events + 1)  # the new file is read
    noted = {f["value"]: f["count"] for f in get(ds, "/cooplog/events.json").json()[
        "facet_results"]["type"]["results"]}
    assert noted["activity.noted"] == 1 + {f["value"]: f["count"] for f in facets}[
        "activity.noted"]  # facet counts follow the new file
    assert "Opened a customs liaison desk." in get(ds, "/report", period="2009").text
    assert watcher.status.alive and not watcher.status.rebuilding


def test_the_health_endpoint_says_rebuilding_until_the_database_is_back(served, monkeypatch):
    root, db, ds, watcher = served
    building, go_on = threading.Event(), threading.Event()
    build_beside = watch.Watcher._build_beside

    def held(self):
        building.set()
        go_on.wait(60)
        build_beside(self)

    monkeypatch.setattr(watch.Watcher, "_build_beside", held)
    try:
        db.unlink()
        assert building.wait(RECONCILE), "the watcher never noticed"
        health = get(ds, "/-/cooplog.json")
        assert health.status_code == 503
        assert health.json()["watcher"] == "rebuilding"
    finally:
        go_on.set()
    healed(ds, time.monotonic() + RECONCILE)


def test_another_applications_database_put_in_its_place_stops_the_watcher(served):
    root, db, ds, watcher = served
    theirs = db.with_name("theirs.db")
    conn = sqlite3.connect(theirs)
    conn.execute("create table precious (note text)")
    conn.commit()
    conn.close()
    before = theirs.read_bytes()
    os.replace(theirs, db)
    until = time.monotonic() + RECONCILE
    while watcher.status.alive:
        assert time.monotonic() < until, "the watcher went on"
        time.sleep(0.1)
    health = get(ds, "/-/cooplog.json")
    assert health.status_code == 503
    assert health.json()["watcher"] == "stopped"
    assert "another application's SQLite database" in health.json()["recent_errors"][-1]
    assert db.read_bytes() == before


def test_cooplog_serve_heals_when_the_database_is_deleted(log, tmp_path):
    """The real command, reconciling at its default interval."""
    write_log(log, commit=True)
    process, port, stderr_path = start_serve(log, tmp_path)
    db = log / ".cooplog" / "cooplog.db"
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            events = len(client.get("/cooplog/events.json",
                                    params={"_shape": "array", "_size": "max"}).json())
            deleted_with_its_journal(db)
            until = time.monotonic() + watch.RECONCILE_EVERY
            while True:
                pages = [client.get(path) for path in ("/", "/cooplog/events.json",
                                                       "/-/cooplog.json")]
                if all(page.status_code == 200 for page in pages):
                    break
                assert time.monotonic() < until, [(p.url.path, p.status_code) for p in pages]
                time.sleep(0.2)
            assert len(client.get("/cooplog/events.json",
                                  params={"_shape": "array", "_size": "max"}).json()) == events
    finally:
        process.send_signal(signal.SIGINT)  # pages that failed meanwhile logged tracebacks
        try:
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    err = stderr_path.read_text(encoding="utf-8")
    assert f"{db} was deleted: rebuilding it from the files" in err
