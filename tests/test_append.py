"""Appending through the core: checked before written, all or nothing, committed alone, and
whatever it accepts passes `validate`."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cooplog import append, events, gitops
from cooplog.errors import CooplogError, Problem
from cooplog.rules import check_log
from cooplog.store import Store
from helpers import (
    ENTITIES,
    ORGS,
    RECORDER,
    SEED,
    built,
    commits,
    committed_files,
    event_files,
    git,
    snapshot,
)
from strategies import bodies, level0

ACTIVITY = {"type": "activity.noted", "occurred": "2009-05", "summary": "Gave a lecture.",
            "orgs": ["wco"]}


def test_batches_minted_in_one_millisecond_never_share_an_id():
    """python-ulid makes the ids of one millisecond increase by one: a batch counted on from
    its first id was given the next batch's (`add` then said "already exists")."""
    for _ in range(200):
        first, second = append.mint_ids(2), append.mint_ids(2)
        assert first == sorted(first) and second == sorted(second)
        assert len(set(first + second)) == 4


def test_append_writes_validates_and_commits_one_event(seeded):
    store = Store(seeded)
    before = event_files(seeded)
    (event, path), = append.append(store, [("t", ACTIVITY)])
    assert event.recorded_by == RECORDER
    assert event_files(seeded) == sorted([*before, store.relpath(path)])
    assert store.read(path) == event
    assert commits(seeded)[0] == "activity.noted: Gave a lecture. (2009-05)"
    assert committed_files(seeded) == [store.relpath(path)]
    assert git(seeded, "status", "--porcelain").stdout == ""


def test_a_batch_is_all_or_nothing_and_names_every_bad_body(seeded):
    before, head = event_files(seeded), commits(seeded)
    batch = [("line 1", ACTIVITY), ("line 2", {**ACTIVITY, "occurred": "2009-13"}),
             ("line 3", ACTIVITY), ("line 4", {**ACTIVITY, "orgs": ["nowhere"]})]
    with pytest.raises(CooplogError) as refused:
        append.append(Store(seeded), batch)
    assert str(refused.value) == "2 problem(s); nothing was written"
    assert [str(p) for p in refused.value.problems] == [
        "line 2: occurred: '2009-13' has no month 13: use EDTF level 0 such as 2009, 2009-03, "
        "2009-03-23 or 2009-03-23/2009-05-11",
        "line 4: orgs[0]: unknown organization 'nowhere': register it with "
        "`cooplog add organization --key nowhere ...` or fix the key"]  # one run names both
    assert (event_files(seeded), commits(seeded)) == (before, head)


def test_a_batch_may_register_what_it_names(log):
    batch = [("1", {**ACTIVITY, "orgs": ["basel"]}),
             ("2", {"type": "organization.registered",
                    "data": {"key": "basel", "name": "Basel Convention", "category": "mea"}})]
    written = append.append(Store(log), batch, message="import: 2 events")
    assert [e.type for e, _ in written] == ["activity.noted", "organization.registered"]
    assert [e.id for e, _ in written] == sorted(e.id for e, _ in written)  # order kept
    assert commits(log)[0] == "import: 2 events"
    assert check_log(Store(log)) == []


@pytest.fixture
def parsed(monkeypatch) -> list[Path]:
    """The files read whole (parsed and checked) from now on, in order."""
    paths: list[Path] = []
    real = Store.parse

    def parse(self, path, raw, mode):
        paths.append(Path(path))
        return real(self, path, raw, mode)

    monkeypatch.setattr(Store, "parse", parse)
    return paths


def test_checking_an_append_reads_whole_only_the_files_that_make_keys_or_retract(
        seeded, parsed):
    """An `add` naming an organization read and checked every file of the log (18 s on
    100,000 events); a look at the type of each is enough for the others."""
    store = Store(seeded)
    written = append.append(store, [(str(i), ACTIVITY) for i in range(20)], commit=False)
    (retraction, _), = append.retract(store, written[0][0].id, "twice", commit=False)
    parsed.clear()
    append.append(store, [("one more", ACTIVITY)], commit=False)
    assert sorted(events.decode(Path(p).read_bytes())["type"] for p in parsed) == sorted(
        [*(b["type"] for b in SEED), "event.retracted"])
    parsed.clear()  # a correction's target is read (and not the other activities)
    append.correct(store, written[1][0].id, {"summary": "Gave two."}, "two", commit=False)
    assert written[1][1] in parsed and written[2][1] not in parsed


