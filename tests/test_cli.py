"""The `cooplog` command in-process: typed `add` for every type, import, correct, retract,
validate; exit codes 0 / 1 / 2 and errors of one line each."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ulid import ULID

from cooplog import events
from cooplog.mistakes import NO_ORGANIZATION
from cooplog.rules import check_log
from cooplog.store import Store
from helpers import (
    RECORDER,
    commits,
    committed_files,
    event_files,
    git,
    read_json,
    sample_bodies,
    snapshot,
    written,
)

DATE_HINT = ": use EDTF level 0 such as 2009, 2009-03, 2009-03-23 or 2009-03-23/2009-05-11"

# (command, options, what the file holds besides the assigned fields, commit message)
TYPED = [
    ("organization",
     ["--key", "basel", "--name", "Secretariat of the Basel Convention", "--acronym", "SBC",
      "--category", "mea", "--parent", "unep", "--url", "https://www.basel.int",
      "--org", "unep"],
     {"type": "organization.registered", "orgs": ["unep"],
      "data": {"key": "basel", "name": "Secretariat of the Basel Convention",
               "acronym": "SBC", "category": "mea", "parent": "unep",
               "url": "https://www.basel.int"}},
     "organization.registered: Secretariat of the Basel Convention"),
    ("organization-update", ["--key", "wco", "--acronym", "WCO", "--category", "un"],
     {"type": "organization.updated", "orgs": [],
      "data": {"key": "wco", "acronym": "WCO", "category": "un"}},
     "organization.updated: wco"),
    ("meeting",
     ["--title", "29th session of the WCO Enforcement Committee", "--role", "presenter",
      "--city", "Brussels", "--country", "BE", "--organizer", "wco",
      "--date", "2010-03-02/2010-03-05",
      "--summary", "出席了世界海关组织执法委员会第29届会议并作了介绍。", "--org", "wco",
      "--mandate", "IX/11", "--doc", "UNEP/CHW/OEWG/7/17=https://example.org/17.pdf",
      "--source", "UNEP/CHW/OEWG/7/17, annex"],
     {"type": "meeting.attended", "occurred": "2010-03-02/2010-03-05",
      "summary": "出席了世界海关组织执法委员会第29届会议并作了介绍。", "orgs": ["wco"],
      "mandates": ["IX/11"],
      "documents": [{"symbol": "UNEP/CHW/OEWG/7/17", "url": "https://example.org/17.pdf"}],
      "source": "UNEP/CHW/OEWG/7/17, annex",
      "data": {"title": "29th session of the WCO Enforcement Committee", "role": "presenter",
               "location": {"city": "Brussels", "country": "BE"}, "organizer": ["wco"]}},
     "meeting.attended: 29th session of the WCO Enforcement Committee "
     "(2010-03-02/2010-03-05)"),
    ("planned-meeting",
     ["--title", "Global e-waste forum", "--role", "co-organizer", "--online",
      "--date", "2027-05", "--summary", "Will co-organize the forum, online.",
      "--doc", "https://example.org/forum"],
     {"type": "meeting.planned", "occurred": "2027-05",
      "summary": "Will co-organize the forum, online.", "orgs": [],
      "documents": [{"url": "https://example.org/forum"}],
      "data": {"title": "Global e-waste forum", "role": "co-organizer", "online": True}},
     "meeting.planned: Global e-waste forum (2027-05)"),
    ("agreement",
     ["--key", "unep-mou", "--kind", "mou", "--title", "MoU on e-waste", "--party", "wco",
      "--party", "unep", "--date", "2009-06-12", "--summary", "Signed an MoU with the WCO.",
      "--org", "wco", "--doc", "UNEP/CHW.9/INF/5"],
     {"type": "agreement.signed", "occurred": "2009-06-12",
      "summary": "Signed an MoU with the WCO.", "orgs": ["wco"],
      "documents": [{"symbol": "UNEP/CHW.9/INF/5"}],
      "data": {"key": "unep-mou", "kind": "mou", "title": "MoU on e-waste",
               "parties": ["wco", "unep"]}},
     "agreement.signed: MoU on e-waste (2009-06-12)"),
    ("revision",
     ["--agreement", "wco-mou", "--change", "Extended to 2012.", "--date", "2009-11",
      "--summary", "The MoU with the WCO was extended to 2012."],
     {"type": "agreement.revised", "occurred": "2009-11",
      "summary": "The MoU with the WCO was extended to 2012.", "orgs": [],
      "data": {"agreement": "wco-mou", "change": "Extended to 2012."}},
     "agreement.revised: Extended to 2012. (2009-11)"),
    ("submission",
     ["--key", "hs-batteries", "--to", "wco", "--body", "Harmonized System Committee",
      "--title", "Waste batteries", "--item", "lead-acid batteries", "--item",
      "nickel-cadmium batteries", "--date", "2008-11",
      "--summary", "Proposed waste batteries for the Harmonized System.", "--org", "wco"],
     {"type": "submission.made", "occurred": "2008-11",
      "summary": "Proposed waste batteries for the Harmonized System.", "orgs": ["wco"],
      "data": {"key": "hs-batteries", "to": "wco", "body": "Harmonized System Committee",
               "title": "Waste batteries",
               "items": ["lead-acid batteries", "nickel-cadmium batteries"]}},
     "submission.made: Waste batteries (2008-11)"),
    ("request",
     ["--key", "wto-cte-2", "--to", "wto", "--subject",
      "observer status in the Committee on Trade and Environment", "--date", "2008",
      "--summary", "Requested observer status at the WTO CTE.", "--org", "wto"],
     {"type": "request.made", "occurred": "2008",
      "summary": "Requested observer status at the WTO CTE.", "orgs": ["wto"],
      "data": {"key": "wto-cte-2", "to": "wto",
               "subject": "observer status in the Committee on Trade and Environment"}},
     "request.made: observer status in the Committee on Trade and Environment (2008)"),
    ("project",
     ["--key", "e-waste-nigeria", "--title", "E-waste assessment in Nigeria",
      "--funder", "gef", "--country", "NG", "--country", "GH", "--date", "2009-01/2009-12",
      "--summary", "Proposed an e-waste assessment."],
     {"type": "project.proposed", "occurred": "2009-01/2009-12",
      "summary": "Proposed an e-waste assessment.", "orgs": [],
      "data": {"key": "e-waste-nigeria", "title": "E-waste assessment in Nigeria",
               "funder": "gef", "countries": ["NG", "GH"]}},
     "project.proposed: E-waste assessment in Nigeria (2009-01/2009-12)"),
    ("status",
     ["--subject", "hs-waste-streams", "--status", "under-consideration", "--note",
      "Referred to the Review Sub-Committee.", "--date", "2009-03-23",
      "--summary", "The waste streams are under consideration."],
     {"type": "status.changed", "occurred": "2009-03-23",
      "summary": "The waste streams are under consideration.", "orgs": [],
      "data": {"subject": "hs-waste-streams", "status": "under-consideration",
               "note": "Referred to the Review Sub-Committee."}},
     "status.changed: hs-waste-streams under-consideration (2009-03-23)"),
    ("partnership",
     ["--partnership", "Mobile Phone Partnership Initiative", "--role", "member",
      "--date", "2008", "--summary", "Joined the MPPI."],
     {"type": "partnership.joined", "occurred": "2008", "summary": "Joined the MPPI.",
      "orgs": [], "data": {"partnership": "Mobile Phone Partnership Initiative",
                           "role": "member"}},
     "partnership.joined: Mobile Phone Partnership Initiative (2008)"),
    ("activity",
     ["--date", "2009-05", "--summary", "Lectured at the WCO Academy.", "--org", "wco"],
     {"type": "activity.noted", "occurred": "2009-05",
      "summary": "Lectured at the WCO Academy.", "orgs": ["wco"], "data": {}},
     "activity.noted: Lectured at the WCO Academy. (2009-05)"),
]


def test_every_type_has_a_typed_add():
    assert sorted(content["type"] for _, _, content, _ in TYPED) == sorted(
        t for t in events.TYPES if not t.startswith(("event.", "translation.")))


@pytest.mark.parametrize(("command", "options", "content", "message"), TYPED,
                         ids=[case[0] for case in TYPED])
def test_typed_add(seeded, cli, command, options, content, message):
    result = cli(seeded, "add", command, *options)
    unattributed = f"warning: add {command}: --org: {NO_ORGANIZATION}\n"
    warned = events.TYPES[content["type"]].dated and not content["orgs"]
    assert (result.exit_code, result.stderr) == (0, unattributed if warned else "")
    (event_id, rel), = written(result, seeded)
    file = read_json(seeded / rel)
    assert file == {"id": event_id, "type": content["type"], "schema": 1,
                    "recorded_at": file["recorded_at"], "recorded_by": RECORDER, **content}
    assert file["recorded_at"] == f"{ULID.from_str(event_id).datetime:%Y-%m-%dT%H:%M:%SZ}"
    assert rel == f"events/{file['recorded_at'][:4]}/{file['recorded_at'][5:7]}/{event_id}.json"
    assert (commits(seeded)[0], committed_files(seeded)) == (message, [rel])
    assert cli(seeded, "validate").exit_code == 0
    assert check_log(Store(seeded)) == []


def test_files_are_indented_utf8_with_a_final_newline(seeded, cli):
    result = cli(seeded, "add", "activity", "--date", "2010-03",
                 "--summary", "与世界海关组织合作，打击非法越境转移。", "--org", "wco")
    (_, rel), = written(result, seeded)
    raw = (seeded / rel).read_bytes()
    assert raw == (json.dumps(json.loads(raw), indent=2, ensure_ascii=False) + "\n").encode()
    assert "与世界海关组织合作".encode() in raw and b"\\u" not in raw


def test_typed_add_names_the_option_in_errors(seeded, cli):
    before = snapshot(seeded)
    result = cli(seeded, "add", "meeting", "--title", "T", "--role", "boss", "--date", "2009",
                 "--summary", "S.")
    assert (result.exit_code, result.stderr.splitlines()) == (1, [
        "error: add meeting: --role: Invalid enum value 'boss'; use one of: participant, "
        "observer, presenter, organizer, co-organizer, host; nothing was written"])
    result = cli(seeded, "add", "activity", "--date", "2009-02-30", "--summary", "S.",
                 "--org", "nowhere")
    assert (result.exit_code, result.stderr.splitlines()) == (1, [
        "error: add activity: --date: '2009-02-30' is not a calendar day" + DATE_HINT
        + "; nothing was written"])
    assert snapshot(seeded) == before


def test_a_flag_can_say_no(seeded, cli):
    options = ["--title", "T", "--role", "host", "--date", "2009", "--summary", "S."]
    said_no = written(cli(seeded, "add", "meeting", *options, "--not-online"), seeded)
    said_nothing = written(cli(seeded, "add", "meeting", *options), seeded)
    assert read_json(seeded / said_no[0][1])["data"] == {"title": "T", "role": "host",
                                                          "online": False}
    assert read_json(seeded / said_nothing[0][1])["data"] == {"title": "T", "role": "host"}


def test_by_and_no_commit(seeded, cli):
    head = commits(seeded)
    result = cli(seeded, "add", "activity", "--date", "2009", "--summary", "S.",
                 "--by", "office@example.org", "--no-commit")
    (_, rel), = written(result, seeded)
    assert read_json(seeded / rel)["recorded_by"] == "office@example.org"
    assert commits(seeded) == head
    assert git(seeded, "status", "--porcelain", "--untracked-files=all").stdout == f"?? {rel}\n"


def test_cooplog_user_and_root_from_the_environment(seeded, monkeypatch):
    from typer.testing import CliRunner

    from cooplog.cli import app

    monkeypatch.setenv("COOPLOG_USER", "office@example.org")
    monkeypatch.setenv("COOPLOG_ROOT", str(seeded))
    result = CliRunner().invoke(app, ["add", "activity", "--date", "2009", "--summary", "S."])
    (_, rel), = written(result, seeded)
    assert read_json(seeded / rel)["recorded_by"] == "office@example.org"


# --- import ------------------------------------------------------------------------------


@pytest.fixture
def annex(tmp_path) -> Path:
    """The sample log's 164 events as JSON Lines, Chinese and all."""
    path = tmp_path / "annex.jsonl"
    path.write_text("".join(json.dumps(body, ensure_ascii=False) + "\n"
                            for body in sample_bodies()), encoding="utf-8")
    return path


