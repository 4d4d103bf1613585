"""3. Late and out-of-order arrival: events recorded years ago in another office, about
things that happened years ago, arrive by `git pull` after newer ones were applied. Nothing
compares timestamps: the running watcher projects them as they land (in month folders that
did not exist), a database caught up after the pull has them too, both end equal to a fresh
build, and `commits` and `events.commit_sha` know the commits that brought them."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from faults import envelope, ids_from, query, wait_until

from cooplog import events, repo, watch
from cooplog.store import Store
from helpers import git
from test_projection import opened, snapshot

# the reliability suite (README, "Reliability"): minutes in all, so `-m "not slow"` skips it


def commit(root: Path, bodies: list[dict], message: str) -> list[str]:
    store = Store(root)
    rels = []
    for body in bodies:
        path = store.path_for(body["id"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(events.encode(body))
        rels.append(store.relpath(path))
    git(root, "add", "--", *rels)
    git(root, "commit", "-q", "-m", message, "--", *rels)
    return rels




def test_events_from_years_back_pulled_after_newer_ones_are_projected(tmp_path):
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    here, there = tmp_path / "here", tmp_path / "there"
    repo.init(here)
    git(here, "remote", "add", "origin", str(origin))
    git(here, "push", "-q", "-u", "origin", "HEAD")
    git(tmp_path, "clone", "-q", str(origin), str(there))

    # here: this year's events, naming an organization nobody here has registered
    recent = ids_from(datetime.now(timezone.utc), 3)
    commit(here, [envelope(i, "activity.noted", {}, occurred="2026-03", orgs=["basel"])
                  for i in recent], "this year")
    git(here, "push", "-q")
    # there, offline for years: the registration and events of 2008, recorded in 2019
    old = ids_from(datetime(2019, 3, 4, tzinfo=timezone.utc), 4)
    bodies = [envelope(old[0], "organization.registered", {
        "key": "basel", "name": "Basel Convention", "category": "mea"})]
    bodies += [envelope(i, "meeting.attended", {"title": f"Meeting {i}", "role": "observer"},
                        occurred="2008-05", orgs=["basel"]) for i in old[1:3]]
    bodies.append(envelope(old[3], "event.corrected", {
        "target": recent[0], "set": {"occurred": "2008"}, "reason": "It was in 2008."}))
    late = commit(there, list(reversed(bodies)), "recorded offline in 2019")
    git(there, "pull", "-q", "--rebase")
    git(there, "push", "-q")

    db, cold = tmp_path / "watched.db", tmp_path / "cold.db"
    with opened(here, cold) as projection:
        projection.catch_up()
    watcher = watch.Watcher(Store(here), db, reconcile_every=2.0)
    with watcher:
        assert {i for (i,) in query(db, "select id from events")} == set(recent)
        assert len(query(db, "select * from problems")) == 3  # 'basel' is unknown here
        git(here, "pull", "-q", "--ff-only")  # the old events land after the new ones
        for rel in late:
            assert (here / rel).is_file()
        wait_until(lambda: {i for (i,) in query(db, "select id from events")}
                   == set(recent) | set(old), 20, "every pulled event is projected")
        wait_until(lambda: query(db, "select * from problems") == [], 20,
                   "the late registration resolves the newer events' references")
        fresh = tmp_path / "fresh.db"
        with opened(here, fresh) as projection:
            projection.build()
        # the watcher's next reconciliation records the commits that brought them
        wait_until(lambda: snapshot(db, live=True) == snapshot(fresh), 20,
                   "the watched database equals a fresh build")
    assert query(db, "select occurred from events where id = ?", [recent[0]]) == [("2008",)]
    assert query(db, "select count(*) from events where commit_sha is null") == [(0,)]
    # without a watcher: the next catch-up takes them too, whatever their dates
    with opened(here, cold) as projection:
        assert projection.catch_up()["applied"] == len(old)
    assert snapshot(cold) == snapshot(fresh)
    messages = {m for (m,) in query(db, "select message from commits")}
    assert {"this year", "recorded offline in 2019"} <= messages
