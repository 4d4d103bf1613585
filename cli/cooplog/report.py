"""The annex-style report: the five groups in the annex's order, each organization under its
group, its activities in the period as bullets by date, and a closing "Other activities"
part for what was recorded with no organization. Built from the projection, so retracted
events are left out and corrected ones read as corrected. Every partner (an organization
some activity involves) is listed, as the annex lists them all, with a line saying so when
the period holds nothing for it. Dates print in words and countries by their UN names;
the EDTF value stays in `to_dict` (`--json`).

A report is written in one of the six UN languages: its fixed words from the catalogs
(`messages`), dates and countries in that language's forms, and each activity in that
language where it was written in it or translated into it (the current translation), else
as written, marked with the name of its language when that is known."""

from __future__ import annotations

import difflib
import functools
import html
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date

from . import dates, messages
from .countries import place
from .errors import USAGE, CooplogError
from .events import NOT_ACTIVITIES

NOTHING = "No activity recorded in this period."
EMPTY = "No activities recorded in this period."
# The annex table's two columns.
COLUMNS = ("International and regional organizations and multilateral environmental "
           "agreements", "Activities")

GROUPS = {
    "unep": "UNEP",
    "mea": "MEAs",
    "un": "UN Agencies and organizations",
    "intergovernmental": "Other international and regional organizations",
    "network": "Non-governmental organizations / Networks",
    "other": "Other organizations",
}
# The closing part: activities recorded with no organization (`orgs: []`), listed rather
# than lost; `add` and `validate` warn about them.
OTHER_ACTIVITIES = "Other activities"
NO_ORGANIZATION = "No organization recorded"
CONTINUED = "(continued)"  # an organization's row carried onto the next page
DISTRIBUTION = "Distr.: General"
ORIGINAL = "Original: English"


@dataclass
class Activity:
    occurred: str
    summary: str  # in the report's language, or as written (then `written_in` names it)
    place: str | None
    event_id: str
    lang: str = "en"  # the report's
    written_in: str | None = None  # the name of the language it is shown in, if not `lang`

    @property
    def when(self) -> str:
        """In words; as stored when it is no date (a database built by an older cooplog)."""
        try:
            return dates.in_words(self.occurred, self.lang)
        except dates.DateError:
            return self.occurred

    @property
    def text(self) -> str:
        """The summary, marked with its language where that is not the report's."""
        return f"({self.written_in}) {self.summary}" if self.written_in else self.summary

    @property
    def line(self) -> str:
        """The bullet's text, as every format prints it."""
        place = f" ({self.place})" if self.place else ""
        return f"{self.when}{place}: {self.text}"


def activity(occurred: str, summary: str, written_in: str | None, translated: str | None,
             city: str | None, country: str | None, event_id: str, lang: str) -> Activity:
    """An activity as a report in `lang` shows it (`in_language`)."""
    summary, written_in = in_language(summary, written_in, translated, lang)
    return Activity(occurred, summary, place(city, country, lang), event_id, lang,
                    written_in and messages.language_name(written_in, lang))


def in_language(text: str, written_in: str | None, translated: str | None,
                lang: str) -> tuple[str, str | None]:
    """What a report or page in `lang` shows of a text written in `written_in`: its
    translation into `lang` if it has one, else the text as written, with the language to
    mark it with (None when written in `lang` or in a language not recorded)."""
    if translated is not None:
        return translated, None
    return text, None if written_in == lang else written_in


@dataclass
class Organization:
    key: str | None  # None: the row of activities with no organization
    name: str
    acronym: str | None
    activities: list[Activity] = field(default_factory=list)

    @property
    def heading(self) -> str:
        if self.acronym and self.acronym not in self.name:
            return f"{self.name} ({self.acronym})"
        return self.name