def test_import_the_annex(log, cli, annex):
    bodies = sample_bodies()
    result = cli(log, "import", annex)
    assert result.exit_code == 0, result.output
    assert "writing" in result.stderr and "writing" not in result.stdout  # the progress bar
    assert len(written(result, log)) == len(bodies) == len(event_files(log)) == 164
    assert commits(log) == ["import: 164 events from annex.jsonl", "cooplog: a new log"]
    assert sorted(committed_files(log)) == event_files(log)
    assert check_log(Store(log)) == []
    assert [line.split(": ")[0:3:2] for line in cli(log, "validate").stdout.splitlines()] == [
        ["warning", "orgs"]] * 3  # the three activities of the secretariat alone
    assert [{k: v for k, v in read_json(log / rel).items()
             if k not in ("id", "recorded_at", "recorded_by")}
            for _, rel in written(result, log)] == bodies


def errors(result) -> list[str]:
    """The error lines of stderr; anything else there may only be the progress bar."""
    lines = result.stderr.splitlines()
    assert all(line.startswith(("error: ", "writing")) for line in lines), lines
    return [line for line in lines if line.startswith("error: ")]


def test_import_is_all_or_nothing_and_names_the_line(log, cli, annex):
    lines = annex.read_text(encoding="utf-8").splitlines()[:12]
    lines[8] = json.dumps(json.loads(lines[8]) | {"occurred": "2009-13"})
    lines[3] = lines[3][:-1]  # no closing brace
    lines.insert(5, "")  # blank lines are skipped, and still counted
    annex.write_text("\n".join(lines) + "\n")
    before = snapshot(log)
    result = cli(log, "import", annex)
    assert (result.exit_code, result.stdout) == (1, "")
    assert errors(result) == [  # every line's problem, in one run
        f"error: {annex} line 4: not valid JSON (Input data was truncated): fix the syntax",
        f"error: {annex} line 10: occurred: '2009-13' has no month 13" + DATE_HINT,
        "error: 2 problem(s); nothing was written"]
    lines[3] += "}"
    annex.write_text("\n".join(lines) + "\n")
    result = cli(log, "import", annex)
    assert (result.exit_code, result.stdout) == (1, "")
    assert errors(result) == [
        f"error: {annex} line 10: occurred: '2009-13' has no month 13" + DATE_HINT
        + "; nothing was written"]
    assert snapshot(log) == before


