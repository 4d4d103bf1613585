"""Bad input, refused the same way by `add --json` (nothing written, nothing committed) and
named file and field by `validate` (nothing changed), plus the rules that span files."""

from __future__ import annotations

import json
import shutil

import pytest

from cooplog import append, events
from cooplog.errors import Problem
from cooplog.rules import check_log
from cooplog.store import Store
from helpers import RECORDER, SEED, read_json, snapshot, without_warnings, written

ACTIVITY = {"type": "activity.noted", "schema": 1, "occurred": "2009-05",
            "summary": "Lectured at the WCO Academy.", "orgs": ["wco"], "data": {}}
MEETING = {**ACTIVITY, "type": "meeting.attended",
           "data": {"title": "Enforcement Committee", "role": "presenter"}}
DATE_HINT = ": use EDTF level 0 such as 2009, 2009-03, 2009-03-23 or 2009-03-23/2009-05-11"
KEY_HINT = "not a key: use lower-case letters, digits and '-', starting with a letter or digit"
UNKNOWN_FIELD = "unknown field: remove it or check its spelling against DESIGN.md"


def changed(body: dict, **fields) -> dict:
    return {**body, **fields}


def without(body: dict, name: str) -> dict:
    return {k: v for k, v in body.items() if k != name}


# (case, the body (bytes as they are, dicts as JSON), field, message)
BAD = [
    ("malformed JSON", b'{"type": "activity.noted",', "",
     "not valid JSON (Input data was truncated): fix the syntax"),
    ("non-UTF-8 bytes", b'{"summary": "caf\xe9"}', "",
     "not UTF-8 text (byte 16): save the file as UTF-8"),
    ("byte-order mark", b"\xef\xbb\xbf{}", "",
     "starts with a byte-order mark: save it as UTF-8 without BOM"),
    ("array, not object", b'[{"type": "activity.noted"}]', "",
     "a JSON array where an event object belongs"),
    ("null, not object", b"null", "", "a JSON null where an event object belongs"),
    ("missing summary", without(ACTIVITY, "summary"), "summary",
     "missing: required for activity.noted"),
    ("missing occurred", without(ACTIVITY, "occurred"), "occurred",
     "missing: required for activity.noted"),
    ("missing data field", changed(MEETING, data={"role": "host"}), "data.title",
     "missing: this field is required"),
    ("unknown field", changed(ACTIVITY, colour="red"), "colour", UNKNOWN_FIELD),
    ("unknown data field", changed(MEETING, data={**MEETING["data"], "venue": "Brussels"}),
     "data.venue", UNKNOWN_FIELD),
    ("unknown nested field", changed(MEETING, data={**MEETING["data"],
                                                    "location": {"town": "Brussels"}}),
     "data.location.town", UNKNOWN_FIELD),
    ("number for text", changed(ACTIVITY, occurred=2009), "occurred",
     "must be text, not a whole number"),
    ("text for a list", changed(ACTIVITY, orgs="wco"), "orgs", "must be a list, not text"),
    ("text for a bool", changed(MEETING, data={**MEETING["data"], "online": "yes"}),
     "data.online", "must be true or false, not text"),
    ("list for an object", changed(ACTIVITY, data=[]), "data", "must be an object, not a list"),
    ("empty text", changed(ACTIVITY, summary=""), "summary", "empty: write some text"),
    ("empty parties", changed(ACTIVITY, type="agreement.signed", data={
        "key": "mou-2", "kind": "mou", "title": "MoU", "parties": []}),
     "data.parties", "empty: give at least one"),
    ("bad month", changed(ACTIVITY, occurred="2009-13"), "occurred",
     "'2009-13' has no month 13" + DATE_HINT),
    ("bad day", changed(ACTIVITY, occurred="2009-02-30"), "occurred",
     "'2009-02-30' is not a calendar day" + DATE_HINT),
    ("reversed interval", changed(ACTIVITY, occurred="2010/2009"), "occurred",
     "'2010/2009' ends before it starts" + DATE_HINT),
    ("words for a date", changed(ACTIVITY, occurred="March 2009"), "occurred",
     "'March 2009' is not YYYY, YYYY-MM or YYYY-MM-DD" + DATE_HINT),
    ("bad ULID", {"type": "event.retracted", "schema": 1, "orgs": [],
                  "data": {"target": "01ABC", "reason": "Wrong."}},
     "data.target", "not an event id (a ULID of 26 characters)"),
    ("bad key in orgs", changed(ACTIVITY, orgs=["WCO"]), "orgs[0]", KEY_HINT),
    ("bad key in data", changed(ACTIVITY, type="organization.registered", data={
        "key": "World Customs", "name": "WCO", "category": "intergovernmental"}),
     "data.key", KEY_HINT),
    ("bad country", changed(ACTIVITY, type="project.proposed", data={
        "key": "p1", "title": "A project", "countries": ["NG", "GHA"]}),
     "data.countries[1]", "not an ISO 3166-1 alpha-2 code such as CH or CN"),
    ("no such country", changed(MEETING, data={**MEETING["data"],
                                               "location": {"country": "XX"}}),
     "data.location.country", "'XX' is not an ISO 3166-1 alpha-2 country code"),
    ("bad role", changed(MEETING, data={"title": "A meeting", "role": "boss"}), "data.role",
     "Invalid enum value 'boss'; use one of: participant, observer, presenter, organizer, "
     "co-organizer, host"),
    ("unknown org", changed(ACTIVITY, orgs=["wco", "nowhere"]), "orgs[1]",
     "unknown organization 'nowhere': register it with `cooplog add organization --key "
     "nowhere ...` or fix the key"),
    ("unknown org in data", changed(MEETING, data={**MEETING["data"], "organizer": ["wcoo"]}),
     "data.organizer[0]", "unknown organization 'wcoo': register it with `cooplog add "
     "organization --key wcoo ...` or fix the key"),
    ("unknown entity", changed(ACTIVITY, type="status.changed", data={
        "subject": "no-such-thing", "status": "accepted"}), "data.subject",
     "no agreement or submission or request or project has the key 'no-such-thing': "
     "record it first or fix the key"),
    ("entity of the wrong kind", changed(ACTIVITY, type="agreement.revised", data={
        "agreement": "hs-waste-streams", "change": "Extended."}), "data.agreement",
     "no agreement has the key 'hs-waste-streams': record it first or fix the key"),
    ("unknown type", changed(ACTIVITY, type="meeting.attend"), "type",
     "unknown type 'meeting.attend'; use one of: " + ", ".join(events.TYPES)),
    ("schema 2", changed(ACTIVITY, schema=2), "schema",
     "schema 2 was written by a newer cooplog: upgrade"),
    ("schema as text", changed(ACTIVITY, schema="1"), "schema",
     "must be the integer 1, not '1'"),
    ("schema as float", changed(ACTIVITY, schema=1.0), "schema",
     "must be the integer 1, not 1.0"),
    ("document with nothing", changed(ACTIVITY, documents=[{"symbol": "X/1"}, {}]),
     "documents[1]", "give at least one of symbol, title, url"),
]


