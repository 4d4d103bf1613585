"""Hypothesis strategies for `occurred` values and for event bodies of every type."""

from __future__ import annotations

import calendar
from datetime import datetime, timezone

from hypothesis import strategies as st
from ulid import ULID

from cooplog import dates, events

# The last millisecond of 9999: the largest ULID time that has a YYYY/MM folder.
LAST_MS = int(datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc).timestamp() * 1000)

# some text: whitespace alone is empty text, refused like ""
text = st.text(min_size=1, max_size=20).filter(lambda s: not s.isspace())
keys = st.from_regex(r"[a-z0-9][a-z0-9-]{0,12}", fullmatch=True)
countries = st.sampled_from(["BE", "CH", "CN", "GH", "KE", "NG", "US"])
languages = st.sampled_from(["ar", "en", "es", "fr", "ru", "zh", "pt", "de"])
ulids = st.builds(lambda ms, rand: str(ULID.from_int((ms << 80) | rand)),
                  st.integers(0, LAST_MS), st.integers(0, 2**80 - 1))
timestamps = st.datetimes(min_value=datetime(1970, 1, 1)).map(
    lambda t: f"{t.year:04d}-{t:%m-%dT%H:%M:%S}Z")


@st.composite
def level0_part(draw) -> str:
    """YYYY, YYYY-MM or YYYY-MM-DD, a real calendar day (years 0001-9999)."""
    year = draw(st.integers(1, 9999))
    precision = draw(st.sampled_from(["year", "month", "day"]))
    if precision == "year":
        return f"{year:04d}"
    month = draw(st.integers(1, 12))
    if precision == "month":
        return f"{year:04d}-{month:02d}"
    day = draw(st.integers(1, calendar.monthrange(year, month)[1]))
    return f"{year:04d}-{month:02d}-{day:02d}"


# Level-0 values; intervals may end before they start (which EDTF parses and we refuse).
level0 = st.one_of(level0_part(), st.tuples(level0_part(), level0_part()).map("/".join))


def _in_order(value: str) -> bool:
    try:
        dates.parse(value)
    except dates.DateError:
        return False
    return True


occurred = level0.filter(_in_order)


def _optional(required: dict, **optional) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(required, optional=optional)


def data_strategies(org, new_key, entity) -> dict[str, st.SearchStrategy[dict]]:
    """A `data` object's strategy for each type, by name. `org` draws org keys, `new_key`
    keys to create and `entity(kinds)` keys of existing agreements, submissions…"""
    org_list = st.lists(org, max_size=3)
    meeting = _optional(
        {"title": text, "role": st.sampled_from(events.MEETING_ROLES)},
        location=_optional({}, city=text, country=countries),
        online=st.booleans(), organizer=org_list,
    )
    return {
        "organization.registered": _optional(
            {"key": new_key, "name": text, "category": st.sampled_from(events.CATEGORIES)},
            acronym=text, parent=org, url=text),
        "organization.updated": _optional(
            {"key": org}, name=text, acronym=text,
            category=st.sampled_from(events.CATEGORIES), parent=org, url=text,
        ).filter(lambda d: len(d) > 1),
        "meeting.attended": meeting,
        "meeting.planned": meeting,
        "agreement.signed": _optional(
            {"key": new_key, "kind": st.sampled_from(events.AGREEMENT_KINDS), "title": text,
             "parties": st.lists(org, min_size=1, max_size=3)}),
        "agreement.revised": _optional({"agreement": entity(("agreement",)), "change": text}),
        "submission.made": _optional({"key": new_key, "to": org, "title": text},
                                     body=text, items=st.lists(text, max_size=3)),
        "request.made": _optional({"key": new_key, "to": org, "subject": text}),
        "project.proposed": _optional({"key": new_key, "title": text}, funder=org,
                                      countries=st.lists(countries, max_size=3)),
        "status.changed": _optional(
            {"subject": entity(events.ENTITY_KINDS),
             "status": st.from_regex(r"[a-z][a-z-]{0,15}", fullmatch=True)}, note=text),
        "partnership.joined": _optional(
            {"partnership": text, "role": st.sampled_from(events.PARTNERSHIP_ROLES)}),
        "activity.noted": st.just({}),
        "event.corrected": _optional({
            "target": ulids,
            "set": st.dictionaries(
                st.sampled_from(["summary", "occurred", "orgs", "source", "data.title"]),
                st.one_of(text, st.lists(keys, max_size=2), st.none()), min_size=1),
            "reason": text}),
        "event.retracted": _optional({"target": ulids, "reason": text}),
        "translation.added": _optional(
            {"target": ulids, "lang": languages}, summary=text, title=text,
        ).filter(lambda d: len(d) > 2),
    }


@st.composite
def bodies(draw, types=tuple(events.TYPES), org=keys, new_key=keys,
           entity=lambda kinds: keys, when=occurred) -> dict:
    """An event body as `add --json` takes it (no id, recorded_at, recorded_by)."""
    type_name = draw(st.sampled_from(types))
    spec = events.TYPES[type_name]
    body = {"type": type_name, "orgs": draw(st.lists(org, max_size=3)),
            "data": draw(data_strategies(org, new_key, entity)[type_name])}
    if spec.dated or draw(st.booleans()):
        body["occurred"] = draw(when)
        body["summary"] = draw(text)
    document = _optional({}, symbol=text, title=text, url=text).filter(bool)
    body |= draw(_optional({}, mandates=st.lists(text, max_size=2),
                           documents=st.lists(document, max_size=2), source=text,
                           lang=languages))
    return body


@st.composite
def whole_events(draw) -> dict:
    """A whole event as a file holds it."""
    return {"id": draw(ulids), "schema": 1, "recorded_at": draw(timestamps),
            "recorded_by": draw(text), **draw(bodies())}