# --- correct and retract -----------------------------------------------------------------


def _meeting(root, cli) -> str:
    result = cli(root, "add", "meeting", "--title", "Enforcement Committee", "--role",
                 "observer", "--date", "2009-03", "--summary", "Attended.", "--org", "wco")
    return written(result, root)[0][0]


def test_correct(seeded, cli):
    target = _meeting(seeded, cli)
    result = cli(seeded, "correct", target, "--set", "data.role=presenter",
                 "--set", 'orgs=["wco", "unep"]', "--set", "source=null",
                 "--set", "summary=2009", "--reason", "It was a presentation.")
    assert (result.exit_code, result.stderr) == (0, "")
    (event_id, rel), = written(result, seeded)
    file = read_json(seeded / rel)
    assert file == {"id": event_id, "type": "event.corrected", "schema": 1,
                    "recorded_at": file["recorded_at"], "recorded_by": RECORDER, "orgs": [],
                    "data": {"target": target, "set": {"data.role": "presenter",
                                                       "orgs": ["wco", "unep"],
                                                       "source": None, "summary": "2009"},
                             "reason": "It was a presentation."}}
    assert commits(seeded)[0] == f"event.corrected: {target}"
    assert check_log(Store(seeded)) == []


def test_correct_refuses_to_make_the_target_invalid(seeded, cli):
    target = _meeting(seeded, cli)
    before = snapshot(seeded)
    result = cli(seeded, "correct", target, "--set", "occurred=2009-13", "--reason", "R.")
    assert (result.exit_code, result.stderr.splitlines()) == (1, [
        "error: --set occurred: '2009-13' has no month 13" + DATE_HINT
        + f"; the correction would make {target} invalid; nothing was written"])
    result = cli(seeded, "correct", target, "--set", 'orgs=["nowhere"]', "--reason", "R.")
    assert (result.exit_code, result.stderr.splitlines()) == (1, [
        "error: --set orgs[0]: unknown organization 'nowhere': register it with "
        "`cooplog add organization --key nowhere ...` or fix the key"
        f"; the correction would make {target} invalid; nothing was written"])
    assert snapshot(seeded) == before