def raw(body) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()


@pytest.mark.parametrize(("body", "field", "message"), [case[1:] for case in BAD],
                         ids=[case[0] for case in BAD])
def test_add_json_refuses(seeded, cli, body, field, message):
    before = snapshot(seeded)
    result = cli(seeded, "add", "--json", "-", input=raw(body))
    where = f"stdin: {field}" if field else "stdin"
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [f"error: {where}: {message}; nothing was written"]
    assert snapshot(seeded) == before


@pytest.mark.parametrize(("body", "field", "message"), [case[1:] for case in BAD],
                         ids=[case[0] for case in BAD])
def test_validate_names_file_and_field(seeded, cli, body, field, message):
    store = Store(seeded)
    event_id = append.mint_ids(1)[0]
    if isinstance(body, dict):
        body = {"id": event_id, "recorded_at": "2026-11-27T09:31:18Z",
                "recorded_by": RECORDER, **body}
    path = store.path_for(event_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw(body))
    rel = store.relpath(path)
    before = snapshot(seeded)

    result = cli(seeded, "validate")

    where = f"{rel}: {field}" if field else rel
    assert (result.exit_code, without_warnings(result.stdout)) == (1, f"{where}: {message}\n")
    assert result.stderr == f"1 problem(s) in {len(SEED) + 1} file(s); 1 warning(s)\n"
    assert snapshot(seeded) == before