@dataclass
class FrontMatter:
    """What a UN document prints above its text: the symbol block (symbol, distribution,
    date, original language) and the document's own title."""

    symbol: str | None = None
    date: str | None = None  # in words
    title: str | None = None
    lang: str = "en"

    @property
    def block(self) -> list[str]:
        """The symbol block's lines, top right on the first page."""
        if not (self.symbol or self.date):
            return []
        distribution, original = (messages.gettext(words, self.lang)
                                  for words in (DISTRIBUTION, ORIGINAL))
        return [line for line in (self.symbol, distribution, self.date, original) if line]


@dataclass
class Report:
    title: str
    period: str
    groups: list[tuple[str, list[Organization]]]  # (heading, organizations)
    front: FrontMatter = field(default_factory=FrontMatter)
    lang: str = "en"

    def say(self, words: str) -> str:
        """Fixed words (NOTHING, COLUMNS, …) in the report's language."""
        return messages.gettext(words, self.lang)

    @property
    def direction(self) -> str:
        return messages.direction(self.lang)


def front_matter(symbol: str | None = None, issued: str | None = None,
                 title: str | None = None, lang: str = "en") -> FrontMatter:
    """The front matter from `--symbol`, `--date` (EDTF, printed in words) and `--title`."""
    values = {"--symbol": symbol, "--date": issued, "--title": title}
    for option, value in values.items():
        if value is not None and not value.strip():
            raise CooplogError(f"{option}: empty; give a value or leave the option out",
                               exit_code=USAGE)
    if issued is not None:
        try:
            issued = dates.in_words(issued.strip(), messages.checked(lang))
        except dates.DateError as e:
            raise CooplogError(f"--date: {e}: use e.g. 2010-04-14", exit_code=USAGE) from None
    return FrontMatter(symbol and symbol.strip(), issued, title and title.strip(), lang)


BIENNIUM = "Report on international cooperation over the biennium {period}"
YEAR = "Report on international cooperation in {year}"
PERIOD = "Report on international cooperation over the period {period}"


def title_for(period: str, start: date, end: date, lang: str = "en") -> str:
    """"… over the biennium 2008–2009" for two whole years, "… in 2009" for one, and
    "… over the period 2019–2024" for any other span: never an ISO date."""
    if (start.month, start.day, end.month, end.day) == (1, 1, 12, 31):
        if end.year == start.year + 1:
            return messages.gettext(BIENNIUM, lang).format(
                period=f"{start.year}{dates.DASH}{end.year}")
        if end.year == start.year:
            return messages.gettext(YEAR, lang).format(year=start.year)
    return messages.gettext(PERIOD, lang).format(period=dates.in_words(period, lang))


# Two years joined by a slash, a hyphen or a dash, as people write a biennium: `2008-2009`,
# `2008–2009`, `2008 — 2009`. `2008-09` stays a month.
YEARS = re.compile(r"\s*([0-9]{4})\s*[-/\u2010-\u2015]\s*([0-9]{4})\s*")
DASHES = re.compile(r"\s*[\u2010-\u2015]\s*")
PERIOD_HELP = ("give a year (2009), a biennium (2008\N{EN DASH}2009 or 2008/2009) or a span "
               "(2009-01/2009-06)")


def period_from(text: str) -> str:
    """A period as people write it, as EDTF: `2008-2009` and `2008–2009` are `2008/2009`,
    and a dash between two dates (`2009-01–2009-06`) is the slash EDTF joins them with."""
    years = YEARS.fullmatch(text)
    if years:
        return f"{years[1]}/{years[2]}"
    return DASHES.sub("/", text.strip())


def _period(period: str) -> tuple[date, date]:
    try:
        return dates.parse(period)
    except dates.DateError as e:
        raise CooplogError(f"the period cannot be read: {e}; {PERIOD_HELP}",
                           exit_code=USAGE) from None


def biennium(year: int) -> tuple[date, date]:
    """The biennium that holds `year`, as the annex counts them: 2008–2009, 2010–2011, …
    (an even year and the odd one after it)."""
    first = year - year % 2
    return date(first, 1, 1), date(first + 1, 12, 31)


