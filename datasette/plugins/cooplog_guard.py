"""Keep the published log read-only, on-site and answering, and report the watcher's health.

Datasette already opens the database with mode=ro; this refuses every method that could
write before any view sees it, and 404s paths that Datasette 0.65 would redirect off-site
(`//host`, `/\\host`, `/%5Chost`, and an absolute-form request line, `GET http://host/`,
which uvicorn passes on as the path `http://host/`). It caps facets, and bounds what the SQL
box (`?sql=`) may build, so that no request holds the server past the SQL time limit."""

import asyncio
import contextvars
import json
import logging
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl, urlencode

import datasette.handle_exception as default_handler
from datasette import hookimpl
from datasette.utils import tilde_decode
from datasette.utils.asgi import Response
from datasette.views.base import DatasetteError

# Datasette 0.65's default error handler prints every exception with rich when rich is
# installed (typer brings it): a traceback with its locals for each 404, and for a path that
# matches no route (`/a/b/c/d/e`) rich itself raises ("Value for 'trace' required"), so the
# 404 becomes a 500. The handler still renders the page; server errors are logged below.
if getattr(default_handler, "rich", None) is not None:
    default_handler.rich = None

log = logging.getLogger("cooplog.serve")

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
OFF_SITE = ("//", "/\\", "/%5c")
# No value a query makes may be larger: `select zeroblob(900000000)` is refused by SQLite
# instead of filling the server's memory. An event file is at most 1 MB, so no stored row
# comes near it.
MAX_VALUE_BYTES = 8_000_000
# printf('%.*c', 900000000, 'x') loops for seconds inside one call, where the SQL time limit
# (counted in steps between calls) cannot stop it.
# fts3_tokenizer('simple') answers the address of a tokenizer in the server's memory.
DENIED_FUNCTIONS = {"printf", "format", "fts3_tokenizer"}

# A facet groups the rows by a column and links each group with the whole address: 150
# repeats of four facets (an 8 KB address) answered 209 MB in 42 s. A request may ask for a
# few distinct facets (repeats count once), never on a column of prose or JSON, where each
# row is a group of its own.
MAX_FACETS = 5
UNFACETABLE = {"summary", "title", "change", "note", "message", "why",  # prose
               "data", "original", "documents", "orgs", "mandates", "corrected_by",  # JSON
               "organizer", "parties", "items", "countries"}
UNFACETABLE_IN = {"requests": {"subject"}}  # a request's subject is prose, a status's a key

# Datasette's SQL time limit is checked between SQLite's steps, so one long function call
# outlasts it: `instr` of 300 kB in 600 kB took 3.1 s, a LIKE of a 50,000-character pattern
# over 600 kB 34.7 s, and sqlite3_interrupt() stops neither. The SQL box's queries (`?sql=`,
# Datasette's custom SQL: the only ones whose strings a reader builds) run on a connection
# of their own, whose limits keep any one call, and the most calls one row can make, within
# a fraction of a second; a timer interrupts them between rows at the time limit (the
# progress handler looks only every 1,000 steps); and they run on a thread of their own,
# one at a time, so that pages keep all of Datasette's SQL threads. Stored values larger
# than the box's limit are read on the table and row pages, not in the box.
SQL_BOX_LIMITS = {
    sqlite3.SQLITE_LIMIT_LENGTH: 20_000,  # bytes of any value made or read
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 100,
    sqlite3.SQLITE_LIMIT_VDBE_OP: 1_000,  # steps in one statement's program
}
SQL_BOX_THREADS = 1
# the SQL a request asks for (`?sql=`), and whether the query running is that one
ASKED_SQL = contextvars.ContextVar("cooplog_asked_sql", default=None)
RUNNING_ASKED_SQL = contextvars.ContextVar("cooplog_running_asked_sql", default=False)


