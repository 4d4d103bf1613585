"""`.ics` for any page whose rows are the `calendar` view's (the `meetings_calendar` canned
query is the feed to subscribe to), rendered by cooplog.calendar_export as `cooplog export
ics` renders it. datasette-ics would be the ecosystem's plugin for this, but 0.5.2 writes
every DTSTART as a UTC date-time: no all-day events, so a meeting in Geneva would start at
01:00 and a three-day meeting would end on the wrong day in other time zones."""

from datasette import hookimpl
from datasette.utils.asgi import Response


def can_render(columns):
    from cooplog.calendar_export import COLUMNS

    return set(COLUMNS) <= set(columns)


async def render(datasette, request, database, table, query_name, rows):
    from cooplog.calendar_export import calendar

    name = table or database
    if query_name:
        query = await datasette.get_canned_query(database, query_name, request.actor) or {}
        name = query.get("title") or query_name
    return Response(calendar(rows, name).to_ical(), status=200,
                    content_type="text/calendar; charset=utf-8")


@hookimpl
def register_output_renderer():
    return {"extension": "ics", "render": render, "can_render": can_render}