def test_beside_its_database_the_checks_ask_it_and_read_only_the_files_it_lacks(
        seeded, parsed):
    """With the log's database (kept in step by a watcher or not), what an append names is
    looked up there, and of the files only those it has not recorded are read (a listing of
    the month folders changed since it was written finds them): no read of every file that
    makes a key (3.3 s on 100,000 events). Only what neither knows sends the check through
    the files."""
    store = Store(seeded)
    built(seeded, seeded / ".cooplog" / "cooplog.db")
    project = next(p for p in store.files() if "e-waste-africa" in p.read_text())
    (late, late_path), = append.append(store, [("late", {
        "type": "organization.registered",
        "data": {"key": "basel", "name": "Basel Convention", "category": "mea"}})],
        commit=False)  # after the database was built: it has not recorded it
    parsed.clear()
    (_, known_path), = append.append(store, [("known", ACTIVITY)], commit=False)
    assert parsed == [late_path]  # the file the database lacks, and no other
    append.append(store, [("wco's status", {
        "type": "status.changed", "occurred": "2009", "summary": "Accepted.",
        "data": {"subject": "wco-mou", "status": "accepted"}})], commit=False)
    append.retract(store, project.stem, "never proposed", commit=False)
    assert project in parsed  # retract's own look at its target
    after_the_build = {p for p in store.files() if p not in seeded_files(seeded, late_path)}
    assert set(parsed) <= after_the_build | {project}
    parsed.clear()
    append.append(store, [("late", {**ACTIVITY, "orgs": ["basel"]})], commit=False)
    assert late_path in parsed and set(parsed) <= after_the_build  # the listing found it
    with pytest.raises(CooplogError) as refused:
        append.append(store, [("unknown", {**ACTIVITY, "orgs": ["nobody"]})], commit=False)
    assert refused.value.problems[0].field == "orgs[0]"
    assert project in parsed  # what neither knows: through the files


def seeded_files(root: Path, first_added: Path) -> set[Path]:
    """The files of a seeded log: those before `first_added` in id order."""
    return {p for p in Store(root).files() if p.stem < first_added.stem}


def test_the_database_named_by_db_is_the_one_asked(seeded, cli, tmp_path, parsed):
    """`cooplog --db other.db add …` looks names up there: only the files it has not
    recorded are read, none of the log's."""
    db = built(seeded, tmp_path / "other.db")
    before = set(Store(seeded).files())
    parsed.clear()
    for command in (["add", "activity", "--org", "wco", "--date", "2009", "--summary",
                     "Met.", "--no-commit"],
                    ["add", "status", "--subject", "wco-mou", "--status", "accepted",
                     "--date", "2009", "--summary", "Accepted.", "--no-commit"]):
        result = cli(seeded, "--db", db, *command)
        assert result.exit_code == 0, result.output
    assert parsed and not set(parsed) & before
    cli(seeded, "add", "activity", "--org", "wco", "--date", "2009", "--summary", "Met.",
        "--no-commit")  # no --db: the log's own database, which does not exist
    assert set(parsed) & before


def test_a_key_is_created_once(seeded):
    body = {"type": "agreement.signed", "occurred": "2009", "summary": "Signed again.",
            "data": {"key": "wco-mou", "kind": "mou", "title": "Another", "parties": ["wco"]}}
    with pytest.raises(CooplogError) as refused:
        append.append(Store(seeded), [("t", body), ("u", {**body, "data": {
            **body["data"], "key": "new-mou"}}), ("v", {**body, "data": {
                **body["data"], "key": "new-mou"}})])
    assert refused.value.problems == [
        Problem("t", "data.key", "'wco-mou' exists already: choose another key"),
        Problem("v", "data.key", "'new-mou' exists already: choose another key"),
    ]