async def _plain(send, status: int, text: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": text.encode()})


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def guarded(scope, receive, send):
            if scope["type"] == "http":
                raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
                if (not raw.startswith("/") or not scope["path"].startswith("/")
                        or raw.lower().startswith(OFF_SITE)
                        or scope["path"].startswith(OFF_SITE[:2])):
                    return await _plain(send, 404, "Not found")
                if scope["method"] not in READ_METHODS:
                    return await _plain(send, 405, "This log is published read-only.")
                if b"_facet" in scope.get("query_string", b""):
                    query, problem = await _facets_allowed(datasette, scope)
                    if problem:
                        return await _plain(send, 400, problem)
                    scope = {**scope, "query_string": query}
                if (sql := _asked_sql(scope)) is not None:
                    token = ASKED_SQL.set(sql)
                    try:
                        return await app(scope, receive, send)
                    finally:
                        ASKED_SQL.reset(token)
            return await app(scope, receive, send)

        return guarded

    return wrap


def _asked_sql(scope) -> str | None:
    query = scope.get("query_string", b"")
    if b"sql=" not in query:
        return None
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)  # as Datasette does
    return next((value for key, value in pairs if key == "sql"), None)


@hookimpl
def startup(datasette):
    box = _SqlBox(datasette)
    for database in datasette.databases.values():
        box.bound(database)


class _SqlBox:
    """The SQL box's queries, on threads and connections of their own (SQL_BOX_THREADS),
    whose values SQL_BOX_LIMITS bound, interrupted at the time limit; Datasette's SQL
    threads stay the pages'. Waiting for a turn takes no thread, and ends at the limit."""

    def __init__(self, datasette):
        self.datasette = datasette
        self.seconds = datasette.setting("sql_time_limit_ms") / 1000
        self.turns = asyncio.Semaphore(SQL_BOX_THREADS)
        self.executor = ThreadPoolExecutor(SQL_BOX_THREADS, "cooplog-sql-box")

    def bound(self, database) -> None:
        execute, execute_fn = database.execute, database.execute_fn

        async def execute_bounded(sql, *args, **options):
            # Datasette runs the asked SQL with truncate=True; its own queries (a page's, a
            # canned query's, `PRAGMA schema_version` before each request) run unbounded
            if sql != ASKED_SQL.get() or not options.get("truncate"):
                return await execute(sql, *args, **options)
            try:
                await asyncio.wait_for(self.turns.acquire(), timeout=self.seconds)
            except asyncio.TimeoutError:
                raise sqlite3.OperationalError(
                    "the SQL box is busy with other queries: try again in a moment") from None
            token = RUNNING_ASKED_SQL.set(True)
            try:
                return await execute(sql, *args, **options)
            finally:
                RUNNING_ASKED_SQL.reset(token)
                self.turns.release()

        async def execute_fn_bounded(fn):
            if not RUNNING_ASKED_SQL.get():
                return await execute_fn(fn)
            return await asyncio.get_running_loop().run_in_executor(
                self.executor, self._run, database, fn)

        database.execute, database.execute_fn = execute_bounded, execute_fn_bounded

    def _run(self, database, fn):
        # a connection anew for each query: it follows the file, whatever replaced it
        conn = database.connect()
        try:
            self.datasette._prepare_connection(conn, database.name)
            for limit, value in SQL_BOX_LIMITS.items():
                conn.setlimit(limit, value)
            with _interrupted_after(conn, self.seconds):
                try:
                    return fn(conn)
                except MemoryError:  # what SQLite says when VDBE_OP is reached
                    raise sqlite3.OperationalError(
                        "query too complex for the SQL box: make it simpler, or use the "
                        "table pages and canned queries") from None
        finally:
            conn.close()


class _interrupted_after:
    """sqlite3_interrupt() at the deadline, never after the query is done (a stale
    interrupt would stop the connection's next query)."""

    def __init__(self, conn, seconds: float):
        self.conn, self.running, self.lock = conn, True, threading.Lock()
        self.timer = threading.Timer(seconds, self._interrupt)

    def _interrupt(self):
        with self.lock:
            if self.running:
                self.conn.interrupt()

    def __enter__(self):
        self.timer.start()

    def __exit__(self, *exc):
        with self.lock:
            self.running = False
        self.timer.cancel()
        self.timer.join()