def test_add_json_refuses_assigned_fields(seeded, cli):
    body = {**ACTIVITY, "id": "01M8E5GJKGV3RS3DTR98H6BCFN", "recorded_by": "me@example.org"}
    before = snapshot(seeded)
    result = cli(seeded, "add", "--json", "-", input=json.dumps(body))
    assert (result.exit_code, result.stderr.splitlines()) == (1, [
        "error: stdin: id: assigned by cooplog when it appends: remove it",
        "error: stdin: recorded_by: assigned by cooplog when it appends: remove it",
        "error: 2 problem(s); nothing was written",
    ])
    assert snapshot(seeded) == before


def test_add_json_fills_in_schema_orgs_and_data(seeded, cli):
    body = {"type": "activity.noted", "occurred": "2009", "summary": "Gave a talk."}
    result = cli(seeded, "add", "--json", "-", input=json.dumps(body))
    assert result.exit_code == 0
    (event_id, rel), = written(result, seeded)
    content = read_json(seeded / rel)
    assert content == {"id": event_id, "type": "activity.noted", "schema": 1,
                       "recorded_at": content["recorded_at"], "recorded_by": RECORDER,
                       "occurred": "2009", "summary": "Gave a talk.", "orgs": [], "data": {}}


def test_add_json_from_a_file_names_the_file(seeded, cli, tmp_path):
    body_file = tmp_path / "meeting.json"
    body_file.write_text(json.dumps(changed(ACTIVITY, occurred="2009-13")))
    result = cli(seeded, "add", "--json", body_file)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {body_file}: occurred: '2009-13' has no month 13" + DATE_HINT
        + "; nothing was written"]


# --- placement and the rules across files --------------------------------------------------


def _add(root, body) -> tuple[events.Event, str]:
    (event, path), = append.append(Store(root), [("test", body)])
    return event, Store(root).relpath(path)


def test_a_duplicate_id_in_two_files(seeded):
    event, rel = _add(seeded, ACTIVITY)
    copy = seeded / "events" / "2001" / "01" / f"{event.id}.json"
    copy.parent.mkdir(parents=True)
    shutil.copy(seeded / rel, copy)
    assert check_log(Store(seeded)) == [Problem(
        f"events/2001/01/{event.id}.json", "id", f"duplicate: {rel} has this id: remove this copy"
    )]


def test_a_copy_under_another_name_is_a_duplicate(seeded):
    event, rel = _add(seeded, ACTIVITY)
    other = append.mint_ids(1)[0]
    copy = Store(seeded).path_for(other)
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(seeded / rel, copy)
    assert check_log(Store(seeded)) == [Problem(
        Store(seeded).relpath(copy), "id", f"duplicate: {rel} has this id: remove this copy"
    )]


def test_a_file_whose_name_is_not_its_id(seeded, cli):
    event, rel = _add(seeded, ACTIVITY)
    other = append.mint_ids(1)[0]
    renamed = Store(seeded).path_for(other)
    (seeded / rel).rename(renamed)
    result = cli(seeded, "validate")
    assert (result.exit_code, without_warnings(result.stdout)) == (1, (
        f"{Store(seeded).relpath(renamed)}: id: the file is named {other}.json but holds id "
        f"{event.id}: an event lives in {event.id}.json\n"))


def test_a_misplaced_file(seeded):
    event, rel = _add(seeded, ACTIVITY)
    moved = seeded / "events" / "2001" / "01" / f"{event.id}.json"
    moved.parent.mkdir(parents=True)
    (seeded / rel).rename(moved)
    assert check_log(Store(seeded)) == [Problem(
        f"events/2001/01/{event.id}.json", "id",
        f"misplaced: an event with this id belongs at {rel}")]


def test_validate_only_problems_of_whole_files(seeded):
    """Fields that `add` assigns can only be wrong in a file written by hand."""
    store = Store(seeded)
    good = {"id": "01M8E5GJKGV3RS3DTR98H6BCFN", "recorded_at": "2026-11-27T09:31:18Z",
            "recorded_by": RECORDER, **ACTIVITY}
    cases = {
        "id": (changed(good, id="01M8E5GJKGV3RS3DTR98H6BCF!"),
               "not a ULID (26 characters of Crockford base32)"),
        "recorded_at": (changed(good, recorded_at="27 November 2026"),
                        "not an RFC 3339 UTC timestamp such as 2026-11-27T09:31:18Z"),
        "orgs": (without(good, "orgs"), "missing: this field is required"),
        "recorded_by": (without(good, "recorded_by"), "missing: this field is required"),
    }
    expected = []
    for i, (field, (body, message)) in enumerate(cases.items()):
        path = seeded / "events" / "2026" / "11" / f"01M8E5GJKGV3RS3DTR98H6BCF{i}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body))
        expected.append(Problem(store.relpath(path), field, message))
    assert check_log(store) == sorted(expected)


