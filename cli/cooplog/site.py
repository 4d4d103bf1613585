"""The site database: several logs' projections in one SQLite file, as the site serves them.

Each log keeps its own database, watcher and problems; the site copies their contract
tables in, each with `log` (the log's NAME) as its first column and (log, key) as its
natural key, shaped from schema.py's one declaration. A log's rows are brought in step in
one transaction, so that a refresh of one log never shows the others half-way, and the
private logs a public site leaves out are never opened. A refresh copies only the rows its
log's change record lists since the last one, or all of that log's rows when the record
cannot say (the files and each log's database stay the truth)."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from . import schema
from .logs import Log

# The contract tables (DESIGN.md), copied from each log; bookkeeping (`_…`) stays there.
TABLES = {name: schema.TABLES[name] for name in schema.contract_tables()}
# Each log's `problems` (a view over its bookkeeping), copied as rows.
LOG_PROBLEMS = "_log_problems"
PROBLEM_COLUMNS = ("path", "field", "message", "event_id")
ORG_FIELDS = ("name", "acronym", "category", "parent", "url")


def _registration(alias: str = "") -> str:
    """An organization's registration in one log, as one comparable value (nulls too)."""
    return f"json_array({', '.join((f'{alias}.' if alias else '') + f for f in ORG_FIELDS)})"


# The logs where an organization `o` is registered differently. Lists of logs are in name
# order, never in the order rows happen to be stored (a refresh copies rows again).
_DIFFERING = f"""select other.log from organizations other
 where other.key = o.key and other.log <> o.log
   and {_registration('other')} <> {_registration('o')}"""

# The site's own views, besides the projection's (schema.VIEWS, which read the tables as
# they are). `problems` is every log's, with `log`, and the organizations registered
# differently under one key in two logs: both are kept apart, each log's registration named.
SITE_VIEWS = {
    "organization_conflicts": f"""
select o.log, o.key, o.name, o.registered_by, (
         select group_concat(log, ', ') from ({_DIFFERING} order by other.log)
       ) as differs_from
  from organizations o
 where o.key in (select key from organizations group by key
                 having count(distinct {_registration()}) > 1)
   and exists ({_DIFFERING})""",
    "problems": f"""
select log, {', '.join(PROBLEM_COLUMNS)} from {LOG_PROBLEMS}
union all
select c.log, (select e.path from events e where e.log = c.log and e.id = c.registered_by),
       'data.key',
       'the organization ''' || c.key || ''' is registered differently in '
       || c.differs_from || ': kept apart; register it alike in every log (same name, '
       || 'acronym, category, parent and url) to make it one organization',
       c.registered_by
  from organization_conflicts c""",
    # schema.VIEWS' current_translations, per log: a translation is of its own log's event
    "current_translations": """
select t.log, t.event_id, t.target, t.lang, t.summary, t.title
  from translations t
 where not exists (select 1 from translations u
                    where u.log = t.log and u.target = t.target and u.lang = t.lang
                      and u.event_id > t.event_id)""",
    # schema.VIEWS' open_items, with the log each item is recorded in
    "open_items": """
select log, 'request' as kind, key, subject as title, to_org, status, status_since, event_id
  from requests
 where status is null or status in ('pending', 'under-consideration', 'deferred')
union all
select log, 'submission', key, title, to_org, status, status_since, event_id
  from submissions
 where status is null or status in ('pending', 'under-consideration', 'deferred')""",
    # Organizations two or more logs work with, registered alike in each.
    "shared_organizations": f"""
select key, name, acronym, category, count(*) as log_count, (
         select group_concat(log, ', ') from (
           select alike.log from organizations alike where alike.key = o.key order by alike.log)
       ) as logs, sum(activity_count) as activity_count
  from organizations o
 group by key
having count(*) > 1 and count(distinct {_registration()}) = 1""",
    # One organization's history across every log (filter on org_key): each current event
    # that names it, with the log it is recorded in.
    "organization_across_logs": """
select eo.org_key, e.log, l.visibility, e.occurred_start, e.occurred_end, e.occurred, e.type,
       e.summary, e.title, e.id as event_id
  from event_orgs eo
  join events e on e.log = eo.log and e.id = eo.event_id
  join logs l on l.name = e.log
 where e.retracted = 0 and e.type not like 'event.%' and e.type not like 'organization.%'""",
}