async def _facets_allowed(datasette, scope) -> tuple[bytes, str | None]:
    """The query string with repeated facets asked once, or why its facets are refused."""
    query = scope["query_string"]
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    facets: dict[tuple[str, str], str] = {}  # (kind, value) -> column
    kept = []
    for key, value in pairs:
        if key.startswith("_facet") and key != "_facet_size":
            if (key, value) in facets:
                continue
            column = _facet_column(value)
            if column is None:
                return query, (f"{key}={value}: a facet names a column, as in "
                               "_facet=type, or as {\"column\": \"type\"}")
            facets[key, value] = column
        kept.append((key, value))
    if len(facets) > MAX_FACETS:
        return query, (f"{len(facets)} facets asked for: ask for at most {MAX_FACETS} at "
                       "a time")
    table = _table(scope["path"])
    refused = UNFACETABLE | UNFACETABLE_IN.get(table, set())
    if denied := sorted({c for c in facets.values() if c in refused}):
        allowed = [c for c in await _columns(datasette, scope["path"]) if c not in refused]
        return query, (f"cannot facet by {', '.join(denied)}: each row's value is prose or "
                       f"JSON; facet by one of: {', '.join(allowed) or 'no column here'}")
    if len(kept) == len(pairs):
        return query, None
    return urlencode(kept).encode("latin-1"), None


def _facet_column(value: str) -> str | None:
    """The column a facet's value names (a name, or Datasette's JSON form), or None."""
    if not value.startswith("{"):
        return value
    try:
        config = json.loads(value)
    except ValueError:
        return None
    column = config.get("column") or config.get("simple") if isinstance(config, dict) else None
    return column if isinstance(column, str) else None


def _table(path: str) -> str | None:
    parts = path.strip("/").split("/")
    return tilde_decode(parts[1].partition(".")[0]) if len(parts) == 2 else None


async def _columns(datasette, path: str) -> list[str]:
    database = datasette.databases.get(tilde_decode(path.strip("/").split("/")[0]))
    table = _table(path)
    if database is None or table is None:
        return []
    return await database.table_columns(table)


async def cooplog_status(datasette):
    from cooplog import serve

    if serve.WATCHERS:  # several logs: each named, each with its watcher and site copy
        logs = {}
        for name, watcher in serve.WATCHERS.items():
            healthy, body = _watcher_status(watcher.status)
            copy = serve.REFRESHER.status[name] if serve.REFRESHER else None
            if copy is not None:
                healthy = healthy and not copy.failing
                body["site_refreshed_at"] = copy.last_refreshed_at
                body["site_errors"] = copy.errors[-5:]
            logs[name] = {"healthy": healthy, **body}
        healthy = all(log["healthy"] for log in logs.values())
        return Response.json({"logs": logs}, status=200 if healthy else 503)
    watcher = serve.WATCHER
    if watcher is None and not any(db.is_mutable for name, db in datasette.databases.items()
                                   if name != "_internal"):
        # `cooplog publish`'s directory under plain datasette: immutable, nothing to watch
        return Response.json({"watcher": "none: a published site, immutable"})
    healthy, body = _watcher_status(watcher.status if watcher else None)
    return Response.json(body, status=200 if healthy else 503)


def _watcher_status(status) -> tuple[bool, dict]:
    healthy = status is not None and status.alive and not status.rebuilding
    body = {"watcher": "not running"} if status is None else {
        "watcher": ("stopped" if not status.alive else
                    "rebuilding" if status.rebuilding else "alive"),
        "applied": status.applied,
        "last_applied": status.last_applied,
        "seconds_since_last_applied": status.last_applied_at and round(
            time.time() - status.last_applied_at, 1),
        "seconds_since_reconcile": status.last_reconcile_at and round(
            time.time() - status.last_reconcile_at, 1),
        "healed_by_reconciliation": status.healed,
        "recent_errors": status.errors[-5:],
    }
    return healthy, body


@hookimpl
def prepare_connection(conn):
    if hasattr(conn, "setlimit"):  # Python 3.11 and later
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.set_authorizer(_authorize)


def _authorize(action, arg1, arg2, database, source):
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


@hookimpl
def handle_exception(datasette, request, exception):
    if (isinstance(exception, DatasetteError) and exception.status == 500
            and str(exception.message).startswith("Cannot ")):
        exception.status = 400  # `?_sort=nosuchcolumn`: Datasette 0.65 calls it a 500
    if getattr(exception, "status", 500) >= 500:
        log.error("%s %s: %s", request.method, request.path, exception, exc_info=exception)
    return None  # Datasette's own handler renders the error page


@hookimpl
def register_routes():
    return [(r"^/-/cooplog\.json$", cooplog_status)]
