"""Pages people read, on top of Datasette's tables: `/` (what the log holds), `/event/<id>`,
`/org/<key>`, `/search` and `/meetings`. Names instead of keys and ids, dates in words, lists
as lists; text of the record in Chinese marked `lang="zh"` (`lang_of` says the rule).

The data is read here, in Python, through Datasette's read-only connection, and handed to
templates as plain values: a log's templates render in Jinja's sandbox, which cannot reach
the databases (log_assets), and text from the record is escaped by the templates, never
marked safe. Queries go through the indexes of schema.INDEXES; what no index serves (the
home page's counts within a period, the meetings overlapping one) is worked out once and
kept until the log changes."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from cooplog import countries, dates, events, report
from cooplog.report import GROUPS, NOT_ACTIVITIES
from cooplog.site_support import MISSING, KeptUntilChanged

DATABASE = "cooplog"
LATEST = 12  # changes listed on the home page
AGENDA = 200  # meetings on one agenda page, with links to the pages before and after
WAITING = 20  # open requests and submissions listed there; the canned query has them all
FOUND = 200  # search results shown, as the `search` canned query
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


def in_words(occurred: str | None) -> str:
    """An `occurred` value or an RFC 3339 timestamp as a date in words; "" for none."""
    if not occurred:
        return ""
    try:
        return dates.in_words(occurred[:10] if "T" in occurred else occurred)
    except dates.DateError:
        return occurred


def lang_of(text: str | None, recorded: str | None) -> str | None:
    """The `lang` attribute a piece of the record needs on an English page: the event's
    recorded `lang` when it is not English, else "zh" when the text has Han ideographs."""
    if not text:
        return None
    if recorded:
        return None if recorded == "en" else recorded
    return "zh" if HAN.search(text) else None


def period_of(value: str | None) -> tuple[str, str, str, str] | None:
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
    return canonical, first.isoformat(), last.isoformat(), dates.in_words(canonical)


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


async def _rows(db, sql: str, params: dict | None = None) -> list[dict]:
    return [dict(row) for row in (await db.execute(sql, params or {})).rows]


async def _org_names(db, keys) -> dict[str, dict]:
    keys = sorted({k for k in keys if k})
    if not keys:
        return {}
    rows = await _rows(db, "select key, name, acronym from organizations where key in "
                           "(select value from json_each(:keys))", {"keys": json.dumps(keys)})
    return {row["key"]: row for row in rows}


def _org(key: str, names: dict[str, dict]) -> dict:
    known = names.get(key)
    return {"key": key, "name": known["name"] if known else key,
            "acronym": known["acronym"] if known else None, "known": bool(known)}


async def _with_orgs(db, events: list[dict]) -> list[dict]:
    """Each event with its organizations by name and its text's language, for a list."""
    names = await _org_names(db, [k for e in events for k in _json(e.get("orgs"), [])])
    for event in events:
        event["org_list"] = [_org(k, names) for k in _json(event.get("orgs"), [])]
        event["when"] = in_words(event.get("occurred"))
        event["kind"] = KINDS.get(event["type"], event["type"])
        event["text"] = event.get("summary") or event.get("title") or event["kind"]
        event["text_lang"] = lang_of(event["text"], event.get("lang"))
    return events


async def _history(db, subjects: list[str]) -> dict[str, list[dict]]:
    """Each subject's status history, oldest first, each "since" its own date in words."""
    if not subjects:
        return {}
    rows = await _rows(db, """select subject, status, note, occurred, event_id from statuses
                               where subject in (select value from json_each(:keys))
                               order by occurred_start, occurred_end, event_id""",
                       {"keys": json.dumps(subjects)})
    history: dict[str, list[dict]] = {}
    for row in rows:
        row["since"] = in_words(row["occurred"])
        row["words"] = row["status"].replace("-", " ")
        history.setdefault(row["subject"], []).append(row)
    return history


