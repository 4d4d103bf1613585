"""The read side's shape, declared once and applied idempotently: tables, indexes, views and
the full-text index. Column names are part of the contract (DESIGN.md); columns whose
names start with `_` are bookkeeping."""

from __future__ import annotations

import hashlib

import sqlite_utils

from .database import APPLICATION_ID
from .events import AMENDING, ORGANIZATION_TYPES
from .rules import sql_message

# Tables the projection owns: name -> (columns, primary key, foreign keys).
TABLES: dict[str, tuple[dict, object, list]] = {
    "events": (
        {
            "id": str, "type": str, "occurred": str, "occurred_start": str,
            "occurred_end": str, "year": int, "summary": str, "title": str, "orgs": str,
            "mandates": str, "documents": str, "source": str, "data": str,
            "recorded_at": str, "recorded_by": str, "path": str, "target": str,
            "retracted": int, "retracted_by": str, "corrected": int, "corrected_by": str,
            "original": str, "commit_sha": str, "lang": str,
        },
        "id", [("commit_sha", "commits", "sha")],
    ),
    "organizations": (
        {
            "key": str, "name": str, "acronym": str, "category": str, "group_order": int,
            "parent": str, "url": str, "registered_by": str, "first_activity": str,
            "last_activity": str, "activity_count": int,
        },
        "key", [("parent", "organizations", "key"), ("registered_by", "events", "id")],
    ),
    "event_orgs": (
        {"event_id": str, "org_key": str},
        ("event_id", "org_key"),
        [("event_id", "events", "id"), ("org_key", "organizations", "key")],
    ),
    "meetings": (
        {
            "event_id": str, "title": str, "role": str, "planned": int, "city": str,
            "country": str, "country_name": str, "online": int, "organizer": str, "occurred": str,
            "occurred_start": str, "occurred_end": str, "year": int,
            "latitude": float, "longitude": float,
        },
        "event_id", [("event_id", "events", "id")],
    ),
    "statuses": (
        {
            "event_id": str, "subject": str, "status": str, "note": str, "occurred": str,
            "occurred_start": str, "occurred_end": str,
        },
        "event_id", [("event_id", "events", "id")],
    ),
    "partnerships": (
        {"event_id": str, "partnership": str, "role": str, "occurred": str, "year": int},
        "event_id", [("event_id", "events", "id")],
    ),
    "revisions": (
        {"event_id": str, "agreement": str, "change": str, "occurred": str,
         "occurred_end": str},
        "event_id", [("event_id", "events", "id"), ("agreement", "agreements", "key")],
    ),
    # Each current translation.added: an event's summary and/or title in `lang`. Where one
    # target has several in one language, `current_translations` keeps the larger id.
    "translations": (
        {"event_id": str, "target": str, "lang": str, "summary": str, "title": str},
        "event_id", [("event_id", "events", "id")],
    ),
    "mandates": (
        {"event_id": str, "mandate": str},
        ("event_id", "mandate"), [("event_id", "events", "id")],
    ),
    "agreements": (
        {
            "key": str, "event_id": str, "kind": str, "title": str, "parties": str,
            "occurred": str, "year": int, "revisions": int, "last_revised": str,
            "status": str, "status_since": str,
        },
        "key", [("event_id", "events", "id")],
    ),
    "submissions": (
        {
            "key": str, "event_id": str, "to_org": str, "body": str, "title": str,
            "items": str, "occurred": str, "year": int, "status": str, "status_since": str,
        },
        "key", [("event_id", "events", "id"), ("to_org", "organizations", "key")],
    ),
    "requests": (
        {
            "key": str, "event_id": str, "to_org": str, "subject": str, "occurred": str,
            "year": int, "status": str, "status_since": str,
        },
        "key", [("event_id", "events", "id"), ("to_org", "organizations", "key")],
    ),
    "projects": (
        {
            "key": str, "event_id": str, "title": str, "funder": str, "countries": str,
            "occurred": str, "year": int, "status": str, "status_since": str,
        },
        "key", [("event_id", "events", "id"), ("funder", "organizations", "key")],
    ),
    # Who recorded what, from git: the commits that added event files (empty when the log is
    # not a git repository); `events.commit_sha` names the one that added each file.
    "commits": (
        {"sha": str, "author": str, "email": str, "committed_at": str, "message": str},
        "sha", [],
    ),
    "_added": ({"path": str, "sha": str}, "path", []),
    # Bookkeeping: which file state has been applied (the tracking record), what each
    # current event creates and names, and per-file problems.
    "_files": (
        {"path": str, "size": int, "mtime_ns": int, "sha256": str, "event_id": str,
         "_applied_at": str},
        "path", [],
    ),
    "_file_problems": (
        {"path": str, "field": str, "message": str}, ("path", "field", "message"), [],
    ),
    # Files that are not valid events but name an id: whether one is a duplicate or only
    # misplaced depends on whether a file sits where that id belongs (Store.read).
    "_claims": ({"path": str, "event_id": str}, "path", []),
    "_keys": (
        {"namespace": str, "key": str, "kind": str, "role": str, "event_id": str},
        ("namespace", "key", "event_id"), [],
    ),
    "_refs": (
        {"event_id": str, "field": str, "namespace": str, "key": str, "kinds": str,
         "_resolved": int},
        ("event_id", "field"), [],
    ),
    # Committed event files changed or deleted in the working tree (from git status): the
    # tables follow the files as they are, and `problems` says the log was tampered with.
    "_breaches": ({"path": str, "message": str}, "path", []),
    "_correction_problems": (
        {"target": str, "correction": str, "message": str}, ("target", "correction"), [],
    ),
    "_state": ({"name": str, "value": str}, "name", []),
    # Change capture: the key of each contract table row inserted, updated or deleted, in
    # the order written, for the site to copy only what changed (site.refresh). A build
    # starts the record afresh under a new `_state` CHANGES_EPOCH; the oldest entries are
    # pruned, and a reader that far behind finds a gap and copies everything.
    "_changes": ({"seq": int, "table_name": str, "key": str, "second_key": str}, "seq", []),
}