# For what reads the site as one log (the report): an organization registered alike in
# several logs is one row, its counts summed; one registered differently stays one row per
# log, its key made `key@log`, and its events' links follow. Temporary views, which SQLite
# finds before the tables of the same name; `{chosen}` keeps to the logs reported, and
# `conflicting_keys` is worked out among them alone, as a site of those logs only has it.
AS_ONE_LOG = {
    "conflicting_keys": f"""
select key from main.organizations where {{chosen}} group by key
having count(distinct {_registration()}) > 1""",
    "organizations": """
select case when c.key is null then o.key else o.key || '@' || o.log end as key,
       o.name, o.acronym, o.category, o.group_order, o.parent, o.url,
       min(o.registered_by) as registered_by, min(o.first_activity) as first_activity,
       max(o.last_activity) as last_activity, sum(o.activity_count) as activity_count
  from main.organizations o
  left join temp.conflicting_keys c on c.key = o.key
 where {chosen}
 group by case when c.key is null then o.key else o.key || '@' || o.log end""",
    "event_orgs": """
select eo.log, eo.event_id,
       case when exists (select 1 from temp.conflicting_keys c where c.key = eo.org_key)
            then eo.org_key || '@' || eo.log else eo.org_key end as org_key
  from main.event_orgs eo where {chosen}""",
}


# one log's events in date order (the events table's sort, filtered by log), and its latest
# changes (the home page's `?log=`)
SITE_INDEXES = [("events", ["log", "occurred_start"]), ("events", ["log", "recorded_at"])]


def _shape(name: str) -> tuple[dict, tuple[str, ...]]:
    columns, pk, _ = TABLES[name]
    return {"log": str, **columns}, ("log", *((pk,) if isinstance(pk, str) else pk))


def ensure_shape(db: sqlite_utils.Database) -> None:
    """The site's tables, indexes, views and full-text indexes, derived from schema.py."""
    db.execute("pragma journal_mode = wal")
    if not db["logs"].exists():
        db["logs"].create({"name": str, "visibility": str}, pk="name")
    for name in TABLES:
        if not db[name].exists():
            columns, pk = _shape(name)
            db[name].create(columns, pk=pk, not_null=set(pk))
            # a page asks for one key without its log: the log's own key, indexed alone
            own = pk[1:]
            db[name].create_index(list(own), if_not_exists=True)
        db[name].create_index(["log"], if_not_exists=True, find_unique_name=True)
    if not db[LOG_PROBLEMS].exists():
        db[LOG_PROBLEMS].create({"log": str, **dict.fromkeys(PROBLEM_COLUMNS, str)})
        db[LOG_PROBLEMS].create_index(["log"])
    for table, columns in [*schema.INDEXES, *SITE_INDEXES]:
        if table in TABLES:
            db[table].create_index(columns, if_not_exists=True)
    for sql in schema.PARTIAL_INDEXES:
        db.execute(sql)
    for name, sql in {**{k: v for k, v in schema.VIEWS.items() if k != "problems"},
                      **SITE_VIEWS}.items():
        db.create_view(name, sql.strip(), replace=True)
    for table in schema.FTS_TABLES:
        if not db[table].detect_fts():
            # kept by triggers: a log's refresh touches that log's rows only
            db[table].enable_fts(schema.FTS_COLUMNS, tokenize="trigram", create_triggers=True)


@dataclass(frozen=True)
class Copied:
    """How far the site's copy of a log goes in the log's change record (`_changes`): the
    record's epoch (each build starts a new one) and its last entry copied."""

    epoch: str
    seq: int


