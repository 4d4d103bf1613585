"""Whitespace-only text is empty text, for every text field: `--summary "   "` is refused
as `--summary ""` is, with nothing written, and a file holding such text is a problem that
`validate` names by file and field."""

from __future__ import annotations

import json

import pytest

from cooplog import append
from cooplog.store import Store
from helpers import RECORDER, SEED, snapshot, without_warnings, written

BLANKS = ["", "   ", "\t\n", "\u3000", "\u00a0"]  # the last two: ideographic, no-break
SPACES = "empty: write some text (spaces alone are empty)"


def message(blank: str) -> str:
    return "empty: write some text" if blank == "" else SPACES


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize(("args", "option"), [
    (("activity", "--date", "2009", "--summary", "{}"), "--summary"),
    (("meeting", "--title", "{}", "--role", "observer", "--date", "2009", "--summary", "S."),
     "--title"),
    (("meeting", "--title", "T", "--role", "observer", "--city", "{}", "--date", "2009",
      "--summary", "S."), "--city"),
    (("organization", "--key", "k", "--name", "{}", "--category", "mea"), "--name"),
    (("submission", "--key", "s", "--to", "wco", "--title", "T", "--item", "{}", "--date",
      "2009", "--summary", "S."), "--item"),
    (("activity", "--date", "2009", "--summary", "S.", "--mandate", "{}"), "--mandate"),
])
def test_add_refuses_blank_text_and_writes_nothing(seeded, cli, args, option, blank):
    before = snapshot(seeded)
    result = cli(seeded, "add", *(blank if a == "{}" else a for a in args))
    assert (result.exit_code, result.stdout) == (1, "")
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: add {args[0]}: {option}")
    assert line.endswith(f"{message(blank)}; nothing was written")
    assert snapshot(seeded) == before


@pytest.mark.parametrize(("body", "field"), [
    ({"summary": " "}, "summary"),
    ({"source": " "}, "source"),
    ({"documents": [{"title": " "}]}, "documents[0].title"),
    ({"mandates": ["IX/11", " "]}, "mandates[1]"),
])
def test_add_json_refuses_blank_envelope_text(seeded, cli, body, field):
    before = snapshot(seeded)
    full = {"type": "activity.noted", "occurred": "2009", "summary": "S.", **body}
    result = cli(seeded, "add", "--json", "-", input=json.dumps(full))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: stdin: {field}: {SPACES}; nothing was written"]
    assert snapshot(seeded) == before


def test_corrections_and_retractions_refuse_blank_text(seeded, cli):
    made = cli(seeded, "add", "activity", "--date", "2009", "--summary", "Met.")
    (event_id, _), = written(made, seeded)
    before = snapshot(seeded)
    for args in (("retract", event_id, "--reason", "  "),
                 ("correct", event_id, "--set", "summary=  ", "--reason", "typo"),
                 ("correct", event_id, "--set", "summary=Met twice.", "--reason", " ")):
        result = cli(seeded, *args)
        assert result.exit_code == 1, args
        assert SPACES in result.stderr, args
    assert snapshot(seeded) == before


def test_validate_names_a_file_with_blank_text(seeded, cli):
    store = Store(seeded)
    event_id = append.mint_ids(1)[0]
    path = store.path_for(event_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "id": event_id, "type": "meeting.attended", "schema": 1,
        "recorded_at": "2026-11-27T09:31:18Z", "recorded_by": RECORDER, "occurred": "2009",
        "summary": "Attended.", "orgs": [], "data": {"title": " \t", "role": "observer"}}),
        encoding="utf-8")
    result = cli(seeded, "validate")
    assert (result.exit_code, without_warnings(result.stdout)) == (
        1, f"{store.relpath(path)}: data.title: {SPACES}\n")
    assert result.stderr == f"1 problem(s) in {len(SEED) + 1} file(s); 1 warning(s)\n"