CHANGES_EPOCH = "changes_epoch"
CHANGES_KEPT = 50_000  # entries of `_changes` kept, pruned CHANGES_PRUNE_EVERY at a time
CHANGES_PRUNE_EVERY = 1000


def contract_tables() -> list[str]:
    """The tables of the contract (DESIGN.md), which the site copies: not bookkeeping."""
    return [name for name in TABLES if not name.startswith("_")]


def _recording(table: str, row: str, where: str = "") -> str:
    """The statement recording the key of `row` (new or old) of `table` in `_changes`."""
    pk = TABLES[table][1]
    first, second = (pk, None) if isinstance(pk, str) else pk
    return (f"insert into _changes (table_name, key, second_key) select '{table}', "
            f"{row}.[{first}], {f'{row}.[{second}]' if second else 'null'}{where};")


def change_triggers() -> dict[str, str]:
    """Name -> SQL of the triggers recording each change of a contract table's rows in
    `_changes` by key, and of the one that prunes the record."""
    triggers = {}
    for table in contract_tables():
        pk = TABLES[table][1]
        moved = " where " + " or ".join(f"new.[{c}] is not old.[{c}]"
                                        for c in ((pk,) if isinstance(pk, str) else pk))
        for when, body in (("insert", _recording(table, "new")),
                           ("delete", _recording(table, "old")),
                           ("update", _recording(table, "old") + " "
                            + _recording(table, "new", moved))):
            name = f"_changes_{table}_{when}"
            triggers[name] = (f"create trigger if not exists [{name}] after {when} on [{table}] "
                              f"begin {body} end")
    triggers["_changes_pruned"] = (
        "create trigger if not exists _changes_pruned after insert on _changes "
        f"when new.seq % {CHANGES_PRUNE_EVERY} = 0 "
        f"begin delete from _changes where seq <= new.seq - {CHANGES_KEPT}; end")
    return triggers


# Default facets (type and year on events, year on meetings) and group-bys scan covering
# indexes instead of the wide rows. No index leads with `retracted` (so it is no default
# facet: counting it sorts every row): without statistics SQLite would take such an index
# for `retracted = 0`, which nearly every row matches.
INDEXES = [
    ("events", ["type", "retracted"]), ("events", ["occurred_start"]), ("events", ["year"]),
    # a target's corrections or retractions: both columns, so that no plan prefers the
    # index on type (whichever was created last wins a tie between one-column matches)
    ("events", ["target", "type"]), ("events", ["path"]), ("events", ["recorded_at"]),
    ("event_orgs", ["org_key"]), ("meetings", ["year", "country", "city", "title"]),
    ("meetings", ["country"]),
    ("statuses", ["subject"]), ("statuses", ["status"]), ("organizations", ["category"]),
    ("agreements", ["status"]), ("submissions", ["status"]), ("requests", ["status"]),
    ("projects", ["status"]), ("mandates", ["mandate"]), ("revisions", ["agreement"]),
    ("translations", ["target", "lang", "event_id"]),
    ("events", ["commit_sha"]), ("commits", ["committed_at"]), ("_files", ["event_id"]),
    ("_keys", ["key"]), ("_keys", ["event_id"]),
    ("_keys", ["role", "namespace", "key", "event_id"]),  # keys created twice (problems)
    ("_refs", ["key"]), ("_refs", ["_resolved"]), ("_correction_problems", ["correction"]),
    ("_claims", ["event_id"]),
    # periods (activities_in_period, the report): both ends of a date in one index
    ("events", ["occurred_end", "occurred_start"]),
    # meetings latest first (the meetings table's sort, the calendar query and feed): read
    # in order and stopped at the page or the row limit, instead of sorting every meeting
    ("meetings", ["occurred_start", "event_id"]),
    # a type picked from the events facet (`?type=…`): its page read in date order and its
    # year facet counted from the index, instead of sorting and reading every row of a type
    ("events", ["type", "occurred_start", "year"]),
]