def refresh(conn: sqlite3.Connection, log: Log, since: Copied | None = None,
            source: sqlite3.Connection | None = None) -> Copied | None:
    """Bring `log`'s rows in step with its own database, each time in one transaction: only
    the rows whose keys its change record lists after `since`, read through `source` (a
    connection to the log's database, kept open by the caller: attaching the database
    again for each change would cost more than the change), when the record lists every
    change since then; else every row of the log replaced. How far the copy goes (None when
    the database keeps no change record: the next refresh copies everything again)."""
    if since is not None and source is not None:
        changed = _read_changes(source, since)
        if changed is not None:
            upto, rows, problems = changed
            with conn:
                for name, (keys, copies) in rows.items():
                    own = _shape(name)[1][1:]
                    matched = " and ".join(f"[{c}] = ?" for c in own)
                    conn.executemany(f"delete from [{name}] where log = ? and {matched}",
                                     [(log.name, *key) for key in keys])
                    conn.executemany(_insert(name), [(log.name, *row) for row in copies])
                conn.execute(f"delete from {LOG_PROBLEMS} where log = ?", (log.name,))
                conn.executemany(f"insert into {LOG_PROBLEMS} (log, {', '.join(PROBLEM_COLUMNS)})"
                                 f" values (?{', ?' * len(PROBLEM_COLUMNS)})",
                                 [(log.name, *row) for row in problems])
            return upto
    path = Path(log.db_path).resolve()
    conn.execute("attach database ? as source", (f"file:{path}?mode=ro",))
    try:
        with conn:
            conn.execute("begin")  # every read of the log's database sees one state of it
            upto = _recorded(conn, "source")
            _copy_all(conn, log)
    finally:
        conn.execute("detach database source")
    return upto


def _insert(name: str) -> str:
    columns = TABLES[name][0]
    return (f"insert into [{name}] (log, {', '.join(f'[{c}]' for c in columns)}) "
            f"values (?{', ?' * len(columns)})")


def _read_changes(source: sqlite3.Connection, since: Copied
                  ) -> tuple[Copied, dict[str, tuple[list, list]], list] | None:
    """From one state of the log's database: how far its change record goes, and for each
    table changed since `since`, the keys changed and the rows they have now; its problems
    (a view over bookkeeping, read whole). None when the record cannot say what changed."""
    source.execute("begin")
    try:
        upto = _recorded(source, "main")
        names = _changed_tables(source, since, upto) if upto else None
        if names is None:
            return None
        rows = {}
        for name in names:
            own = _shape(name)[1][1:]
            keys = (f"select distinct key{', second_key' if len(own) > 1 else ''} "
                    "from _changes where table_name = ? and seq > ? and seq <= ?")
            window = (name, since.seq, upto.seq)
            columns = ", ".join(f"[{c}]" for c in TABLES[name][0])
            rows[name] = (
                source.execute(keys, window).fetchall(),
                source.execute(f"select {columns} from [{name}] where "
                               f"({', '.join(f'[{c}]' for c in own)}) in ({keys})",
                               window).fetchall())
        problems = source.execute(f"select {', '.join(PROBLEM_COLUMNS)} from problems"
                                  ).fetchall()
        return upto, rows, problems
    finally:
        source.execute("commit")


def _recorded(conn: sqlite3.Connection, where: str) -> Copied | None:
    """How far the change record of the log database (schema `where` of `conn`) goes; None
    if it keeps none."""
    if not conn.execute(f"select 1 from {where}.sqlite_master where type = 'table' "
                        "and name = '_changes'").fetchone():
        return None
    epoch = conn.execute(f"select value from {where}._state where name = ?",
                         (schema.CHANGES_EPOCH,)).fetchone()
    if epoch is None:
        return None
    last, = conn.execute(f"select coalesce(max(seq), 0) from {where}._changes").fetchone()
    return Copied(epoch[0], last)


def _changed_tables(source: sqlite3.Connection, since: Copied, upto: Copied
                    ) -> list[str] | None:
    """The tables with changes recorded after `since`, or None if the record cannot say
    (another epoch: the database was built again; entries pruned or missing; a table the
    site does not know): then everything is copied."""
    if since.epoch != upto.epoch or since.seq > upto.seq:
        return None
    count, = source.execute("select count(*) from _changes where seq > ? and seq <= ?",
                            (since.seq, upto.seq)).fetchone()
    if count != upto.seq - since.seq:
        return None
    names = [name for (name,) in source.execute(
        "select distinct table_name from _changes where seq > ? and seq <= ?",
        (since.seq, upto.seq))]
    return names if set(names) <= set(TABLES) else None


