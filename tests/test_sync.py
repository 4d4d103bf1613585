"""`cooplog sync` between offices through a bare git remote, and everything that can make it
fail, leaving the repository as it was."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from ulid import ULID

from cooplog import append, audit, events, gitops, repo
from cooplog import sync as syncing
from cooplog.rules import check_log
from cooplog.store import Store
from helpers import event_files, git, snapshot

MALLORY = "Mallory <mallory@example.org>"


def add(root, summary, occurred="2009-03"):
    """Append one activity as the office `root` is (committed); its id and path."""
    body = {"type": "activity.noted", "occurred": occurred, "summary": summary}
    [(event, path)] = append.append(Store(root), [("test", body)], by=f"{root.name}@example.org")
    return event.id, path.relative_to(root).as_posix()


def add_recorded_long_ago(root, summary, when: datetime):
    """An event whose id (so its folder) is years old, as an older tool would have left it."""
    event_id = str(ULID.from_datetime(when))
    event = events.validate({
        "id": event_id, "type": "activity.noted", "schema": 1,
        "recorded_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "recorded_by": f"{root.name}@example.org", "occurred": "2008-11",
        "summary": summary, "orgs": [], "data": {}})
    path = Store(root).write(event)
    gitops.commit_files(root, [path], "backfill", "x")
    return path.relative_to(root).as_posix()


def head(root) -> str:
    return git(root, "rev-parse", "HEAD").stdout.strip()


def sneak(root, message="tamper"):
    git(root, "commit", "-q", "-a", "--no-verify", "-m", message)
    return head(root)


@pytest.fixture
def offices(tmp_path, log):
    """A bare remote made from a new log, and two clones of it: office-a and office-b."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(log), str(remote))
    clones = []
    for name in ("office-a", "office-b"):
        clone = tmp_path / name
        git(tmp_path, "clone", "-q", str(remote), str(clone))
        repo.install_hook(clone)
        clones.append(clone)
    return remote, *clones


def synced(cli, root):
    result = cli(root, "sync")
    assert result.exit_code == 0, result.stderr
    return result


def tree(root) -> dict[str, bytes]:
    return {path: (root / path).read_bytes() for path in event_files(root)}


# --- two offices --------------------------------------------------------------------------


@pytest.mark.slow  # three repositories, two syncs each way
@pytest.mark.parametrize("order", ["ab", "ba"])
def test_two_offices_append_offline_and_end_with_the_same_log(offices, cli, order):
    remote, a, b = offices
    shared, _ = add(a, "Recorded in A before anyone synced.")
    synced(cli, a)
    synced(cli, b)
    # Offline: both append; B corrects the event A recorded; both backfill old events.
    add(a, "A attended the OEWG.", occurred="2009-05-11")
    add(a, "A's backfill of a meeting years ago.", occurred="2001-06")
    old = add_recorded_long_ago(a, "Kept since 2009.", datetime(2009, 3, 2, tzinfo=timezone.utc))
    add(b, "B signed a letter.", occurred="2008-11")
    append.correct(Store(b), shared, {"summary": "Recorded in A, corrected in B."},
                   "wording", by="office-b@example.org")
    retracted, _ = add(b, "A mistake.")
    append.retract(Store(b), retracted, "recorded by mistake", by="office-b@example.org")
    first, second = (a, b) if order == "ab" else (b, a)
    for office in (first, second, first, second):
        synced(cli, office)

    assert tree(a) == tree(b)
    assert old.startswith("events/2009/03/") and old in tree(a)
    assert len(tree(a)) == 8
    assert head(a) == head(b) == git(remote, "rev-parse", "HEAD").stdout.strip()
    for office in (a, b):
        assert audit.verify(office).findings == []
        assert check_log(Store(office)) == []
        assert git(office, "status", "--porcelain").stdout == ""
    assert (a / ".cooplog" / "cooplog.db").exists()  # the projection was caught up
    last = synced(cli, a)
    assert "0 commit(s) in, 0 out" in last.stdout


@pytest.mark.slow
def test_the_first_sync_pushes_to_an_empty_origin_and_sets_the_upstream(log, tmp_path, cli):
    remote = tmp_path / "empty.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(log, "remote", "add", "origin", str(remote))
    add(log, "One.")
    branch = git(log, "branch", "--show-current").stdout.strip()
    result = synced(cli, log)
    # Two commits went out: the log's first commit and the event.
    assert f"synced with origin refs/heads/{branch}: 0 commit(s) in, 2 out" in result.stdout
    assert git(remote, "rev-parse", branch).stdout.strip() == head(log)
    assert git(log, "config", f"branch.{branch}.remote").stdout.strip() == "origin"
    assert "0 commit(s) in, 0 out" in synced(cli, log).stdout
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    for n in range(3):
        add(clone, f"From the clone, {n}.")
    assert "0 commit(s) in, 3 out" in synced(cli, clone).stdout
    add(log, "Two.")
    assert "3 commit(s) in, 1 out" in synced(cli, log).stdout


# --- failures leave everything as it was --------------------------------------------------