def default_period(conn, today: date | None = None) -> str:
    """The period a report shows when none is asked for: the latest whole biennium that
    holds records. Whole: the log holds a record dated to its last day or later (the
    biennium still running, 2010–2011 when the last record is of February 2011, is mostly
    "No activity recorded"). If the one before holds nothing, the latest one that does;
    for an empty log, the biennium of today."""
    last = conn.execute("select max(occurred_end) from events where retracted = 0 "
                        "and occurred is not null").fetchone()[0]
    if last is None:
        start, end = biennium((today or date.today()).year)
        return f"{start.year}/{end.year}"
    last = date.fromisoformat(last)
    start, end = biennium(last.year)
    if last < end:
        whole_start, whole_end = biennium(last.year - 2)
        if conn.execute("select 1 from events where retracted = 0 and occurred_start <= ? "
                        "and occurred_end >= ? limit 1",
                        [whole_end.isoformat(), whole_start.isoformat()]).fetchone():
            start, end = whole_start, whole_end
    return f"{start.year}/{end.year}"


def organization_key(conn, text: str) -> str:
    """The key of the organization `text` names: its key, its acronym or its name, in any
    case. An unknown or ambiguous one is refused with the closest names."""
    if conn.execute("select 1 from organizations where key = ?", [text]).fetchone():
        return text
    wanted = " ".join(text.split()).casefold()
    orgs = [Organization(key, name, acronym) for key, name, acronym in conn.execute(
        "select key, name, acronym from organizations order by name, key")]
    found = [o for o in orgs if wanted in {(v or "").casefold() for v in
                                           (o.key, o.acronym, o.name)}]
    if len(found) == 1:
        return found[0].key
    if found:
        raise CooplogError(f"{text!r} names {len(found)} organizations: "
                           f"{_listed(found)}; give the key of the one you mean",
                           exit_code=USAGE)
    names = {(v or "").casefold(): o for o in orgs for v in (o.key, o.acronym, o.name)}
    close = list({id(names[m]): names[m] for m in difflib.get_close_matches(
        wanted, names, n=5, cutoff=0.6)}.values())
    hint = (f"; the closest: {_listed(close)}" if close
            else "; give an organization's key, acronym or full name")
    raise CooplogError(f"no organization is called {text!r}{hint}", exit_code=USAGE)


def _listed(orgs: list[Organization]) -> str:
    return "; ".join(f"{o.heading}, key {o.key}" for o in orgs)


def group_key(text: str) -> str:
    """The group `text` names: its key (`un`) or its heading as the annex prints it, in any
    case."""
    wanted = " ".join(text.split()).casefold()
    for key, heading in GROUPS.items():
        if wanted in (key, heading.casefold()):
            return key
    raise CooplogError(f"there is no group {text!r}; choose one of: "
                       f"{', '.join(GROUPS.values())}", exit_code=USAGE)


@dataclass(frozen=True)
class Choice:
    """What a reader asked to see, in the log's own terms: an EDTF period, an
    organization's key, a group's key."""

    period: str
    org: str | None = None
    group: str | None = None


def choose(conn, period: str | None = None, org: str | None = None,
           group: str | None = None) -> Choice:
    """The report asked for in people's words (the site's query string, the command's
    options); no period is the default one."""
    period = period_from(period) if period and period.strip() else default_period(conn)
    _period(period)
    return Choice(period, organization_key(conn, org.strip()) if org and org.strip() else None,
                  group_key(group) if group and group.strip() else None)