EVENT_COLUMNS = ("e.id, e.type, e.occurred, e.summary, e.title, e.orgs, e.retracted, "
                 "json_extract(e.original, '$.lang') as lang")


async def event_page(db, event_id: str) -> dict:
    rows = await _rows(db, "select *, json_extract(original, '$.lang') as lang from events "
                           "where id = :id", {"id": event_id.upper()})
    if not rows:
        raise PageError(f"No event has the id “{event_id}”. It may be mistyped, or recorded "
                        "in another office and not yet synced.")
    event = rows[0]
    data = _json(event["data"], {})
    original = _json(event["original"], {})
    names = await _org_names(db, _json(event["orgs"], []) + _org_keys_in(data))
    event.update(
        when=in_words(event["occurred"]), kind=KINDS.get(event["type"], event["type"]),
        summary_lang=lang_of(event["summary"], event["lang"]),
        title_lang=lang_of(event["title"], event["lang"]),
        org_list=[_org(k, names) for k in _json(event["orgs"], [])],
        documents=[dict(d, link=web_link(d.get("url"))) for d in _json(event["documents"], [])],
        mandate_list=_json(event["mandates"], []),
        item_list=data.get("items") or [],
        details=_details(event["type"], data, names),
        recorded_when=in_words(event["recorded_at"]),
    )
    event["confidential"] = await _confidential(db, [event.get("log")])
    event["place"] = await _place(db, event["id"], data)
    event["subject"] = None
    if event["type"] == "status.changed":  # its title is the subject's key: name it instead
        event["title"] = event["title_lang"] = None
        event["subject"] = await _subject(db, data.get("subject"))
    event["history"] = (await _history(db, [data["key"]])).get(data["key"], []) \
        if events.TYPES[event["type"]].entity else []
    event["commit"] = None
    if event["commit_sha"]:
        commits = await _rows(db, "select sha, author, email, committed_at from commits "
                                  "where sha = :sha", {"sha": event["commit_sha"]})
        if commits:
            event["commit"] = dict(commits[0], when=in_words(commits[0]["committed_at"]))
    event["corrections"] = await _corrections(db, original, _json(event["corrected_by"], []))
    event["retraction"] = None
    if event["retracted"] and event["retracted_by"]:
        retraction = await _rows(db, "select id, recorded_at, recorded_by, data from events "
                                     "where id = :id", {"id": event["retracted_by"]})
        if retraction:
            r = retraction[0]
            event["retraction"] = {"id": r["id"], "by": r["recorded_by"],
                                   "when": in_words(r["recorded_at"]),
                                   "reason": _json(r["data"], {}).get("reason")}
    if event["target"]:
        target = await _rows(db, "select id, summary, title, type from events where id = :id",
                             {"id": event["target"]})
        event["target_event"] = (await _with_orgs(db, target))[0] if target else None
    return event


async def _subject(db, key: str | None) -> dict | None:
    """The agreement, submission, request or project a status is about, by its title."""
    rows = await _rows(db, """select event_id, title from agreements where key = :key
        union all select event_id, title from submissions where key = :key
        union all select event_id, subject from requests where key = :key
        union all select event_id, title from projects where key = :key""", {"key": key})
    return rows[0] if rows else None


def _org_keys_in(data: dict) -> list[str]:
    keys = [data.get("to"), data.get("funder"), data.get("parent")]
    keys += data.get("parties") or []
    keys += data.get("organizer") or []
    return [k for k in keys if isinstance(k, str)]