def test_who_records_it(log, monkeypatch):
    store = Store(log)
    assert append.append(store, [("t", ACTIVITY | {"orgs": []})])[0][0].recorded_by == RECORDER
    monkeypatch.setenv("COOPLOG_USER", "office@example.org")
    assert append.recorder(log, None) == "office@example.org"
    assert append.recorder(log, "me@example.org") == "me@example.org"
    monkeypatch.delenv("COOPLOG_USER")
    git(log, "config", "--unset", "user.email")
    with pytest.raises(CooplogError) as refused:
        append.append(store, [("t", ACTIVITY | {"orgs": []})])
    assert (refused.value.exit_code, str(refused.value)) == (2, (
        "recorded_by: who is recording? pass --by EMAIL, set COOPLOG_USER, "
        "or set git config user.email"))


def test_a_commit_takes_only_its_own_file(seeded):
    (seeded / "notes.txt").write_text("staged, not mine")
    git(seeded, "add", "notes.txt")
    (event, path), = append.append(Store(seeded), [("t", ACTIVITY)])
    assert committed_files(seeded) == [Store(seeded).relpath(path)]
    assert git(seeded, "status", "--porcelain").stdout == "A  notes.txt\n"


def test_no_commit_and_no_repository(seeded, tmp_path):
    (event, path), = append.append(Store(seeded), [("t", ACTIVITY)], commit=False)
    assert git(seeded, "status", "--porcelain", "--untracked-files=all").stdout == (
        f"?? {Store(seeded).relpath(path)}\n")
    plain = tmp_path / "plain"
    (event, path), = append.append(Store(plain), [("t", {**ACTIVITY, "orgs": []})],
                                   by="a@example.org")
    assert path.is_file() and not (plain / ".git").exists()


