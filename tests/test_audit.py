"""`history`, `verify` and `commits_since` against real git histories (DESIGN.md, commands)."""

from __future__ import annotations

import json
import os

import pytest

from cooplog import append, audit, events, repo
from cooplog.store import Store
from helpers import git

MALLORY = "Mallory <mallory@example.org>"


def add(root, summary, occurred="2009-03", by="office-a@example.org"):
    """Append one activity (committed); its path relative to the root."""
    body = {"type": "activity.noted", "occurred": occurred, "summary": summary}
    [(event, path)] = append.append(Store(root), [("test", body)], by=by)
    return event.id, path.relative_to(root).as_posix()


def head(root) -> str:
    return git(root, "rev-parse", "HEAD").stdout.strip()


def sneak(root, *paths, message="tamper"):
    """Commit what is staged (and `paths`) past the pre-commit hook, as Mallory."""
    git(root, "add", "-A", "--", *paths)
    git(root, "commit", "-q", "--no-verify", f"--author={MALLORY}", "-m", message)
    return head(root)


def adding_commit(root, path) -> str:
    return git(root, "log", "--format=%H", "--diff-filter=A", "--", path).stdout.strip()


def found(report) -> set[tuple[str, str, str | None]]:
    return {(f.kind, f.path, f.commit) for f in report.findings}


# --- verify -------------------------------------------------------------------------------


def test_an_honest_log_verifies_clean(log, cli):
    for n in range(3):
        add(log, f"Activity {n}.")
    report = audit.verify(log)
    assert report.findings == []
    assert (report.commits, report.files) == (4, 3)  # the first commit, then one per event
    result = cli(log, "verify")
    assert result.exit_code == 0
    assert "4 commit(s), 3 event file(s): 0 breach(es), 0 warning(s)" in result.stderr


def test_an_edit_committed_is_a_breach_named_with_its_commit_and_author(log, cli):
    _, path = add(log, "Attended the OEWG.")
    (log / path).write_text((log / path).read_text().replace("OEWG", "COP"))
    sha = sneak(log, path)
    [finding] = audit.verify(log).findings
    assert (finding.kind, finding.path, finding.commit) == ("modified", path, sha)
    assert finding.author == MALLORY
    result = cli(log, "verify")
    assert result.exit_code == 1
    assert f"breach: {path}: modified: in commit {sha[:12]} ({MALLORY}, " in result.stdout
    data = json.loads(cli(log, "verify", "--json").stdout)
    assert [(b["kind"], b["path"], b["commit"]) for b in data["breaches"]] == \
        [("modified", path, sha)]


def test_deletion_rename_and_mode_change_are_breaches(log):
    _, gone = add(log, "One.")
    _, moved = add(log, "Two.")
    _, chmodded = add(log, "Three.")
    git(log, "rm", "-q", gone)
    deleted = sneak(log)
    git(log, "mv", moved, "events/renamed.json")
    renamed = sneak(log)
    os.chmod(log / chmodded, 0o755)
    mode = sneak(log, chmodded)
    report = audit.verify(log)
    assert {("deleted", gone, deleted), ("renamed", moved, renamed),
            ("mode", chmodded, mode)} <= found(report)
    # The new name is also reported: it is not the file's id, nor in events/YYYY/MM/.
    assert ("misnamed", "events/renamed.json", renamed) in found(report)


def test_a_change_reverted_is_still_found(log):
    _, path = add(log, "Original.")
    original = (log / path).read_bytes()
    (log / path).write_text("{}\n")
    first = sneak(log, path)
    (log / path).write_bytes(original)
    second = sneak(log, path)
    assert found(audit.verify(log)) == {("modified", path, first), ("modified", path, second)}


def test_a_clean_merge_is_no_breach(log):
    """Files added on either side show as additions against the other parent: no breach."""
    add(log, "Before the branch.")
    git(log, "checkout", "-q", "-b", "side")
    add(log, "On the side.")
    git(log, "checkout", "-q", "-")
    add(log, "On main.")
    git(log, "merge", "-q", "--no-edit", "side")
    assert len(git(log, "rev-parse", "HEAD^2").stdout.strip()) == 40  # a real merge
    report = audit.verify(log)
    assert report.findings == []
    assert report.files == 3