def _details(type_: str, data: dict, names: dict[str, dict]) -> list[tuple[str, object]]:
    """The type's own fields a reader needs, labelled, organizations by name."""

    def org(key):
        return _org(key, names)

    fields = {
        "role": ("Role", lambda v: v),
        "to": ("To", org),
        "body": ("Body", lambda v: v),
        "kind": ("Kind", lambda v: {"mou": "memorandum of understanding"}.get(v, v)),
        "parties": ("Parties", lambda v: [org(k) for k in v]),
        "organizer": ("Organized by", lambda v: [org(k) for k in v]),
        "funder": ("Funded by", org),
        "countries": ("Countries", lambda v: [countries.country_name(c) for c in v]),
        "status": ("Status", lambda v: v.replace("-", " ")),
        "note": ("Note", lambda v: v),
        "partnership": ("Partnership", lambda v: v),
        "change": ("Change", lambda v: v),
        "agreement": ("Agreement", lambda v: v),
        "online": ("Online", lambda v: "yes" if v else "no"),
    }
    return [(label, show(data[name])) for name, (label, show) in fields.items()
            if data.get(name) not in (None, "", [])]


async def _place(db, event_id: str, data: dict) -> str | None:
    rows = await _rows(db, "select city, country from meetings where event_id = :id",
                       {"id": event_id})
    location = rows[0] if rows else (data.get("location") or {})
    return countries.place(location.get("city"), location.get("country"))


async def _corrections(db, original: dict, ids: list[str]) -> list[dict]:
    """Each correction in force, in id order, as old → new with its reason: the old value is
    what the field held before that correction, starting from the event as recorded."""
    if not ids:
        return []
    rows = await _rows(db, """select id, recorded_at, recorded_by, data from events
                               where id in (select value from json_each(:ids)) order by id""",
                       {"ids": json.dumps(ids)})
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
                            "when": in_words(row["recorded_at"]), "reason": data.get("reason"),
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


async def org_page(db, key: str, period: tuple | None) -> dict:
    rows = await _rows(db, "select * from organizations where key = :key",
                       {"key": key.strip().lower()})
    if not rows:
        raise PageError(f"No organization has the key “{key}”. See the list of "
                        "organizations on the home page.")
    org = rows[0]
    org["confidential"] = await _confidential(db, [row.get("log") for row in rows])
    org["group"] = GROUPS.get(org["category"], org["category"])
    org["parent_org"] = None
    if org["parent"]:
        org["parent_org"] = _org(org["parent"], await _org_names(db, [org["parent"]]))
    params = {"key": org["key"]}
    within = ""
    if period:
        within = " and e.occurred_end >= :start and e.occurred_start <= :end"
        params.update(start=period[1], end=period[2])
    org["activities"] = await _with_orgs(db, await _rows(db, f"""
        select {EVENT_COLUMNS}, e.occurred_start, e.occurred_end
          from event_orgs eo join events e on e.id = eo.event_id
         where eo.org_key = :key and e.retracted = 0 and {NOT_ACTIVITY}{within}
         order by e.occurred_start, e.occurred_end, e.id""", params))
    for activity in org["activities"]:
        activity["others"] = [o for o in activity["org_list"] if o["key"] != org["key"]]
        activity["outside"] = _outside(activity, period)
    involved = "select event_id from event_orgs where org_key = :key"
    org["agreements"] = await _rows(db, f"""select key, event_id, kind, title, parties,
        occurred, status from agreements where event_id in ({involved})
        order by occurred, key""", {"key": org["key"]})
    org["submissions"] = await _rows(db, f"""select key, event_id, to_org, body, title, items,
        occurred, status from submissions where event_id in ({involved})
        order by occurred, key""", {"key": org["key"]})
    org["requests"] = await _rows(db, f"""select key, event_id, to_org, subject, occurred,
        status from requests where event_id in ({involved})
        order by occurred, key""", {"key": org["key"]})
    history = await _history(db, [r["key"] for kind in ("agreements", "submissions", "requests")
                                  for r in org[kind]])
    for kind in ("agreements", "submissions", "requests"):
        for row in org[kind]:
            row["when"] = in_words(row["occurred"])
            row["history"] = history.get(row["key"], [])
            row["item_list"] = _json(row.get("items"), [])
    org["partnerships"] = await _rows(db, f"""select p.event_id, p.partnership, p.role,
        p.occurred from partnerships p where p.event_id in ({involved})
        order by p.occurred, p.event_id""", {"key": org["key"]})
    for row in org["partnerships"]:
        row["when"] = in_words(row["occurred"])
    org["meetings"] = await _rows(db, f"""select m.event_id, m.title, m.role, m.planned, m.city,
        m.country, m.occurred, m.occurred_start, m.occurred_end
          from event_orgs eo join meetings m on m.event_id = eo.event_id
        join events e on e.id = m.event_id
         where eo.org_key = :key{within} order by m.occurred_start, m.event_id""", params)
    for row in org["meetings"]:
        row["when"] = in_words(row["occurred"])
        row["outside"] = _outside(row, period)
        row["place"] = countries.place(row["city"], row["country"])
    org["children"] = await _rows(db, "select key, name, acronym from organizations "
                                      "where parent = :key order by name", {"key": org["key"]})
    return org


