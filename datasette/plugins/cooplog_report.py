"""`/report`: the annex-style report rendered from the live database, as `cooplog report`
renders it (same groups, same bullets)."""

import threading
from collections import OrderedDict

from datasette import hookimpl
from datasette.utils.asgi import Response


class Built:
    """Reports already built, kept until the database changes: a two-year report of a large
    log takes a quarter of a second to build, and is read far more often than the log
    changes.

    `pragma data_version` on a connection changes when another connection (the watcher, a
    build) has committed since this connection last asked. Datasette reads through a few
    long-lived connections: each one's last answer is kept, and any change seen on any of
    them drops every report, including one still being built from before the change."""

    def __init__(self, size: int = 8):
        self.size = size
        self.lock = threading.Lock()
        self.seen: dict[int, tuple[object, int]] = {}  # id -> (connection, data_version)
        self.reports: OrderedDict = OrderedDict()
        self.generation = 0

    def get(self, conn, key, build):
        """build(conn)'s result for key, built again only after the database changed."""
        version = conn.execute("pragma data_version").fetchone()[0]
        with self.lock:
            _, last = self.seen.get(id(conn), (None, None))
            self.seen[id(conn)] = (conn, version)  # holding conn keeps its id its own
            if last != version:
                self.reports.clear()
                self.generation += 1
            elif key in self.reports:
                self.reports.move_to_end(key)
                return self.reports[key]
            generation = self.generation
        result = build(conn)
        with self.lock:
            if generation == self.generation:
                self.reports[key] = result
                while len(self.reports) > self.size:
                    self.reports.popitem(last=False)
        return result


BUILT = Built()


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
        body, title = await db.execute_fn(
            lambda conn: BUILT.get(conn, (db.path, period, org, group), build))
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
