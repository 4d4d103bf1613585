"""The event model, schema 1 (DESIGN.md, "The event file").

`TYPES` is the one table of event types: validation, the `add` subcommands and the projection
(its table, its row, `events.title`, the keys it creates, what it names) are all driven by
it, so a new type is one `data` struct and one entry (and, for its own table, one entry in
`schema.TABLES` and one block in metadata.yml).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, get_args, get_origin

import msgspec
import msgspec.structs

from . import countries, dates
from .errors import Problem

SCHEMA = 1
KEY_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
ULID_RE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
# The time part of the last ULID minted in 9999-12-31: later ones have no YYYY/MM folder.
LAST_ULID_TIME = "76EZ91ZPZZ"

Key = Annotated[str, msgspec.Meta(pattern=f"^{KEY_RE.pattern}$")]
Ulid = Annotated[str, msgspec.Meta(pattern=f"^{ULID_RE.pattern}$")]
# Some text: spaces alone are as empty as "" (\S anywhere; msgspec searches, unanchored).
TEXT_RE = r"\S"
Text = Annotated[str, msgspec.Meta(min_length=1, pattern=TEXT_RE)]
Country = Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$")]
# ISO 639-1: two lower-case letters; which pairs are languages is checked in `_lang_problems`.
Lang = Annotated[str, msgspec.Meta(pattern="^[a-z]{2}$")]
Timestamp = Annotated[
    # (?a): \d is 0-9 only, not every script's digits
    str, msgspec.Meta(pattern=r"(?a)^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
]

CATEGORIES = ("unep", "mea", "un", "intergovernmental", "network", "other")
MEETING_ROLES = ("participant", "observer", "presenter", "organizer", "co-organizer", "host")
AGREEMENT_KINDS = ("mou", "agreement", "letter", "partnership", "other")
PARTNERSHIP_ROLES = ("member", "observer", "partner")
STATUS_RE = r"^[a-z][a-z-]*$"



class Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    pass


class Location(Strict, kw_only=True):
    city: Text | None = None
    country: Country | None = None


class Document(Strict, kw_only=True):
    symbol: Text | None = None
    title: Text | None = None
    url: Text | None = None


class OrganizationRegistered(Strict, kw_only=True):
    key: Key
    name: Text
    acronym: Text | None = None
    category: Literal[CATEGORIES]  # type: ignore[valid-type]
    parent: Key | None = None
    url: Text | None = None


class OrganizationUpdated(Strict, kw_only=True):
    key: Key
    name: Text | None = None
    acronym: Text | None = None
    category: Literal[CATEGORIES] | None = None  # type: ignore[valid-type]
    parent: Key | None = None
    url: Text | None = None


class MeetingAttended(Strict, kw_only=True):
    title: Text
    role: Literal[MEETING_ROLES]  # type: ignore[valid-type]
    location: Location | None = None
    online: bool | None = None
    organizer: list[Key] = []


class MeetingPlanned(MeetingAttended, kw_only=True):
    pass


class AgreementSigned(Strict, kw_only=True):
    key: Key
    kind: Literal[AGREEMENT_KINDS]  # type: ignore[valid-type]
    title: Text
    parties: Annotated[list[Key], msgspec.Meta(min_length=1)]


class AgreementRevised(Strict, kw_only=True):
    agreement: Key
    change: Text


class SubmissionMade(Strict, kw_only=True):
    key: Key
    to: Key
    body: Text | None = None
    title: Text
    items: list[Text] = []


class RequestMade(Strict, kw_only=True):
    key: Key
    to: Key
    subject: Text


class ProjectProposed(Strict, kw_only=True):
    key: Key
    title: Text
    funder: Key | None = None
    countries: list[Country] = []


class StatusChanged(Strict, kw_only=True):
    subject: Key
    status: Annotated[str, msgspec.Meta(pattern=STATUS_RE)]
    note: Text | None = None


class PartnershipJoined(Strict, kw_only=True):
    partnership: Text
    role: Literal[PARTNERSHIP_ROLES]  # type: ignore[valid-type]


class ActivityNoted(Strict, kw_only=True):
    pass


class EventCorrected(Strict, kw_only=True):
    target: Ulid
    set: Annotated[dict[str, Any], msgspec.Meta(min_length=1)]
    reason: Text


class EventRetracted(Strict, kw_only=True):
    target: Ulid
    reason: Text


class TranslationAdded(Strict, kw_only=True):
    target: Ulid
    lang: Lang
    summary: Text | None = None
    title: Text | None = None


@dataclass(frozen=True)
class Entity:
    """What a key-making type's key is: its kind, the table holding one row per key, the
    column people know it by, and data fields named otherwise in that table."""

    kind: str
    table: str
    title: str = "title"
    renamed: dict[str, str] = dataclasses.field(default_factory=dict)  # data field -> column


def _meeting_row(data: MeetingAttended, event: Event) -> dict:
    location = data.location or Location()
    # latitude and longitude are filled as the row is written (projection's `_located`)
    return {"title": data.title, "role": data.role,
            "planned": int(event.type == "meeting.planned"), "city": location.city,
            "country": location.country,
            "country_name": location.country and countries.country_name(location.country),
            "online": None if data.online is None else int(data.online),
            "organizer": data.organizer}


def fields_of(data: Strict, event: Event) -> dict:
    """A type's row by default: its data fields, under their own names."""
    return msgspec.structs.asdict(data)


