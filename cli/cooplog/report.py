"""The annex-style report: the five groups in the annex's order, each organization under its
group, its activities in the period as bullets by date. Built from the projection, so
retracted events are left out and corrected ones read as corrected. Every partner (an
organization some activity involves) is listed, as the annex lists them all, with a line
saying so when the period holds nothing for it."""

from __future__ import annotations

import functools
import html
from dataclasses import asdict, dataclass, field
from datetime import date

from . import dates
from .errors import USAGE, CooplogError

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


@dataclass
class Activity:
    occurred: str
    summary: str
    place: str | None
    event_id: str

    @property
    def line(self) -> str:
        """The bullet's text, as every format prints it."""
        place = f" ({self.place})" if self.place else ""
        return f"{self.occurred}{place}: {self.summary}"


@dataclass
class Organization:
    key: str
    name: str
    acronym: str | None
    activities: list[Activity] = field(default_factory=list)

    @property
    def heading(self) -> str:
        if self.acronym and self.acronym not in self.name:
            return f"{self.name} ({self.acronym})"
        return self.name


@dataclass
class Report:
    title: str
    period: str
    groups: list[tuple[str, list[Organization]]]  # (heading, organizations)


def title_for(start: date, end: date) -> str:
    if (start.month, start.day, end.month, end.day) == (1, 1, 12, 31):
        if end.year == start.year + 1:
            return ("Report on international cooperation over the biennium "
                    f"{start.year}–{end.year}")
        if end.year == start.year:
            return f"Report on international cooperation in {start.year}"
    return f"Report on international cooperation from {start.isoformat()} to {end.isoformat()}"


@functools.cache  # a report names the same few places many times; pycountry is slow
def place(city: str | None, country: str | None) -> str | None:
    """The place as people read it, "City, Country" (the country's common name), or None."""
    if country:
        import pycountry

        found = pycountry.countries.get(alpha_2=country)
        country = getattr(found, "common_name", None) or (found.name if found else country)
    return ", ".join(p for p in (city, country) if p) or None


def build(conn, period: str, org: str | None = None, group: str | None = None) -> Report:
    """The report's content from a connection to the projection."""
    try:
        start, end = dates.parse(period)
    except dates.DateError as e:
        raise CooplogError(f"--period: {e}: use e.g. 2008/2009 or 2009-01/2009-06",
                           exit_code=USAGE) from None
    if group is not None and group not in GROUPS:
        raise CooplogError(f"--group: {group!r} is not a group; use one of: "
                           f"{', '.join(GROUPS)}", exit_code=USAGE)
    if org is not None and not conn.execute("select 1 from organizations where key = ?",
                                            [org]).fetchone():
        raise CooplogError(f"--org: no organization has the key {org!r}", exit_code=USAGE)
    rows = conn.execute(
        """
        select o.category, o.key, o.name, o.acronym, e.occurred, e.summary, m.city,
               m.country, e.id
          from organizations o
          -- the period's activities are found first, through the index on their dates: an
          -- organization's other links would each add a row with no event
          left join (event_orgs eo join events e on e.id = eo.event_id and e.retracted = 0
                     and e.occurred_start <= :end and e.occurred_end >= :start
                     and (:org is null or eo.org_key = :org)) on eo.org_key = o.key
          left join meetings m on m.event_id = e.id
         where (:org is null or o.key = :org) and (:group is null or o.category = :group)
           and (o.activity_count > 0 or o.key = :org)
         order by o.group_order, o.registered_by, o.key, e.occurred_start, e.occurred_end,
                  e.id
        """,
        {"start": start.isoformat(), "end": end.isoformat(), "org": org, "group": group},
    ).fetchall()
    by_group: dict[str, list[Organization]] = {}
    for category, key, name, acronym, occurred, summary, city, country, event_id in rows:
        orgs = by_group.setdefault(category, [])
        if not orgs or orgs[-1].key != key:
            orgs.append(Organization(key, name, acronym))
        if event_id is not None:  # `or ""`: a database built by an older cooplog
            orgs[-1].activities.append(Activity(occurred or "", summary or "",
                                                place(city, country), event_id))
    groups = [(GROUPS[c], by_group[c]) for c in GROUPS if c in by_group]
    return Report(title_for(start, end), period, groups)


def to_dict(report: Report) -> dict:
    """The report's content as data, for scripts (`report --json`)."""
    return {"title": report.title, "period": report.period,
            "groups": [{"heading": heading,
                        "organizations": [{**asdict(o), "heading": o.heading} for o in orgs]}
                       for heading, orgs in report.groups]}


def markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    if not report.groups:
        lines += [EMPTY, ""]
    for heading, organizations in report.groups:
        lines += [f"## {heading}", ""]
        for org in organizations:
            lines += [f"### {org.heading}", ""]
            for activity in org.activities:
                lines.append(f"- {activity.line}")
            if not org.activities:
                lines.append(f"- {NOTHING}")
            lines.append("")
    return "\n".join(lines)


def html_body(report: Report) -> str:
    """The report as an HTML fragment (the Datasette page wraps it in the site's layout)."""
    e = html.escape
    parts = [f"<h1>{e(report.title)}</h1>"]
    if not report.groups:
        parts.append(f"<p>{EMPTY}</p>")
    parts.append(f'<table class="cooplog-report"><thead><tr><th>{e(COLUMNS[0])}</th>'
                 f"<th>{e(COLUMNS[1])}</th></tr></thead><tbody>")
    for heading, organizations in report.groups:
        parts.append(f'<tr class="group"><th colspan="2">{e(heading)}</th></tr>')
        for org in organizations:
            bullets = "".join(
                f'<li><span class="when">{e(a.occurred)}</span>'
                + (f' <span class="where">({e(a.place)})</span>' if a.place else "")
                + f": {e(a.summary)}</li>"
                for a in org.activities
            ) or f"<li>{NOTHING}</li>"
            parts.append(f"<tr><td>{e(org.heading)}</td><td><ul>{bullets}</ul></td></tr>")
    parts.append("</tbody></table>")
    return "\n".join(parts)


def html_document(report: Report) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(report.title)}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.4em;"
        "vertical-align:top;text-align:left}tr.group th{background:#eee}</style>"
        f"</head><body>\n{html_body(report)}\n</body></html>\n"
    )