def test_a_correction_given_as_json_is_held_to_the_same_rule(seeded, cli):
    target = _meeting(seeded, cli)
    before = snapshot(seeded)
    body = {"type": "event.corrected",
            "data": {"target": target, "set": {"occurred": "2009-13"}, "reason": "R."}}
    result = cli(seeded, "add", "--json", "-", input=json.dumps(body))
    assert (result.exit_code, result.stderr.splitlines()) == (1, [
        f"error: stdin: data.set: would make {target} invalid: occurred: '2009-13' has no "
        "month 13" + DATE_HINT + "; nothing was written"])
    assert snapshot(seeded) == before


def test_retract(seeded, cli):
    target = _meeting(seeded, cli)
    result = cli(seeded, "retract", target, "--reason", "Recorded twice.")
    assert (result.exit_code, result.stderr) == (0, "")
    (event_id, rel), = written(result, seeded)
    file = read_json(seeded / rel)
    assert file == {"id": event_id, "type": "event.retracted", "schema": 1,
                    "recorded_at": file["recorded_at"], "recorded_by": RECORDER, "orgs": [],
                    "data": {"target": target, "reason": "Recorded twice."}}
    assert commits(seeded)[0] == f"event.retracted: {target}"
    assert cli(seeded, "validate").exit_code == 0