def _outside(row: dict, period: tuple | None) -> bool:
    """Whether an item listed for a period overlaps it without being dated within it (an
    item of the biennium 2008/2009, listed for 2009): the page says so beside it."""
    return bool(period) and (row["occurred_start"] < period[1] or row["occurred_end"] > period[2])


async def home_page(db, period: tuple | None) -> dict:
    within, params = "", {}
    if period:
        within = " and occurred_end >= :start and occurred_start <= :end"
        params = {"start": period[1], "end": period[2]}
    outside = "sum(occurred_start < :start or occurred_end > :end)" if period else "0"
    by_type = await _rows(db, f"select type, count(*) as n, {outside} as outside from events "
                              f"where retracted = 0{within} group by type", params)
    counts = {row["type"]: row["n"] for row in by_type}
    not_within = sum(row["outside"] for row in by_type if row["type"] not in NOT_ACTIVITIES)
    organizations = await _rows(db, """select distinct key, name, acronym, category, group_order
                                         from organizations order by group_order, name""")
    groups: dict[str, list] = {}
    for org in organizations:
        groups.setdefault(GROUPS.get(org["category"], org["category"]), []).append(org)
    years = [row["year"] for row in await _rows(
        db, "select distinct year from events where year is not null order by year desc")]
    latest = await _with_orgs(db, await _rows(db, f"""
        select {EVENT_COLUMNS}, e.recorded_at, e.recorded_by, e.target
          from events e order by e.recorded_at desc, e.id desc limit {LATEST}"""))
    targets = await _rows(db, """select id, summary, title, type from events
        where id in (select value from json_each(:ids))""",
                          {"ids": json.dumps([e["target"] for e in latest if e["target"]])})
    named = {t["id"]: t["summary"] or t["title"] or KINDS.get(t["type"], t["type"])
             for t in targets}
    for event in latest:
        event["recorded_when"] = in_words(event["recorded_at"])
        if event["target"] in named:  # a correction, retraction or translation: of what
            event["kind"] = f"{event['kind']} of"
            event["text"] = f"“{named[event['target']]}”"
            event["text_lang"] = lang_of(named[event["target"]], None)
    return {"counts": _counted(counts, len(organizations)), "not_within": not_within,
            "groups": groups,
            "periods": _periods(years), "latest": latest, "waiting": await _waiting(db)}


async def _waiting(db) -> list[dict]:
    """Requests and submissions still waiting for an answer (the `open_items` view), oldest
    first, each with whom it went to and since when its status holds."""
    rows = await _rows(db, f"""select i.kind, i.title, i.to_org, i.status, i.status_since,
        i.event_id, e.occurred from open_items i join events e on e.id = i.event_id
        order by e.occurred_start, i.key limit {WAITING}""")
    names = await _org_names(db, [r["to_org"] for r in rows])
    for row in rows:
        row["to"] = _org(row["to_org"], names) if row["to_org"] else None
        row["when"] = in_words(row["occurred"])
        row["since"] = in_words(row["status_since"])
        row["words"] = (row["status"] or "no answer recorded").replace("-", " ")
    return rows