@dataclass(frozen=True)
class EventType:
    """Everything about one type: how `add` offers it, what a valid one holds, what it
    creates and names, and the rows it puts in the projection."""

    name: str
    command: str  # the `cooplog add` subcommand
    data: type[Strict]
    help: str
    dated: bool = True  # needs `occurred` and `summary`; dated types are the activities
    title: str | None = None  # the data field that fills `events.title`
    # its own table: one row per current event (`event_id`, its dates in the columns the
    # table has of occurred, occurred_start, occurred_end and year, and `row`'s columns)
    table: str | None = None
    row: Callable[[Any, Event], dict] = fields_of
    entity: Entity | None = None  # `data.key` is a new key of this kind
    registers_org: bool = False  # `data.key` is a new organization key
    updates_org: bool = False  # `data.key` names an organization whose record it changes
    org_refs: tuple[str, ...] = ()  # data fields holding org keys (one or a list)
    # data field -> kinds it may name (ANY_KIND: every kind of entity)
    entity_refs: dict[str, tuple[str, ...]] | None = None
    countries: tuple[str, ...] = ()  # data fields (dotted) holding country codes
    targets: bool = False  # `data.target` names another event, which must exist
    amends: bool = False  # corrects or retracts its target: never corrected, no rows

    def entity_fields(self) -> dict[str, tuple[str, ...]]:
        """Data field -> the kinds of entity it may name."""
        return {name: kinds or ENTITY_KINDS for name, kinds in (self.entity_refs or {}).items()}

    @property
    def creates(self) -> str | None:
        """"org", an entity kind, or None: what `data.key` is a new key of."""
        return "org" if self.registers_org else self.entity and self.entity.kind


ANY_KIND: tuple[str, ...] = ()

TYPES: dict[str, EventType] = {
    t.name: t
    for t in (
        EventType(
            "organization.registered", "organization", OrganizationRegistered,
            "Register an organization under one of the annex's groups.",
            dated=False, title="name", registers_org=True, org_refs=("parent",),
        ),
        EventType(
            "organization.updated", "organization-update", OrganizationUpdated,
            "Change an organization's name, acronym, category, parent or url.",
            dated=False, title="name", updates_org=True, org_refs=("key", "parent"),
        ),
        EventType(
            "meeting.attended", "meeting", MeetingAttended,
            "A meeting the secretariat attended.", title="title", table="meetings",
            row=_meeting_row, org_refs=("organizer",), countries=("location.country",),
        ),
        EventType(
            "meeting.planned", "planned-meeting", MeetingPlanned,
            "A meeting still to come.", title="title", table="meetings", row=_meeting_row,
            org_refs=("organizer",), countries=("location.country",),
        ),
        EventType(
            "agreement.signed", "agreement", AgreementSigned,
            "An agreement, MoU or letter signed.", title="title",
            entity=Entity("agreement", "agreements"), org_refs=("parties",),
        ),
        EventType(
            "agreement.revised", "revision", AgreementRevised,
            "A change to an agreement already signed.", table="revisions",
            entity_refs={"agreement": ("agreement",)},
        ),
        EventType(
            "submission.made", "submission", SubmissionMade,
            "A submission made to an organization or one of its bodies.", title="title",
            entity=Entity("submission", "submissions", renamed={"to": "to_org"}),
            org_refs=("to",),
        ),
        EventType(
            "request.made", "request", RequestMade,
            "A request made to an organization.", title="subject",
            entity=Entity("request", "requests", title="subject", renamed={"to": "to_org"}),
            org_refs=("to",),
        ),
        EventType(
            "project.proposed", "project", ProjectProposed,
            "A project proposed, with its funder and countries.", title="title",
            entity=Entity("project", "projects"), org_refs=("funder",),
            countries=("countries",),
        ),
        EventType(
            "status.changed", "status", StatusChanged,
            "What became of an agreement, submission, request or project.",
            title="subject", table="statuses", entity_refs={"subject": ANY_KIND},
        ),
        EventType(
            "partnership.joined", "partnership", PartnershipJoined,
            "A partnership or initiative joined.", title="partnership", table="partnerships",
        ),
        EventType(
            "activity.noted", "activity", ActivityNoted,
            "Any other cooperation activity, described by its summary.",
        ),
        EventType(
            "event.corrected", "correction", EventCorrected,
            "Correct fields of an earlier event.", dated=False, targets=True, amends=True,
        ),
        EventType(
            "event.retracted", "retraction", EventRetracted,
            "Retract an earlier event.", dated=False, targets=True, amends=True,
        ),
        EventType(
            # its title is the title of the event it names, found in `translations`
            "translation.added", "translation", TranslationAdded,
            "An event's summary and/or title in another language.", dated=False,
            table="translations", targets=True,
        ),
    )
}