def _copy_all(conn: sqlite3.Connection, log: Log) -> None:
    """Every row of the log attached as `source` in place of those the site holds."""
    conn.execute("insert or replace into logs (name, visibility) values (?, ?)",
                 (log.name, log.visibility))
    for name in TABLES:
        columns = ", ".join(f"[{c}]" for c in TABLES[name][0])
        conn.execute(f"delete from [{name}] where log = ?", (log.name,))
        conn.execute(f"insert into [{name}] (log, {columns}) "
                     f"select ?, {columns} from source.[{name}]", (log.name,))
    columns = ", ".join(PROBLEM_COLUMNS)
    conn.execute(f"delete from {LOG_PROBLEMS} where log = ?", (log.name,))
    conn.execute(f"insert into {LOG_PROBLEMS} (log, {columns}) "
                 f"select ?, {columns} from source.problems", (log.name,))


def connect(path: Path) -> sqlite3.Connection:
    """The site database, shaped, for `refresh` (which attaches each log read-only)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), uri=True, check_same_thread=False)
    ensure_shape(sqlite_utils.Database(conn))
    # made afresh from the logs whenever the site starts: no sync at each refresh's commit
    # (write-ahead log: a commit stays whole, only the last ones may be lost to a power cut)
    conn.execute("pragma synchronous = normal")
    return conn


def assemble(path: Path, logs: Iterable[Log]) -> Path:
    """A site database at `path` made afresh from the logs' databases (each caught up
    already): written beside and moved into place, so that nothing half-made is served."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    for leftover in (partial, *(partial.with_name(partial.name + s) for s in ("-wal", "-shm"))):
        leftover.unlink(missing_ok=True)
    conn = connect(partial)
    try:
        for log in logs:
            refresh(conn, log)
        conn.execute("pragma journal_mode = delete")  # one file, to be opened immutable
    finally:
        conn.close()
    partial.replace(path)
    return path


def caught_up(logs: Iterable[Log]) -> None:
    """Bring each log's own database in step with its files."""
    from .projection import project

    for log in logs:
        projection = project(log.root, log.db)
        try:
            projection.catch_up()
        finally:
            projection.close()


@contextmanager
def as_one_log(logs: list[Log]) -> Iterator[sqlite3.Connection]:
    """A connection that reads the logs as one (the report of several logs): their site
    database, assembled in a scratch folder, seen through `read_as_one`."""
    caught_up(logs)
    with tempfile.TemporaryDirectory(prefix="cooplog-site-") as scratch:
        conn = sqlite3.connect(assemble(Path(scratch) / "cooplog.db", logs))
        try:
            with read_as_one(conn):
                yield conn
        finally:
            conn.close()


@contextmanager
def read_as_one(conn: sqlite3.Connection,
                logs: Iterable[str] | None = None) -> Iterator[sqlite3.Connection]:
    """`conn` with AS_ONE_LOG over its site database while the block runs (the report,
    which knows one log's shape), on a connection to any database: one log's own is read
    as it is. `logs`: the names of the logs to read, as if the site held them alone (the
    site's `/report?log=`); none, every log. The views are temporary, so a read-only
    connection can make them."""
    if not conn.execute("select 1 from sqlite_master where type = 'table' and name = 'logs'"
                        ).fetchone():
        yield conn
        return
    logs = sorted(set(logs or ()))
    chosen = (f"log in ({', '.join(_quoted(name) for name in logs)})" if logs else "1")
    views = {name: f"select * from main.[{name}] where {chosen}"
             for name in TABLES if name not in AS_ONE_LOG} if logs else {}
    views.update({name: sql.format(chosen=chosen) for name, sql in AS_ONE_LOG.items()})
    for name, sql in views.items():
        conn.execute(f"create temp view [{name}] as {sql}")
    try:
        yield conn
    finally:
        for name in reversed(list(views)):
            conn.execute(f"drop view temp.[{name}]")


def _quoted(name: str) -> str:
    """A log's name as an SQL string literal."""
    return "'" + name.replace("'", "''") + "'"
