"""Pages people read, on top of Datasette's tables: `/` (what the log holds), `/event/<id>`,
`/org/<key>`, `/search` and `/meetings`. Names instead of keys and ids, dates in words, lists
as lists; text of the record in another language than the page's marked with its own `lang`
(`lang_of` says the rule).

Each page is read in one of the six UN languages (`?lang=`, remembered in a cookie so that
every link the page makes keeps it without each link saying so): its fixed words from the
report's gettext catalogs (`_` in the templates), dates and countries in that language, and
each text of the record in it where written in it or translated into it, else as written,
marked with its language's name, as the report does (`report.in_language`).

The data is read here, in Python, through Datasette's read-only connection, and handed to
templates as plain values: a log's templates render in Jinja's sandbox, which cannot reach
the databases (log_assets), and text from the record is escaped by the templates, never
marked safe. Queries go through the indexes of schema.INDEXES; what no index serves (the
home page's counts within a period, the meetings overlapping one) is worked out once and
kept until the log changes."""

from __future__ import annotations

import functools
import json
import re
from datetime import date
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from cooplog import countries, dates, events, messages, report
from cooplog.errors import CooplogError
from cooplog.report import GROUPS, NOT_ACTIVITIES
from cooplog.site import ORG_FIELDS
from cooplog.site_support import MISSING, KeptUntilChanged

DATABASE = "cooplog"
LATEST = 12  # changes listed on the home page
AGENDA = 200  # meetings on one agenda page, with links to the pages before and after
WAITING = 20  # open requests and submissions listed there; the canned query has them all
FOUND = 200  # search results shown, as the `search` canned query
ON_A_PAGE = 100  # an organization's items on one page of its history, latest first
# Where a page of an organization's history starts: the item before (or after) it, by its
# place in their one order (first day, last day, id, and on a site its log).
ITEM_MARK = re.compile(r"(\d{4}-\d{2}-\d{2})_(\d{4}-\d{2}-\d{2})_([0-9A-Z]{26})"
                       r"(?:_([a-z0-9][a-z0-9-]*))?")
# What a type is called in a sentence, and what a page lists it under.
KINDS = {
    "meeting.attended": "meeting", "meeting.planned": "planned meeting",
    "agreement.signed": "agreement", "agreement.revised": "revision of an agreement",
    "submission.made": "submission", "request.made": "request",
    "project.proposed": "project", "status.changed": "change of status",
    "partnership.joined": "partnership", "activity.noted": "activity",
    "organization.registered": "organization registered",
    "organization.updated": "organization updated", "event.corrected": "correction",
    "event.retracted": "retraction", "translation.added": "translation",
}
# Han ideographs (the unified block and extension A): text with no recorded `lang` that has
# them is taken to be Chinese. Japanese writes them too: its events say `lang: ja`, which wins.
HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")
NOT_ACTIVITY = "e.type not in ({})".format(", ".join(f"'{name}'" for name in NOT_ACTIVITIES))


class PageError(Exception):
    """What a reader asked for that the log cannot show, in words, with its HTTP status."""

    def __init__(self, message: str, status: int = 404):
        super().__init__(message)
        self.status = status


# --- words -------------------------------------------------------------------------------


def in_words(occurred: str | None, lang: str = "en") -> str:
    """An `occurred` value or an RFC 3339 timestamp as a date in words; "" for none."""
    if not occurred:
        return ""
    try:
        return dates.in_words(occurred[:10] if "T" in occurred else occurred, lang)
    except dates.DateError:
        return occurred


def lang_of(text: str | None, recorded: str | None, page: str) -> str | None:
    """The `lang` attribute a piece of the record needs on a page in `page`: the event's
    recorded `lang` when it is not the page's, else "zh" when the text has Han ideographs."""
    if not text:
        return None
    if recorded:
        return None if recorded == page else recorded
    return "zh" if HAN.search(text) and page != "zh" else None


def localized(text: str | None, recorded: str | None, translated: str | None, lang: str,
              field: str) -> dict:
    """`field` of an item as a page in `lang` shows it (report.in_language): the text, its
    `lang` attribute (`<field>_lang`) and the name of the language it is marked with
    (`<field>_in`)."""
    if not text and translated is None:
        return {field: text, f"{field}_lang": None, f"{field}_in": None}
    text, written_in = report.in_language(text, recorded, translated, lang)
    return {field: text,
            f"{field}_lang": None if translated is not None else lang_of(text, recorded, lang),
            f"{field}_in": written_in and messages.language_name(written_in, lang)}


def period_of(value: str | None, lang: str = "en") -> tuple[str, str, str, str] | None:
    """A period as people write it (`2008/2009`, `2008-2009`, `2008–2009`, `2009`), read as
    the report reads it, as (EDTF, first day, last day, words); None when none is asked for."""
    if not value or not value.strip():
        return None
    canonical = report.period_from(value)
    try:
        first, last = dates.parse(canonical)
    except dates.DateError:
        raise PageError(f"The period “{value}” is not one this page understands: give a year "
                        "(2009) or two joined by a slash or a dash (2008/2009, 2008–2009).",
                        status=400) from None
    return canonical, first.isoformat(), last.isoformat(), dates.in_words(canonical, lang)


def highlighted(text: str | None, words: str) -> Markup:
    """`text` escaped, then each case-insensitive occurrence of `words` wrapped in <mark>:
    the only markup on the page that does not come from a template is made here, around
    text that has already been escaped."""
    if not text:
        return Markup("")
    if not words:
        return escape(text)
    parts = re.split(f"({re.escape(words)})", text, flags=re.IGNORECASE)
    return Markup("").join(Markup("<mark>{}</mark>").format(part) if i % 2 else escape(part)
                           for i, part in enumerate(parts))


def web_link(url: str | None) -> str | None:
    """A document's URL when it is one a reader can follow: http(s) only, never
    `javascript:` or `data:` from the record."""
    return url if isinstance(url, str) and re.match(r"https?://", url, re.IGNORECASE) else None


def _json(value, default):
    try:
        return json.loads(value) if value else default
    except (TypeError, ValueError):
        return default


# --- reading the database ----------------------------------------------------------------


