"""What a report leaves out, and why (`cooplog report --check`): every event of the period
that the report does not show is either accounted for (retracted, moved out of the period
by a correction, or a correction, retraction or translation, which shows in the event it
names) or not, and a report with anything unaccounted for is not one to send."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from . import dates, report


@dataclass
class Omission:
    event_id: str
    type: str
    occurred: str | None
    reason: str
    accounted: bool

    def to_dict(self) -> dict:
        return asdict(self)


_ABOUT = {"event.corrected": "a correction of {}: the report shows the corrected event",
          "event.retracted": "the retraction of {}",
          "translation.added": "a translation of {}: the report shows the event"}


def _recorded_in(value: str | None, start: str, end: str) -> bool:
    if not value:
        return False
    first, last = dates.parse(value)
    return first.isoformat() <= end and last.isoformat() >= start


def omissions(conn, period: str) -> list[Omission]:
    """Each event of the period (by its date as it now reads or as first recorded, or by
    the date of the event it names) that the whole report of `period` does not show."""
    content = report.build(conn, period)
    shown = {a.event_id for _, orgs in content.groups for o in orgs for a in o.activities}
    start, end = (d.isoformat() for d in dates.parse(content.period))
    rows = conn.execute(
        """
        select e.id, e.type, e.occurred, e.occurred_start <= :end and e.occurred_end >= :start,
               json_extract(e.original, '$.occurred'), e.retracted, e.retracted_by,
               json_extract(r.data, '$.reason'), e.corrected_by, e.target
          from events e left join events r on r.id = e.retracted_by
         where (e.occurred_start <= :end and e.occurred_end >= :start) or e.corrected = 1
            or e.target in (select id from events
                             where (occurred_start <= :end and occurred_end >= :start)
                                or corrected = 1)
         order by e.occurred_start, e.id
        """, {"start": start, "end": end}).fetchall()
    of_period = {row[0] for row in rows if row[3] or _recorded_in(row[4], start, end)}
    found = []
    for (event_id, type_, occurred, within, _, retracted, retracted_by, why, corrected_by,
         target) in rows:
        if event_id in shown or not (event_id in of_period or target in of_period):
            continue
        accounted = True
        if retracted:
            reason = f"retracted by {retracted_by}" + (f": {why}" if why else "")
        elif type_ in _ABOUT:
            reason = _ABOUT[type_].format(target)
        elif not within:
            by = ", ".join(json.loads(corrected_by)) if corrected_by else "a correction"
            reason = (f"corrected by {by}: now dated "
                      f"{dates.in_words(occurred) if occurred else 'nothing'}, "
                      "outside the period")
        else:
            accounted = False
            reason = ("not shown, for no reason the report knows: run `cooplog validate` "
                      "(an organization it names may not be registered)")
        found.append(Omission(event_id, type_, occurred, reason, accounted))
    return found
