"""What keeps pages quick on a large log (100,000 events: DESIGN's scale).

Two things cost every page more than its query did:

- datasette-render-markdown's `render_cell` hook runs for every cell of every page and looks
  up the plugin's configuration each time (Datasette merges the metadata anew per call),
  to render columns named `*_markdown`: about a third of the time of a page of rows.
  cooplog has no markdown columns, so that hook is dropped; the plugin's `render_markdown`
  template function and `{% markdown %}` tag, which datasette-dashboards' markdown charts
  use, stay.
- A table whose metadata lists a facet (events: type, year) computes and shows it twice in
  Datasette 0.65 when the address asks for it too (`?_facet=type`, as the facet's own
  links do): such a request is answered as the same address without that repeat.
- Datasette counts the rows of a view for each page of it: the `timeline` view has a row
  per activity and organization, and counting them took 200 ms of a 230 ms page on a large
  log. Its pages are served without the count (`_nocount=1`); the pages link on as before.
- Datasette 0.65.2 works out whether metadata restricts a table by deep-copying the whole
  metadata (canned queries, dashboards…) for each check, and the database page checks
  every table, view and query: 110 of its 120 ms. Metadata does not change while a server
  runs (`serve` gives it once), so each table's answer is kept.
- A facet counts every row it covers (on a large log, the two of the events table: 25 ms of
  each of its pages, whose rows take 1 ms), while the log changes a few times a day: each
  facet's counts are kept until the database changes (`cooplog.site_support.KeptUntilChanged`).
- SQLite's page cache is 2 MB per connection, less than one facet's index on a large log,
  so every facet and period query read its pages anew through system calls. Mapping the
  file lets them read the operating system's cached pages in place (shared by the
  connections, and reading only: the database is still opened read-only).
"""

import functools
import re
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl

from cooplog.site_support import MISSING, KeptUntilChanged, register_again

MMAP_BYTES = 1 << 30  # a limit, not an allocation: only the pages read are mapped in
UNCOUNTED = {"timeline"}
# the SQL of Datasette 0.65's facets (by column, by date, by array element)
FACET_SQL = re.compile(r"\s*select [^\n]* as value, count\(\*\) as count from \(")


def drop_markdown_cells() -> None:
    """datasette-render-markdown without its `render_cell` hook."""
    try:
        import datasette_render_markdown as markdown
    except ImportError:
        return
    register_again(markdown, without=("render_cell",))


drop_markdown_cells()


@hookimpl
def startup(datasette):
    allows = getattr(datasette, "_table_permission_allows", None)
    if allows is not None and not hasattr(allows, "cache_info"):
        datasette._table_permission_allows = functools.lru_cache(maxsize=4096)(allows)
    for database in datasette.databases.values():
        if not database.is_memory:
            keep_facet_counts(database)


def keep_facet_counts(database) -> None:
    """The database's facet queries answered from what they gave last, until it changes."""
    execute, counts = database.execute, KeptUntilChanged(database.path, size=256)

    async def execute_keeping_facets(sql, params=None, **options):
        if not FACET_SQL.match(sql):
            return await execute(sql, params, **options)
        key = (sql, repr(params), repr(sorted(options.items())))
        generation = counts.generation()  # a look at shared memory: no thread needed
        found = counts.find(key)
        if found is MISSING:
            found = await execute(sql, params, **options)  # a time-out is not kept
            counts.keep(key, found, generation)
        return found

    database.execute = execute_keeping_facets


@hookimpl
def prepare_connection(conn):
    conn.execute(f"pragma mmap_size = {MMAP_BYTES}")


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def quicker(scope, receive, send):
            if scope["type"] == "http" and b"_facet=" in scope.get("query_string", b""):
                scope = {**scope, "query_string": _without_default_facets(datasette, scope)}
            if scope["type"] == "http" and _uncounted(scope):
                query = scope.get("query_string", b"")
                scope = {**scope, "query_string": query + (b"&" if query else b"")
                         + b"_nocount=1"}
            return await app(scope, receive, send)

        return quicker

    return wrap


def _uncounted(scope) -> bool:
    parts = scope["path"].strip("/").split("/")
    return (len(parts) == 2 and parts[1].partition(".")[0] in UNCOUNTED
            and b"_nocount=" not in scope.get("query_string", b""))


def _without_default_facets(datasette, scope) -> bytes:
    query = scope["query_string"]
    parts = scope["path"].strip("/").split("/")
    if len(parts) != 2:
        return query
    database, table = parts[0], parts[1].removesuffix(".json").removesuffix(".csv")
    defaults = {f for f in datasette.table_metadata(database, table).get("facets", [])
                if isinstance(f, str)}
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not (k == "_facet" and v in defaults)]
    return query if len(kept) == len(pairs) else urlencode(kept).encode("latin-1")