class Logs:
    """Which logs a page reads. A site of several logs (cooplog.site) has a `log` column
    in every table, and the same id or key may stand in two logs: rows are joined on
    (log, id), and `?log=` narrows the page to one log. One log's own database has no
    such column: then every fragment is the plain one and the page is as it was. (A plain
    class: a plugin loaded from a folder is no module dataclasses can find.)"""

    def __init__(self, visibility: dict[str, str] | None = None, chosen: str | None = None):
        self.visibility = visibility or {}
        self.chosen = chosen

    def same(self, a: str, b: str) -> str:
        return f"{a}.log = {b}.log" if self.visibility else "1"

    def column(self, alias: str) -> str:
        return f"{alias}.log" if self.visibility else "null"

    def conflicting(self, alias: str) -> str:
        """Whether `alias`'s organization is registered differently in another log."""
        return (f"{alias}.key in (select key from organization_conflicts)" if self.visibility
                else "0")

    def private_alone(self, alias: str) -> str:
        """In a query grouped by organization: whether only private logs register it."""
        return (f"max((select visibility from logs where name = {alias}.log)) = 'private'"
                if self.visibility else "0")

    def only(self, alias: str) -> str:
        """`alias`'s rows in the log `?log=` chose (its name is the `log` parameter)."""
        return f"{alias}.log = :log" if self.chosen else "1"

    def marked(self, row: dict) -> dict:
        """`row` named with its log on a site of several, and marked when it is private."""
        log = row.get("log")
        row["log_name"] = log if len(self.visibility) > 1 else None
        row["confidential"] = self.visibility.get(log) == "private"
        row["at"] = f"?log={log}" if log and len(self.visibility) > 1 else ""
        return row


async def logs_of(db, asked: str | None) -> Logs:
    if not await db.table_exists("logs"):
        return Logs()
    visibility = {row["name"]: row["visibility"]
                  for row in await _rows(db, "select name, visibility from logs order by name")}
    asked = (asked or "").strip().lower() or None
    if asked and asked not in visibility:
        raise PageError(f"No log of this site is named “{asked}”: its logs are "
                        f"{', '.join(visibility)}.")
    return Logs(visibility, asked)


async def _rows(db, sql: str, params: dict | None = None) -> list[dict]:
    return [dict(row) for row in (await db.execute(sql, params or {})).rows]


async def _org_names(db, keys, logs: Logs | None = None) -> dict:
    """Each key's name, by key and, on a site, by (log, key) too: a key registered
    differently in two logs is named in each as that log registers it."""
    keys = sorted({k for k in keys if k})
    if not keys:
        return {}
    logs = logs or Logs()
    rows = await _rows(db, f"select {logs.column('o')} as log, key, name, acronym, "
                           f"{logs.conflicting('o')} as conflicting from organizations o "
                           "where key in (select value from json_each(:keys))",
                       {"keys": json.dumps(keys)})
    return {**{row["key"]: row for row in rows}, **{(row["log"], row["key"]): row for row in rows}}


def _org(key: str, names: dict, log: str | None = None) -> dict:
    known = names.get((log, key)) or names.get(key)
    return {"key": key, "name": known["name"] if known else key,
            "acronym": known["acronym"] if known else None, "known": bool(known),
            # registered differently in another log: the link names this log's
            "log_choice": log if known and known["conflicting"] else None}


async def _texts(db, ids, lang: str, logs: Logs | None = None) -> dict:
    """By event id, and on a site by (log, id) too: the language it is written in (`lang`)
    and its current translation into the page's language (`summary`, `title`; None where
    it has none)."""
    ids = sorted({i for i in ids if i})
    if not ids:
        return {}
    logs = logs or Logs()
    rows = await _rows(db, f"""select {logs.column('e')} as log, e.id, e.lang, t.summary, t.title
        from events e left join current_translations t
          on t.target = e.id and t.lang = :lang and {logs.same('t', 'e')}
        where e.id in (select value from json_each(:ids))""",
                       {"ids": json.dumps(ids), "lang": lang})
    return {**{row["id"]: row for row in rows}, **{(row["log"], row["id"]): row for row in rows}}


def _text_of(texts: dict, row: dict, key: str = "id") -> dict:
    return texts.get((row.get("log"), row[key])) or texts.get(row[key]) or {}


async def _in_language(db, rows: list[dict], lang: str, field: str = "title",
                       translated: str = "title", key: str = "event_id",
                       logs: Logs | None = None) -> list[dict]:
    """Each row's `field` (an event's `translated` text) as the page shows it
    (`localized`)."""
    texts = await _texts(db, [row[key] for row in rows], lang, logs)
    for row in rows:
        found = _text_of(texts, row, key)
        row.update(localized(row.get(field), found.get("lang"), found.get(translated), lang,
                             field))
    return rows


async def _with_orgs(db, events: list[dict], lang: str, logs: Logs | None = None) -> list[dict]:
    """Each event with its organizations by name and its text in the page's language, for
    a list."""
    logs = logs or Logs()
    names = await _org_names(db, [k for e in events for k in _json(e.get("orgs"), [])], logs)
    texts = await _texts(db, [e["id"] for e in events], lang, logs)
    for event in events:
        logs.marked(event)
        event["org_list"] = [_org(k, names, event.get("log")) for k in _json(event.get("orgs"), [])]
        event["when"] = in_words(event.get("occurred"), lang)
        event["kind"] = messages.gettext(KINDS.get(event["type"], event["type"]), lang)
        field = "summary" if event.get("summary") else "title"
        found = _text_of(texts, event)
        event.update(localized(event.get(field), found.get("lang"), found.get(field), lang,
                               "text"))
        event["text"] = event["text"] or event["kind"]
    return events


async def _history(db, subjects: list[str], lang: str,
                   logs: Logs | None = None) -> dict[tuple, list[dict]]:
    """Each (log, subject)'s status history, oldest first, each "since" its own date in
    words (log None in one log's own database)."""
    if not subjects:
        return {}
    logs = logs or Logs()
    rows = await _rows(db, f"""select {logs.column('s')} as log, subject, status, note, occurred,
                               event_id from statuses s
                               where subject in (select value from json_each(:keys))
                               order by occurred_start, occurred_end, event_id""",
                       {"keys": json.dumps(subjects)})
    history: dict[tuple, list[dict]] = {}
    for row in rows:
        row["since"] = in_words(row["occurred"], lang)
        row["words"] = messages.gettext(row["status"].replace("-", " "), lang)
        logs.marked(row)
        history.setdefault((row["log"], row["subject"]), []).append(row)
    return history


EVENT_COLUMNS = "e.id, e.type, e.occurred, e.summary, e.title, e.orgs, e.retracted, e.lang"


