"""The audit in the projection: a `commits` table and, on every event, the commit that added
it, built incrementally from the last commit already projected."""

from __future__ import annotations

from cooplog import append, audit
from cooplog.projection import Projection
from cooplog.store import Store
from helpers import git

ACTIVITY = {"type": "activity.noted", "occurred": "2009", "summary": "Something happened."}


def _projection(root, tmp_path):
    return Projection(Store(root), tmp_path / "db" / "cooplog.db")


def test_each_event_names_the_commit_that_added_it(seeded, tmp_path):
    store = Store(seeded)
    (event, _), = append.append(store, [("a", ACTIVITY)], message="the activity")
    projection = _projection(seeded, tmp_path)
    projection.build()
    head = git(seeded, "rev-parse", "HEAD").stdout.strip()
    row = projection.conn.execute(
        "select c.sha, c.author, c.email, c.message from events e "
        "join commits c on c.sha = e.commit_sha where e.id = ?", [event.id]).fetchone()
    assert row == (head, "Test Author", "author@example.org", "the activity")
    assert projection.conn.execute(
        "select count(*) from events where commit_sha is null").fetchone() == (0,)
    assert sorted(m for (m,) in projection.conn.execute("select message from commits")) == [
        "seed", "the activity"]
    projection.close()


def test_catch_up_walks_only_the_commits_after_the_last_one(seeded, tmp_path, monkeypatch):
    projection = _projection(seeded, tmp_path)
    projection.build()
    first_head = git(seeded, "rev-parse", "HEAD").stdout.strip()
    (event, _), = append.append(Store(seeded), [("a", ACTIVITY)], message="later")
    asked = []
    real = audit.commits_since
    monkeypatch.setattr(audit, "commits_since",
                        lambda root, last=None: asked.append(last) or real(root, last))
    projection.catch_up()
    assert asked == [first_head]
    sha = projection.conn.execute("select commit_sha from events where id = ?",
                                  [event.id]).fetchone()[0]
    assert sha == git(seeded, "rev-parse", "HEAD").stdout.strip()
    projection.close()


def test_an_event_applied_before_its_commit_gets_it_at_the_next_catch_up(seeded, tmp_path):
    projection = _projection(seeded, tmp_path)
    projection.build()
    (event, path), = append.append(Store(seeded), [("a", ACTIVITY)], commit=False)
    projection.apply(path)
    assert projection.conn.execute("select commit_sha from events where id = ?",
                                   [event.id]).fetchone() == (None,)
    git(seeded, "add", str(path))
    git(seeded, "commit", "-qm", "committed by hand")
    projection.catch_up()
    assert projection.conn.execute(
        "select c.message from events e join commits c on c.sha = e.commit_sha "
        "where e.id = ?", [event.id]).fetchone() == ("committed by hand",)
    projection.close()


def test_a_log_that_is_not_a_git_repository_has_no_commits(tmp_path):
    root = tmp_path / "plain"
    (root / "events").mkdir(parents=True)
    (event, _), = append.append(Store(root), [
        ("org", {"type": "organization.registered",
                 "data": {"key": "wco", "name": "WCO", "category": "intergovernmental"}})],
        by="someone@example.org")
    projection = _projection(root, tmp_path)
    projection.build()
    assert projection.conn.execute("select count(*) from commits").fetchone() == (0,)
    assert projection.conn.execute("select id, commit_sha from events").fetchall() == [
        (event.id, None)]
    projection.close()


def test_a_committed_file_changed_or_deleted_is_a_problem(seeded, tmp_path):
    projection = _projection(seeded, tmp_path)
    projection.build()
    files = sorted((seeded / "events").rglob("*.json"))
    first, second = files[0], files[-1]  # an organization; a project nothing refers to
    first.write_text(first.read_text().replace('"The UNEP"', '"The UNEP, edited"'))
    second.unlink()
    projection.apply(first)
    projection.forget(second.relative_to(seeded).as_posix())
    rows = projection.conn.execute(
        "select path, field, message from problems order by path").fetchall()
    assert [(path, field) for path, field, _ in rows] == [
        (first.relative_to(seeded).as_posix(), "file"),
        (second.relative_to(seeded).as_posix(), "file")]
    assert all("never changed" in message for _, _, message in rows)
    name = projection.conn.execute("select data from events where path = ?",
                                   [first.relative_to(seeded).as_posix()]).fetchone()[0]
    assert "The UNEP, edited" in name  # the tables follow the files as they are
    git(seeded, "checkout", "--", ".")
    projection.catch_up()
    assert projection.conn.execute("select * from problems").fetchall() == []
    projection.close()
