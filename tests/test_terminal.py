"""What a person at a terminal gets: prompts for what `add` was not given (only at a
terminal), shell completion, `orgs` and `show`, `--json` for scripts, rich output at a
terminal and plain text elsewhere; and a `--help` that does not load the event model."""

from __future__ import annotations

import fcntl
import json
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from ulid import ULID

from cooplog import events, state
from cooplog.projection import Projection
from cooplog.store import Store
from helpers import event_files, numbered_ulid, read_json, snapshot, without_warnings, written

COOPLOG = str(Path(sys.executable).parent / "cooplog")


def in_terminal(root: Path, *args: str, answers=()) -> tuple[int, str]:
    """The real `cooplog --root ROOT ARGS` with a pseudo-terminal for stdin, stdout and
    stderr, answering each prompt of `answers` ((text it shows, answer) pairs, in order) when
    it shows: (exit code, all the terminal showed)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR",
                                                             "COLUMNS", "TERM")}
    process = subprocess.Popen([COOPLOG, "--root", str(root), *args], stdin=slave,
                               stdout=slave, stderr=slave, env={**env, "TERM": "xterm"})
    os.close(slave)
    shown, since, todo = b"", 0, list(answers)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if not select.select([master], [], [], 0.2)[0]:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the program has ended and closed the terminal
                break
            shown += chunk
            if todo and todo[0][0].encode() in shown[since:]:
                os.write(master, todo.pop(0)[1].encode() + b"\n")
                since = len(shown)
        return process.wait(timeout=10), shown.decode("utf-8", "replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


# --- prompts --------------------------------------------------------------------------------


@pytest.mark.slow
def test_add_asks_at_a_terminal_for_what_it_was_not_given(seeded):
    code, shown = in_terminal(seeded, "add", "agreement", "--key", "mou-2", "--title", "MoU",
                              answers=[
        ("Kind (one of: mou, agreement, letter, partnership, other): ", "mou"),
        ("Party (several separated by commas): ", "wco, unep"),
        ("Date (when: 2009, 2009-03, 2009-03-23 or START/END): ", "2009-06"),
        ("Summary (one self-contained sentence: the line a report prints): ", "Signed."),
    ])
    assert code == 0, shown
    event_id = shown.strip().splitlines()[-1].split()[0]
    body = read_json(Store(seeded).path_for(event_id))
    assert (body["occurred"], body["summary"], body["data"]) == ("2009-06", "Signed.", {
        "key": "mou-2", "kind": "mou", "title": "MoU", "parties": ["wco", "unep"]})


def test_add_never_asks_when_not_at_a_terminal(seeded):
    """Answers waiting on stdin change nothing: a missing option is a usage error."""
    before = snapshot(seeded)
    result = subprocess.run([COOPLOG, "--root", str(seeded), "add", "agreement", "--key",
                             "mou-2", "--title", "MoU"], input="mou\nwco\n2009\nSigned.\n",
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "Missing option '--kind'" in result.stderr and "Kind" not in result.stdout
    assert snapshot(seeded) == before


# --- rich at a terminal, plain text elsewhere --------------------------------------------------


def test_orgs_is_a_table_at_a_terminal_and_plain_text_elsewhere(seeded, cli):
    code, shown = in_terminal(seeded, "orgs")
    assert code == 0, shown
    assert "┏━━━━━━┳" in shown and "\x1b[1mkey" in shown and "│ wco  │" in shown
    plain = cli(seeded, "orgs")
    assert (plain.exit_code, plain.stderr) == (0, "")
    assert plain.stdout.splitlines() == [
        "key   acronym  group              name",
        "unep           unep               The UNEP",
        "wco            intergovernmental  The WCO",
        "wto            intergovernmental  The WTO",
        "gef            other              The GEF",
    ]


def test_validate_colours_problems_at_a_terminal_only(seeded, cli):
    (seeded / "events" / "stray.json").write_text("[]")
    code, shown = in_terminal(seeded, "validate")
    assert code == 1
    assert "\x1b[31mevents/stray.json: \x1b[0ma JSON array" in shown
    assert without_warnings(cli(seeded, "validate").stdout) == (
        "events/stray.json: a JSON array where an event object belongs\n")


# --- orgs -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_orgs_reads_the_files_as_the_projection_does(seeded, cli, tmp_path):
    """Updates in id order, corrections applied, retracted registrations and updates left out,
    a key registered twice kept from its first registration."""
    def add(*args):
        result = cli(seeded, *args)
        assert result.exit_code == 0, result.output
        return written(result, seeded)[0][0]

    add("add", "organization-update", "--key", "wco", "--acronym", "WCO")
    add("add", "organization-update", "--key", "wco", "--acronym", "OMD", "--url", "wcoomd.org")
    update = add("add", "organization-update", "--key", "unep", "--name", "UN Environment")
    add("retract", update, "--reason", "not yet")
    registration = add("add", "organization", "--key", "basel", "--name", "SBC",
                       "--category", "mea")
    add("correct", registration, "--set", "data.name=Secretariat of the Basel Convention",
        "--reason", "the full name")
    Store(seeded).write(events.validate({  # a second registration of wto, as a merge brings
        "id": str(ULID()), "type": "organization.registered", "schema": 1,
        "recorded_at": "2026-01-01T00:00:00Z", "recorded_by": "b@example.org", "orgs": [],
        "data": {"key": "wto", "name": "Another WTO", "category": "un"}}))

    found = state.organizations(Store(seeded))
    projection = Projection(Store(seeded), tmp_path / "p.db")
    projection.build()
    rows = projection.conn.execute(
        "select key, name, acronym, category, parent, url from organizations "
        "order by group_order, key").fetchall()
    projection.close()
    assert [tuple(o.values()) for o in found] == [tuple(r) for r in rows]
    assert [(o["key"], o["name"], o["acronym"]) for o in found] == [
        ("unep", "The UNEP", None), ("basel", "Secretariat of the Basel Convention", None),
        ("wco", "The WCO", "OMD"), ("wto", "The WTO", None), ("gef", "The GEF", None)]
    assert json.loads(cli(seeded, "orgs", "--json").stdout) == found


# --- show -------------------------------------------------------------------------------------


def _add_meeting(root, cli) -> str:
    result = cli(root, "add", "meeting", "--title", "Enforcement Committee", "--role",
                 "observer", "--date", "2009-03", "--summary", "Attended.", "--org", "wco")
    return written(result, root)[0][0]


def test_show_prints_the_event_as_it_reads_now(seeded, cli):
    meeting = _add_meeting(seeded, cli)
    correction = written(cli(seeded, "correct", meeting, "--set", "data.role=presenter",
                             "--reason", "We presented."), seeded)[0][0]
    path = Store(seeded).relpath(Store(seeded).path_for(meeting))
    result = cli(seeded, "show", meeting)
    assert (result.exit_code, result.stderr) == (0, "")
    head, _, body = result.stdout.partition("\n{")
    assert head.splitlines() == [f"file: {path}", "when: March 2009",
                                 f"corrected by: {correction} (We presented.)",
                                 '  data.role: "observer" → "presenter"']
    assert json.loads("{" + body)["data"]["role"] == "presenter"

    shown = json.loads(cli(seeded, "show", meeting, "--json").stdout)
    assert (shown["path"], shown["event"]["data"]["role"], shown["original"]["data"]["role"],
            [c["id"] for c in shown["corrections"]], shown["retracted_by"]) == (
        path, "presenter", "observer", [correction], [])


def test_show_follows_retractions_and_names_a_correction_it_cannot_apply(seeded, cli):
    meeting = _add_meeting(seeded, cli)
    retraction = written(cli(seeded, "retract", meeting, "--reason", "Twice."), seeded)[0][0]
    shown = json.loads(cli(seeded, "show", meeting, "--json").stdout)
    assert [r["id"] for r in shown["retracted_by"]] == [retraction]
    assert f"retracted by: {retraction} (Twice.)" in cli(seeded, "show", meeting).stdout

    cli(seeded, "retract", retraction, "--reason", "It was not twice.")
    bad = events.validate({  # from another office, say: append would have refused it
        "id": str(ULID()), "type": "event.corrected", "schema": 1,
        "recorded_at": "2026-01-01T00:00:00Z", "recorded_by": "b@example.org", "orgs": [],
        "data": {"target": meeting, "set": {"data.role": "boss"}, "reason": "R."}})
    Store(seeded).write(bad)
    shown = json.loads(cli(seeded, "show", meeting, "--json").stdout)
    assert (shown["retracted_by"], shown["corrections"], shown["event"]["data"]["role"]) == (
        [], [], "observer")
    assert shown["refused"] == [f"would make {meeting} invalid: data.role: Invalid enum "
                                "value 'boss'; use one of: participant, observer, presenter, "
                                "organizer, co-organizer, host"]


@pytest.mark.parametrize(("event_id", "code", "message"), [
    ("nonsense", 2, "error: 'nonsense': not an event id (a ULID of 26 characters)\n"),
    ("01M8E5GJKGV3RS3DTR98H6BCFN", 1, "error: no event has the id 01M8E5GJKGV3RS3DTR98H6BCFN: "
                                      "check it with `cooplog history`, which lists every "
                                      "event\n"),
])
def test_show_refuses_what_is_not_an_event(seeded, cli, event_id, code, message):
    result = cli(seeded, "show", event_id)
    assert (result.exit_code, result.stdout, result.stderr) == (code, "", message)


# --- --json -----------------------------------------------------------------------------------


def test_validate_json(seeded, cli):
    clean = json.loads(cli(seeded, "validate", "--json").stdout)
    warnings = clean.pop("warnings")  # SEED's project names no organization
    assert (clean, [w["field"] for w in warnings]) == ({"files": 8, "problems": []}, ["orgs"])
    (seeded / "events" / "stray.json").write_text("[]")
    result = cli(seeded, "validate", "--json")
    assert (result.exit_code, result.stderr) == (1, "")
    assert json.loads(result.stdout) == {"files": 9, "problems": [
        {"path": "events/stray.json", "field": "",
         "message": "a JSON array where an event object belongs"}], "warnings": warnings}


def test_report_json(seeded, cli, tmp_path):
    meeting = _add_meeting(seeded, cli)
    db = tmp_path / "r.db"
    result = cli(seeded, "--db", db, "report", "--period", "2009", "--org", "wco", "--json")
    assert (result.exit_code, result.stderr) == (0, "")
    assert json.loads(result.stdout) == {
        "title": "Report on international cooperation in 2009", "period": "2009",
        "lang": "en", "front": None,
        "groups": [{"heading": "Other international and regional organizations",
                    "organizations": [{"key": "wco", "name": "The WCO", "acronym": None,
                                       "heading": "The WCO", "activities": [
                                           {"occurred": "2009-03", "when": "March 2009",
                                            "summary": "Attended.", "place": None,
                                            "event_id": meeting, "written_in": None}]}]}]}
    result = cli(seeded, "--db", db, "report", "--period", "2009", "--json", "--format", "html")
    assert (result.exit_code, result.stderr) == (2, "error: --json and --format: choose one\n")


# --- completion -------------------------------------------------------------------------------


def complete(root: Path, *words: str) -> list[str]:
    """What Tab offers after `cooplog --root ROOT WORDS...` (the last word being typed), by
    bash's protocol with the real program."""
    line = " ".join(["cooplog", "--root", str(root), *words])
    result = subprocess.run([COOPLOG], capture_output=True, text=True, env={
        **os.environ, "_COOPLOG_COMPLETE": "complete_bash", "COMP_WORDS": line,
        "COMP_CWORD": str(len(words) + 2)})
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.slow  # nine runs of the real program
def test_completion_offers_commands_types_org_keys_and_ids(seeded, cli):
    meeting = _add_meeting(seeded, cli)
    assert complete(seeded, "or") == ["orgs"]
    assert complete(seeded, "add", "pl") == ["planned-meeting"]
    assert complete(seeded, "add", "meeting", "--org", "w") == ["wco", "wto"]
    assert complete(seeded, "add", "submission", "--to", "u") == ["unep"]
    assert complete(seeded, "show", meeting[:20]) == [meeting]
    assert complete(seeded, "report", "--org", "g") == ["gef"]
    assert complete(seeded, "add", "status", "--subject", "") == [
        "e-waste-africa", "hs-waste-streams", "wco-mou", "wto-cte-observer"]
    assert complete(seeded, "add", "revision", "--agreement", "") == ["wco-mou"]
    assert complete(seeded, "add", "revision", "--agreement", "x") == []