def test_an_id_after_the_year_9999(seeded, cli):
    last = "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
    path = seeded / "events" / "9999" / "12" / f"{last}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"id": last, "recorded_at": "2026-11-27T09:31:18Z",
                                "recorded_by": RECORDER, **ACTIVITY}))
    assert check_log(Store(seeded)) == [Problem(
        f"events/9999/12/{last}.json", "id",
        "its time is after the year 9999: not an id cooplog can file")]
    result = cli(seeded, "retract", last, "--reason", "Never happened.")
    assert (result.exit_code, result.stderr) == (
        2, f"error: {last!r}: not an event id (a ULID of 26 characters)\n")


def test_a_key_created_twice_is_a_problem_for_the_larger_id(seeded):
    store = Store(seeded)
    body = {"type": "organization.registered", "schema": 1, "orgs": [],
            "data": {"key": "wco", "name": "Another WCO", "category": "other"}}
    event_id = append.mint_ids(1)[0]
    path = store.path_for(event_id)
    path.write_text(json.dumps({"id": event_id, "recorded_at": "2026-11-27T09:31:18Z",
                                "recorded_by": RECORDER, **body}))
    first = next(e for e in map(store.read, store.files())
                 if e.data.get("key") == "wco" and e.id != event_id)
    assert check_log(store) == [Problem(
        store.relpath(path), "data.key",
        f"the key 'wco' was already created by {first.id}: choose another key")]


def test_references_resolve_whatever_the_order_of_arrival(log):
    """An org registered after (by id) the event naming it still counts."""
    store = Store(log)
    meeting_id, org_id = append.mint_ids(2)
    files = {
        meeting_id: {**MEETING, "orgs": ["wco"]},
        org_id: {"type": "organization.registered", "schema": 1, "orgs": [],
                 "data": {"key": "wco", "name": "WCO", "category": "intergovernmental"}},
    }
    for event_id, body in files.items():
        path = store.path_for(event_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"id": event_id, "recorded_at": "2026-11-27T09:31:18Z",
                                    "recorded_by": RECORDER, **body}))
    assert check_log(store) == []


def test_retracted_events_need_no_references_but_corrections_must_leave_them_valid(seeded):
    store = Store(seeded)
    event, rel = _add(seeded, ACTIVITY)
    append.retract(store, event.id, "Recorded twice.")
    bad = {"type": "event.corrected", "schema": 1, "orgs": [],
           "data": {"target": event.id, "set": {"occurred": "2009-13"}, "reason": "Typo."}}
    bad_id = append.mint_ids(1)[0]
    store.path_for(bad_id).write_text(json.dumps(
        {"id": bad_id, "recorded_at": "2026-11-27T09:31:18Z", "recorded_by": RECORDER, **bad}))
    assert check_log(store) == []  # the target is retracted: its corrections do not apply
    retraction = next(e for e in map(store.read, store.files())
                      if e.type == "event.retracted")
    append.retract(store, retraction.id, "Not a duplicate after all.")
    assert check_log(store) == [Problem(
        store.relpath(store.path_for(bad_id)), "data.set",
        f"would make {event.id} invalid: occurred: '2009-13' has no month 13" + DATE_HINT)]


@pytest.mark.parametrize("recorded_at", ["2026-13-45T99:99:99Z", "2026-02-30T09:31:18Z",
                                         "2026-11-27T24:00:00Z", "0000-01-01T00:00:00Z"])
def test_validate_refuses_a_recorded_at_that_is_no_real_instant(seeded, cli, recorded_at):
    """The shape of RFC 3339 is not enough: the feeds and calendars read it as a time."""
    store = Store(seeded)
    event_id = append.mint_ids(1)[0]
    path = store.path_for(event_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"id": event_id, "recorded_at": recorded_at,
                                "recorded_by": RECORDER, **ACTIVITY}))
    result = cli(seeded, "validate")
    assert result.exit_code == 1
    assert (f"{store.relpath(path)}: recorded_at: {recorded_at!r} is no real date and time: "
            "give a UTC instant such as 2026-11-27T09:31:18Z") in result.stdout.splitlines()