@pytest.mark.parametrize("command", [["correct", "--set", "summary=S."], ["retract"]])
def test_correct_and_retract_refuse_an_unknown_target(seeded, cli, command):
    unknown = str(ULID())
    before = snapshot(seeded)
    result = cli(seeded, command[0], unknown, *command[1:], "--reason", "R.")
    assert (result.exit_code, result.stderr) == (  # no path: the id is nowhere
        1, f"error: no event has the id {unknown}: check it with `cooplog history`, which "
           "lists every event\n")
    assert snapshot(seeded) == before


# --- exit codes and errors ---------------------------------------------------------------


@pytest.mark.parametrize(("args", "stderr"), [
    (["correct", "01M8E5GJKGV3RS3DTR98H6BCFN", "--set", "summary", "--reason", "R."],
     "error: --set 'summary': write FIELD=VALUE\n"),
    (["correct", "01M8E5GJKGV3RS3DTR98H6BCFN", "--set", "id=x", "--reason", "R."],
     "error: --set id: cannot be corrected: record a new event instead\n"),
    (["retract", "not-an-id", "--reason", "R."],
     "error: 'not-an-id': not an event id (a ULID of 26 characters)\n"),
    (["import", "missing.jsonl"], "error: missing.jsonl: cannot be read (No such file or "
                                  "directory)\n"),
    (["add", "--json", "missing.json"], "error: missing.json: cannot be read (No such file or "
                                        "directory)\n"),
])
def test_usage_errors_exit_2_with_one_line(seeded, cli, args, stderr):
    if args[0] == "correct":  # a real target, so that only the usage is wrong
        args[1] = _meeting(seeded, cli)
    before = snapshot(seeded)
    result = cli(seeded, *args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", stderr)
    assert snapshot(seeded) == before


def test_no_recorder_identity_is_a_usage_error(seeded, cli):
    git(seeded, "config", "--unset", "user.email")
    before = snapshot(seeded)
    result = cli(seeded, "add", "activity", "--date", "2009", "--summary", "S.")
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", (
        "error: recorded_by: who is recording? pass --by EMAIL, set COOPLOG_USER, "
        "or set git config user.email\n"))
    assert snapshot(seeded) == before


def test_command_line_mistakes_exit_2_without_a_traceback(seeded, cli):
    for args in (["add", "activity", "--date", "2009"], ["add"], ["add", "nonsense"],
                 ["correct"], ["import"], ["nonsense"]):
        result = cli(seeded, *args)
        assert result.exit_code == 2, args
        assert "Traceback" not in result.output


def test_validate_lists_every_problem_and_exits_1(seeded, cli):
    clean = cli(seeded, "validate")
    project, = [rel for rel in event_files(seeded)
                if read_json(seeded / rel)["type"] == "project.proposed"]
    warning = f"warning: {project}: orgs: {NO_ORGANIZATION}"  # SEED's project names none
    assert (clean.exit_code, clean.stdout, clean.stderr) == (
        0, warning + "\n", "8 event file(s), no problems; 1 warning(s)\n")
    store = Store(seeded)
    wrong = store.path_for(str(ULID()))  # this month's folder, which the seeding made
    wrong.write_text("{}")
    stray = wrong.parent / "stray.json"
    stray.write_text("[]")
    result = cli(seeded, "validate")
    assert (result.exit_code, result.stderr) == (
        1, "2 problem(s) in 10 file(s); 1 warning(s)\n")
    assert result.stdout.splitlines() == [*sorted([  # the problems, then the warnings
        f"{store.relpath(stray)}: a JSON array where an event object belongs",
        f"{store.relpath(wrong)}: schema: must be the integer 1, not None"]), warning]


def test_every_error_line_is_one_line(seeded, cli):
    """Each problem of a refused add is printed on its own line, prefixed, never wrapped."""
    body = {"type": "meeting.attended", "occurred": "2009-13", "summary": "S.",
            "orgs": ["nowhere"], "data": {"title": "T", "role": "host"},
            "documents": [{}], "id": "x"}
    result = cli(seeded, "add", "--json", "-", input=json.dumps(body))
    assert result.exit_code == 1
    assert all(re.fullmatch(r"error: [^\n]+", line) for line in result.stderr.splitlines())
    assert result.stderr.splitlines() == [
        "error: stdin: id: assigned by cooplog when it appends: remove it; nothing was written"]