def test_entity_keys_come_from_the_database_when_there_is_one(seeded, cli, tmp_path):
    everyone = [("e-waste-africa", "E-waste Africa"),
                ("hs-waste-streams", "Waste streams for the Harmonized System"),
                ("wco-mou", "MoU with the WCO"),
                ("wto-cte-observer", "observer status in the CTE")]
    assert state.entity_keys(seeded) == everyone  # no database: from the files
    db = tmp_path / "c.db"
    assert cli(seeded, "--db", db, "build").exit_code == 0
    assert state.entity_keys(seeded, db) == everyone
    assert state.entity_keys(seeded, db, ("agreement", "project")) == [everyone[0],
                                                                       everyone[2]]
    # a key's first creator says what it is: a later agreement (from another office, say:
    # `add` refuses a key in use) of a project's key is not one
    Store(seeded).write(events.validate({
        "id": numbered_ulid(1, "01ZZ000000"), "type": "agreement.signed", "schema": 1,
        "recorded_at": "2026-11-27T10:00:00Z", "recorded_by": "other@example.org",
        "occurred": "2010", "summary": "Signed.", "orgs": ["gef"],
        "data": {"key": "e-waste-africa", "kind": "mou", "title": "Again",
                 "parties": ["gef"]}}))
    assert state.entity_keys(seeded, kinds=("agreement",)) == [everyone[2]]
    db.write_bytes(b"not a database")
    assert state.entity_keys(seeded, db) == everyone