def build(conn, period: str, org: str | None = None, group: str | None = None,
          front: FrontMatter | None = None, lang: str = "en") -> Report:
    """The report's content, in `lang`, from a connection to the projection."""
    messages.checked(lang)
    chosen = choose(conn, period, org, group)
    period, org, group = chosen.period, chosen.org, chosen.group
    start, end = _period(period)
    bounds = {"start": start.isoformat(), "end": end.isoformat(), "lang": lang}
    same = same_log(conn)
    rows = conn.execute(
        f"""
        select o.category, o.key, o.name, o.acronym, e.occurred, e.summary, e.lang,
               ({translated(same)}), m.city, m.country, e.id
          from organizations o
          -- the period's activities are found first, through the index on their dates: an
          -- organization's other links would each add a row with no event
          left join (event_orgs eo join events e on e.id = eo.event_id {same('e', 'eo')}
                     and e.retracted = 0
                     and e.occurred_start <= :end and e.occurred_end >= :start
                     and (:org is null or eo.org_key = :org)) on eo.org_key = o.key
          left join meetings m on m.event_id = e.id {same('m', 'e')}
         where (:org is null or o.key = :org) and (:group is null or o.category = :group)
           and (o.activity_count > 0 or o.key = :org)
         order by o.group_order, o.registered_by, o.key, e.occurred_start, e.occurred_end,
                  e.id
        """,
        {**bounds, "org": org, "group": group},
    ).fetchall()
    by_group: dict[str, list[Organization]] = {}
    for category, key, name, acronym, *shown in rows:
        orgs = by_group.setdefault(category, [])
        if not orgs or orgs[-1].key != key:
            orgs.append(Organization(key, name, acronym))
        if shown[-1] is not None:  # `or ""`: a database built by an older cooplog
            occurred, summary, *rest = shown
            orgs[-1].activities.append(activity(occurred or "", summary or "", *rest, lang))
    say = functools.partial(messages.gettext, lang=lang)
    groups = [(say(GROUPS[c]), by_group[c]) for c in GROUPS if c in by_group]
    if org is None and group is None:
        unattached = without_organization(conn, bounds, same)
        if unattached:
            groups.append((say(OTHER_ACTIVITIES),
                           [Organization(None, say(NO_ORGANIZATION), None, unattached)]))
    return Report(title_for(period, start, end, lang), period, groups,
                  front or FrontMatter(lang=lang), lang)


def same_log(conn) -> Callable[[str, str], str]:
    """How the report's joins keep to one log. A site database (cooplog.site) holds several
    logs, where two may hold one event id: its rows are joined on (log, id). One log's own
    database has no `log` column: its queries stay word for word as they are, and so do
    their plans."""
    columns = {row[1] for row in conn.execute("pragma table_info(events)")}
    if "log" in columns:
        return lambda a, b: f"and {a}.log = {b}.log"
    return lambda a, b: ""


def translated(same: Callable[[str, str], str]) -> str:
    """An event's current translation into the report's language (:lang): the larger id
    wins."""
    return f"""select t.summary from translations t
                 where t.target = e.id {same('t', 'e')} and t.lang = :lang
                 order by t.event_id desc limit 1"""


def without_organization(conn, bounds: dict, same: Callable[[str, str], str]) -> list[Activity]:
    """The period's activities recorded with no organization, by date."""
    left_out = "and e.type not in ({})".format(", ".join(f"'{name}'" for name in NOT_ACTIVITIES))
    rows = conn.execute(
        f"""
        select e.occurred, e.summary, e.lang, ({translated(same)}), m.city, m.country, e.id
          from events e {without_orgs_index(conn)}
               left join meetings m on m.event_id = e.id {same('m', 'e')}
         -- `orgs is null` (no organization) through its partial index, which the order by
         -- would otherwise pass over: a scan of the period's events would cost as much as
         -- the rest of the report
         where e.orgs is null and e.occurred is not null and e.retracted = 0
           and e.occurred_start <= :end and e.occurred_end >= :start {left_out}
         order by e.occurred_start, e.occurred_end, e.id
        """, bounds).fetchall()
    return [activity(*row, bounds["lang"]) for row in rows]


def without_orgs_index(conn) -> str:
    """The hint to the partial index of events with no organization, where `events` is the
    table: a site's report of some of its logs reads a view of it (site.read_as_one)."""
    view = conn.execute("select 1 from sqlite_temp_master where name = 'events'").fetchone()
    return "" if view else "indexed by idx_events_without_orgs"


