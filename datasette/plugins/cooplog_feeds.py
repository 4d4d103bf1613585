"""The Atom feed of a log with no events yet, or with values no feed can carry.

datasette-atom dates a feed by its newest entry (`max()` of the rows), so a new log's feed
was an error 500 where a reader expects an empty feed. Its renderer is registered again,
under the same name, by one that answers such a query with a feed of no entries, dated now,
and leaves every other to datasette-atom.

Any value can reach the feed (a database built by an older cooplog, a `.atom?sql=` query):
an `atom_updated` that is no date and time, or text with control characters that XML
cannot hold, was an error 500 for the whole feed. The rows are first made writable: such
characters are dropped, and a row that names no time is left out.
"""

import re
from datetime import datetime, timezone

from datasette import hookimpl
from datasette.utils.asgi import Response

from cooplog.site_support import register_again


def empty_feeds_too() -> None:
    try:
        import datasette_atom as atom
    except ImportError:
        return

    def render(datasette, request, sql, columns, rows, database, table, query_name,
               view_name, data):
        if atom.REQUIRED_COLUMNS <= set(columns):
            rows = writable(rows, columns)
        if rows:
            return atom.render_atom(datasette, request, sql, columns, rows, database, table,
                                    query_name, view_name, data)
        return _empty_feed(datasette, request, sql, database, query_name)

    @hookimpl
    def register_output_renderer():
        return {"extension": "atom", "render": render, "can_render": atom.can_render_atom}

    register_again(atom, register_output_renderer=register_output_renderer)


# what XML 1.0 cannot hold: control characters but tab and newlines, surrogates, U+FFFE/F
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def writable(rows, columns) -> list[dict]:
    """The rows as datasette-atom can write them: text XML can hold (an empty cell as empty
    text), times as aware datetimes. An entry must have an id, a title and a time: a row
    without one of them is left out."""
    kept = []
    for row in rows:
        cells = {c: _xml_text(row[c]) for c in columns}
        updated = _instant(row["atom_updated"])
        if updated is not None and cells["atom_id"] and cells["atom_title"]:
            kept.append({**cells, "atom_updated": updated})
    return kept


def _instant(value) -> datetime | None:
    if isinstance(value, str) and value.endswith("Z"):  # Python 3.10 reads no Z
        value = value[:-1] + "+00:00"
    try:
        instant = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return instant if instant.tzinfo else instant.replace(tzinfo=timezone.utc)


def _xml_text(value) -> str:
    return "" if value is None else NOT_XML.sub("", str(value))


def _empty_feed(datasette, request, sql, database, query_name) -> Response:
    from feedgen.feed import FeedGenerator

    queries = (datasette.metadata(database=database) or {}).get("queries") or {}
    feed = FeedGenerator()
    feed.id(request.url)
    feed.link(href=request.url, rel="self")
    feed.title((queries.get(query_name) or {}).get("title") or sql)
    feed.updated(datetime.now(timezone.utc))
    return Response(feed.atom_str(pretty=True), content_type="application/xml; charset=utf-8")


empty_feeds_too()
