"""The Atom feed of a log with no events yet.

datasette-atom dates a feed by its newest entry (`max()` of the rows), so a new log's feed
was an error 500 where a reader expects an empty feed. Its renderer is registered again,
under the same name, by one that answers such a query with a feed of no entries, dated now,
and leaves every other to datasette-atom.
"""

from datetime import datetime, timezone

from datasette import hookimpl
from datasette.utils.asgi import Response

from cooplog.plugins import register_again


def empty_feeds_too() -> None:
    try:
        import datasette_atom as atom
    except ImportError:
        return

    def render(datasette, request, sql, columns, rows, database, table, query_name,
               view_name, data):
        if rows:
            return atom.render_atom(datasette, request, sql, columns, rows, database, table,
                                    query_name, view_name, data)
        return _empty_feed(datasette, request, sql, database, query_name)

    @hookimpl
    def register_output_renderer():
        return {"extension": "atom", "render": render, "can_render": atom.can_render_atom}

    register_again(atom, register_output_renderer=register_output_renderer)


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
