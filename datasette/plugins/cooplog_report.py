"""`/report`: the annex-style report rendered from the live database, as `cooplog report`
renders it (same groups, same bullets), and `/report.pdf` and `/report.docx`, the same
report as the files `cooplog report --format pdf|docx` writes, linked from the page for
download. The query string takes periods, organizations and groups as people write them,
`?lang=` the report's language, as `--lang` does, and on a site of several logs `?log=`
(repeated for several) the logs to report, as `--log` does; what it cannot read is a 400
page in words (a log the site does not hold, 404), with the form to try again."""

import json
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response

from cooplog.site_support import KeptUntilChanged

# by database: a two-year report of a large log takes a quarter of a second to build, its
# PDF or Word file a second or two; the readings of query strings (`Choice`) kept beside
REPORTS: dict[str, KeptUntilChanged] = {}
KEPT = 24
DOWNLOADS = {"pdf": ("application/pdf", "PDF"),
             "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml."
                      "document", "Word document")}


def _kept(db) -> KeptUntilChanged:
    if db.path not in REPORTS:
        REPORTS[db.path] = KeptUntilChanged(db.path, size=KEPT)
    return REPORTS[db.path]


def _asked(request) -> tuple[str | None, str | None, str | None]:
    """(period, org, group) as typed; empty is not given."""
    return tuple((request.args.get(name) or "").strip() or None
                 for name in ("period", "org", "group"))


def _language(request) -> str:
    """`?lang=` as typed (the report checks it), else the language the reader chose on the
    site's other pages (messages.COOKIE)."""
    from cooplog import messages

    remembered = request.cookies.get(messages.COOKIE)
    return ((request.args.get("lang") or "").strip()
            or (remembered if remembered in messages.LANGUAGES else "en"))


class UnknownLog(Exception):
    """A log asked for that the site does not hold, in words."""


async def _logs(db, request) -> tuple[list[str], list[str]]:
    """(the site's logs when it has several, the logs `?log=` asks for, sorted); one log's
    own database has no logs to choose among, and reads `?log=` as the other pages do:
    not at all."""
    if not await db.table_exists("logs"):
        return [], []
    names = [row[0] for row in (await db.execute("select name from logs order by name")).rows]
    asked = sorted({name.strip().lower() for name in request.args.getlist("log")
                    if name.strip()})
    unknown = [name for name in asked if name not in names]
    if unknown:
        raise UnknownLog(f"No log of this site is named “{unknown[0]}”: its logs are "
                         f"{', '.join(names)}.")
    return (names if len(names) > 1 else []), asked


async def _chosen(db, asked, logs):
    """The report asked for, in the terms of the logs reported (cooplog.report.Choice)."""
    from cooplog import report, site

    def choose(conn):
        with site.read_as_one(conn, logs):
            return report.choose(conn, *asked)

    reports = _kept(db)
    return await db.execute_fn(lambda conn: reports.get(
        ("choice", *asked, *logs), lambda: choose(conn)))


def _query(choice, lang: str, logs: list[str]) -> str:
    return urlencode([(k, v) for k, v in (("period", choice.period), ("org", choice.org),
                                          ("group", choice.group),
                                          *(("log", name) for name in logs),
                                          ("lang", lang if lang != "en" else None)) if v])


async def _page(datasette, request, asked, *, status=200, body=None, title="Report",
                choice=None, error=None, logs=((), ())):
    import functools

    from cooplog import dates, messages, report

    db = datasette.get_database()
    site_logs, chosen = logs
    orgs = await db.execute("select distinct name, acronym from organizations where "
                            f"{'log in (select value from json_each(:logs))' if chosen else '1'}"
                            " order by name", {"logs": json.dumps(chosen)})
    period = asked[0] or (choice.period.replace("/", dates.DASH) if choice else "")
    lang = _language(request)
    lang = lang if lang in messages.LANGUAGES else "en"  # the page around a 400 in words
    query = _query(choice, lang, chosen) if choice else ""
    context = {
        "site_logs": site_logs, "chosen_logs": chosen,
        "title": title, "body": body, "error": error, "period": period,
        "org": asked[1] or "", "group": choice.group if choice else (asked[2] or ""),
        "groups": report.GROUPS, "organizations": [tuple(row) for row in orgs.rows],
        "lang": lang, "languages": languages(), "text_direction": messages.direction(lang),
        "_": functools.partial(messages.gettext, lang=lang),
        "defaulted": body is not None and not asked[0],
        "downloads": [(f"{datasette.urls.instance()}report.{kind}?{query}", label)
                      for kind, (_, label) in DOWNLOADS.items()] if body else [],
    }
    html = await datasette.render_template("report.html", context, request=request)
    # without `?lang=`, in the language the cookie names: a cache must keep them apart
    return Response.html(html, status=status, headers={"vary": "Cookie"})


async def report_page(datasette, request):
    from cooplog import report

    made = await _made(datasette, request, "html",
                       lambda content: (report.html_body(content), content.title))
    if isinstance(made, Response):
        return made
    (body, title), choice, logs = made
    return await _page(datasette, request, _asked(request), body=body, title=title,
                       choice=choice, logs=logs)


async def _made(datasette, request, kind: str, make):
    """What `make` makes of the report's content that the request asks for (kept until the
    log changes), with the choice it was made of and the logs; or the page in words for a
    log the site does not hold (404) or a report that cannot be made (400)."""
    from cooplog.errors import CooplogError

    db = datasette.get_database()
    asked, lang = _asked(request), _language(request)
    try:
        logs = await _logs(db, request)
    except UnknownLog as e:
        return await _page(datasette, request, asked, status=404, error=str(e))
    chosen = logs[1]
    try:
        choice = await _chosen(db, asked, chosen)
        reports = _kept(db)
        made = await db.execute_fn(lambda conn: reports.get(
            (kind, choice.period, choice.org, choice.group, lang, *chosen),
            lambda: make(_built(conn, choice, lang, chosen))))
    except CooplogError as e:
        return await _page(datasette, request, asked, status=400, error=_sentence(e),
                           logs=logs)
    return made, choice, logs


def _built(conn, choice, lang: str, logs: list[str]):
    """The report's content; a site of several logs read as one (an organization two logs
    register alike is one entry), or those of them `logs` names."""
    from cooplog import report, site

    with site.read_as_one(conn, logs):
        return report.build(conn, choice.period, choice.org, choice.group, lang=lang)


def _sentence(error) -> str:
    text = str(error)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def download(kind: str):
    async def report_file(datasette, request):
        from cooplog import report_docx, report_pdf

        render = {"pdf": report_pdf.render, "docx": report_docx.render}[kind]
        made = await _made(datasette, request, kind, render)
        if isinstance(made, Response):
            return made
        body, choice, (_, chosen) = made
        lang = _language(request)
        name = "report-" + "-".join(filter(None, [
            choice.period.replace("/", "-"), choice.org, choice.group, *chosen,
            lang if lang != "en" else None]))
        return Response(body, status=200, content_type=DOWNLOADS[kind][0],
                        headers={"content-disposition": f'attachment; filename="{name}.{kind}"'})

    return report_file


def languages() -> dict[str, str]:
    """The report languages, each by its own name (the form's choices)."""
    from cooplog import messages

    return messages.in_their_own_names()


@hookimpl
def register_routes():
    return [(r"^/report$", report_page), (r"^/report\.pdf$", download("pdf")),
            (r"^/report\.docx$", download("docx"))]
