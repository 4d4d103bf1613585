"""DESIGN.md, projection rule 2 ("order does not matter"), as a property: any arrival order of
any small log, applied file by file (some files twice), ends in the same contract tables and
views as one full build; and removing files in any order ends where a build of what remains
does. Rule 4 as well: a retracted event of any type leaves every table but `events`."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strategies
from cooplog import dates, events, rules
from cooplog.projection import Projection
from cooplog.store import Store
from helpers import built, numbered_ulid
from test_projection import holding_event_ids, snapshot

# --- helpers ------------------------------------------------------------------------------

PREFIX = "01J0G00000"  # a ULID time in 2024-06: every file lands in events/2024/06/


def ulid(n: int) -> str:
    return numbered_ulid(n, PREFIX)


def body(event_id: str, type_: str, data: dict, **envelope) -> dict:
    spec = events.TYPES[type_]
    out = {"id": event_id, "type": type_, "schema": 1,
           "recorded_at": "2024-06-01T00:00:00Z", "recorded_by": "prop@example.org"}
    if spec.dated:
        out["occurred"] = envelope.pop("occurred", "2009")
        out["summary"] = envelope.pop("summary", f"{type_} {event_id[-4:]}")
    out.update({"orgs": [], **envelope, "data": data})
    return out


def scratch() -> tempfile.TemporaryDirectory:
    """A folder per example (pytest's tmp_path is one per test); in memory where the system
    has /dev/shm, since every applied file is a committed, fsynced transaction."""
    shm = Path("/dev/shm")
    return tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None)


def build(root: Path, db: Path) -> dict:
    return snapshot(built(root, db))


# --- strategies ------------------------------------------------------------------------------

ORGS = ["a", "b", "c", "d"]  # "d" is never registered by `org_registered`... unless corrected
REGISTRABLE = ["a", "b", "c"]
KEYS = ["k1", "k2"]
words = st.sampled_from(["alpha", "beta", "gamma", "海关 customs", "délai"])


@st.composite
def day_part(draw) -> str:
    year = draw(st.integers(2008, 2010))
    precision = draw(st.sampled_from(["y", "m", "d"]))
    if precision == "y":
        return f"{year}"
    month = draw(st.integers(1, 12))
    if precision == "m":
        return f"{year}-{month:02d}"
    return f"{year}-{month:02d}-{draw(st.integers(1, 28)):02d}"


@st.composite
def occurred(draw) -> str:
    first = draw(day_part())
    if draw(st.booleans()):
        return first
    second = draw(day_part())
    a, b = sorted([first, second], key=dates.parse)
    if dates.parse(b)[1] < dates.parse(a)[0]:
        return a
    try:
        dates.parse(f"{a}/{b}")
        return f"{a}/{b}"
    except dates.DateError:
        return a


org_list = st.lists(st.sampled_from(ORGS), max_size=2)
# What a correction or retraction aims at: mostly one of the few events just before it (so
# that retractions of corrections and of retractions are common), else any event of the log,
# later ones included, else an id no file has.
target = st.one_of(
    st.integers(1, 3).map(lambda back: ("back", back)),
    st.integers(1, 3).map(lambda back: ("back", back)),
    st.integers(0, 40).map(lambda index: ("any", index)),
    st.just(("missing", 0)),
)


def spec(data, **envelope):
    return st.tuples(data, st.fixed_dictionaries(envelope))


# Every type but those drawn apart below (statuses, corrections, retractions), by name.
ORDINARY = {
    "organization.registered": spec(st.fixed_dictionaries(
        {"key": st.sampled_from(REGISTRABLE), "name": words,
         "category": st.sampled_from(events.CATEGORIES)},
        optional={"parent": st.sampled_from(ORGS), "acronym": words})),
    "organization.updated": spec(st.fixed_dictionaries(
        {"key": st.sampled_from(REGISTRABLE)},
        optional={"name": words, "category": st.sampled_from(events.CATEGORIES)}).filter(
            lambda d: len(d) > 1)),
    "meeting.attended": spec(st.fixed_dictionaries(
        {"title": words, "role": st.sampled_from(events.MEETING_ROLES)},
        optional={"organizer": org_list, "online": st.booleans(),
                  "location": st.just({"city": "Geneva", "country": "CH"})}),
         occurred=occurred(), orgs=org_list,
         mandates=st.lists(st.sampled_from(["IX/11", "VIII/33"]))),
    "meeting.planned": spec(st.fixed_dictionaries(
        {"title": words, "role": st.sampled_from(events.MEETING_ROLES)}),
         occurred=occurred(), orgs=org_list),
    "agreement.signed": spec(st.fixed_dictionaries(
        {"key": st.sampled_from(KEYS), "kind": st.just("mou"), "title": words,
         "parties": st.lists(st.sampled_from(ORGS), min_size=1, max_size=2)}),
         occurred=occurred(), orgs=org_list),
    "agreement.revised": spec(st.fixed_dictionaries(
        {"agreement": st.sampled_from(KEYS), "change": words}), occurred=occurred()),
    "submission.made": spec(st.fixed_dictionaries(
        {"key": st.sampled_from(KEYS), "to": st.sampled_from(ORGS), "title": words},
        optional={"items": st.lists(words, max_size=2)}), occurred=occurred(), orgs=org_list),
    "request.made": spec(st.fixed_dictionaries(
        {"key": st.sampled_from(KEYS), "to": st.sampled_from(ORGS), "subject": words}),
         occurred=occurred()),
    "project.proposed": spec(st.fixed_dictionaries(
        {"key": st.sampled_from(KEYS), "title": words},
        optional={"funder": st.sampled_from(ORGS), "countries": st.just(["CN", "BR"])}),
         occurred=occurred()),
    "partnership.joined": spec(st.fixed_dictionaries(
        {"partnership": words, "role": st.sampled_from(events.PARTNERSHIP_ROLES)}),
         occurred=occurred(), orgs=org_list),
    "activity.noted": spec(st.just({}), occurred=occurred(), orgs=org_list),
}

# Statuses are drawn more often than the rest: the current one needs several per subject.
# All but the last two end on 2009-12-31 (ties, decided by the larger id).
statuses = spec(st.fixed_dictionaries(
    {"subject": st.sampled_from(KEYS),
     "status": st.sampled_from(["pending", "accepted", "rejected"])}),
    occurred=st.sampled_from(["2009", "2009-12", "2009-12-31", "2009-06/2009-12", "2010",
                              "2008-03"])).map(lambda drawn: ("status.changed", *drawn))

# Each type but corrections and retractions (drawn apart: they aim at other events), by name.
PLAIN = {**{type_: drawn.map(lambda t, type_=type_: (type_, *t))
            for type_, drawn in ORDINARY.items()},
         "status.changed": statuses}

corrections = st.one_of(
    st.fixed_dictionaries({"summary": words}),
    st.fixed_dictionaries({"occurred": occurred()}),
    st.fixed_dictionaries({"orgs": org_list}),
    st.fixed_dictionaries({"data.title": words}),
    st.fixed_dictionaries({"data.name": words}),
    st.fixed_dictionaries({"data.key": st.sampled_from(KEYS + ORGS)}),
    st.fixed_dictionaries({"data.subject": st.sampled_from(KEYS)}),
    st.fixed_dictionaries({"data.status": st.sampled_from(["accepted", "Not A Status"])}),
    st.fixed_dictionaries({"data.category": st.sampled_from(["un", "network"])}),
    st.fixed_dictionaries({"data.to": st.sampled_from(ORGS)}),
    st.fixed_dictionaries({"data.role": st.sampled_from(["host", "dancer"])}),
    st.fixed_dictionaries({"mandates": st.just(["IX/11"]), "occurred": st.just("2008")}),
    st.fixed_dictionaries({"data.lang": st.sampled_from(["fr", "zh", "xx"])}),
    st.fixed_dictionaries({"data.summary": st.one_of(words, st.none())}),
    st.fixed_dictionaries({"lang": st.sampled_from(["en", "zh", "qq"])}),
)

# Two languages only, so that one target often has two translations into one of them.
translations = st.fixed_dictionaries(
    {"lang": st.sampled_from(["fr", "zh"])}, optional={"summary": words, "title": words}
).filter(lambda d: len(d) > 1)

# One kind of entry, then its content: a flat one_of would draw each of its many branches
# alike (statuses and corrections would be rare), and favour the first ones.
KINDS = {
    "plain": st.one_of(*(PLAIN[type_] for type_ in ORDINARY)).map(lambda t: ("plain", t)),
    "status": statuses.map(lambda t: ("plain", t)),
    "corrected": st.tuples(target, corrections).map(lambda t: ("corrected", t)),
    "retracted": target.map(lambda t: ("retracted", t)),
    "translated": st.tuples(target, translations).map(lambda t: ("translated", t)),
}
entry = st.sampled_from(
    ["plain", "plain", "status", "corrected", "retracted", "translated"]).flatmap(
    KINDS.__getitem__)
# The types the logs hold: one of TYPES left out would go untested by every property here.
DRAWN = {*PLAIN, "event.corrected", "event.retracted", "translation.added"}


def materialize(entries: list) -> list[dict]:
    """Event bodies, ids in list order (the first is ulid(1)); ulid(1000) is missing."""
    bodies = []
    for i, (kind, what) in enumerate(entries):
        event_id = ulid(i + 1)
        if kind == "plain":
            type_, data, envelope = what
            bodies.append(body(event_id, type_, data, **envelope))
            continue
        how, n = what[0] if kind in ("corrected", "translated") else what
        if how == "back":
            aimed = ulid(i + 1 - n) if i >= n else ulid(1000)
        else:
            aimed = ulid(n % len(entries) + 1) if how == "any" else ulid(1000)
        if aimed == event_id:  # an event that names itself: aim at the one before instead
            aimed = ulid(i) if i else ulid(1000)
        if kind == "translated":
            bodies.append(body(event_id, "translation.added", {"target": aimed, **what[1]}))
            continue
        if kind == "corrected":
            data = {"target": aimed, "set": what[1], "reason": "fix"}
        else:
            data = {"target": aimed, "reason": "wrong"}
        bodies.append(body(event_id, f"event.{kind}", data))
    return bodies


@st.composite
def logs(draw):
    entries = draw(st.lists(entry, min_size=5, max_size=16))
    bodies = materialize(entries)
    extras = draw(st.lists(st.sampled_from(["duplicate", "misnamed", "broken"]), unique=True))
    return bodies, extras


def write(root: Path, bodies: list[dict], extras: list[str]) -> list[Path]:
    store = Store(root)
    store.events_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for b in bodies:
        path = store.path_for(b["id"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(events.encode(b))
        paths.append(path)
    for extra in extras:
        first = bodies[0]
        if extra == "duplicate":  # the same id again, in another month's folder
            path = root / "events" / "2024" / "05" / f"{first['id']}.json"
            content = events.encode({**first, "summary": "the same id twice"})
        elif extra == "misnamed":
            path = root / "events" / "2024" / "06" / f"{ulid(2000)}.json"
            content = events.encode(first)
        else:
            path = root / "events" / "2024" / "06" / f"{ulid(3000)}.json"
            content = b'{"id": "' + ulid(3000).encode() + b'", "type": '
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        paths.append(path)
    return paths


# COOPLOG_EXAMPLES=2000 for a deeper search than the suite's few seconds allow.
PROPERTY = settings(max_examples=int(os.environ.get("COOPLOG_EXAMPLES", "40")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.slow  # many random logs, each built more than once
@PROPERTY
@given(log=logs(), data=st.data())
def test_any_arrival_order_ends_where_a_full_build_does(log, data):
    bodies, extras = log
    with scratch() as tmp:
        tmp = Path(tmp)
        root = tmp / "log"
        paths = write(root, bodies, extras)
        expected = build(root, tmp / "full.db")
        assert expected["events"], "the log has events"
        assert retracted_left(tmp / "full.db") == {}

        order = data.draw(st.permutations(paths), label="arrival order")
        again = data.draw(st.lists(st.sampled_from(paths), max_size=4), label="applied twice")
        projection = Projection(Store(root), tmp / "incremental.db")
        try:
            for path in order:
                assert projection.apply(path) is True
                if path in again:
                    assert projection.apply(path) is False
        finally:
            projection.close()
        assert snapshot(tmp / "incremental.db") == expected
        assert problems_of(expected) == validated(root, tmp / "full.db")


def retracted_left(db: Path) -> dict[str, list[tuple]]:
    """Rows that retracted events still have outside `events`, by table: DESIGN.md rule 4
    wants none. Comparing an incremental build with a full one misses rows both keep."""
    conn = sqlite3.connect(db)
    try:
        left = {name: conn.execute(
            f"select event_id from [{name}] where event_id in "
            "(select id from events where retracted = 1)").fetchall()
            for name in holding_event_ids(conn)}
    finally:
        conn.close()
    return {name: rows for name, rows in left.items() if rows}


# What a drawn event may name: organizations a, b and c; the agreement k1 and the request k2.
SETTING = [
    *(("organization.registered", {"key": key, "name": key.upper(), "category": "un"}, {})
      for key in REGISTRABLE),
    ("agreement.signed", {"key": "k1", "kind": "mou", "title": "MoU", "parties": ["a"]}, {}),
    ("request.made", {"key": "k2", "to": "b", "subject": "Observer status"}, {}),
]


@pytest.mark.parametrize("type_", sorted(PLAIN))
@settings(PROPERTY, max_examples=3)  # a few per type: the random logs above draw many more
@given(data=st.data())
def test_a_retracted_event_of_any_type_leaves_every_table_but_events(type_, data):
    """Rule 4 for each type in turn, in a full build and with the retraction arriving last,
    so that no type depends on a random log happening to retract one of its events."""
    drawn_type, drawn_data, envelope = data.draw(PLAIN[type_], label=type_)
    bodies = [body(ulid(1), drawn_type, drawn_data, **envelope),  # first: it wins its key
              *(body(ulid(2 + i), t, d, **e) for i, (t, d, e) in enumerate(SETTING)),
              body(ulid(99), "event.retracted", {"target": ulid(1), "reason": "No."})]
    with scratch() as tmp:
        tmp = Path(tmp)
        root = tmp / "log"
        paths = write(root, bodies, [])
        built(root, tmp / "full.db")
        projection = Projection(Store(root), tmp / "incremental.db")
        try:
            for path in paths:
                projection.apply(path)
            flagged = projection.conn.execute(
                "select retracted from events where id = ?", [ulid(1)]).fetchall()
        finally:
            projection.close()
        assert flagged == [(1,)]
        assert retracted_left(tmp / "full.db") == {}
        assert retracted_left(tmp / "incremental.db") == {}


def problems_of(snap: dict) -> list[tuple]:
    return sorted((path, field, message) for path, field, message, _ in snap["problems"])


def validated(root: Path, db: Path) -> list[tuple]:
    """What `cooplog validate` lists: the same problems as the projection."""
    return sorted((p.path, p.field, p.message) for p in rules.check_log(Store(root)))


@pytest.mark.slow  # many random logs, each built more than once
@PROPERTY
@given(log=logs(), data=st.data())
def test_removing_files_in_any_order_ends_where_a_build_of_the_rest_does(log, data):
    bodies, extras = log
    with scratch() as tmp:
        tmp = Path(tmp)
        root = tmp / "log"
        paths = write(root, bodies, extras)
        projection = Projection(Store(root), tmp / "incremental.db")
        try:
            projection.build()
            gone = data.draw(st.lists(st.sampled_from(paths), unique=True), label="removed")
            for path in gone:
                path.unlink()
                assert projection.forget(Store(root).relpath(path)) is True
                assert projection.forget(Store(root).relpath(path)) is False
        finally:
            projection.close()
        assert snapshot(tmp / "incremental.db") == build(root, tmp / "rest.db")


STATUS_WORDS = ["pending", "accepted", "rejected", "deferred", "granted", "withdrawn"]
status_dates = st.sampled_from(["2009", "2009-12", "2009-12-31", "2009-06/2009-12", "2009-02",
                                "2009-02-28", "2010-01", "2008-11-30/2009-02-28"])


@pytest.mark.slow  # many random logs, each built more than once
@PROPERTY
@given(when=st.lists(status_dates, min_size=1, max_size=6), data=st.data())
def test_the_current_status_is_the_latest_occurred_end_in_any_arrival_order(when, data):
    """Not the last one applied: the one whose `occurred` ends last, ties to the larger id."""
    bodies = [
        body(ulid(1), "organization.registered", {"key": "a", "name": "A", "category": "un"}),
        body(ulid(2), "agreement.signed", {"key": "k", "kind": "mou", "title": "MoU",
                                           "parties": ["a"]}, occurred="2008"),
        *(body(ulid(10 + i), "status.changed", {"subject": "k", "status": STATUS_WORDS[i]},
               occurred=occurred_)
          for i, occurred_ in enumerate(when)),
    ]
    latest = max(bodies[2:], key=lambda b: (dates.parse(b["occurred"])[1], b["id"]))
    with scratch() as tmp:
        tmp = Path(tmp)
        root = tmp / "log"
        paths = write(root, bodies, [])
        projection = Projection(Store(root), tmp / "incremental.db")
        try:
            for path in data.draw(st.permutations(paths), label="arrival order"):
                projection.apply(path)
            current = projection.conn.execute(
                "select status, status_since from agreements where key = 'k'").fetchall()
        finally:
            projection.close()
        assert current == [(latest["data"]["status"], latest["occurred"])]
        assert snapshot(tmp / "incremental.db") == build(root, tmp / "full.db")


@pytest.mark.slow
def test_a_build_read_by_other_processes_equals_one_read_here(tmp_path, monkeypatch):
    """A large log is read by forked processes in chunks; what they send back must make the
    same database as reading every file in the building process, bad files included."""
    # the test of a large log's reading processes killed with the build is in
    # tests/reliability/test_crash_projection.py
    import shutil

    from cooplog import projection

    repo = Path(__file__).resolve().parents[1]
    root = tmp_path / "log"
    shutil.copytree(repo / "events", root / "events")
    shipped = sum(1 for _ in (repo / "events").rglob("*.json"))  # the sample log grows
    month = root / "events" / "2009" / "01"
    month.mkdir(parents=True, exist_ok=True)
    (month / "broken.json").write_text('{"id": ')
    (month / "wrong-name.json").write_bytes(next((repo / "events").rglob("*.json")).read_bytes())
    (month / "big.json").write_bytes(b" " * 1_000_001)
    monkeypatch.setattr(projection, "CHUNK", 7)  # many chunks, more than are in flight
    here, there = Projection(Store(root), tmp_path / "here.db"), None
    try:
        monkeypatch.setattr(projection, "_readers", lambda files: 1)
        assert here.build()["readers"] == 1
        # (a thread another test left running would make `_readers` say 1 here)
        monkeypatch.setattr(projection, "_readers", lambda files: 2)
        there = Projection(Store(root), tmp_path / "there.db")
        assert there.build() == {"files": shipped + 3, "readers": 2}
    finally:
        here.close()
        if there:
            there.close()
    assert snapshot(tmp_path / "there.db") == snapshot(tmp_path / "here.db")
    problems = sqlite3.connect(tmp_path / "there.db").execute(
        "select path, field from problems order by path").fetchall()
    assert problems == [("events/2009/01/big.json", ""), ("events/2009/01/broken.json", ""),
                        ("events/2009/01/wrong-name.json", "id")]


def test_the_logs_draw_every_type():
    """A type added to TYPES without a strategy here would pass every property untested."""
    missing = sorted(set(events.TYPES) - DRAWN)
    assert not missing, f"no strategy in ORDINARY draws {', '.join(missing)}: add one"


def test_the_shared_strategies_draw_every_type():
    """`strategies.bodies` (add, store and event properties) draws from every type."""
    drawn = strategies.data_strategies(org=strategies.keys, new_key=strategies.keys,
                                       entity=lambda kinds: strategies.keys)
    missing = sorted(set(events.TYPES) - set(drawn))
    assert not missing, f"no strategy in tests/strategies.py draws {', '.join(missing)}: add one"