def _counted(counts: dict[str, int], organizations: int) -> list[str]:
    """What the log holds, as phrases: "40 meetings", "1 request"."""

    def phrase(n: int, one: str, many: str) -> str:
        return f"{n:,} {one if n == 1 else many}"

    meetings = counts.get("meeting.attended", 0)
    phrases = [phrase(organizations, "organization registered", "organizations registered"),
               phrase(meetings, "meeting attended", "meetings attended")]
    for type_, one, many in (
            ("meeting.planned", "meeting planned", "meetings planned"),
            ("agreement.signed", "agreement", "agreements"),
            ("submission.made", "submission", "submissions"),
            ("request.made", "request", "requests"),
            ("project.proposed", "project", "projects"),
            ("partnership.joined", "partnership", "partnerships"),
            ("activity.noted", "other activity", "other activities"),
            ("status.changed", "change of status", "changes of status")):
        if counts.get(type_):
            phrases.append(phrase(counts[type_], one, many))
    return phrases


def _periods(years: list[int]) -> list[tuple[str, str]]:
    """The bienniums the log's years fall in (2008/2009 …), latest first, then each year."""
    bienniums = sorted({(y - 1, y) if y % 2 else (y, y + 1) for y in years}, reverse=True)
    return ([(f"{a}/{b}", dates.in_words(f"{a}/{b}")) for a, b in bienniums]
            + [(str(y), str(y)) for y in years])


async def search_page(db, q: str) -> dict:
    q = q.strip()
    if not q:
        return {"q": "", "results": None}
    rows = await _rows(db, f"""
        select {EVENT_COLUMNS} from events e
         where length(:q) >= 3
           and rowid in (select rowid from events_fts
                          where events_fts match '"' || replace(:q, '"', '""') || '"'
                          order by rowid desc limit {FOUND})
        union all
        select {EVENT_COLUMNS} from events e
         where length(:q) between 1 and 2
           and rowid in (select rowid from events
                          where instr(summary, :q) > 0 or instr(title, :q) > 0
                          order by rowid desc limit {FOUND})
         order by occurred desc, id desc""", {"q": q})
    results = await _with_orgs(db, rows)
    for result in results:
        if result["type"] == "status.changed":  # its title is a key, not words
            result["title"] = None
        result["summary_marked"] = highlighted(result["summary"], q)
        result["title_marked"] = highlighted(result["title"], q)
        result["summary_lang"] = lang_of(result["summary"], result["lang"])
        result["title_lang"] = lang_of(result["title"], result["lang"])
    return {"q": q, "results": results, "limit": FOUND}