async def event_page(db, event_id: str, lang: str, logs: Logs | None = None) -> dict:
    """One event; on a site where two logs hold its id, the one `?log=` names (else the
    first log's), the others linked, and all it refers to read in its own log."""
    logs = logs or Logs()
    rows = await _rows(db, f"select *, {logs.column('e')} as log_of from events e "
                           f"where id = :id and {logs.only('e')} order by log_of",
                       {"id": event_id.upper(), "log": logs.chosen})
    if not rows:
        raise PageError(f"No event has the id “{event_id}”"
                        f"{f' in the log {logs.chosen}' if logs.chosen else ''}. It may be "
                        "mistyped, or recorded in another office and not yet synced.")
    event = rows[0]
    here = Logs(logs.visibility, event["log_of"])  # what it refers to, in its own log
    inside = {"log": here.chosen}
    event["elsewhere"] = [r["log"] for r in await _rows(
        db, "select log from events where id = :id and log <> :log order by log",
        {"id": event["id"], "log": here.chosen})] if here.chosen else []
    data = _json(event["data"], {})
    original = _json(event["original"], {})
    names = await _org_names(db, _json(event["orgs"], []) + _org_keys_in(data), here)
    translated = _text_of(await _texts(db, [event["id"]], lang, here),
                          {"log": here.chosen, "id": event["id"]})
    for field in ("summary", "title"):
        event.update(localized(event[field], event["lang"], translated.get(field), lang, field))
    event.update(
        when=in_words(event["occurred"], lang),
        kind=messages.gettext(KINDS.get(event["type"], event["type"]), lang),
        org_list=[_org(k, names, here.chosen) for k in _json(event["orgs"], [])],
        documents=[dict(d, link=web_link(d.get("url"))) for d in _json(event["documents"], [])],
        mandate_list=_json(event["mandates"], []),
        item_list=data.get("items") or [],
        details=_details(event["type"], data, names, lang, here.chosen),
        recorded_when=in_words(event["recorded_at"], lang),
    )
    event["confidential"] = await _confidential(db, [event.get("log")])
    event["place"] = await _place(db, event["id"], data, lang, here)
    event["subject"] = None
    if event["type"] == "status.changed":  # its title is the subject's key: name it instead
        event["title"] = event["title_lang"] = event["title_in"] = None
        event["subject"] = await _subject(db, data.get("subject"), here)
        if event["subject"]:
            event["subject"]["at"] = logs.marked({"log": here.chosen})["at"]
    event["history"] = (await _history(db, [data["key"]], lang, here)).get(
        (here.chosen, data["key"]), []) if events.TYPES[event["type"]].entity else []
    event["commit"] = None
    if event["commit_sha"]:
        commits = await _rows(db, "select sha, author, email, committed_at from commits c "
                                  f"where sha = :sha and {here.only('c')}",
                              {"sha": event["commit_sha"], **inside})
        if commits:
            event["commit"] = dict(commits[0],
                                   when=in_words(commits[0]["committed_at"], lang))
    event["corrections"] = await _corrections(db, original, _json(event["corrected_by"], []),
                                              lang, here)
    event["retraction"] = None
    if event["retracted"] and event["retracted_by"]:
        retraction = await _rows(db, "select id, recorded_at, recorded_by, data from events e "
                                     f"where id = :id and {here.only('e')}",
                                 {"id": event["retracted_by"], **inside})
        if retraction:
            r = retraction[0]
            event["retraction"] = {"id": r["id"], "by": r["recorded_by"],
                                   "when": in_words(r["recorded_at"], lang),
                                   "reason": _json(r["data"], {}).get("reason")}
    if event["target"]:
        target = await _rows(db, f"select id, {here.column('e')} as log, summary, title, type "
                                 f"from events e where id = :id and {here.only('e')}",
                             {"id": event["target"], **inside})
        event["target_event"] = (await _with_orgs(db, target, lang, logs))[0] if target else None
    return event


async def _subject(db, key: str | None, here: Logs) -> dict | None:
    """The agreement, submission, request or project a status is about, by its title."""
    rows = await _rows(db, " union all ".join(
        f"select event_id, {title} from {table} t where key = :key and {here.only('t')}"
        for table, title in (("agreements", "title"), ("submissions", "title"),
                             ("requests", "subject"), ("projects", "title"))),
        {"key": key, "log": here.chosen})
    return rows[0] if rows else None


def _org_keys_in(data: dict) -> list[str]:
    keys = [data.get("to"), data.get("funder"), data.get("parent")]
    keys += data.get("parties") or []
    keys += data.get("organizer") or []
    return [k for k in keys if isinstance(k, str)]


def _details(type_: str, data: dict, names: dict, lang: str, log: str | None = None
             ) -> list[tuple[str, object]]:
    """The type's own fields a reader needs, labelled, organizations by name."""
    say = functools.partial(messages.gettext, lang=lang)

    def org(key):
        return _org(key, names, log)

    fields = {
        "role": ("Role", say),
        "to": ("To", org),
        "body": ("Body", lambda v: v),
        "kind": ("Kind", lambda v: say({"mou": "memorandum of understanding"}.get(v, v))),
        "parties": ("Parties", lambda v: [org(k) for k in v]),
        "organizer": ("Organized by", lambda v: [org(k) for k in v]),
        "funder": ("Funded by", org),
        "countries": ("Countries", lambda v: [countries.country_name(c, lang) for c in v]),
        "status": ("Status", lambda v: say(v.replace("-", " "))),
        "note": ("Note", lambda v: v),
        "partnership": ("Partnership", lambda v: v),
        "change": ("Change", lambda v: v),
        "agreement": ("Agreement", lambda v: v),
        "online": ("Online", lambda v: say("yes" if v else "no")),
    }
    return [(say(label), show(data[name])) for name, (label, show) in fields.items()
            if data.get(name) not in (None, "", [])]


async def _place(db, event_id: str, data: dict, lang: str, here: Logs) -> str | None:
    rows = await _rows(db, "select city, country from meetings m where event_id = :id and "
                           f"{here.only('m')}", {"id": event_id, "log": here.chosen})
    location = rows[0] if rows else (data.get("location") or {})
    return countries.place(location.get("city"), location.get("country"), lang)


async def _corrections(db, original: dict, ids: list[str], lang: str,
                       here: Logs) -> list[dict]:
    """Each correction in force, in id order, as old → new with its reason: the old value is
    what the field held before that correction, starting from the event as recorded."""
    if not ids:
        return []
    rows = await _rows(db, f"""select id, recorded_at, recorded_by, data from events e
                               where id in (select value from json_each(:ids))
                                 and {here.only('e')} order by id""",
                       {"ids": json.dumps(ids), "log": here.chosen})
    body = json.loads(json.dumps(original))
    corrections = []
    for row in rows:
        data = _json(row["data"], {})
        changes = []
        for field, new in (data.get("set") or {}).items():
            changes.append({"field": field, "old": _shown(_get(body, field)),
                            "new": _shown(new)})
            _put(body, field, new)
        corrections.append({"id": row["id"], "by": row["recorded_by"],
                            "when": in_words(row["recorded_at"], lang),
                            "reason": data.get("reason"),
                            "changes": changes})
    return corrections


def _get(body: dict, field: str):
    value = body
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _put(body: dict, field: str, new) -> None:
    *path, last = field.split(".")
    for part in path:
        body = body.setdefault(part, {})
    body[last] = new