# Derived from the entries, for the modules that ask about all types at once.
ENTITIES = {t.entity.kind: t.entity for t in TYPES.values() if t.entity}
ENTITY_KINDS = tuple(ENTITIES)
ENTITY_TABLES = {kind: entity.table for kind, entity in ENTITIES.items()}  # by kind
TARGETING = tuple(name for name, t in TYPES.items() if t.targets)
AMENDING = tuple(name for name, t in TYPES.items() if t.amends)
ORGANIZATION_TYPES = tuple(name for name, t in TYPES.items()
                           if t.registers_org or t.updates_org)
# Types that are not activities of their own: what they say shows in what they name.
NOT_ACTIVITIES = tuple(name for name, t in TYPES.items() if not t.dated)
ASSIGNED = ("id", "recorded_at", "recorded_by")
UNCORRECTABLE = ("id", "type", "schema", "recorded_at", "recorded_by")


class Event(Strict, kw_only=True):
    id: Ulid
    type: str
    schema: int
    recorded_at: Timestamp
    recorded_by: Text
    occurred: str | None = None
    summary: Text | None = None
    orgs: list[Key]
    mandates: list[Text] = []
    documents: list[Document] = []
    source: Text | None = None
    lang: Lang | None = None
    data: dict[str, Any]

    @property
    def spec(self) -> EventType:
        return TYPES[self.type]


ENVELOPE_FIELDS = Event.__struct_fields__


class Invalid(Exception):
    """The problems that keep one file or body from being an event (path filled in later)."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{f}: {m}" if f else m for f, m in problems))
        self.problems = problems

    def at(self, path: str) -> list[Problem]:
        return [Problem(path, field, message) for field, message in self.problems]


_MSGSPEC_ERROR = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(?P<name>.+)`$", re.S)  # names with `
_MISSING_FIELD = re.compile(r"Object missing required field `(?P<name>[^`]+)`")


def choices(struct: type[Strict], name: str) -> tuple[str, ...]:
    """The words a vocabulary field of `struct` allows (empty if it is not one)."""
    for field in msgspec.structs.fields(struct):
        if field.name == name:
            for tp in (field.type, *get_args(field.type)):
                if get_origin(tp) is Literal:
                    return get_args(tp)
    return ()


def _explain(
    error: msgspec.ValidationError, prefix: str = "", struct: type[Strict] | None = None
) -> tuple[str, str]:
    """Turn a msgspec message into (field, what is wrong and what to do)."""
    match = _MSGSPEC_ERROR.match(str(error))
    message = match["message"]
    field = ".".join(filter(None, [prefix, (match["path"] or "").lstrip(".")]))
    if m := _UNKNOWN_FIELD.match(message):
        field = ".".join(filter(None, [field, m["name"]]))
        return field, "unknown field: remove it or check its spelling against DESIGN.md"
    if m := _MISSING_FIELD.match(message):
        field = ".".join(filter(None, [field, m["name"]]))
        return field, "missing: this field is required"
    last = re.sub(r"\[\d+\]", "", field).rpartition(".")[2]  # data.countries[1] -> countries
    if message.startswith("Invalid enum value") and struct and choices(struct, last):
        message += f"; use one of: {', '.join(choices(struct, last))}"
    elif message == f"Expected `str` matching regex {TEXT_RE!r}":
        message = "empty: write some text (spaces alone are empty)"
    elif "matching regex" in message:
        message = _PATTERN_HINTS.get(last, _KEY_HINT)  # every other pattern is a key's
    elif m := _EXPECTED.match(message):
        message = f"must be {_words(m['want'])}, not {_words(m['got'])}"
    elif m := _EMPTY.match(message):
        message = "empty: " + ("write some text" if m["what"] == "str" else "give at least one")
    return field, message


_EXPECTED = re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`$")
_EMPTY = re.compile(r"^Expected `(?P<what>\w+)` of length >= 1$")
_TYPE_WORDS = {"str": "text", "int": "a whole number", "float": "a number",
               "bool": "true or false", "array": "a list", "object": "an object"}


def _words(types: str) -> str:
    """msgspec's `str | null` as words a person knows: "text"."""
    names = [t for t in types.split(" | ") if t != "null"] or ["null"]
    return " or ".join(_TYPE_WORDS.get(t, t) for t in names)