@pytest.mark.parametrize("which", ["before the branch", "added on the side"])
def test_an_edit_inside_a_merge_is_found_once(log, which):
    """An edit made while merging shows against every parent that had the file: reported
    once, at the merge (a file only the side had is an addition against main, and a change
    against the side)."""
    _, old = add(log, "Before the branch.")
    git(log, "checkout", "-q", "-b", "side")
    _, new = add(log, "On the side.")
    git(log, "checkout", "-q", "-")
    add(log, "On main.")
    git(log, "merge", "-q", "--no-commit", "side")
    path = old if which == "before the branch" else new
    (log / path).write_text((log / path).read_text().replace(".", "!"))
    merge = sneak(log, path, message="merge side")
    report = audit.verify(log)
    assert found(report) == {("modified", path, merge)}
    assert "merge, against its parent" in report.findings[0].detail


def test_a_merge_that_drops_the_other_sides_events_deletes_them(log):
    git(log, "checkout", "-q", "-b", "side")
    _, dropped = add(log, "On the side.")
    git(log, "checkout", "-q", "-")
    add(log, "On main.")
    git(log, "merge", "-q", "-s", "ours", "--no-edit", "side")
    assert found(audit.verify(log)) == {("deleted", dropped, head(log))}


def test_a_change_carried_into_main_by_a_merge_is_reported_at_its_commit(log):
    _, path = add(log, "Before the branch.")
    git(log, "checkout", "-q", "-b", "side")
    (log / path).write_text("{}\n")
    edit = sneak(log, path)
    git(log, "checkout", "-q", "-")
    add(log, "On main.")
    git(log, "merge", "-q", "--no-edit", "side")
    assert found(audit.verify(log)) == {("modified", path, edit)}


def test_every_ref_is_walked_not_only_the_branch_checked_out(log):
    _, path = add(log, "One.")
    git(log, "checkout", "-q", "-b", "elsewhere")
    git(log, "rm", "-q", path)
    sha = sneak(log)
    git(log, "checkout", "-q", "-")
    assert found(audit.verify(log)) == {("deleted", path, sha)}


def test_misnamed_misplaced_and_duplicate_files(log):
    event_id, path = add(log, "One.")
    other_id, _ = add(log, "Two.")
    raw = (log / path).read_bytes()
    # Holds event_id under another event's name; and a copy of it outside YYYY/MM.
    misnamed = path.replace(event_id, other_id[:-1] + ("0" if other_id[-1] != "0" else "1"))
    (log / misnamed).write_bytes(raw)
    (log / "events" / "2019" / "01").mkdir(parents=True)
    misplaced = f"events/2019/01/{event_id}.json"
    (log / misplaced).write_bytes(raw)
    (log / "events" / "notes.json").write_text("[]\n")
    sha = sneak(log)
    report = audit.verify(log)
    assert ("misnamed", misnamed, sha) in found(report)
    assert ("misplaced", misplaced, sha) in found(report)
    assert ("misnamed", "events/notes.json", sha) in found(report)
    duplicates = {f.path for f in report.findings if f.kind == "duplicate"}
    assert duplicates == {misnamed, misplaced}
    assert all(f.commit == sha for f in report.findings)


def test_the_working_tree_uncommitted_files_warn_edits_are_breaches(log, cli):
    _, path = add(log, "Committed.")
    [(event, loose)] = append.append(Store(log), [("t", {
        "type": "activity.noted", "occurred": "2009", "summary": "Not committed."})],
        by="office-a@example.org", commit=False)
    loose = loose.relative_to(log).as_posix()
    report = audit.verify(log)
    assert found(report) == {("uncommitted", loose, None)}
    assert report.breaches == []
    result = cli(log, "verify")
    assert result.exit_code == 0
    assert f"warning: {loose}: uncommitted: in the working tree" in result.stdout
    (log / path).write_text("{}\n")
    assert found(audit.verify(log)) == {("uncommitted", loose, None), ("modified", path, None)}
    assert cli(log, "verify").exit_code == 1


def test_verify_a_range(log, cli):
    add(log, "One.")
    start = head(log)
    _, path = add(log, "Two.")
    (log / path).write_text("{}\n")
    tampered = sneak(log, path)
    middle = head(log)
    add(log, "Three.")
    assert found(audit.verify(log, f"{start}..{middle}")) == {("modified", path, tampered)}
    report = audit.verify(log, f"{middle}..HEAD")
    assert (report.commits, report.findings) == (1, [])
    assert cli(log, "verify", "--range", f"{start}..HEAD").exit_code == 1
    assert cli(log, "verify", "--range", f"{middle}..HEAD").exit_code == 0
    bad = cli(log, "verify", "--range", "nosuchref..HEAD")
    assert bad.exit_code == 2
    assert "--range nosuchref..HEAD" in bad.stderr