@pytest.mark.parametrize("points_here", [True, False])
def test_every_appending_command_refuses_a_detached_head(seeded, cli, tmp_path, points_here):
    """A commit on a detached HEAD is on no branch: the next checkout orphans the event."""
    target, _ = append.append(Store(seeded), [("t", ACTIVITY)])[0]
    branch = git(seeded, "branch", "--show-current").stdout.strip()
    git(seeded, "checkout", "-q", "--detach")
    if not points_here:
        (seeded / "notes.txt").write_text("a commit only the detached HEAD has\n")
        git(seeded, "add", "notes.txt")
        git(seeded, "commit", "-q", "-m", "notes")
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text(json.dumps(ACTIVITY) + "\n")
    before = snapshot(seeded)
    for command in (["add", "activity", "--summary", "Gave a lecture.", "--date", "2009-05",
                     "--org", "wco"],
                    ["correct", target.id, "--set", "summary=Gave two lectures.",
                     "--reason", "there were two"],
                    ["retract", target.id, "--reason", "a mistake"],
                    ["import", jsonl]):
        result = cli(seeded, *command)
        assert result.exit_code == 1, (command, result.stdout)
        [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
        assert "HEAD is detached" in line and "nothing was written" in line
        assert (f"`git switch {branch}` (it points here)" if points_here
                else "`git switch <branch>`") in line
        assert snapshot(seeded) == before
    # --no-commit writes a file that no commit holds: it stays in the working tree, not lost.
    (event, path), = append.append(Store(seeded), [("t", ACTIVITY)], commit=False)
    git(seeded, "switch", "-q", branch)
    assert path.is_file()


@pytest.mark.slow
def test_a_held_index_lock_is_named_with_what_to_do(seeded, cli, monkeypatch):
    monkeypatch.setattr(gitops, "LOCK_RETRIES", 2)
    lock = seeded / ".git" / "index.lock"
    lock.write_text("")
    before = snapshot(seeded)
    result = cli(seeded, "add", "activity", "--summary", "Gave a lecture.", "--date", "2009-05",
                 "--org", "wco")
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {lock}: git's index is still locked")
    assert "another git may be running" in line and "delete that file" in line
    assert snapshot(seeded) == before
    lock.unlink()
    assert cli(seeded, "add", "activity", "--summary", "Gave a lecture.", "--date", "2009-05",
               "--org", "wco").exit_code == 0


def test_headline():
    def headline(**body):
        return append.headline(events.Event(
            id="01M8E5GJKGV3RS3DTR98H6BCFN", schema=1, recorded_at="2026-11-27T09:31:18Z",
            recorded_by="a", orgs=[], **body))

    assert headline(type="meeting.attended", occurred="2010-03-02/2010-03-05", summary="S.",
                    data={"title": "29th session of the WCO Enforcement Committee",
                          "role": "presenter"}) == (
        "meeting.attended: 29th session of the WCO Enforcement Committee "
        "(2010-03-02/2010-03-05)")
    assert headline(type="status.changed", occurred="2009", summary="S.",
                    data={"subject": "hs", "status": "accepted"}) == (
        "status.changed: hs accepted (2009)")
    assert headline(type="activity.noted", occurred="2009", summary="x" * 120, data={}) == (
        "activity.noted: " + "x" * 99 + "… (2009)")


# --- correct and retract -----------------------------------------------------------------


def _meeting(root) -> events.Event:
    body = {"type": "meeting.attended", "occurred": "2009-03", "summary": "Attended.",
            "orgs": ["wco"], "data": {"title": "Enforcement Committee", "role": "observer"}}
    return append.append(Store(root), [("t", body)])[0][0]


def test_correct_appends_a_correction(seeded):
    meeting = _meeting(seeded)
    (correction, path), = append.correct(Store(seeded), meeting.id, {
        "data.role": "presenter", "orgs": ["wco", "unep"]}, "It was a presentation.")
    assert events.to_dict(correction) == {
        "id": correction.id, "type": "event.corrected", "schema": 1,
        "recorded_at": correction.recorded_at, "recorded_by": RECORDER, "orgs": [],
        "data": {"target": meeting.id, "set": {"data.role": "presenter",
                                               "orgs": ["wco", "unep"]},
                 "reason": "It was a presentation."}}
    assert commits(seeded)[0] == f"event.corrected: {meeting.id}"
    assert check_log(Store(seeded)) == []


@pytest.mark.parametrize(("changes", "problems"), [
    ({"occurred": "2009-13"}, ["--set occurred: '2009-13' has no month 13: use EDTF level 0 "
                               "such as 2009, 2009-03, 2009-03-23 or 2009-03-23/2009-05-11"]),
    ({"data.role": "boss"}, ["--set data.role: Invalid enum value 'boss'; use one of: "
                             "participant, observer, presenter, organizer, co-organizer, host"]),
    ({"data.title": None}, ["--set data.title: missing: this field is required"]),
    ({"orgs": ["nowhere"]}, ["--set orgs[0]: unknown organization 'nowhere': register it with "
                             "`cooplog add organization --key nowhere ...` or fix the key"]),
])
def test_correct_refuses_a_change_that_makes_the_target_invalid(seeded, changes, problems):
    meeting = _meeting(seeded)
    before, head = event_files(seeded), commits(seeded)
    with pytest.raises(CooplogError) as refused:
        append.correct(Store(seeded), meeting.id, changes, "Because.")
    assert str(refused.value) == f"the correction would make {meeting.id} invalid; " \
                                 "nothing was written"
    assert [str(p) for p in refused.value.problems] == problems
    assert (event_files(seeded), commits(seeded)) == (before, head)


def test_correct_and_retract_refuse_an_unknown_target(seeded):
    unknown = append.mint_ids(1)[0]
    for attempt in (lambda: append.correct(Store(seeded), unknown, {"summary": "S."}, "R."),
                    lambda: append.retract(Store(seeded), unknown, "R.")):
        with pytest.raises(CooplogError) as refused:
            attempt()
        assert (refused.value.exit_code, str(refused.value)) == (
            1, f"no event has the id {unknown}: check it with `cooplog history`, which lists "
               "every event")


def test_retract_and_retract_the_retraction(seeded):
    meeting = _meeting(seeded)
    (retraction, _), = append.retract(Store(seeded), meeting.id, "Recorded twice.")
    assert retraction.data == {"target": meeting.id, "reason": "Recorded twice."}
    (undo, _), = append.retract(Store(seeded), retraction.id, "It was not a duplicate.")
    assert undo.data["target"] == retraction.id
    assert commits(seeded)[:2] == [f"event.retracted: {retraction.id}",
                                   f"event.retracted: {meeting.id}"]
    assert check_log(Store(seeded)) == []


# --- properties --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A log holding helpers.SEED, not a git repository: copied for each example."""
    root = tmp_path_factory.mktemp("template")
    append.append(Store(root), [(str(i), body) for i, body in enumerate(SEED)],
                  by="seed@example.org", commit=False)
    return root


def _copy(template: Path, folder: str) -> Store:
    shutil.copytree(template, Path(folder) / "log")
    return Store(Path(folder) / "log")


PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
KINDS = {}
for _key, _kind in ENTITIES.items():
    KINDS.setdefault(_kind, []).append(_key)


def _entity(kinds):
    return st.sampled_from([key for kind in kinds for key in KINDS.get(kind, [])])


VALID = dict(types=[t for t in events.TYPES if not t.startswith(("event.", "translation."))],
             org=st.sampled_from(sorted(ORGS)),
             new_key=st.from_regex(r"new-[a-z0-9]{1,8}", fullmatch=True), entity=_entity)


@PROPERTY
@given(bodies(**VALID))
@pytest.mark.slow
def test_add_accepts_every_valid_body_and_validate_agrees(template, body):
    with tempfile.TemporaryDirectory() as folder:
        store = _copy(template, folder)
        (event, path), = append.append(store, [("t", body)], by="a@example.org",
                                       commit=False)
        assert store.read(path) == event
        assert check_log(store) == []


MESSY = dict(VALID, org=st.sampled_from([*sorted(ORGS), "nowhere"]),
             new_key=st.sampled_from(["new-one", "wco", "wco-mou"]),
             entity=lambda kinds: st.sampled_from(sorted(ENTITIES) + ["missing"]),
             when=st.one_of(level0, st.sampled_from(["2009-13", "0000", "", "2009?"])))


@PROPERTY
@given(bodies(**MESSY))
@pytest.mark.slow
def test_whatever_add_writes_passes_validate(template, body):
    with tempfile.TemporaryDirectory() as folder:
        store = _copy(template, folder)
        before = event_files(store.root)
        try:
            append.append(store, [("t", body)], by="a@example.org", commit=False)
        except CooplogError:
            assert event_files(store.root) == before
        else:
            assert check_log(store) == []


orgs_or_not = st.sampled_from(["wco", "unep", "nowhere"])
CHANGES = {  # a field and values for it, right and wrong
    "summary": st.sampled_from(["A summary.", ""]),
    "occurred": st.one_of(level0, st.sampled_from(["2009-13", "0000"])),
    "orgs": st.lists(orgs_or_not, max_size=2),
    "source": st.sampled_from(["A source.", None]),
    "data.title": st.sampled_from(["A title.", None]),
    "data.to": orgs_or_not,
    "data.parent": st.one_of(orgs_or_not, st.none()),
    "data.parties": st.lists(orgs_or_not, max_size=2),
    "data.funder": orgs_or_not,
    "data.category": st.sampled_from(["mea", "ngo"]),
}
changes = st.lists(st.sampled_from(sorted(CHANGES)), min_size=1, max_size=2, unique=True) \
    .flatmap(lambda names: st.fixed_dictionaries({name: CHANGES[name] for name in names}))


@settings(PROPERTY, max_examples=100)
@given(st.integers(0, len(SEED) - 1), changes, st.booleans())
@pytest.mark.slow
def test_whatever_a_correction_writes_passes_validate(template, index, change, as_json):
    """Through `correct`, or as an event.corrected body given to `add --json`."""
    with tempfile.TemporaryDirectory() as folder:
        store = _copy(template, folder)
        target = sorted(store.files())[index].stem
        before = event_files(store.root)
        try:
            if as_json:
                append.append(store, [("stdin", {"type": "event.corrected", "data": {
                    "target": target, "set": change, "reason": "Because."}})],
                              by="a@example.org", commit=False)
            else:
                append.correct(store, target, change, "Because.", by="a@example.org",
                               commit=False)
        except CooplogError:
            assert event_files(store.root) == before
        else:
            assert check_log(store) == []