def failed(cli, root, *expected):
    """Sync, expecting exit 1 with each of `expected` in the error, and nothing changed."""
    before = snapshot(root)
    result = cli(root, "sync")
    assert result.exit_code == 1, result.stdout
    for text in expected:
        assert text in result.stderr
    assert snapshot(root) == before
    assert not Path(git(root, "rev-parse", "--git-path", "rebase-merge").stdout.strip()).exists()
    return result


def test_no_remote(log, cli):
    failed(cli, log, "no remote to sync with", "git remote add origin URL")


def test_unreachable_remote(log, tmp_path, cli):
    """One line of ours, then git's own message whole, never spliced into ours."""
    git(log, "remote", "add", "origin", str(tmp_path / "no-such-remote.git"))
    add(log, "One.")
    result = failed(cli, log, "cannot fetch", "no-such-remote.git", "nothing was changed")
    first, *rest = result.stderr.splitlines()
    assert first.startswith("error: cannot fetch refs/heads/")
    assert first.endswith("check the address (`git remote -v`) and the connection, then sync "
                          "again")
    assert rest and all(line.startswith("git: ") for line in rest)
    assert "git: and the repository exists." in rest
    assert any("does not appear to be a git repository" in line for line in rest)


@pytest.mark.slow
def test_a_push_refused_by_the_remote_puts_the_branch_back(offices, cli):
    remote, a, b = offices
    add(b, "From B.")
    synced(cli, b)
    add(a, "From A.")  # so A's sync rebases before it pushes
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'the archive is closed today' >&2\nexit 1\n")
    hook.chmod(0o755)
    failed(cli, a, "refused the push", "the archive is closed today")


@pytest.mark.slow
def test_a_push_that_loses_a_race_puts_the_branch_back(offices, cli, monkeypatch):
    """B pushes between A's rebase and A's push: A's push is not a fast-forward."""
    remote, a, b = offices
    add(a, "From A.")
    rebase = syncing._rebase

    def rebase_then_b_pushes(*args):
        rebase(*args)
        add(b, "From B, just in time.")
        git(b, "push", "-q")

    monkeypatch.setattr(syncing, "_rebase", rebase_then_b_pushes)
    add(b, "From B.")
    synced(cli, b)
    failed(cli, a, "refused the push")
    monkeypatch.undo()
    synced(cli, a)  # and the next sync succeeds
    assert len(tree(a)) == 3


@pytest.mark.slow
def test_incoming_history_that_edits_an_event_is_refused(offices, cli):
    remote, a, b = offices
    _, path = add(b, "Original summary.")
    synced(cli, b)
    synced(cli, a)
    (b / path).write_text((b / path).read_text().replace("Original", "Rewritten"))
    tampered = sneak(b)
    git(b, "push", "-q")
    add(a, "A's own work.")
    result = failed(cli, a, f"{path}: modified: in commit {tampered[:12]}",
                    "break the append-only rule")
    assert "nothing was changed" in result.stderr


@pytest.mark.slow
def test_a_refused_sync_moves_nothing_not_even_the_remote_tracking_ref(offices, cli):
    """The tampered commits wait in quarantine: origin/<branch>, HEAD, the index, the
    working tree and the database stay, a plain verify passes, and the message says which
    commit, who made it, and what to do."""
    remote, a, b = offices
    _, path = add(b, "Original summary.")
    synced(cli, b)
    synced(cli, a)
    (b / path).write_text((b / path).read_text().replace("Original", "Rewritten"))
    git(b, "commit", "-q", "-a", "--no-verify", f"--author={MALLORY}", "-m", "tamper")
    tampered = head(b)
    add(b, "More from B.")
    git(b, "push", "-q")
    add(a, "A's own work.")
    branch = git(a, "branch", "--show-current").stdout.strip()

    def state():
        return {"tracking": git(a, "rev-parse", f"origin/{branch}").stdout,
                "index": git(a, "ls-files", "--stage").stdout,
                "db": (a / ".cooplog" / "cooplog.db").read_bytes()}

    before = state()
    result = failed(cli, a, f"{path}: modified: in commit {tampered[:12]} ({MALLORY}, ")
    assert state() == before
    first, *rest = result.stderr.splitlines()
    assert first.startswith(f"error: sync refused: origin refs/heads/{branch} (")
    assert "holds commits that break the append-only rule" in first
    assert first.endswith("nothing was changed")
    assert any(line.startswith("  what to do: tell whoever looks after ") and MALLORY in line
               for line in rest)
    assert git(a, "rev-parse", "-q", "--verify", syncing.INCOMING, check=False).returncode == 1
    assert cli(a, "verify").exit_code == 0
    status = git(a, "status", "-sb").stdout.splitlines()[0]
    assert "behind" not in status and "ahead 1" in status


