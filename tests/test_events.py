"""The event model: what it accepts survives encoding unchanged, in the file format of the
contract; what it refuses is named by field."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from cooplog import events
from strategies import whole_events

EVENT = {
    "id": "01M8E5GJKGV3RS3DTR98H6BCFN",
    "type": "submission.made",
    "schema": 1,
    "recorded_at": "2026-11-27T09:31:18Z",
    "recorded_by": "secretariat@example.org",
    "occurred": "2008-11",
    "summary": "向世界海关组织提交了三个废物流，以纳入协调制度。",
    "orgs": ["wco"],
    "source": "UNEP/CHW/OEWG/7/17, annex",
    "data": {
        "key": "hs-waste-streams",
        "to": "wco",
        "body": "Harmonized System Committee",
        "title": "Waste streams proposed for the Harmonized System",
        "items": ["power-plant ashes and residues"],
    },
}


@settings(max_examples=60, deadline=None)
@given(whole_events())
@pytest.mark.slow
def test_every_valid_event_survives_encoding(body):
    event = events.validate(body)
    again = events.validate(events.decode(events.encode(event)))
    assert again == event
    assert events.to_dict(again) == {k: v for k, v in body.items() if v != []
                                     or k in ("orgs",)}


def test_the_file_format():
    """2-space indentation, Chinese as itself, fields in contract order, a final newline."""
    encoded = events.encode(events.validate(EVENT))
    assert encoded == (json.dumps(EVENT, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    assert "世界海关组织".encode() in encoded and b"\\u" not in encoded


def test_new_body_fills_in_defaults():
    assert events.new_body({"type": "activity.noted"}) == {
        "schema": 1, "orgs": [], "data": {}, "type": "activity.noted"}
    assert events.new_body({"type": "activity.noted", "orgs": ["wco"], "schema": 2})[
        "schema"] == 2  # given values are kept, and judged by validate


def problems(**changes) -> list[tuple[str, str]]:
    with pytest.raises(events.Invalid) as refused:
        events.validate({**EVENT, **changes})
    return refused.value.problems


def test_every_problem_of_a_body_at_once():
    assert problems(occurred="2009-13", summary=None, type="meeting.attended", data={
        "title": "A meeting", "role": "host"}, documents=[{}]) == [
        ("summary", "missing: required for meeting.attended"),
        ("occurred", "'2009-13' has no month 13: use EDTF level 0 such as 2009, 2009-03, "
                     "2009-03-23 or 2009-03-23/2009-05-11"),
        ("documents[0]", "give at least one of symbol, title, url"),
    ]


def test_organization_and_correction_events_need_no_date():
    base = {k: v for k, v in EVENT.items() if k not in ("occurred", "summary", "source")}
    org = {**base, "type": "organization.registered",
           "data": {"key": "wco", "name": "World Customs Organization", "category": "un"}}
    assert events.validate(org).occurred is None
    update = {**base, "type": "organization.updated", "data": {"key": "wco"}}
    with pytest.raises(events.Invalid) as refused:
        events.validate(update)
    assert refused.value.problems == [
        ("data", "say what changes: name, acronym, category, parent or url")]


@pytest.mark.parametrize(("name", "problem"), [
    ("summary", None), ("orgs", None), ("data.title", None),
    ("id", "cannot be corrected: record a new event instead"),
    ("type", "cannot be corrected: record a new event instead"),
    ("recorded_by", "cannot be corrected: record a new event instead"),
    ("data", "not a field: use an envelope field (summary, occurred, orgs, …) or data.FIELD"),
    ("data.location.city",
     "not a field: use an envelope field (summary, occurred, orgs, …) or data.FIELD"),
    ("colour", "not a field: use an envelope field (summary, occurred, orgs, …) or data.FIELD"),
])
def test_what_a_correction_may_set(name, problem):
    assert events.settable_problem(name) == problem


def test_a_correction_that_sets_an_uncorrectable_field_is_invalid():
    correction = {**{k: v for k, v in EVENT.items() if k not in ("occurred", "summary")},
                  "type": "event.corrected",
                  "data": {"target": EVENT["id"], "set": {"id": "x", "summary": "s"},
                           "reason": "Typo."}}
    with pytest.raises(events.Invalid) as refused:
        events.validate(correction)
    assert refused.value.problems == [
        ("data.set.id", "cannot be corrected: record a new event instead")]