def to_dict(report: Report) -> dict:
    """The report's content as data, for scripts (`report --json`): dates as recorded
    (EDTF) beside the words the documents print."""
    front = {k: v for k, v in asdict(report.front).items() if k != "lang"}
    return {"title": report.title, "period": report.period, "lang": report.lang,
            "front": front if any(front.values()) else None,
            "groups": [{"heading": heading,
                        "organizations": [
                            {**asdict(o), "heading": o.heading,
                             "activities": [{**_without_lang(asdict(a)), "when": a.when}
                                            for a in o.activities]}
                            for o in orgs]}
                       for heading, orgs in report.groups]}


def _without_lang(fields: dict) -> dict:
    """An activity's fields less the report's language, which the report says once."""
    return {name: value for name, value in fields.items() if name != "lang"}


def markdown(report: Report) -> str:
    lines = []
    if report.front.block:
        lines += ["  \n".join(report.front.block), ""]
    if report.front.title:
        lines += [f"**{report.front.title}**", ""]
    lines += [f"# {report.title}", ""]
    if not report.groups:
        lines += [report.say(EMPTY), ""]
    for heading, organizations in report.groups:
        lines += [f"## {heading}", ""]
        for org in organizations:
            lines += [f"### {org.heading}", ""]
            for activity in org.activities:
                lines.append(f"- {activity.line}")
            if not org.activities:
                lines.append(f"- {report.say(NOTHING)}")
            lines.append("")
    return "\n".join(lines)


def html_body(report: Report) -> str:
    """The report as an HTML fragment (the Datasette page wraps it in the site's layout)."""
    e = html.escape
    parts = [f'<div class="cooplog-report-text" lang="{report.lang}" dir="{report.direction}">']
    if report.front.block:
        parts.append('<div class="symbol-block">' + "".join(
            f'<p class="{"symbol" if i == 0 and report.front.symbol else "line"}">{e(line)}'
            "</p>" for i, line in enumerate(report.front.block)) + "</div>")
    if report.front.title:
        parts.append(f'<p class="document-title">{e(report.front.title)}</p>')
    parts.append(f"<h1>{e(report.title)}</h1>")
    if not report.groups:
        parts.append(f"<p>{e(report.say(EMPTY))}</p>")
    parts.append(f'<table class="cooplog-report"><thead><tr><th>{e(report.say(COLUMNS[0]))}'
                 f"</th><th>{e(report.say(COLUMNS[1]))}</th></tr></thead><tbody>")
    for heading, organizations in report.groups:
        parts.append(f'<tr class="group"><th colspan="2">{e(heading)}</th></tr>')
        for org in organizations:
            bullets = "".join(
                f'<li><span class="when">{e(a.when)}</span>'
                + (f' <span class="where">({e(a.place)})</span>' if a.place else "")
                # its own direction: an English summary in an Arabic report reads left to right
                + f": <bdi>{e(a.text)}</bdi></li>"
                for a in org.activities
            ) or f"<li>{e(report.say(NOTHING))}</li>"
            parts.append(f"<tr><td>{e(org.heading)}</td><td><ul>{bullets}</ul></td></tr>")
    parts.append("</tbody></table></div>")
    return "\n".join(parts)


STYLE = ("body{font-family:'Times New Roman',serif;max-width:60em;margin:2em auto}"
         "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.4em;"
         "vertical-align:top;text-align:start}tr.group th{background:#eee}"
         ".symbol-block{text-align:end}.symbol-block p{margin:0}"
         ".symbol-block .symbol{font-size:1.4em;font-weight:bold}"
         ".document-title{font-weight:bold}")


def html_document(report: Report) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{report.lang}" dir="{report.direction}"><head>'
        '<meta charset="utf-8">'
        f"<title>{html.escape(report.title)}</title><style>{STYLE}</style>"
        f"</head><body>\n{html_body(report)}\n</body></html>\n"
    )