def test_verify_outside_a_repository_is_refused(tmp_path, cli):
    result = cli(tmp_path, "verify")
    assert result.exit_code == 2
    assert "not a git repository" in result.stderr


# --- history ------------------------------------------------------------------------------


def test_history_trail_of_an_event_corrected_then_retracted(log, cli):
    target, path = add(log, "Attended the OEWG.", by="office-a@example.org")
    [(fix, fix_path)] = append.correct(Store(log), target, {"summary": "Attended OEWG 7."},
                                       "the session number", by="office-b@example.org")
    [(gone, gone_path)] = append.retract(Store(log), target, "recorded twice",
                                         by="office-a@example.org")
    trail = audit.history(log, target)
    assert [(e.step, e.id) for e in trail] == \
        [("added", target), ("corrected", fix.id), ("retracted", gone.id)]
    paths = [path, fix_path.relative_to(log).as_posix(), gone_path.relative_to(log).as_posix()]
    assert [e.commit.sha for e in trail] == [adding_commit(log, p) for p in paths]
    assert len({e.commit.sha for e in trail}) == 3
    assert trail[1].recorded_by == "office-b@example.org"
    assert trail[1].changes == {"summary": "Attended OEWG 7."}
    assert trail[2].reason == "recorded twice"
    assert all(e.commit.email == "author@example.org" for e in trail)

    result = cli(log, "history", target)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["added", "corrected", "retracted"]
    assert all(f"commit {e.commit.sha[:12]}" in line for e, line in zip(trail, lines, strict=True))
    assert "set summary" in lines[1] and "reason: recorded twice" in lines[2]
    data = json.loads(cli(log, "history", target, "--json").stdout)
    assert [d["commit"]["sha"] for d in data] == [e.commit.sha for e in trail]


def test_history_of_a_retracted_correction_follows_the_chain(log):
    target, _ = add(log, "One.")
    [(fix, _)] = append.correct(Store(log), target, {"summary": "Uno."}, "typo",
                                by="office-a@example.org")
    [(undo, _)] = append.retract(Store(log), fix.id, "wrong fix", by="office-a@example.org")
    trail = audit.history(log, target)
    assert [(e.step, e.id, e.target) for e in trail] == \
        [("added", target, None), ("corrected", fix.id, target), ("retracted", undo.id, fix.id)]


