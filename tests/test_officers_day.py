"""Issue 17, the officer's day: a nested field corrected and shown old → new, duplicates and
activities of no organization warned about, a taken port, every import problem in one run,
an unknown id, input in any case, and errors of one line."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest
from ulid import ULID

from cooplog import serve, watch
from cooplog.errors import CooplogError
from cooplog.store import Store, default_db
from helpers import built, event_files, read_json, snapshot, written

COOPLOG = Path(sys.executable).parent / "cooplog"
MEETING = ["add", "meeting", "--title", "29th session of the WCO Enforcement Committee",
           "--role", "participant", "--city", "Brussels", "--country", "BE",
           "--date", "2010-03-02/2010-03-05", "--org", "wco",
           "--summary", "The Secretariat took part in the WCO Enforcement Committee."]
NO_ORGANIZATION = ("names no organization, so no organization's part of the report lists it: "
                   "name the ones involved (--org KEY, or orgs in JSON) if there are any")
ACTIVITY = ["add", "activity", "--date", "2010-04", "--org", "wco",
            "--summary", "Briefed the WCO on e-waste."]


def _added(root: Path, cli, args: list[str]) -> str:
    result = cli(root, *args)
    assert result.exit_code == 0, result.output
    return written(result, root)[0][0]


def _correction(root: Path, result) -> dict:
    assert result.exit_code == 0, result.output
    (_, rel), = written(result, root)
    return read_json(root / rel)["data"]


# --- 1. one nested field corrected; old → new ----------------------------------------------


def test_set_a_nested_field_records_the_whole_field(seeded, cli):
    meeting = _added(seeded, cli, MEETING)
    data = _correction(seeded, cli(seeded, "correct", meeting, "--set",
                                   "data.location.city=Seoul", "--set",
                                   "data.location.country=kr", "--reason", "It was in Seoul."))
    assert data["set"] == {"data.location": {"city": "Seoul", "country": "KR"}}
    shown = json.loads(cli(seeded, "show", meeting, "--json").stdout)
    assert shown["event"]["data"]["location"] == {"city": "Seoul", "country": "KR"}
    assert shown["changes"] == [[{"field": "data.location",
                                  "old": {"city": "Brussels", "country": "BE"},
                                  "new": {"city": "Seoul", "country": "KR"}}]]


def test_set_a_list_item_and_show_and_history_print_old_and_new(seeded, cli):
    submission = _added(seeded, cli, [
        "add", "submission", "--key", "hs-2", "--to", "wco", "--title", "Waste streams",
        "--item", "waste computers", "--item", "power-plant ashes", "--date", "2008-11",
        "--org", "wco", "--summary", "Submitted waste streams."])
    first = cli(seeded, "correct", submission, "--set", "data.items[1]=fly ash",
                "--reason", "the right words")
    assert _correction(seeded, first)["set"] == {"data.items": ["waste computers", "fly ash"]}
    second = cli(seeded, "correct", submission, "--set", "data.items[2]=inks and dyes",
                 "--set", "summary=Submitted three waste streams.", "--reason", "one more")
    assert _correction(seeded, second)["set"] == {
        "data.items": ["waste computers", "fly ash", "inks and dyes"],
        "summary": "Submitted three waste streams."}

    shown = cli(seeded, "show", submission).stdout.splitlines()
    assert '  data.items: ["waste computers", "power-plant ashes"] → ["waste computers", ' \
           '"fly ash"]' in shown
    assert '  summary: "Submitted waste streams." → "Submitted three waste streams."' in shown
    trail = cli(seeded, "history", submission).stdout.splitlines()
    assert len(trail) == 3
    assert 'set data.items: ["waste computers", "fly ash"] → ["waste computers", "fly ash", ' \
           '"inks and dyes"]; summary: "Submitted waste streams." → "Submitted three waste ' \
           'streams."' in trail[2]


def test_set_parts_of_envelope_fields_and_remove_one(seeded, cli):
    meeting = _added(seeded, cli, [*MEETING, "--org", "unep", "--doc", "UNEP/CHW/OEWG/7/17"])
    data = _correction(seeded, cli(
        seeded, "correct", meeting, "--set", "orgs[1]=wto", "--set",
        "documents[0].url=https://example.org/oewg7-17.pdf", "--set", "data.location.city=null",
        "--reason", "the WTO, not UNEP; the document's address; no city"))
    assert data["set"] == {
        "orgs": ["wco", "wto"],
        "documents": [{"symbol": "UNEP/CHW/OEWG/7/17",
                       "url": "https://example.org/oewg7-17.pdf"}],
        "data.location": {"country": "BE"}}
    data = _correction(seeded, cli(seeded, "correct", meeting, "--set",
                                   "data.location.country=null", "--reason", "no place"))
    assert data["set"] == {"data.location": None}  # emptied: removed
    shown = json.loads(cli(seeded, "show", meeting, "--json").stdout)
    assert "location" not in shown["event"]["data"]


def test_set_into_a_field_that_has_no_parts_is_a_usage_error(seeded, cli):
    meeting = _added(seeded, cli, MEETING)
    before = snapshot(seeded)
    for path, message in [
        ("data.title.city", "--set data.title.city: data.title is text, not an object with "
                            "fields: set data.title itself"),
        ("data.organizer[3]", "--set data.organizer[3]: data.organizer is empty: use "
                              "data.organizer[0] to add one"),
        ("data.location[0]", "--set data.location[0]: data.location is an object, not a "
                             "list: set data.location itself"),
        ("data..x", "--set data..x: not a field path: write e.g. summary, data.title, "
                    "data.location.city or data.items[0]"),
    ]:
        result = cli(seeded, "correct", meeting, "--set", f"{path}=x", "--reason", "R.")
        assert (result.exit_code, result.stderr) == (2, f"error: {message}\n"), path
    assert snapshot(seeded) == before


# --- 2. likely duplicates -------------------------------------------------------------------


def test_a_likely_duplicate_is_warned_about_and_refused_under_strict(seeded, cli):
    first = _added(seeded, cli, ACTIVITY)
    again = [*ACTIVITY[:-1], "  briefed the WCO  on E-WASTE."]  # case and spaces aside
    before, files = snapshot(seeded), event_files(seeded)
    strict = cli(seeded, *again, "--strict")
    assert (strict.exit_code, strict.stdout) == (1, "")
    assert strict.stderr.splitlines() == [
        f"error: add activity: likely a duplicate of {first} "
        f"({Store(seeded).relpath(Store(seeded).path_for(first))}): same type, date, "
        "organizations and title or summary; 1 warning(s) under --strict; nothing was written"]
    assert snapshot(seeded) == before

    result = cli(seeded, *again)
    assert result.exit_code == 0
    assert result.stderr == (f"warning: add activity: likely a duplicate of {first} "
                             f"({Store(seeded).relpath(Store(seeded).path_for(first))}): same "
                             "type, date, organizations and title or summary\n")
    assert len(event_files(seeded)) == len(files) + 1


def test_alike_but_not_a_duplicate_passes_quietly(seeded, cli):
    first = _added(seeded, cli, ACTIVITY)
    for args in (
        [*ACTIVITY[:3], "2010-05", *ACTIVITY[4:]],  # another month
        [*ACTIVITY[:5], "wto", *ACTIVITY[6:]],  # another organization
        [*ACTIVITY[:-1], "Briefed the WCO on mercury."],  # another summary
    ):
        result = cli(seeded, *args)
        assert (result.exit_code, result.stderr) == (0, ""), args
    cli(seeded, "retract", first, "--reason", "recorded in error")
    result = cli(seeded, *ACTIVITY)  # what was retracted is no longer there to repeat
    assert (result.exit_code, result.stderr) == (0, "")


def test_two_statuses_of_one_subject_on_one_day_are_not_duplicates(seeded, cli):
    status = ["add", "status", "--subject", "hs-waste-streams", "--date", "2009-03-23",
              "--org", "wco"]
    _added(seeded, cli, [*status, "--status", "under-consideration", "--summary",
                         "The HS Committee took up the waste streams."])
    result = cli(seeded, *status, "--status", "deferred", "--summary",
                 "The HS Committee deferred the waste streams.")
    assert (result.exit_code, result.stderr) == (0, "")


def test_meetings_are_duplicates_by_title_and_json_bodies_by_summary(seeded, cli):
    first = _added(seeded, cli, MEETING)
    renamed = [*MEETING[:-1], "Another summary of the same meeting."]
    result = cli(seeded, *renamed)
    assert result.exit_code == 0
    assert f"likely a duplicate of {first}" in result.stderr
    body = {"type": "activity.noted", "occurred": "2010-04", "orgs": ["wco"],
            "summary": "Briefed the WCO on e-waste."}
    activity = _added(seeded, cli, ACTIVITY)
    result = cli(seeded, "add", "--json", "-", input=json.dumps(body))
    assert result.exit_code == 0
    assert result.stderr.startswith(f"warning: stdin: likely a duplicate of {activity}")


def test_beside_a_running_watcher_duplicates_are_found_in_its_database(seeded, cli,
                                                                      monkeypatch):
    """No walk of the files: the database the watcher keeps in step answers, and holds an
    event added a moment before."""
    from cooplog import mistakes

    with watch.Watcher(Store(seeded), default_db(seeded), reconcile_every=3600):
        first = _added(seeded, cli, ACTIVITY)
        deadline = time.monotonic() + 30  # a wait for the watcher, not a measure of it
        while not _in_database(default_db(seeded), first):
            assert time.monotonic() < deadline, "the watcher never applied the first"
            time.sleep(0.05)
        monkeypatch.setattr(mistakes, "_from_files", lambda *a: pytest.fail("read the log"))
        result = cli(seeded, *ACTIVITY)
    assert result.exit_code == 0
    assert result.stderr.startswith(f"warning: add activity: likely a duplicate of {first} "
                                    f"(events/")


def _in_database(db: Path, event_id: str) -> bool:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("select 1 from events where id = ?", [event_id]).fetchone() \
            is not None


@pytest.mark.slow
def test_without_a_watcher_its_database_and_the_files_it_lacks_are_asked(seeded, cli,
                                                                         monkeypatch):
    """A database not kept in step answers for what it holds; the files it has not recorded
    (a listing finds them) for the rest; the log is not read through."""
    from cooplog import mistakes

    old = _added(seeded, cli, ACTIVITY)
    built(seeded)
    new = _added(seeded, cli, [*ACTIVITY[:3], "2010-05", *ACTIVITY[4:]])  # not in it
    monkeypatch.setattr(mistakes, "_from_files", lambda *a: pytest.fail("read the log"))
    for date, first in (("2010-04", old), ("2010-05", new)):
        result = cli(seeded, *ACTIVITY[:3], date, *ACTIVITY[4:])
        assert result.exit_code == 0
        assert result.stderr.startswith(
            f"warning: add activity: likely a duplicate of {first} (events/"), date


# --- 3. an activity of no organization -----------------------------------------------------


def test_an_activity_of_no_organization_is_warned_about_at_add_and_by_validate(seeded, cli):
    result = cli(seeded, "add", "activity", "--date", "2009", "--summary", "Spoke at a forum.")
    assert (result.exit_code, result.stderr) == (
        0, f"warning: add activity: --org: {NO_ORGANIZATION}\n")
    (_, rel), = written(result, seeded)
    checked = cli(seeded, "validate")  # SEED's project names none either
    assert (checked.exit_code, checked.stderr) == (
        0, "9 event file(s), no problems; 2 warning(s)\n")
    assert f"warning: {rel}: orgs: {NO_ORGANIZATION}\n" in checked.stdout
    assert {"path": rel, "field": "orgs", "message": NO_ORGANIZATION} in json.loads(
        cli(seeded, "validate", "--json").stdout)["warnings"]

    event_id = written(result, seeded)[0][0]
    cli(seeded, "correct", event_id, "--set", 'orgs=["wco"]', "--reason", "it was the WCO's")
    assert rel not in cli(seeded, "validate").stdout  # as the log reads now

    before = snapshot(seeded)
    strict = cli(seeded, "add", "activity", "--date", "2009", "--summary", "Other.",
                 "--strict")
    assert strict.exit_code == 1
    assert strict.stderr.startswith("error: add activity: --org: names no organization")
    assert snapshot(seeded) == before


# --- 7. a taken port -----------------------------------------------------------------------


@pytest.fixture
def taken_port():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.slow
def test_serve_on_a_taken_port_says_so_in_one_line_and_exits_2(seeded, taken_port):
    done = subprocess.run([str(COOPLOG), "--root", str(seeded), "serve", "--port",
                           str(taken_port)], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (
        2, "", f"error: port {taken_port} on 127.0.0.1 is in use: stop what uses it, or "
               "choose another with --port\n")


def test_serve_on_a_taken_port_starts_no_watcher_and_announces_nothing(seeded, taken_port):
    announced = []
    threads = set(threading.enumerate())
    with pytest.raises(CooplogError) as refused:
        serve.serve(seeded, None, "127.0.0.1", taken_port, announce=announced.append)
    assert (refused.value.exit_code, announced) == (2, [])
    assert set(threading.enumerate()) == threads
    assert serve.WATCHER is None


# --- 8. every problem of an import in one run ---------------------------------------------


def test_import_names_a_bad_date_and_an_unknown_organization_in_one_run(seeded, cli,
                                                                        tmp_path):
    lines = [{"type": "activity.noted", "occurred": "2009", "summary": "Fine.",
              "orgs": ["wco"]},
             {"type": "activity.noted", "occurred": "2009-13", "summary": "Bad date.",
              "orgs": ["wco"]},
             {"type": "activity.noted", "occurred": "2009", "summary": "Unknown org.",
              "orgs": ["nowhere"]},
             "{not json"]
    file = tmp_path / "events.jsonl"
    file.write_text("\n".join(line if isinstance(line, str) else json.dumps(line)
                              for line in lines) + "\n")
    before = snapshot(seeded)
    result = cli(seeded, "import", file)
    assert (result.exit_code, result.stdout) == (1, "")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert [line.split(": ")[1] for line in errors] == [
        f"{file} line 4", f"{file} line 2", f"{file} line 3", "3 problem(s); nothing was written"]
    assert [line.split(": ")[2] for line in errors[1:3]] == ["occurred", "orgs[0]"]
    assert snapshot(seeded) == before


# --- 9. an unknown id ----------------------------------------------------------------------


@pytest.mark.parametrize("command", [["correct", "--set", "summary=S."], ["retract"], ["show"]])
def test_an_unknown_id_is_one_line_and_names_no_invented_path(seeded, cli, command):
    unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV"  # a ULID of July 2016: no such folder exists
    args = [command[0], unknown, *command[1:]]
    if command[0] != "show":
        args += ["--reason", "R."]
    result = cli(seeded, *args)
    assert (result.exit_code, result.stderr) == (
        1, f"error: no event has the id {unknown}: check it with `cooplog history`, which "
           "lists every event\n")
    assert "events/2016" not in result.stderr


# --- 10. input with one obvious meaning ------------------------------------------------------


def test_country_codes_and_keys_are_normalised(seeded, cli):
    meeting = _added(seeded, cli, [*MEETING[:9], "be", *MEETING[10:13], " wco ", *MEETING[14:]])
    body = read_json(seeded / written_path(seeded, meeting))
    assert (body["data"]["location"], body["orgs"]) == ({"city": "Brussels", "country": "BE"},
                                                        ["wco"])
    project = _added(seeded, cli, ["add", "project", "--key", "e-waste-ng", "--title", "T",
                                   "--country", "ng", "--country", "Gh", "--date", "2009",
                                   "--org", "gef", "--summary", "Proposed."])
    assert read_json(seeded / written_path(seeded, project))["data"]["countries"] == [
        "NG", "GH"]


def written_path(root: Path, event_id: str) -> str:
    return Store(root).relpath(Store(root).path_for(event_id))


def test_event_ids_are_taken_in_any_case(seeded, cli):
    meeting = _added(seeded, cli, MEETING)
    lower = meeting.lower()
    data = _correction(seeded, cli(seeded, "correct", lower, "--set", "data.role=presenter",
                                   "--reason", "we presented"))
    assert data["target"] == meeting
    shown = cli(seeded, "show", lower, "--json")
    assert json.loads(shown.stdout)["event"]["data"]["role"] == "presenter"
    assert len(cli(seeded, "history", lower).stdout.splitlines()) == 2
    body = {"type": "event.retracted", "data": {"target": lower, "reason": "twice"}}
    result = cli(seeded, "add", "--json", "-", input=json.dumps(body))
    assert result.exit_code == 0, result.output
    (_, rel), = written(result, seeded)
    assert read_json(seeded / rel)["data"]["target"] == meeting
    assert cli(seeded, "validate").exit_code == 0


# --- 11. usage errors: one line and a hint --------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["add", "meeting", "--title", "T"],
     "error: Missing option '--role' (see `cooplog add meeting --help`)"),
    (["nonsense"], "error: No such command 'nonsense' (see `cooplog --help`)"),
    (["correct", str(ULID()), "--set", "summary=S."],
     "error: Missing option '--reason' (see `cooplog correct --help`)"),
])
def test_a_usage_error_is_one_line_and_a_hint(seeded, args, message):
    before = snapshot(seeded)
    done = subprocess.run([str(COOPLOG), "--root", str(seeded), *args], capture_output=True,
                          text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", message + "\n")
    assert snapshot(seeded) == before


def test_field_names_with_spaces_around_them_are_taken(seeded, cli):
    body = {" type": "meeting.attended", "occurred ": "2009", "summary": "Met.",
            "orgs": ["wco "], "data": {" title ": "T", "role": "host",
                                       "location": {"country ": "ch"}}}
    result = cli(seeded, "add", "--json", "-", input=json.dumps(body))
    assert (result.exit_code, result.stderr) == (0, "")
    (event_id, rel), = written(result, seeded)
    assert read_json(seeded / rel) | {"id": "", "recorded_at": "", "recorded_by": ""} == {
        "id": "", "type": "meeting.attended", "schema": 1, "recorded_at": "",
        "recorded_by": "", "occurred": "2009", "summary": "Met.", "orgs": ["wco"],
        "data": {"title": "T", "role": "host", "location": {"country": "CH"}}}
    clash = {**body, "summary": "One.", " summary": "Two."}
    result = cli(seeded, "add", "--json", "-", input=json.dumps(clash))
    assert result.exit_code == 1
    assert "unknown field" in result.stderr