@pytest.mark.slow
def test_a_forged_rewrite_is_blamed_on_the_forger(offices, cli):
    """B's force-pushed commit gives a synced event other content: the breach is B's commit,
    the reference the honest one A already has."""
    remote, a, b = offices
    _, path = add(a, "Original summary.")
    synced(cli, a)
    honest = head(a)
    synced(cli, b)
    (b / path).write_text((b / path).read_text().replace("Original", "Forged"))
    git(b, "commit", "-q", "-a", "--amend", "--no-verify", f"--author={MALLORY}", "--no-edit")
    forged = head(b)
    git(b, "push", "-q", "--force")
    add(a, "A's own work.")
    failed(cli, a, f"{path}: duplicate: in commit {forged[:12]} ({MALLORY}, ",
           f"added again with other content (first added in commit {honest[:12]} by "
           "Test Author <author@example.org>")


@pytest.mark.slow
def test_a_force_push_that_drops_synced_events_is_refused(offices, cli):
    remote, a, b = offices
    add(b, "Kept.")
    _, lost = add(b, "Dropped later by a force-push.")
    dropping = head(b)
    synced(cli, b)
    synced(cli, a)
    git(b, "reset", "-q", "--hard", "HEAD~1")
    add(b, "B's new work.")
    git(b, "push", "-q", "--force")
    branch = git(a, "branch", "--show-current").stdout.strip()
    tracking = git(a, "rev-parse", f"origin/{branch}").stdout
    result = failed(cli, a, f"{lost}: dropped: added in commit {dropping[:12]}",
                    "was rewritten, and lost events synced from it before",
                    f"a force-push took the events above off its refs/heads/{branch}: it must "
                    f"hold {tracking[:12]} again")
    assert result.stderr.count("dropped:") == 1
    assert git(a, "rev-parse", f"origin/{branch}").stdout == tracking


@pytest.mark.slow
def test_files_serve_would_read_are_named_with_their_commit_and_author(offices, cli):
    """Templates may come with a log; Python never should: both are named, loudly for code."""
    remote, a, b = offices
    (b / "datasette" / "plugins").mkdir(parents=True)
    (b / "datasette" / "plugins" / "innocent.py").write_text("print('hello')\n")
    (b / "datasette" / "templates").mkdir()
    (b / "datasette" / "templates" / "index.html").write_text("<p>hello</p>\n")
    git(b, "add", "datasette")
    git(b, "commit", "-q", f"--author={MALLORY}", "-m", "pages")
    pages = head(b)
    add(b, "And an event.")
    synced(cli, b)
    result = synced(cli, a)
    assert "2 commit(s) in" in result.stdout
    code = (f"warning: datasette/plugins/innocent.py: code: in commit {pages[:12]} "
            f"({MALLORY}, ")
    template = f"warning: datasette/templates/index.html: served: in commit {pages[:12]} ("
    assert code in result.stderr and "PYTHON CODE" in result.stderr
    assert template in result.stderr
    verified = cli(a, "verify")
    assert verified.exit_code == 0
    assert code in verified.stdout and template in verified.stdout
    assert "0 breach(es), 2 warning(s)" in verified.stderr
    assert "warning" not in synced(cli, a).stderr  # named once, when it came in


@pytest.mark.slow
def test_a_remote_rewritten_by_force_push_is_refused(offices, cli):
    remote, a, b = offices
    _, path = add(b, "Original summary.")
    synced(cli, b)
    synced(cli, a)
    (b / path).write_text((b / path).read_text().replace("Original", "Rewritten"))
    git(b, "commit", "-q", "-a", "--amend", "--no-verify", "--no-edit")
    git(b, "push", "-q", "--force")
    failed(cli, a, f"{path}: duplicate", "other content")


@pytest.mark.slow
def test_outgoing_history_that_edits_an_event_is_not_pushed(offices, cli):
    remote, a, b = offices
    _, path = add(a, "Original summary.")
    synced(cli, a)
    (a / path).write_text("{}\n")
    tampered = sneak(a)
    failed(cli, a, f"{path}: modified: in commit {tampered[:12]}")
    assert git(remote, "rev-parse", "HEAD").stdout.strip() != tampered


def test_the_first_push_into_an_empty_remote_is_verified_too(log, tmp_path, cli):
    remote = tmp_path / "empty.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(log, "remote", "add", "origin", str(remote))
    _, path = add(log, "Original summary.")
    (log / path).write_text("{}\n")
    tampered = sneak(log)
    failed(cli, log, f"{path}: modified: in commit {tampered[:12]}",
           "this branch holds commits that break the append-only rule")
    assert git(remote, "rev-parse", "-q", "--verify", "HEAD", check=False).stdout == ""


@pytest.mark.slow
def test_a_file_changed_on_both_sides_stops_the_rebase(offices, cli):
    remote, a, b = offices
    for office in (a, b):
        add(office, f"Work in {office.name}.")
        (office / "README.md").write_text(f"Notes of {office.name}.\n")
        git(office, "add", "README.md")
        git(office, "commit", "-q", "-m", "notes")
    synced(cli, b)
    failed(cli, a, "README.md: changed both here and on origin", "nothing was changed")
    assert git(a, "status", "--porcelain").stdout == ""


def test_uncommitted_changes_are_left_alone(offices, cli):
    remote, a, b = offices
    (a / "metadata.yml").write_text("title: changed\n")
    failed(cli, a, "uncommitted changes to metadata.yml", "commit or stash them")