def test_history_lists_every_event_with_filters(log, cli):
    a_id, _ = add(log, "By A.", by="office-a@example.org")
    b_id, _ = add(log, "By B.", by="office-b@example.org")
    [(loose, _)] = append.append(Store(log), [("t", {
        "type": "activity.noted", "occurred": "2009", "summary": "Loose."})],
        by="office-a@example.org", commit=False)
    entries = audit.history(log)
    assert [e.id for e in entries] == sorted([a_id, b_id, loose.id])
    assert [e.commit is None for e in entries] == [False, False, True]
    assert [e.id for e in audit.history(log, by="OFFICE-B")] == [b_id]
    assert audit.history(log, since="2999-01-01") == []
    assert len(audit.history(log, since="2000-01-01")) == 3
    result = cli(log, "history", "--by", "office-a")
    assert result.exit_code == 0
    assert [line.split()[1] for line in result.stdout.splitlines()] == [a_id, loose.id]
    assert result.stdout.splitlines()[1].endswith("not committed")
    assert cli(log, "history", "--since", "last tuesday").exit_code == 2
    missing = cli(log, "history", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert missing.exit_code == 1 and "no event file has this id" in missing.stderr


# --- commits_since ------------------------------------------------------------------------


def test_commits_since_walks_only_what_is_new(log):
    assert audit.commits_since(log / "nowhere") == []
    _, first = add(log, "One.")
    everything = audit.commits_since(log)
    assert [c["added"] for c in everything] == [[first]]
    mark = everything[-1]["sha"]
    assert set(everything[0]) == {"sha", "author", "email", "committed_at", "message", "added"}
    assert audit.commits_since(log, mark) == []
    _, second = add(log, "Two.")
    batch = append.append(Store(log), [(str(n), {"type": "activity.noted", "occurred": "2009",
                                                  "summary": f"Batch {n}."}) for n in (1, 2)],
                          by="office-a@example.org")
    later = audit.commits_since(log, mark)
    assert [c["added"] for c in later] == \
        [[second], sorted(p.relative_to(log).as_posix() for _, p in batch)]
    assert later[-1]["sha"] == head(log)
    assert later[1]["message"] == "import: 2 events"
    unknown = "0" * 40
    assert [c["sha"] for c in audit.commits_since(log, unknown)] == \
        [c["sha"] for c in everything + later]


def test_an_event_file_that_is_not_json_still_has_history(log):
    bad = log / "events" / "2009" / "01" / "01ARZ3NDEKTSV4RRFFQ69G5FAV.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("not json")
    sha = sneak(log, "events")
    [entry] = audit.history(log)
    assert (entry.id, entry.type, entry.commit.sha) == (bad.stem, None, sha)
    assert events.ULID_RE.fullmatch(entry.id)


def test_a_log_in_a_folder_of_a_larger_repository(tmp_path):
    outer = tmp_path / "outer"
    git(tmp_path, "init", "-q", str(outer))
    (outer / "events").mkdir()
    (outer / "events" / "unrelated.json").write_text("{}\n")
    git(outer, "add", ".")
    git(outer, "commit", "-q", "-m", "the larger repository")
    log = outer / "log"
    repo.init(log)
    _, path = add(log, "One.")
    assert [e.commit is not None for e in audit.history(log)] == [True]
    assert audit.verify(log).findings == []
    (log / path).write_text("{}\n")
    sha = sneak(log, path)
    (log / path).write_text("[]\n")
    assert found(audit.verify(log)) == {("modified", path, sha), ("modified", path, None)}


@pytest.mark.parametrize("forged_made", ["first", "last"])
def test_of_two_contents_for_one_event_the_later_commit_is_the_breach(log, monkeypatch,
                                                                     forged_made):
    """Whichever way git walks them, the commit dated first is the reference, and the
    differing content committed later is named as the breach, with its author."""
    def commit_at(day):
        monkeypatch.setenv("GIT_COMMITTER_DATE", f"2026-06-{day:02d}T12:00:00Z")

    add(log, "Before both.")
    base = head(log)
    commit_at(1)
    event_id, path = add(log, "Original summary.")
    honest = head(log)
    original = (log / path).read_text()
    git(log, "checkout", "-q", "-b", "forged", base)
    commit_at(9)
    (log / path).parent.mkdir(parents=True, exist_ok=True)
    (log / path).write_text(original.replace("Original", "Forged"))
    forged = sneak(log, path)
    if forged_made == "first":  # the honest side gets a newer tip, walked first by git
        git(log, "checkout", "-q", "-")
        commit_at(20)
        add(log, "Later on the honest side.")
    [finding] = audit.verify(log).findings
    assert (finding.kind, finding.path, finding.commit, finding.author) == \
        ("duplicate", path, forged, MALLORY)
    assert f"first added in commit {honest[:12]} by " in finding.detail


def test_files_serve_would_read_are_warnings_named_with_their_commit(log, cli):
    """metadata.yml as `cooplog init` wrote it is no news; a change to it, a template or
    any Python is named."""
    assert audit.verify(log).findings == []
    (log / "metadata.yml").write_text("title: Another title\n")
    (log / "datasette" / "static").mkdir(parents=True)
    (log / "datasette" / "static" / "app.js").write_text("alert(1)\n")
    (log / "tools.py").write_text("import os\n")
    sha = sneak(log, "metadata.yml", "datasette", "tools.py")
    report = audit.verify(log)
    assert report.breaches == []
    assert found(report) == {("served", "metadata.yml", sha),
                             ("served", "datasette/static/app.js", sha),
                             ("code", "tools.py", sha)}
    result = cli(log, "verify")
    assert result.exit_code == 0
    assert f"warning: tools.py: code: in commit {sha[:12]} ({MALLORY}, " in result.stdout
    (log / "tools.py").write_text("import sys\n")
    again = sneak(log, "tools.py")
    assert ("code", "tools.py", again) in found(audit.verify(log))  # once, at its latest
    assert ("code", "tools.py", sha) not in found(audit.verify(log))
    [ranged] = audit.verify(log, f"{sha}..{again}").findings  # a range: what it brought
    assert (ranged.kind, ranged.commit) == ("code", again)