_LANG_HINT = "not an ISO 639-1 language code: two lower-case letters such as en, fr or zh"
_PATTERN_HINTS = {
    "id": "not a ULID (26 characters of Crockford base32)",
    "target": "not an event id (a ULID of 26 characters)",
    "recorded_at": "not an RFC 3339 UTC timestamp such as 2026-11-27T09:31:18Z",
    "country": "not an ISO 3166-1 alpha-2 code such as CH or CN",
    "countries": "not an ISO 3166-1 alpha-2 code such as CH or CN",
    "status": "a status is one lower-case word such as pending, accepted or rejected",
    "lang": _LANG_HINT,
}
_KEY_HINT = "not a key: use lower-case letters, digits and '-', starting with a letter or digit"


def _country_problems(codes: list[str], field: str) -> list[tuple[str, str]]:
    return [
        (field, f"{code!r} is not an ISO 3166-1 alpha-2 country code")
        for code in codes
        if not is_country(code)
    ]


@functools.cache
def is_country(code: str) -> bool:
    """Whether `code` is an ISO 3166-1 alpha-2 code (asked once a code: pycountry's lookup
    cost as much as decoding a whole file)."""
    import pycountry  # loaded only when a country is given: it is slow to import

    return pycountry.countries.get(alpha_2=code) is not None


@functools.cache
def is_language(code: str) -> bool:
    """Whether `code` is an ISO 639-1 code (any of them, not only the six UN languages: a
    log may hold events written in Portuguese or German)."""
    import pycountry  # loaded only when a language is given: it is slow to import

    return pycountry.languages.get(alpha_2=code) is not None


def _lang_problems(code: str | None, field: str) -> list[tuple[str, str]]:
    if code is None or is_language(code):
        return []
    return [(field, f"{code!r} is not an ISO 639-1 language code: use one such as en, fr "
                    "or zh")]