async def meetings_page(db, period: tuple | None, city: str | None, offset: int = 0) -> dict:
    """The period's meetings as an agenda: by year, then month. A meeting dated only to a
    year or a biennium is listed under that span, said as such, never under its first
    month. Without a period, the latest biennium that holds meetings."""
    if period is None:
        latest = await _rows(db, "select max(year) as year from meetings")
        year = latest[0]["year"] if latest and latest[0]["year"] else date.today().year
        period = period_of(f"{year - 1}/{year}" if year % 2 else f"{year}/{year + 1}")
    params = {"start": period[1], "end": period[2]}
    where = "m.occurred_end >= :start and m.occurred_start <= :end"
    places = await _rows(db, f"""select m.city, m.country, count(*) as n from meetings m
        where {where} and m.city is not null group by m.city, m.country
        order by n desc, m.city""", params)
    for place in places:
        place["name"] = countries.place(place["city"], place["country"])
    if city:
        where += " and m.city = :city"
        params["city"] = city
    total = (await _rows(db, f"select count(*) as n from meetings m where {where}",
                         params))[0]["n"]
    rows = await _rows(db, f"""select m.event_id, m.title, m.role, m.planned, m.city, m.country,
        m.online, m.occurred, m.occurred_start, m.occurred_end, m.latitude, m.longitude,
        e.orgs from meetings m
        join events e on e.id = m.event_id where {where}
        order by m.occurred_start, m.occurred_end, m.event_id
        limit {AGENDA} offset :offset""", dict(params, offset=offset))
    names = await _org_names(db, [k for r in rows for k in _json(r["orgs"], [])])
    bands: dict[tuple[int, int], dict[tuple, dict]] = {}
    for row in rows:
        row["when"] = in_words(row["occurred"])
        row["place"] = "online" if row["online"] and not row["city"] else \
            countries.place(row["city"], row["country"])
        row["org_list"] = [_org(k, names) for k in _json(row["orgs"], [])]
        first, last = row["occurred_start"], row["occurred_end"]
        row["outside"] = first < period[1] or last > period[2]  # overlaps, not within
        day_or_month = len(row["occurred"].split("/")[0]) > 4 and (
            len(row["occurred"].split("/")[0]) == 10 or first[:7] == last[:7])
        if day_or_month:  # a day, days, or one month: under its (first) month
            key, label, within = first[:7], in_words(first[:7]), True
            band = (int(first[:4]),) * 2
        else:  # a year, a biennium, months: under that span, not a month of it
            key, label, within = row["occurred"], in_words(row["occurred"]), False
            band = (int(first[:4]), int(last[:4]))  # 2008/2009: a band of its own
        months = bands.setdefault(band, {})
        # the spans first, each said once, then the months in order
        months.setdefault((within, key), {"label": label, "within": within,
                                          "meetings": []})["meetings"].append(row)
    # 2008, then 2008–2009 (not dated within either year), then 2009
    agenda = [{"label": str(a) if a == b else in_words(f"{a}/{b}"), "across": a != b,
               "months": [months[k] for k in sorted(months)]}
              for (a, b), months in sorted(bands.items())]
    years_held = [row["year"] for row in await _rows(
        db, "select distinct year from meetings where year is not null order by year")]
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
                                      "id": row["event_id"]})
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


async def _render(datasette, request, template: str, context: dict, status: int = 200):
    html = await datasette.render_template(template, context, request=request)
    return Response.html(html, status=status)


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
    """`template` rendered with what `build` reads; `kept`: the key to keep it under until
    the log changes, for the pages that read much of it."""
    try:
        db = datasette.get_database(DATABASE)
        context = await (_kept(db, kept, build) if kept else build(db))
    except PageError as e:
        return await _render(datasette, request, "cooplog_not_found.html",
                             {"message": str(e), "status": e.status}, status=e.status)
    return await _render(datasette, request, template, context)


async def event_view(datasette, request):
    async def build(db):
        return {"event": await event_page(db, request.url_vars["id"])}

    return await _page(datasette, request, "cooplog_event.html", build)


async def org_view(datasette, request):
    async def build(db):
        period = period_of(request.args.get("period"))
        return {"org": await org_page(db, request.url_vars["key"], period),
                "period": period}

    return await _page(datasette, request, "cooplog_org.html", build)


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

    async def build(db):
        period = period_of(request.args.get("period"))
        return dict(await home_page(db, period), period=period,
                    site_title=datasette.metadata("title") or "cooplog",
                    description_html=Markup(datasette.metadata("description_html") or ""))

    return await _page(datasette, request, "cooplog_home.html", build,
                       kept=("home", request.args.get("period")))


async def search_view(datasette, request):
    async def build(db):
        return await search_page(db, request.args.get("q") or "")

    return await _page(datasette, request, "cooplog_search.html", build)


async def meetings_view(datasette, request):
    async def build(db):
        return dict(await meetings_page(db, period_of(request.args.get("period")),
                                        request.args.get("city") or None, offset),
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
