"""`/report`: the annex-style report rendered from the live database, as `cooplog report`
renders it (same groups, same bullets)."""

from datasette import hookimpl
from datasette.utils.asgi import Response

from cooplog.plugins import KeptUntilChanged

# by database: a two-year report of a large log takes a quarter of a second to build
REPORTS: dict[str, KeptUntilChanged] = {}


async def report_page(datasette, request):
    from cooplog import report
    from cooplog.errors import CooplogError

    db = datasette.get_database()
    period = request.args.get("period")
    if not period:
        latest = (await db.execute("select max(year) from events where retracted = 0")).first()
        year = latest[0] if latest and latest[0] else None
        period = f"{year - 1}/{year}" if year else "2008/2009"
    org = request.args.get("org") or None
    group = request.args.get("group") or None

    def build(conn):
        content = report.build(conn, period, org, group)
        return report.html_body(content), content.title

    status, body, title = 200, None, "Report"
    try:
        if db.path not in REPORTS:
            REPORTS[db.path] = KeptUntilChanged(db.path, size=8)
        reports = REPORTS[db.path]
        body, title = await db.execute_fn(
            lambda conn: reports.get((period, org, group), lambda: build(conn)))
    except CooplogError as e:
        status = 400
        error = str(e)
    context = {"title": title, "period": period, "org": org or "", "group": group or "",
               "groups": report.GROUPS, "body": body, "error": None if body else error}
    html = await datasette.render_template("report.html", context, request=request)
    return Response.html(html, status=status)


@hookimpl
def register_routes():
    return [(r"^/report$", report_page)]
