"""`/report`: the annex-style report rendered from the live database, as `cooplog report`
renders it (same groups, same bullets), and `/report.pdf`, the same report as the PDF
`cooplog report --format pdf` writes, linked from the page for download. `?lang=` picks
the report's language, as `--lang` does."""

from urllib.parse import urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response

from cooplog.plugins import KeptUntilChanged

# by database: a two-year report of a large log takes a quarter of a second to build, its
# PDF a second or two
REPORTS: dict[str, KeptUntilChanged] = {}


async def _options(db, request) -> tuple[str, str | None, str | None, str]:
    """(period, org, group, lang) from the query string; the period defaults to the last
    two years the log holds, the language to English."""
    period = request.args.get("period")
    if not period:
        latest = (await db.execute("select max(year) from events where retracted = 0")).first()
        year = latest[0] if latest and latest[0] else None
        period = f"{year - 1}/{year}" if year else "2008/2009"
    return (period, request.args.get("org") or None, request.args.get("group") or None,
            request.args.get("lang") or "en")


def _kept(db) -> KeptUntilChanged:
    if db.path not in REPORTS:
        REPORTS[db.path] = KeptUntilChanged(db.path, size=8)
    return REPORTS[db.path]


async def report_page(datasette, request):
    from cooplog import report
    from cooplog.errors import CooplogError

    db = datasette.get_database()
    period, org, group, lang = await _options(db, request)

    def build(conn):
        content = report.build(conn, period, org, group, lang=lang)
        return report.html_body(content), content.title

    status, body, title = 200, None, "Report"
    try:
        reports = _kept(db)
        body, title = await db.execute_fn(
            lambda conn: reports.get((period, org, group, lang), lambda: build(conn)))
    except CooplogError as e:
        status = 400
        error = str(e)
    query = urlencode({k: v for k, v in (("period", period), ("org", org), ("group", group),
                                         ("lang", lang if lang != "en" else None)) if v})
    context = {"title": title, "period": period, "org": org or "", "group": group or "",
               "groups": report.GROUPS, "lang": lang, "languages": languages(),
               "body": body, "error": None if body else error,
               "pdf_url": f"{datasette.urls.instance()}report.pdf?{query}"}
    html = await datasette.render_template("report.html", context, request=request)
    return Response.html(html, status=status)


async def report_pdf(datasette, request):
    from cooplog import report, report_pdf
    from cooplog.errors import CooplogError

    db = datasette.get_database()
    period, org, group, lang = await _options(db, request)
    try:
        reports = _kept(db)
        body = await db.execute_fn(lambda conn: reports.get(
            ("pdf", period, org, group, lang),
            lambda: report_pdf.render(report.build(conn, period, org, group, lang=lang))))
    except CooplogError as e:
        return Response.text(f"error: {e}\n", status=400)
    name = "report-" + "-".join(filter(None, [period.replace("/", "-"), org, group,
                                              lang if lang != "en" else None]))
    return Response(body, status=200, content_type="application/pdf",
                    headers={"content-disposition": f'attachment; filename="{name}.pdf"'})


def languages() -> dict[str, str]:
    """The report languages, each by its own name (the form's choices)."""
    from cooplog import messages

    return {code: messages.language_name(code, code) for code in messages.LANGUAGES}


@hookimpl
def register_routes():
    return [(r"^/report$", report_page), (r"^/report\.pdf$", report_pdf)]
