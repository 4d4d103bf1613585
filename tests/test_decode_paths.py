"""`events.parse`, the one-pass decode a build and the watcher read files with, against the
slow path it stands in for (`validate(decode(raw))`): the same event from every file, and the
same problems, word for word, from every bad one."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cooplog import events
from strategies import whole_events

CORPUS = Path(__file__).parent / "reliability" / "corpus"


def outcome(read, raw: bytes):
    """The event read, or the problems named."""
    try:
        return read(raw)
    except events.Invalid as e:
        return e.problems


def slow(raw: bytes) -> events.Event:
    return events.validate(events.decode(raw))


def spellings(body: dict) -> dict[str, bytes]:
    """One body written in ways a person or another tool might write it."""
    return {
        "as cooplog writes it": events.encode(body),
        "compact": json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        "escaped": json.dumps(body).encode(),  # \\u00e9, \\u6d77
        "spaced colons": json.dumps(body, ensure_ascii=False, indent=1,
                                    separators=(",", " : ")).encode(),
        "keys reversed": json.dumps(dict(reversed(body.items())),
                                    ensure_ascii=False).encode(),
    }


MUTATIONS = {
    "nothing": lambda body: body,
    "defaults given": lambda body: {**body, "mandates": [], "documents": [], "lang": None},
    "schema 1.0": lambda body: {**body, "schema": 1.0},
    "schema true": lambda body: {**body, "schema": True},
    "schema 2": lambda body: {**body, "schema": 2},
    "no schema": lambda body: {k: v for k, v in body.items() if k != "schema"},
    "unknown field": lambda body: {**body, "colour": "red"},
    "unknown data field": lambda body: {**body, "data": {**body["data"], "colour": "red"}},
    "unknown type": lambda body: {**body, "type": "meeting.dreamt"},
    "no real instant": lambda body: {**body, "recorded_at": "2026-02-30T09:31:18Z"},
    "hour 24": lambda body: {**body, "recorded_at": "2026-11-27T24:00:00Z"},
    "bad occurred": lambda body: {**body, "occurred": "2009-13"},
    "no country": lambda body: {**body, "data": {**body["data"], "countries": ["XX"]}},
    "orgs text": lambda body: {**body, "orgs": "wco"},
    "data a list": lambda body: {**body, "data": []},
}


@settings(max_examples=150, deadline=None)
@given(whole_events(), st.sampled_from(sorted(MUTATIONS)))
@pytest.mark.slow
def test_parse_reads_every_spelling_as_the_slow_path_does(body, mutation):
    for spelling, raw in spellings(MUTATIONS[mutation](body)).items():
        assert outcome(events.parse, raw) == outcome(slow, raw), spelling


@settings(max_examples=60, deadline=None)
@given(whole_events(), st.sampled_from(["id", "recorded_at", "type", "recorded_by", "orgs"]))
@pytest.mark.slow
def test_a_key_given_twice_is_named_as_the_slow_path_names_it(body, key):
    raw = events.encode(body)
    repeated = raw.replace(b"{\n", b'{\n  "%s": %s,\n' % (key.encode(), json.dumps(
        body.get(key, "x")).encode()), 1)
    problems = outcome(events.parse, repeated)
    assert problems == outcome(slow, repeated) == [(key, "given twice in one object: "
                                                         "keep one of the two")]


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.json")))
def test_every_file_of_the_bad_input_corpus(name):
    raw = (CORPUS / name).read_bytes()
    assert outcome(events.parse, raw) == outcome(slow, raw)


@pytest.mark.parametrize("raw", [
    b"\xef\xbb\xbf" + events.encode({"id": "x"}),  # a byte-order mark
    b'{"id": "01M8E5GJKGV3RS3DTR98H6BCFN", "summary": "caf\xe9"}',  # Latin-1
    b"", b"  \n", b"[]", b"null", b'"text"', b"{", b"[" * 3000 + b"]" * 3000,
])
def test_files_that_are_no_json_object(raw):
    assert outcome(events.parse, raw) == outcome(slow, raw)
    assert isinstance(outcome(events.parse, raw), list)


def test_parse_decodes_each_file_once(monkeypatch):
    """What makes it quick: a valid file is decoded straight into an Event, without the
    dict of the slow path."""
    raw = events.encode({"id": "01M8E5GJKGV3RS3DTR98H6BCFN", "type": "activity.noted",
                         "schema": 1, "recorded_at": "2026-11-27T09:31:18Z",
                         "recorded_by": "a@b.org", "occurred": "2009",
                         "summary": "Something.", "orgs": [], "data": {}})
    expected = slow(raw)
    decoded = []
    real = msgspec.json.decode
    monkeypatch.setattr(msgspec.json, "decode",
                        lambda *args, **kwargs: decoded.append(args) or real(*args, **kwargs))
    assert events.parse(raw) == expected
    assert decoded == []
