"""Keep the published log read-only and on-site, and report the watcher's health.

Datasette already opens the database with mode=ro; this refuses every method that could
write before any view sees it, and 404s paths that Datasette 0.65 would redirect off-site
(`//host`, `/\\host`, `/%5Chost`, and an absolute-form request line, `GET http://host/`,
which uvicorn passes on as the path `http://host/`)."""

import logging
import sqlite3
import time

import datasette.handle_exception as default_handler
from datasette import hookimpl
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
            return await app(scope, receive, send)

        return guarded

    return wrap


async def cooplog_status(datasette):
    from cooplog import serve

    watcher = serve.WATCHER
    status = watcher.status if watcher else None
    body = {"watcher": "not running"} if status is None else {
        "watcher": "alive" if status.alive else "stopped",
        "applied": status.applied,
        "last_applied": status.last_applied,
        "seconds_since_last_applied": status.last_applied_at and round(
            time.time() - status.last_applied_at, 1),
        "seconds_since_reconcile": status.last_reconcile_at and round(
            time.time() - status.last_reconcile_at, 1),
        "healed_by_reconciliation": status.healed,
        "recent_errors": status.errors[-5:],
    }
    return Response.json(body, status=200 if status and status.alive else 503)


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