def _shown(value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return json.dumps(value, ensure_ascii=False)


async def _confidential(db, logs: list[str | None]) -> bool:
    """Whether what the page shows comes from private logs alone: a site of several logs
    (cooplog.site) names each row's log, and says in `logs` which are private."""
    names = [name for name in logs if name]
    if not names:
        return False
    rows = await _rows(db, "select visibility from logs where name in "
                           "(select value from json_each(:names))", {"names": json.dumps(names)})
    return bool(rows) and all(row["visibility"] == "private" for row in rows)


async def org_page(db, key: str, period: tuple | None, lang: str,
                   logs: Logs | None = None, start: tuple | None = None) -> dict:
    """One organization. On a site, a key registered differently in two logs is two
    organizations: the page is the one registration `?log=` names (else the first log's),
    read in the logs that register it alike, and the others are linked, never merged.

    In every period, an organization with more items than a page holds (thousands, across
    ten logs) is read a page at a time, latest first, from `start` (`page_from`) on, with
    its items counted by period and year, each linking to the period's page, which lists
    it in full: the lists below the items then hold what this page's items began."""
    logs = logs or Logs()
    rows = await _rows(db, f"select *, {logs.column('o')} as log_of from organizations o "
                           "where key = :key order by log_of", {"key": key.strip().lower()})
    if logs.chosen:
        rows = [row for row in rows if row["log_of"] == logs.chosen] + \
               [row for row in rows if row["log_of"] != logs.chosen]
    if not rows or (logs.chosen and rows[0]["log_of"] != logs.chosen):
        raise PageError(f"No organization has the key “{key}”"
                        f"{f' in the log {logs.chosen}' if logs.chosen else ''}. See the "
                        "list of organizations on the home page.")
    org = rows[0]
    registration = [org[f] for f in ORG_FIELDS]
    alike = [row for row in rows if [row[f] for f in ORG_FIELDS] == registration]
    org["elsewhere"] = [logs.marked(row) for row in rows if row not in alike]
    # the logs read: the one chosen, else those registering it alike when others differ
    scope = [logs.chosen] if logs.chosen else \
        [row["log_of"] for row in alike] if org["elsewhere"] else None
    org["logs"] = [row["log_of"] for row in alike] if len(logs.visibility) > 1 else []

    def inside(alias: str) -> str:
        return f"{alias}.log in (select value from json_each(:logs))" if scope else "1"

    org["confidential"] = await _confidential(db, [row.get("log") for row in alike])
    org["group"] = messages.gettext(GROUPS.get(org["category"], org["category"]), lang)
    org["parent_org"] = None
    if org["parent"]:
        org["parent_org"] = _org(org["parent"], await _org_names(db, [org["parent"]], logs),
                                 org["log_of"])
    params = {"key": org["key"], "logs": json.dumps(scope)}
    within = ""
    if period:
        within = " and e.occurred_end >= :start and e.occurred_start <= :end"
        params.update(start=period[1], end=period[2])
    items = f"""from event_orgs eo
          join events e on e.id = eo.event_id and {logs.same('e', 'eo')}
         where eo.org_key = :key and {inside('eo')} and e.retracted = 0
           and {NOT_ACTIVITY}"""
    org["pages"] = None
    if not period:  # counted once for all its pages, until the log changes
        spans = await _kept(db, ("org spans", org["key"], params["logs"]), lambda db: _rows(
            db, f"""select substr(e.occurred_start, 1, 4) as first,
            substr(e.occurred_end, 1, 4) as last, e.type, count(*) as n {items}
            group by first, last, e.type""", params))
        total = sum(span["n"] for span in spans)
        if total > ON_A_PAGE or start:
            org["pages"] = await _a_page(db, items, params, logs, start, total)
            org["by_period"] = _by_period(spans, lang)
    if org["pages"]:
        rows = org["pages"].pop("rows")
        within = _on_the_page("e", "id", logs)
        params.update(ids=json.dumps([row["id"] for row in rows]),
                      keys=json.dumps([f"{row['log']} {row['id']}" for row in rows]))
    else:
        rows = await _rows(db, f"""select {logs.column('e')} as log, {EVENT_COLUMNS},
            e.occurred_start, e.occurred_end {items}{within}
            order by e.occurred_start, e.occurred_end, e.id""", params)
    org["activities"] = await _with_orgs(db, rows, lang, logs)
    for activity in org["activities"]:
        activity["others"] = [o for o in activity["org_list"] if o["key"] != org["key"]]
        activity["outside"] = _outside(activity, period)

    def involved(alias: str, keyed: bool = True) -> str:
        """Its agreements, submissions, requests (`keyed`) and partnerships: in a period,
        those made in it or, keyed, whose status changed in it."""
        return (f"exists (select 1 from event_orgs eo where eo.org_key = :key and "
                f"eo.event_id = {alias}.event_id and {logs.same('eo', alias)} "
                f"and {inside('eo')})"
                f"{_on_the_page(alias, 'event_id', logs) if org['pages'] else ''}"
                f"{_in_period(alias, keyed, logs) if period else ''}")

    org["agreements"] = await _rows(db, f"""select {logs.column('t')} as log, key, event_id,
        kind, title, parties, occurred, status from agreements t where {involved('t')}
        order by occurred, key""", params)
    org["submissions"] = await _rows(db, f"""select {logs.column('t')} as log, key, event_id,
        to_org, body, title, items, occurred, status from submissions t where {involved('t')}
        order by occurred, key""", params)
    org["requests"] = await _rows(db, f"""select {logs.column('t')} as log, key, event_id,
        to_org, subject, occurred, status from requests t where {involved('t')}
        order by occurred, key""", params)
    history = await _history(db, [r["key"] for kind in ("agreements", "submissions", "requests")
                                  for r in org[kind]], lang, logs)
    for kind, field in (("agreements", "title"), ("submissions", "title"),
                        ("requests", "subject")):
        await _in_language(db, org[kind], lang, field, logs=logs)
        for row in org[kind]:
            logs.marked(row)
            row["when"] = in_words(row["occurred"], lang)
            row["history"] = history.get((row["log"], row["key"]), [])
            row["item_list"] = _json(row.get("items"), [])
    org["partnerships"] = await _rows(db, f"""select {logs.column('p')} as log, p.event_id,
        p.partnership, p.role, p.occurred from partnerships p where {involved('p', keyed=False)}
        order by p.occurred, p.event_id""", params)
    for row in org["partnerships"]:
        logs.marked(row)
        row["when"] = in_words(row["occurred"], lang)
    org["meetings"] = await _rows(db, f"""select {logs.column('m')} as log, m.event_id, m.title,
        m.role, m.planned, m.city, m.country, m.occurred, m.occurred_start, m.occurred_end
          from event_orgs eo
        join meetings m on m.event_id = eo.event_id and {logs.same('m', 'eo')}
        join events e on e.id = m.event_id and {logs.same('e', 'm')}
         where eo.org_key = :key and {inside('eo')}{within}
         order by m.occurred_start, m.event_id""", params)
    await _in_language(db, org["meetings"], lang, logs=logs)
    for row in org["meetings"]:
        logs.marked(row)
        row["when"] = in_words(row["occurred"], lang)
        row["outside"] = _outside(row, period)
        row["place"] = countries.place(row["city"], row["country"], lang)
    org["children"] = await _rows(db, f"""select distinct key, name, acronym from organizations o
        where parent = :key and {inside('o')} order by name""", params)
    return org


def _on_the_page(alias: str, event_id: str, logs: Logs) -> str:
    """Whether `alias`'s event (its column `event_id`) is one of the page's items (:ids,
    and on a site of several logs :keys, each item's log and id)."""
    return (f" and {alias}.{event_id} in (select value from json_each(:ids))"
            + (f" and {alias}.log || ' ' || {alias}.{event_id} in "
               "(select value from json_each(:keys))" if logs.visibility else ""))


def _in_period(alias: str, keyed: bool, logs: Logs) -> str:
    """Whether `alias`'s agreement, submission, request or partnership was made in the
    period (:start, :end), or, `keyed`, had its status changed in it."""
    made = (f"exists (select 1 from events m where m.id = {alias}.event_id and "
            f"{logs.same('m', alias)} and m.occurred_end >= :start and m.occurred_start <= :end)")
    changed = (f" or exists (select 1 from statuses s where s.subject = {alias}.key and "
               f"{logs.same('s', alias)} and s.occurred_end >= :start "
               "and s.occurred_start <= :end)") if keyed else ""
    return f" and ({made}{changed})"


def page_from(before: str | None, after: str | None) -> tuple | None:
    """Where a page of an organization's history starts, from its `?before=` or `?after=`
    (the links to older and newer items make them): ("before"|"after", first day, last
    day, id, log); None for the latest page."""
    for direction, value in (("before", before), ("after", after)):
        if value:
            found = ITEM_MARK.fullmatch(value.strip())
            if not found:
                raise PageError(f"“{value}” is not a place in this organization's history: "
                                "follow the links to older and newer items.", status=400)
            return (direction, *found.groups())
    return None


def _mark(row: dict) -> str:
    return "_".join(filter(None, (row["occurred_start"], row["occurred_end"], row["id"],
                                  row["log"])))


async def _a_page(db, items: str, params: dict, logs: Logs, start: tuple | None,
                  total: int) -> dict:
    """ON_A_PAGE of an organization's items, latest first, before or after `start` in
    their one order: following the links from the latest page, every item is shown once,
    in order, however many pages it takes (keyset paging: a new item moves no other)."""
    order = ["e.occurred_start", "e.occurred_end", "e.id"] + (["e.log"] if logs.visibility
                                                              else [])
    columns = f"{logs.column('e')} as log, {EVENT_COLUMNS}, e.occurred_start, e.occurred_end"

    def beyond(sign: str, name: str) -> str:
        fields = ", ".join(f":{name}{i}" for i in range(len(order)))
        return f" and ({', '.join(order)}) {sign} ({fields})"

    def at(name: str, values) -> dict:
        return {f"{name}{i}": value for i, value in enumerate(values)}

    if start and logs.visibility and start[4] is None:
        raise PageError(f"“{'_'.join(start[1:4])}” names no log: on a site of several logs, "
                        "follow the links to older and newer items.", status=400)
    rows = []
    if start is None:
        rows = await _rows(db, f"select {columns} {items} order by "
                               f"{', '.join(c + ' desc' for c in order)} limit {ON_A_PAGE}",
                           params)
    elif start[0] == "before":
        rows = await _rows(db, f"select {columns} {items}{beyond('<', 'p')} order by "
                               f"{', '.join(c + ' desc' for c in order)} limit {ON_A_PAGE}",
                           dict(params, **at("p", start[1:len(order) + 1])))
    else:
        rows = (await _rows(db, f"select {columns} {items}{beyond('>', 'p')} order by "
                                f"{', '.join(order)} limit {ON_A_PAGE}",
                            dict(params, **at("p", start[1:len(order) + 1]))))[::-1]
    if not rows and start:  # nothing beyond it any more (retracted): the latest page
        return await _a_page(db, items, params, logs, None, total)
    newer = 0
    if rows:
        newest = rows[0]
        newer = (await _rows(db, f"select count(*) as n {items}{beyond('>', 'p')}", dict(
            params, **at("p", [newest[c.split('.')[1]] for c in order]))))[0]["n"]
    return {"rows": rows, "first": newer + 1, "last": newer + len(rows), "total": total,
            "newer": _mark(rows[0]) if rows and newer else None,
            "older": _mark(rows[-1]) if rows and newer + len(rows) < total else None}


def _by_period(spans: list[dict], lang: str) -> list[dict]:
    """An organization's items counted by biennium and by year, latest first, each item in
    each one it overlaps: the count beside a period is what that period's page lists."""
    bienniums: dict[int, dict] = {}
    for span in spans:
        first, last = int(span["first"]), int(span["last"])
        for biennium in sorted({year - year % 2 for year in range(first, last + 1)}):
            counted = bienniums.setdefault(biennium, {"n": 0, "years": {}})
            counted["n"] += span["n"]
            for year in range(max(first, biennium), min(last, biennium + 1) + 1):
                kinds = counted["years"].setdefault(year, {})
                kinds[span["type"]] = kinds.get(span["type"], 0) + span["n"]
    return [{"period": f"{b}/{b + 1}", "label": dates.in_words(f"{b}/{b + 1}", lang),
             "n": _phrase(counted["n"], "item", "items", lang),
             "years": [{"period": str(year), "n": _phrase(sum(kinds.values()), "item",
                                                          "items", lang),
                        "kinds": ", ".join(_kinds_counted(kinds, lang))}
                       for year, kinds in sorted(counted["years"].items(), reverse=True)]}
            for b, counted in sorted(bienniums.items(), reverse=True)]


def _outside(row: dict, period: tuple | None) -> bool:
    """Whether an item listed for a period overlaps it without being dated within it (an
    item of the biennium 2008/2009, listed for 2009): the page says so beside it."""
    return bool(period) and (row["occurred_start"] < period[1] or row["occurred_end"] > period[2])


async def home_page(db, period: tuple | None, lang: str, logs: Logs | None = None) -> dict:
    logs = logs or Logs()
    within, params = "", {"log": logs.chosen}
    if period:
        within = " and occurred_end >= :start and occurred_start <= :end"
        params.update(start=period[1], end=period[2])
    outside = "sum(occurred_start < :start or occurred_end > :end)" if period else "0"
    by_type = await _rows(db, f"select type, count(*) as n, {outside} as outside from events e "
                              f"where retracted = 0{within} and {logs.only('e')} group by type",
                          params)
    counts = {row["type"]: row["n"] for row in by_type}
    not_within = sum(row["outside"] for row in by_type if row["type"] not in NOT_ACTIVITIES)
    organizations = await _rows(db, f"""select key, name, acronym, category, group_order,
        case when {logs.conflicting('o')} then min({logs.column('o')}) end as log_choice,
        {logs.private_alone('o')} as confidential
        from organizations o where {logs.only('o')}
        group by key, name, acronym, category, group_order order by group_order, name""",
                                params)
    groups: dict[str, list] = {}
    for org in organizations:
        group = messages.gettext(GROUPS.get(org["category"], org["category"]), lang)
        groups.setdefault(group, []).append(org)
    years = [row["year"] for row in await _rows(
        db, f"select distinct year from events e where year is not null and {logs.only('e')} "
            "order by year desc", params)]
    latest = await _with_orgs(db, await _rows(db, f"""
        select {logs.column('e')} as log, {EVENT_COLUMNS}, e.recorded_at, e.recorded_by,
               e.target
          from events e where {logs.only('e')}
         order by e.recorded_at desc, e.id desc limit {LATEST}""", params), lang, logs)
    targets = await _with_orgs(db, await _rows(db, f"""select {logs.column('e')} as log,
        {EVENT_COLUMNS} from events e where id in (select value from json_each(:ids))""",
        {"ids": json.dumps([e["target"] for e in latest if e["target"]])}), lang, logs)
    named = {(t["log"], t["id"]): t for t in targets}
    for event in latest:
        event["recorded_when"] = in_words(event["recorded_at"], lang)
        target = named.get((event["log"], event["target"]))
        if target:  # a correction, retraction or translation: of what
            event["kind"] = messages.gettext("{kind} of", lang).format(kind=event["kind"])
            event.update(text=f"“{target['text']}”", text_lang=target["text_lang"],
                         text_in=target["text_in"])
    return {"counts": _counted(counts, len(organizations), lang), "not_within": not_within,
            "groups": groups, "periods": _periods(years, lang), "latest": latest,
            "waiting": await _waiting(db, lang, logs)}


async def _waiting(db, lang: str, logs: Logs) -> list[dict]:
    """Requests and submissions still waiting for an answer (the `open_items` view), oldest
    first, each with whom it went to and since when its status holds."""
    rows = await _rows(db, f"""select {logs.column('i')} as log, i.kind, i.title, i.to_org,
        i.status, i.status_since, i.event_id, e.occurred from open_items i
        join events e on e.id = i.event_id and {logs.same('e', 'i')} where {logs.only('i')}
        order by e.occurred_start, i.key limit {WAITING}""", {"log": logs.chosen})
    names = await _org_names(db, [r["to_org"] for r in rows], logs)
    for row in rows:
        logs.marked(row)
        row["to"] = _org(row["to_org"], names, row["log"]) if row["to_org"] else None
        row["when"] = in_words(row["occurred"], lang)
        row["since"] = in_words(row["status_since"], lang)
        row["words"] = messages.gettext(
            (row["status"] or "no answer recorded").replace("-", " "), lang)
    await _in_language(db, rows, lang, logs=logs)
    return rows


# what a count of each type of item is called: one, many
COUNTED = {
    "meeting.attended": ("meeting attended", "meetings attended"),
    "meeting.planned": ("meeting planned", "meetings planned"),
    "agreement.signed": ("agreement", "agreements"),
    "agreement.revised": ("revision of an agreement", "revisions of agreements"),
    "submission.made": ("submission", "submissions"),
    "request.made": ("request", "requests"),
    "project.proposed": ("project", "projects"),
    "partnership.joined": ("partnership", "partnerships"),
    "activity.noted": ("other activity", "other activities"),
    "status.changed": ("change of status", "changes of status"),
}


def _number(n: int, lang: str) -> str:
    from babel.numbers import format_decimal

    return format_decimal(n, locale=lang)


def _phrase(n: int, one: str, many: str, lang: str) -> str:
    """"40 meetings", "1 request" (the catalogs say them without a plural where a language
    has more forms than two: "Заявки: 3")."""
    return messages.gettext("{n} " + (one if n == 1 else many), lang).format(
        n=_number(n, lang))


def _kinds_counted(counts: dict[str, int], lang: str) -> list[str]:
    """Each type of item counted, in COUNTED's order: "40 meetings attended", …"""
    return [_phrase(counts[type_], one, many, lang) for type_, (one, many) in COUNTED.items()
            if counts.get(type_)]


def _counted(counts: dict[str, int], organizations: int, lang: str) -> list[str]:
    """What the log holds, as phrases: "40 organizations registered", "40 meetings
    attended" (said even when none), then each other type of item it holds."""
    return [_phrase(organizations, "organization registered", "organizations registered",
                    lang),
            _phrase(counts.get("meeting.attended", 0), *COUNTED["meeting.attended"], lang),
            *_kinds_counted({k: n for k, n in counts.items() if k not in
                             ("meeting.attended", "agreement.revised")}, lang)]


def _periods(years: list[int], lang: str) -> list[tuple[str, str]]:
    """The bienniums the log's years fall in (2008/2009 …), latest first, then each year."""
    bienniums = sorted({(y - 1, y) if y % 2 else (y, y + 1) for y in years}, reverse=True)
    return ([(f"{a}/{b}", dates.in_words(f"{a}/{b}", lang)) for a, b in bienniums]
            + [(str(y), str(y)) for y in years])


def _search(logs: Logs) -> str:
    """The same search as the `search` canned query: an event by its own words (`found_*`
    null) or by those of one of its current translations (`found_*` the translation's); on
    a site, a translation is its target's in the same log, and `?log=` keeps to one."""
    return f"""
    select {logs.column('e')} as log, {EVENT_COLUMNS}, e.lang as matched_lang,
           null as found_summary, null as found_title
      from events e
     where length(:q) >= 3 and {logs.only('e')}
       and rowid in (select rowid from events_fts
                      where events_fts match '"' || replace(:q, '"', '""') || '"'
                      order by rowid desc limit {FOUND})
    union all
    select {logs.column('e')}, {EVENT_COLUMNS}, e.lang, null, null from events e
     where length(:q) between 1 and 2 and {logs.only('e')}
       and rowid in (select rowid from events
                      where instr(summary, :q) > 0 or instr(title, :q) > 0
                      order by rowid desc limit {FOUND})
    union all
    select {logs.column('e')}, {EVENT_COLUMNS}, t.lang, t.summary, t.title
      from translations t join events e on e.id = t.target and {logs.same('e', 't')}
     where length(:q) >= 3 and {logs.only('e')}
       and not exists (select 1 from translations u where u.target = t.target
                         and {logs.same('u', 't')} and u.lang = t.lang
                         and u.event_id > t.event_id)
       and t.rowid in (select rowid from translations_fts
                        where translations_fts match '"' || replace(:q, '"', '""') || '"'
                        order by rowid desc limit {FOUND})
    union all
    select {logs.column('e')}, {EVENT_COLUMNS}, t.lang, t.summary, t.title
      from translations t join events e on e.id = t.target and {logs.same('e', 't')}
     where length(:q) between 1 and 2 and {logs.only('e')}
       and not exists (select 1 from translations u where u.target = t.target
                         and {logs.same('u', 't')} and u.lang = t.lang
                         and u.event_id > t.event_id)
       and t.rowid in (select rowid from translations
                        where instr(summary, :q) > 0 or instr(title, :q) > 0
                        order by rowid desc limit {FOUND})
     order by occurred desc, id desc"""


async def search_page(db, q: str, lang: str, logs: Logs | None = None) -> dict:
    """Events found by their own words or those of a translation, each shown in the page's
    language, with the language of the text its words were found in."""
    logs = logs or Logs()
    q = q.strip()
    if not q:
        return {"q": "", "results": None}
    found: dict[tuple, dict] = {}
    for row in await _rows(db, _search(logs), {"q": q, "log": logs.chosen}):
        found.setdefault((row["log"], row["id"]), dict(row, matches=[]))["matches"].append(row)
    results = await _with_orgs(db, list(found.values())[:FOUND], lang, logs)
    texts = await _texts(db, [row["id"] for row in found.values()], lang, logs)
    for result in results:
        if result["type"] == "status.changed":  # its title is a key, not words
            result["title"] = None
        translated = _text_of(texts, result)
        for field in ("summary", "title"):
            result.update(localized(result[field], result["lang"], translated.get(field),
                                    lang, field))
            result[f"{field}_marked"] = highlighted(result[field], q)
        result["found_in"] = [_match(match, result, q, lang) for match in result["matches"]]
    return {"q": q, "results": results, "limit": FOUND}


def _match(match: dict, result: dict, q: str, lang: str) -> dict:
    """Where a result's words were found: the language's name (None: not recorded), and
    the text they were found in when the page shows another (its `lang` attribute too)."""
    if match["found_summary"] is None and match["found_title"] is None:  # its own words
        text, recorded = match["summary"] or match["title"], match["lang"]
    else:
        text, recorded = match["found_summary"] or match["found_title"], match["matched_lang"]
    if text in (result["summary"], result["title"]):
        text = None
    return {"name": recorded and messages.language_name(recorded, lang),
            "text": highlighted(text, q) if text else None,
            "lang": lang_of(text, recorded, lang) if text else None}


async def meetings_page(db, period: tuple | None, city: str | None, offset: int = 0,
                        lang: str = "en", logs: Logs | None = None) -> dict:
    """The period's meetings as an agenda: by year, then month. A meeting dated only to a
    year or a biennium is listed under that span, said as such, never under its first
    month. Without a period, the latest biennium that holds meetings."""
    logs = logs or Logs()
    if period is None:
        latest = await _rows(db, f"select max(year) as year from meetings m where "
                                 f"{logs.only('m')}", {"log": logs.chosen})
        year = latest[0]["year"] if latest and latest[0]["year"] else date.today().year
        period = period_of(f"{year - 1}/{year}" if year % 2 else f"{year}/{year + 1}", lang)
    params = {"start": period[1], "end": period[2], "log": logs.chosen}
    where = f"m.occurred_end >= :start and m.occurred_start <= :end and {logs.only('m')}"
    places = await _rows(db, f"""select m.city, m.country, count(*) as n from meetings m
        where {where} and m.city is not null group by m.city, m.country
        order by n desc, m.city""", params)
    for place in places:
        place["name"] = countries.place(place["city"], place["country"], lang)
    if city:
        where += " and m.city = :city"
        params["city"] = city
    total = (await _rows(db, f"select count(*) as n from meetings m where {where}",
                         params))[0]["n"]
    rows = await _rows(db, f"""select {logs.column('m')} as log, m.event_id, m.title, m.role,
        m.planned, m.city, m.country, m.online, m.occurred, m.occurred_start, m.occurred_end,
        m.latitude, m.longitude, e.orgs from meetings m
        join events e on e.id = m.event_id and {logs.same('e', 'm')} where {where}
        order by m.occurred_start, m.occurred_end, m.event_id
        limit {AGENDA} offset :offset""", dict(params, offset=offset))
    names = await _org_names(db, [k for r in rows for k in _json(r["orgs"], [])], logs)
    await _in_language(db, rows, lang, logs=logs)
    bands: dict[tuple[int, int], dict[tuple, dict]] = {}
    for row in rows:
        logs.marked(row)
        row["when"] = in_words(row["occurred"], lang)
        row["role"] = messages.gettext(row["role"], lang) if row["role"] else row["role"]
        row["place"] = messages.gettext("online", lang) if row["online"] and not row["city"] \
            else countries.place(row["city"], row["country"], lang)
        row["org_list"] = [_org(k, names, row["log"]) for k in _json(row["orgs"], [])]
        first, last = row["occurred_start"], row["occurred_end"]
        row["outside"] = first < period[1] or last > period[2]  # overlaps, not within
        day_or_month = len(row["occurred"].split("/")[0]) > 4 and (
            len(row["occurred"].split("/")[0]) == 10 or first[:7] == last[:7])
        if day_or_month:  # a day, days, or one month: under its (first) month
            key, label, within = first[:7], in_words(first[:7], lang), True
            band = (int(first[:4]),) * 2
        else:  # a year, a biennium, months: under that span, not a month of it
            key, label, within = row["occurred"], in_words(row["occurred"], lang), False
            band = (int(first[:4]), int(last[:4]))  # 2008/2009: a band of its own
        months = bands.setdefault(band, {})
        # the spans first, each said once, then the months in order
        months.setdefault((within, key), {"label": label, "within": within,
                                          "meetings": []})["meetings"].append(row)
    # 2008, then 2008–2009 (not dated within either year), then 2009
    agenda = [{"label": str(a) if a == b else in_words(f"{a}/{b}", lang), "across": a != b,
               "months": [months[k] for k in sorted(months)]}
              for (a, b), months in sorted(bands.items())]
    years_held = [row["year"] for row in await _rows(
        db, f"select distinct year from meetings m where year is not null and {logs.only('m')} "
            "order by year", {"log": logs.chosen})]
    return {"period": period, "city": city, "places": places, "agenda": agenda,
            "total": total, "offset": offset, "shown": len(rows), "limit": AGENDA,
            "years": years_held, "points": _points(rows),
            "unplaced": [dict(row, why=unplaced_because(row)) for row in rows
                         if row["latitude"] is None]}


def _points(rows: list[dict]) -> list[dict]:
    """The agenda's meetings that have coordinates, one point per place, as the map's
    script reads them: plain values, which the template writes as JSON and the script as
    text, never as HTML."""
    points: dict[tuple, dict] = {}
    for row in rows:
        if row["latitude"] is not None:
            point = points.setdefault((row["latitude"], row["longitude"]), {
                "lat": row["latitude"], "lon": row["longitude"], "place": row["place"],
                "meetings": []})
            point["meetings"].append({"title": row["title"], "when": row["when"],
                                      "id": row["event_id"], "at": row.get("at", "")})
    return list(points.values())


def unplaced_because(meeting: dict) -> str:
    """Why the map cannot show a meeting, in words: what was recorded of its place, and what
    the gazetteer (places.py, which never guesses) made of it."""
    city, country = meeting.get("city"), meeting.get("country")
    if not city and meeting.get("online"):
        return "held online"
    if not city and not country:
        return "no place recorded"
    if not city:
        return f"only the country recorded ({countries.country_name(country)})"
    if not country:
        return f"no country recorded for {city}, so the city cannot be looked up"
    return (f"{countries.place(city, country)} is not a place the gazetteer knows: "
            "the city may be spelt otherwise there, or be too small")


# --- routes ------------------------------------------------------------------------------


async def _render(datasette, request, template: str, context: dict, status: int = 200,
                  lang: str = "en"):
    """The page in `lang`: its fixed words through `_` (the catalogs), its direction, and
    the switch to each other language (this page, `?lang=` changed); a language asked for
    is remembered for the pages its links lead to."""
    words = functools.partial(messages.gettext, lang=lang)
    here = [(k, v) for k, v in parse_qsl(request.query_string, keep_blank_values=True)
            if k != "lang"]
    switch = [(code, name, f"{request.path}?{urlencode([*here, ('lang', code)])}")
              for code, name in messages.in_their_own_names().items()]
    html = await datasette.render_template(template, dict(
        context, lang=lang, text_direction=messages.direction(lang), _=words,
        language_links=switch), request=request)
    # the same address reads in the language the cookie names: a cache must keep them apart
    response = Response.html(html, status=status, headers={"vary": "Cookie"})
    if request.args.get("lang") == lang:
        response.set_cookie(messages.COOKIE, lang, max_age=365 * 24 * 3600)
    return response


def _language(request) -> str:
    """The page's language (messages.asked_for); one not offered is a page in words."""
    try:
        return messages.asked_for(request.args.get("lang"), request.cookies.get(messages.COOKIE))
    except CooplogError as e:
        raise PageError(f"{e}.", status=400) from None


# by database: the home page counts and the agenda read a large share of the log (no index
# serves a count by type within a period, nor meetings overlapping one), so each is worked
# out once and kept until the log changes
KEPT: dict[str, KeptUntilChanged] = {}


async def _kept(db, key, build):
    if db.path not in KEPT:
        KEPT[db.path] = KeptUntilChanged(db.path, size=32)
    kept = KEPT[db.path]
    generation = kept.generation()
    found = kept.find(key)
    if found is MISSING:
        found = await build(db)
        kept.keep(key, found, generation)
    return found


async def _page(datasette, request, template: str, build, kept=None):
    """`template` rendered with what `build(db, lang)` reads; `kept`: the key to keep it
    under until the log changes, for the pages that read much of it."""
    lang = "en"
    try:
        lang = _language(request)
        db = datasette.get_database(DATABASE)
        logs = await logs_of(db, request.args.get("log"))
        context = await (_kept(db, (*kept, lang, logs.chosen), lambda db: build(db, lang, logs))
                         if kept else build(db, lang, logs))
    except PageError as e:
        return await _render(datasette, request, "cooplog_not_found.html",
                             {"message": str(e), "status": e.status}, status=e.status,
                             lang=lang)
    # kept on the page's links, and the logs to choose from (_cooplog_pages.html)
    return await _render(datasette, request, template, dict(
        context, chosen_log=logs.chosen,
        site_logs=list(logs.visibility) if len(logs.visibility) > 1 else [],
        # what a link to another page of the same list keeps as it was asked for
        query_kept=urlencode([(k, v) for k, v in parse_qsl(request.query_string)
                              if k in ("log", "lang")])), lang=lang)


async def event_view(datasette, request):
    async def build(db, lang, logs):
        return {"event": await event_page(db, request.url_vars["id"], lang, logs)}

    return await _page(datasette, request, "cooplog_event.html", build)


async def org_view(datasette, request):
    async def build(db, lang, logs):
        period = period_of(request.args.get("period"), lang)
        start = None if period else page_from(request.args.get("before"),
                                              request.args.get("after"))
        return {"org": await org_page(db, request.url_vars["key"], period, lang, logs, start),
                "period": period}

    return await _page(datasette, request, "cooplog_org.html", build,
                       kept=("org", request.url_vars["key"], request.args.get("period"),
                             request.args.get("before"), request.args.get("after")))


def _a_home_page_of_its_own(datasette) -> bool:
    """Whether the log brings an index.html of its own (log_assets): then `/` is Datasette's
    index page rendered with it, as the log asked."""
    import datasette as package
    from jinja2 import TemplateNotFound

    try:
        found = Path(datasette.jinja_env.get_template("index.html").filename).parent
    except TemplateNotFound:
        return False
    return found.resolve() != (Path(package.__file__).parent / "templates").resolve()


async def home_view(datasette, request, send):
    if _a_home_page_of_its_own(datasette):
        from datasette.views.index import IndexView

        return await IndexView.as_view(datasette)(request, send)

    async def build(db, lang, logs):
        period = period_of(request.args.get("period"), lang)
        return dict(await home_page(db, period, lang, logs), period=period,
                    site_title=datasette.metadata("title") or "cooplog",
                    description_html=Markup(datasette.metadata("description_html") or ""))

    return await _page(datasette, request, "cooplog_home.html", build,
                       kept=("home", request.args.get("period")))


async def search_view(datasette, request):
    async def build(db, lang, logs):
        return await search_page(db, request.args.get("q") or "", lang, logs)

    return await _page(datasette, request, "cooplog_search.html", build)


async def meetings_view(datasette, request):
    async def build(db, lang, logs):
        return dict(await meetings_page(db, period_of(request.args.get("period"), lang),
                                        request.args.get("city") or None, offset, lang, logs),
                    tiles=_tiles(datasette))

    offset = request.args.get("offset") or "0"
    if not offset.isdigit():
        return await _render(datasette, request, "cooplog_not_found.html", {
            "status": 400, "message": f"“{offset}” is not a number of meetings to skip: "
                                      "follow the links to the pages before and after."},
            status=400)
    offset = int(offset)
    return await _page(datasette, request, "cooplog_meetings.html", build,
                       kept=("meetings", request.args.get("period"), request.args.get("city"),
                             offset))


def _tiles(datasette) -> dict:
    """The base map's tiles as the table pages' cluster map has them (metadata.yml): served
    from the machine, so that the map draws with no request leaving it."""
    config = datasette.plugin_config("datasette-cluster-map") or {}
    return {"url": config.get("tile_layer"), "options": config.get("tile_layer_options", {})}


@hookimpl
def register_routes():
    # `format`, always empty: what Datasette's index page reads when a log's index.html is
    # rendered in its place
    return [(r"^/(?P<format>)$", home_view), (r"^/event/(?P<id>[^/]+)$", event_view),
            (r"^/org/(?P<key>[^/]+)$", org_view), (r"^/search$", search_view),
            (r"^/meetings$", meetings_view)]