_FILE_OF = "(select path from events where id = {})"
_FIRST_CREATOR = """(select min(w.event_id) from _keys w where w.namespace = k.namespace
           and w.key = k.key and w.role = 'create')"""


def sql_list(names: tuple[str, ...]) -> str:
    """Names as an SQL list: 'a', 'b'."""
    return ", ".join(f"'{name}'" for name in names)

# Each key's first creator (the smaller id wins): the one a reference must name the kind of.
FIRST_CREATORS = """select k.namespace, k.key, k.kind from _keys k
 where k.role = 'create'
   and k.event_id = (select min(w.event_id) from _keys w
                     where w.namespace = k.namespace and w.key = k.key and w.role = 'create')"""


# Whether a `_refs` row resolves, kept in `_refs._resolved` so that `problems` lists the
# unresolved ones through an index instead of testing every reference of the log. The
# projection sets it wherever a reference, an event row or a key's creators change.
def ref_resolved(creators: str = f"({FIRST_CREATORS})") -> str:
    """`creators`: where the keys' first creators are found — the query itself, for the few
    rows a change touches, or a table of them made once, where a build resolves every row."""
    return f"""case _refs.namespace
  when 'event' then exists (select 1 from events e where e.id = _refs.key)
  else exists (select 1 from {creators} f where f.namespace = _refs.namespace
               and f.key = _refs.key and instr(',' || _refs.kinds || ',', ',' || f.kind || ','))
end"""

VIEWS = {
    # Every problem in the log: bad files (a duplicate id among them: a valid event sits
    # only where its id belongs, so a second file with that id is a bad file), duplicate
    # keys, references that do not resolve (yet), corrections that would break their target.
    "problems": f"""
select path, field, message, null as event_id from _file_problems
union all
select {_FILE_OF.format('k.event_id')}, 'data.key',
       {sql_message("taken", key="k.key", first=_FIRST_CREATOR)}, k.event_id
  from _keys k
 where k.role = 'create'
   and exists (select 1 from _keys w where w.namespace = k.namespace and w.key = k.key
               and w.role = 'create' and w.event_id < k.event_id)
union all
select {_FILE_OF.format('r.event_id')}, r.field,
       case r.namespace
         when 'org' then {sql_message("unknown_org", key="r.key")}
         when 'event' then {sql_message("unknown_event", key="r.key")}
         else {sql_message("unknown_entity", kinds="replace(r.kinds, ',', ' or ')",
                           key="r.key")}
       end, r.event_id
  from _refs r
 where r._resolved = 0
union all
select {_FILE_OF.format('c.correction')}, 'data.set', c.message, c.correction
  from _correction_problems c
union all
select path, 'file', message, null from _breaches
""",
    # The record as people read it: one row per current event and organization involved.
    "timeline": f"""
select e.occurred_start, e.occurred_end, e.occurred, e.type, e.summary, e.title,
       eo.org_key, o.name as org_name, o.acronym as org_acronym, o.category, e.id as event_id
  from events e
  left join event_orgs eo on eo.event_id = e.id
  left join organizations o on o.key = eo.org_key
 where e.retracted = 0 and e.type not in ({sql_list(AMENDING + ORGANIZATION_TYPES)})
""",
    "open_items": """
select 'request' as kind, key, subject as title, to_org, status, status_since, event_id
  from requests where status is null or status in ('pending', 'under-consideration', 'deferred')
union all
select 'submission', key, title, to_org, status, status_since, event_id
  from submissions where status is null or status in ('pending', 'under-consideration', 'deferred')
""",
    # The translation in force for each event and language: the larger id wins.
    "current_translations": """
select t.event_id, t.target, t.lang, t.summary, t.title
  from translations t
 where not exists (select 1 from translations u
                    where u.target = t.target and u.lang = t.lang and u.event_id > t.event_id)
""",
    # Meetings the map cannot show, and why: no place recorded, or one the gazetteer lacks
    # (places.py never guesses).
    "unplaced_meetings": """
select event_id, title, occurred, city, country, online,
       case when city is null and online = 1 then 'online'
            when city is null and country is null then 'no place recorded'
            when city is null then 'no city recorded, only the country'
            when country is null then 'no country recorded'
            else 'no place named ' || city || ' in ' || country || ' in the gazetteer'
       end as why
  from meetings where latitude is null
""",
    # Meetings as calendar_export turns them into iCalendar events: `updated` (DTSTAMP) is
    # when the record last changed, its latest applied correction included.
    "calendar": """
select m.event_id, m.title, m.occurred, m.occurred_start, m.occurred_end, m.planned, m.role,
       m.city, m.country, m.latitude, m.longitude, e.summary,
       max(e.recorded_at, coalesce((select max(c.recorded_at) from json_each(e.corrected_by) j
                                    join events c on c.id = j.value), '')) as updated
  from meetings m join events e on e.id = m.event_id
""",
}