def decode(raw: bytes) -> dict:
    """Bytes of a file (or an `add --json` body) as a JSON object, or Invalid."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Invalid([("", f"not UTF-8 text (byte {e.start}): save the file as UTF-8")]) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raise Invalid([("", "starts with a byte-order mark: save it as UTF-8 without BOM")])
    try:
        body = msgspec.json.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        if not raw.strip():
            raise Invalid([("", "empty: an event file holds one JSON object")]) from None
        raise Invalid([("", f"not valid JSON ({e}): fix the syntax")]) from None
    except RecursionError:  # msgspec stops at about 1,000 levels of nesting
        raise Invalid([("", _TOO_DEEP)]) from None
    if not isinstance(body, dict):  # named as JSON names it, not as Python does (NoneType)
        what = {list: "array", str: "string", int: "number", float: "number",
                bool: "boolean"}.get(type(body), "null")
        raise Invalid([("", f"a JSON {what} where an event object belongs")])
    # msgspec keeps the last of two equal keys silently; a file saying one thing twice is
    # refused instead. A file as cooplog writes it (the body encoded again, byte for byte)
    # has no repeated key. In any other, every key of the text ends in `":`, and so does each
    # key of the body encoded again (a string holding `":` counts alike on both sides): more
    # of them in the text means a repeated key. Only a file with `"` and `:` apart, or with
    # \u00XX escapes (which could spell either), needs the slow, exact check.
    if (raw != encode(body) and _maybe_repeated(raw, msgspec.json.encode(body))
            and (where := _repeated_key(raw))):
        raise Invalid([where])
    return body


_TOO_DEEP = "nested too deeply: an event is an object of fields, lists and small objects"
_SPACED_COLON = re.compile(rb'"[ \t\r\n]+:')


class _Repeated(dict):
    repeated: str


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            found = _Repeated(pairs)
            found.repeated = key
            return found
        seen.add(key)
    return dict(pairs)


def _repeated_key(raw: bytes) -> tuple[str, str] | None:
    """(field, problem) for the first key given twice in one object, if any."""
    import json

    try:
        body = json.loads(raw, object_pairs_hook=_pairs)
    except RecursionError:
        return "", _TOO_DEEP
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, _Repeated):
            field = ".".join(filter(None, [path, item.repeated]))
            return field, "given twice in one object: keep one of the two"
        if isinstance(item, dict):
            stack += [(".".join(filter(None, [path, k])), v) for k, v in item.items()]
        elif isinstance(item, list):
            stack += [(f"{path}[{i}]", v) for i, v in enumerate(item)]
    return None


_EVENT = msgspec.json.Decoder(Event)


def parse(raw: bytes) -> Event:
    """`validate(decode(raw))`, decoded straight from the bytes into an `Event` in one pass
    (a fifth of the cost: no dict of the whole body made first, then converted). Any file
    off that path (not an object of the right types, not schema 1, not UTF-8, a repeated key
    possible) takes the slow path, which names its problems exactly as `validate` does."""
    try:
        event = _EVENT.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return validate(decode(raw))
    if (event.schema != SCHEMA or raw.startswith(b"\xef\xbb\xbf") or not raw.isascii()
            and not _is_utf8(raw)
            or raw != encode(event) and _maybe_repeated(raw, msgspec.json.encode(event))):
        return validate(decode(raw))
    problems = _check(event)
    if problems:
        raise Invalid(problems)
    return event


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _maybe_repeated(raw: bytes, encoded: bytes) -> bool:
    """Whether a key may be given twice in one object of `raw`, whose body encodes as
    `encoded` (see `decode`: more keys in the text than in the body means a repeated one;
    an `Event` encoded leaves out fields given as their defaults, so errs towards yes)."""
    return bool(_SPACED_COLON.search(raw) or b"\\u00" in raw
                or raw.count(b'":') > encoded.count(b'":'))


def validate(body: dict) -> Event:
    """A whole event (as read from a file) checked against schema 1, or Invalid with every
    problem found. References to other events are not checked here: see `references`."""
    schema = body.get("schema")
    if type(schema) is int and schema > SCHEMA:
        raise Invalid([("schema", f"schema {schema} was written by a newer cooplog: upgrade")])
    if schema != SCHEMA or type(schema) is not int:
        raise Invalid([("schema", f"must be the integer {SCHEMA}, not {schema!r}")])
    try:
        event = msgspec.convert(body, Event)
    except msgspec.ValidationError as e:
        raise Invalid([_explain(e)]) from None
    problems = _check(event)
    if problems:
        raise Invalid(problems)
    return event


def _check(event: Event) -> list[tuple[str, str]]:
    spec = TYPES.get(event.type)
    if spec is None:
        return [("type", f"unknown type {event.type!r}; use one of: {', '.join(TYPES)}")]
    problems: list[tuple[str, str]] = []
    if (problem := instant_problem(event.recorded_at)) is not None:
        problems.append(("recorded_at", problem))
    if event.id[:10] > LAST_ULID_TIME:
        problems.append(("id", "its time is after the year 9999: not an id cooplog can file"))
    try:
        data = msgspec.convert(event.data, spec.data)
    except msgspec.ValidationError as e:
        problems.append(_explain(e, "data", spec.data))
        data = None
    if spec.dated:
        for field in ("occurred", "summary"):
            if getattr(event, field) is None:
                problems.append((field, f"missing: required for {event.type}"))
    if event.occurred is not None:
        try:
            dates.parse(event.occurred)
        except dates.DateError as e:
            problems.append(
                ("occurred", f"{e}: use EDTF level 0 such as 2009, 2009-03, 2009-03-23 "
                             "or 2009-03-23/2009-05-11")
            )
    for i, doc in enumerate(event.documents):
        if doc.symbol is None and doc.title is None and doc.url is None:
            problems.append((f"documents[{i}]", "give at least one of symbol, title, url"))
    problems += _lang_problems(event.lang, "lang")
    if data is not None:
        problems += _check_data(data, spec)
    return problems


_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")


def instant_problem(timestamp: str) -> str | None:
    """Why a timestamp that has the shape of RFC 3339 UTC is no real instant, or None: the
    pattern alone let `2026-13-45T99:99:99Z` in, and every feed then failed on it."""
    try:
        if not _INSTANT.fullmatch(timestamp[:19]):
            raise ValueError
        # the fields by position, not by strptime: it cost a quarter of checking a file
        datetime(int(timestamp[:4]), int(timestamp[5:7]), int(timestamp[8:10]),
                 int(timestamp[11:13]), int(timestamp[14:16]), int(timestamp[17:19]))
    except ValueError:
        return (f"{timestamp!r} is no real date and time: give a UTC instant such as "
                "2026-11-27T09:31:18Z")
    return None


def _check_data(data: Strict, spec: EventType) -> list[tuple[str, str]]:
    problems = [problem for path in spec.countries
                for problem in _country_problems(_codes(data, path), f"data.{path}")]
    if isinstance(data, OrganizationUpdated):
        changes = [f for f in data.__struct_fields__ if f != "key" and getattr(data, f)]
        if not changes:
            problems.append(("data", "say what changes: name, acronym, category, parent or url"))
    if isinstance(data, TranslationAdded):
        problems += _lang_problems(data.lang, "data.lang")
        if data.summary is None and data.title is None:
            problems.append(("data", "give the summary, the title or both in that language"))
    if isinstance(data, EventCorrected):
        problems += [(f"data.set.{name}", problem) for name in data.set
                     if (problem := settable_problem(name))]
    return problems


def _codes(data: Strict, path: str) -> list[str]:
    """The country codes at a dotted data path (one code or a list; none if absent)."""
    value: Any = data
    for name in path.split("."):
        value = getattr(value, name, None)
    return [value] if isinstance(value, str) else list(value or ())


def settable_problem(name: str) -> str | None:
    """Why a correction may not set this field, or None if it may."""
    if name in UNCORRECTABLE:
        return "cannot be corrected: record a new event instead"
    head, _, rest = name.partition(".")
    if head == "data" and rest and "." not in rest:
        return None
    if name in ENVELOPE_FIELDS and name != "data":
        return None
    return "not a field: use an envelope field (summary, occurred, orgs, …) or data.FIELD"


def org_references(event: Event) -> list[tuple[str, str]]:
    """(field, org key) for every organization the event names."""
    refs = [(f"orgs[{i}]", key) for i, key in enumerate(event.orgs)]
    for field in event.spec.org_refs:
        value = event.data.get(field)
        if isinstance(value, str):
            refs.append((f"data.{field}", value))
        elif isinstance(value, list):
            refs += [(f"data.{field}[{i}]", key) for i, key in enumerate(value)]
    return refs


def entity_references(event: Event) -> list[tuple[str, str, tuple[str, ...]]]:
    """(field, entity key, kinds it may be) for every agreement, submission… it names."""
    return [
        (f"data.{name}", event.data[name], kinds)
        for name, kinds in event.spec.entity_fields().items()
    ]


def created_key(event: Event) -> tuple[str, str] | None:
    """(namespace, key) this event creates: ("org", key) or ("entity", key)."""
    if event.spec.creates is None:
        return None
    return ("org" if event.spec.creates == "org" else "entity", event.data["key"])


def apply_corrections(body: dict, sets: list[dict]) -> dict:
    """The body with each correction's `set` applied in order (later wins)."""
    body = {**body, "data": dict(body.get("data", {}))}
    for changes in sets:
        for name, value in changes.items():
            head, _, rest = name.partition(".")
            if head == "data" and rest:
                if value is None:
                    body["data"].pop(rest, None)
                else:
                    body["data"][rest] = value
            elif value is None:
                body.pop(name, None)
            else:
                body[name] = value
    return body


def new_body(body: dict) -> dict:
    """An `add --json` / `import` body with the defaults filled in; refuses assigned fields."""
    given = [f for f in ASSIGNED if f in body]
    if given:
        raise Invalid([(f, "assigned by cooplog when it appends: remove it") for f in given])
    return {"schema": SCHEMA, "orgs": [], "data": {}, **body}


def encode(event: Event | dict) -> bytes:
    """The file's bytes: 2-space indented UTF-8 JSON, non-ASCII as itself, a final newline."""
    return msgspec.json.format(msgspec.json.encode(event), indent=2) + b"\n"


def to_dict(event: Event) -> dict:
    return msgspec.to_builtins(event)
