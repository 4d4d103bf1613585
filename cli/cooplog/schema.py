"""The read side's shape, declared once and applied idempotently: tables, indexes, views and
the full-text index. Column names are part of the contract (DESIGN.md); columns whose
names start with `_` are bookkeeping."""

from __future__ import annotations

import sqlite_utils

# Tables the projection owns: name -> (columns, primary key, foreign keys).
TABLES: dict[str, tuple[dict, object, list]] = {
    "events": (
        {
            "id": str, "type": str, "occurred": str, "occurred_start": str,
            "occurred_end": str, "year": int, "summary": str, "title": str, "orgs": str,
            "mandates": str, "documents": str, "source": str, "data": str,
            "recorded_at": str, "recorded_by": str, "path": str, "target": str,
            "retracted": int, "retracted_by": str, "corrected": int, "corrected_by": str,
            "original": str, "commit_sha": str,
        },
        "id", [],
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
            "country": str, "online": int, "organizer": str, "occurred": str,
            "occurred_start": str, "occurred_end": str, "year": int,
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
    "_keys": (
        {"namespace": str, "key": str, "kind": str, "role": str, "event_id": str},
        ("namespace", "key", "event_id"), [],
    ),
    "_refs": (
        {"event_id": str, "field": str, "namespace": str, "key": str, "kinds": str},
        ("event_id", "field"), [],
    ),
    "_correction_problems": (
        {"target": str, "correction": str, "message": str}, ("target", "correction"), [],
    ),
    "_state": ({"name": str, "value": str}, "name", []),
}

ENTITY_TABLES = {
    "agreement": "agreements", "submission": "submissions", "request": "requests",
    "project": "projects",
}

INDEXES = [
    ("events", ["type"]), ("events", ["occurred_start"]), ("events", ["year"]),
    ("events", ["target"]), ("events", ["path"]), ("events", ["recorded_at"]),
    ("event_orgs", ["org_key"]), ("meetings", ["year"]), ("meetings", ["country"]),
    ("statuses", ["subject"]), ("statuses", ["status"]), ("organizations", ["category"]),
    ("agreements", ["status"]), ("submissions", ["status"]), ("requests", ["status"]),
    ("projects", ["status"]), ("mandates", ["mandate"]), ("revisions", ["agreement"]),
    ("_files", ["event_id"]), ("_keys", ["key"]), ("_keys", ["event_id"]),
    ("_refs", ["key"]), ("_correction_problems", ["correction"]),
]

_FILE_OF = "(select path from events where id = {})"

VIEWS = {
    # Every problem in the log: bad files, duplicate ids and keys, references that do not
    # resolve (yet), corrections that would break their target.
    "problems": f"""
select path, field, message, null as event_id from _file_problems
union all
select f.path, 'id', 'duplicate: ' || w.path || ' has this id', f.event_id
  from _files f join events w on w.id = f.event_id
 where f.event_id is not null and f.path != w.path
union all
select {_FILE_OF.format('k.event_id')}, 'data.key',
       'the key ''' || k.key || ''' was already created by ' || first.event_id
       || ': choose another key', k.event_id
  from _keys k
  join (select namespace, key, min(event_id) as event_id from _keys where role = 'create'
        group by namespace, key) first
    on first.namespace = k.namespace and first.key = k.key
 where k.role = 'create' and k.event_id != first.event_id
union all
select {_FILE_OF.format('r.event_id')}, r.field,
       case r.namespace
         when 'org' then 'unknown organization ''' || r.key || ''': register it with '
              || '`cooplog add organization --key ' || r.key || ' ...` or fix the key'
         when 'event' then 'no event has the id ' || r.key
         else 'no ' || replace(r.kinds, ',', ' or ') || ' has the key ''' || r.key
              || ''': record it first or fix the key'
       end, r.event_id
  from _refs r
 where case r.namespace
         when 'event' then not exists (select 1 from events e where e.id = r.key)
         else not exists (select 1 from _keys k where k.namespace = r.namespace
                          and k.key = r.key and k.role = 'create'
                          and instr(',' || r.kinds || ',', ',' || k.kind || ','))
       end
union all
select {_FILE_OF.format('c.correction')}, 'data.set', c.message, c.correction
  from _correction_problems c
""",
    # The record as people read it: one row per current event and organization involved.
    "timeline": """
select e.occurred_start, e.occurred_end, e.occurred, e.type, e.summary, e.title,
       eo.org_key, o.name as org_name, o.acronym as org_acronym, o.category, e.id as event_id
  from events e
  left join event_orgs eo on eo.event_id = e.id
  left join organizations o on o.key = eo.org_key
 where e.retracted = 0 and e.type not like 'event.%' and e.type not like 'organization.%'
""",
    "open_items": """
select 'request' as kind, key, subject as title, to_org, status, status_since, event_id
  from requests where status is null or status in ('pending', 'under-consideration', 'deferred')
union all
select 'submission', key, title, to_org, status, status_since, event_id
  from submissions where status is null or status in ('pending', 'under-consideration', 'deferred')
""",
}

FTS_COLUMNS = ["summary", "title"]


def ensure_shape(db: sqlite_utils.Database) -> None:
    """Create whatever of the shape is missing; running it again changes nothing."""
    db.execute("pragma journal_mode = wal")
    created = []
    for name, (columns, pk, fks) in TABLES.items():
        table = db.table(name)
        if not table.exists():
            table.create(columns, pk=pk, not_null=_not_null(pk))
            created += [(name, *fk) for fk in fks]
    if created:  # after all tables exist, since some refer to each other
        db.add_foreign_keys(created)
    for table, columns in INDEXES:
        db.table(table).create_index(columns, if_not_exists=True)
    for name, sql in VIEWS.items():
        db.create_view(name, sql.strip(), replace=True)
    if not db.table("events").detect_fts():
        db.table("events").enable_fts(FTS_COLUMNS, tokenize="trigram", create_triggers=True)


def _not_null(pk) -> set[str]:
    return {pk} if isinstance(pk, str) else set(pk)