def test_org_keys_come_from_the_database_when_there_is_one(seeded, cli, tmp_path):
    everyone = [("gef", "The GEF"), ("unep", "The UNEP"), ("wco", "The WCO"),
                ("wto", "The WTO")]
    assert state.org_keys(seeded) == everyone  # no database: from the files
    db = tmp_path / "c.db"
    assert cli(seeded, "--db", db, "build").exit_code == 0
    cli(seeded, "add", "organization", "--key", "basel", "--name", "SBC", "--category", "mea")
    assert state.org_keys(seeded, db) == everyone  # the database, which is behind
    db.write_bytes(b"not a database")
    assert ("basel", "SBC") in state.org_keys(seeded, db)


def test_event_ids_come_from_file_names(seeded):
    ids = [Path(p).stem for p in event_files(seeded)]
    assert state.event_ids(seeded) == ids
    assert state.event_ids(seeded, ids[3]) == [ids[3]]
    assert state.event_ids(seeded, "7") == []


# --- start-up -----------------------------------------------------------------------------


def test_help_does_not_load_the_event_model(seeded):
    """`add`'s typed subcommands are built when asked for; --help needs none of them (nor
    pydantic, which Typer loads to convert values)."""
    code = ("import sys\nfrom cooplog.cli import main\ntry:\n    main()\n"
            "except SystemExit:\n    pass\nprint(' '.join(sys.modules), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True,
                            text=True, check=True)
    loaded = set(result.stderr.split())
    assert "add" in result.stdout and "cooplog.cli" in loaded
    assert not loaded & {"cooplog.events", "msgspec", "pydantic", "sqlite3"}