# The few retracted events (organization_history looks among them), through an index that
# `retracted = 0` cannot use.
PARTIAL_INDEXES = [
    "create index if not exists idx_events_retracted_1 on events (id) where retracted = 1",
    # the few dated events recorded with no organization: the report's "Other activities"
    "create index if not exists idx_events_without_orgs on events (occurred_end, "
    "occurred_start) where orgs is null and occurred is not null",
]

FTS_COLUMNS = ["summary", "title"]
# Tables with a trigram full-text index of FTS_COLUMNS (`<table>_fts`): search finds an
# event by its own words or by those of any of its current translations.
FTS_TABLES = ("events", "translations")


def _fingerprint() -> int:
    """A number that changes whenever the declared shape does (kept in user_version)."""
    shape = repr((TABLES, INDEXES, PARTIAL_INDEXES, VIEWS, FTS_COLUMNS, FTS_TABLES,
                  change_triggers())).encode()
    return int.from_bytes(hashlib.sha256(shape).digest()[:4], "big") >> 1 or 1


def ensure_shape(db: sqlite_utils.Database) -> None:
    """Create whatever of the shape is missing; running it again changes nothing. A
    database of another shape (made by another cooplog version) is emptied first: it is
    derived, and the next catch-up rebuilds it from the files. Only for a database
    `database.claim` found to be cooplog's."""
    if db.execute("pragma application_id").fetchone()[0] != APPLICATION_ID:
        # before the write-ahead log: a new file's header carries the mark at once (and an
        # older cooplog's database, in WAL mode already, gets it at the checkpoint)
        db.execute(f"pragma application_id = {APPLICATION_ID}")
        db.execute("pragma wal_checkpoint")
    db.execute("pragma journal_mode = wal")
    fingerprint = _fingerprint()
    if db.execute("pragma user_version").fetchone()[0] != fingerprint:
        with db.conn:
            for view in db.view_names():
                db.execute(f"drop view [{view}]")
            for table in db.table_names(fts5=True):
                db.execute(f"drop table if exists [{table}]")
            for table in db.table_names():
                db.execute(f"drop table if exists [{table}]")
            db.execute(f"pragma user_version = {fingerprint}")
    # Foreign keys are declared as each table is created, referred-to tables first: adding
    # them afterwards (db.add_foreign_keys) rebuilds every table, ten times slower.
    missing = [name for name in TABLES if not db.table(name).exists()]
    while missing:
        ready = [name for name in missing
                 if not any(other in missing and other != name for _, other, _ in TABLES[name][2])]
        if not ready:
            raise RuntimeError(f"foreign keys refer to each other in a cycle: {missing}")
        for name in ready:
            columns, pk, fks = TABLES[name]
            db.table(name).create(columns, pk=pk, not_null=_not_null(pk), foreign_keys=fks)
        missing = [name for name in missing if name not in ready]
    for table, columns in INDEXES:
        db.table(table).create_index(columns, if_not_exists=True)
    for sql in PARTIAL_INDEXES:
        db.execute(sql)
    for name, sql in VIEWS.items():
        db.create_view(name, sql.strip(), replace=True)
    for table in FTS_TABLES:
        if not db.table(table).detect_fts():
            db.table(table).enable_fts(FTS_COLUMNS, tokenize="trigram", create_triggers=True)
    for sql in change_triggers().values():
        db.execute(sql)
    if not db.execute("select 1 from _state where name = ?", [CHANGES_EPOCH]).fetchone():
        # the record starts with the tables (empty, or just made): every change from here on
        # is in it
        with db.conn:
            new_change_epoch(db.conn)


def new_change_epoch(conn) -> None:
    """Start the change record afresh: a place in the one before means nothing in it."""
    conn.execute("insert or replace into _state (name, value) values "
                 "(?, lower(hex(randomblob(16))))", [CHANGES_EPOCH])


def _not_null(pk) -> set[str]:
    return {pk} if isinstance(pk, str) else set(pk)