def test_add_takes_its_values_without_pydantic(seeded):
    """Typer builds a pydantic adapter for each option it parses: a third of `add`'s start-up.
    Text, lists of text and paths are taken as they are (cli_coercion)."""
    code = ("import sys\nfrom cooplog.cli import main\ntry:\n    main()\n"
            "except SystemExit as e:\n    print(e.code, ' '.join(sys.modules), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code, "--root", str(seeded), "add",
                             "meeting", "--title", "T", "--role", "host", "--org", "unep",
                             "--org", "wco", "--online", "--date", "2009", "--summary", "S.",
                             "--no-commit", "--by", "b@example.org"],
                            capture_output=True, text=True, check=True)
    status, *loaded = result.stderr.splitlines()[-1].split()
    assert status == "0" and "cooplog.events" in loaded and "pydantic" not in loaded
    (_, rel), = written(result, seeded)
    event = read_json(seeded / rel)
    assert event["orgs"] == ["unep", "wco"] and event["data"]["online"] is True


@pytest.mark.slow
def test_add_lists_every_type_and_knows_a_typo(seeded, cli):
    result = cli(seeded, "add", "--help")
    commands = [spec.command for spec in events.TYPES.values()
                if not spec.name.startswith(("event.", "translation."))]
    assert all(f" {command} " in result.stdout for command in commands)
    result = cli(seeded, "add", "meetin")
    assert result.exit_code == 2 and "Did you mean 'meeting'?" in result.output
