"""What an append may do but is likely a mistake, said at the time rather than refused:
the same event recorded twice, and an activity that names no organization."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from . import dates, events
from .errors import Problem
from .recorded import consult
from .store import Store, contents, default_db

NO_ORGANIZATION = ("names no organization, so no organization's part of the report lists it: "
                   "name the ones involved (--org KEY, or orgs in JSON) if there are any")


def unattributed(event: events.Event) -> str | None:
    """The warning for an activity (a dated type) that names no organization, if it is one."""
    return NO_ORGANIZATION if event.spec.dated and not event.orgs else None


def likely_mistakes(store: Store, batch: list[tuple[str, events.Event]],
                    db: Path | None = None) -> list[Problem]:
    """What to warn about before the batch is written: each activity of no organization,
    and each likely duplicate of an event in the log, named by the first such event."""
    found = [Problem(label, "orgs", NO_ORGANIZATION)
             for label, event in batch if unattributed(event)]
    dated = [(label, event) for label, event in batch if event.spec.dated]
    if dated:
        earlier = _from_database(store, dated, Path(db) if db else default_db(store.root))
        if earlier is None:
            earlier = _from_files(store, dated)
        for label, event in dated:
            same = sorted(i for i, (_, fingerprint) in earlier.items()
                          if _alike(_fingerprint(event), fingerprint))
            found += [Problem(label, "", f"likely a duplicate of {i} ({earlier[i][0]}): same "
                                         "type, date, organizations and title or summary")
                      for i in same[:1]]
    return found


def _words(text: str | None) -> str | None:
    """Text as compared for duplicates: case and spaces left out."""
    return re.sub(r"\s+", "", text).casefold() if text else None


def _title(event_type: str, title: str | None) -> str | None:
    """The title as compared, from the data field the projection takes it from; a status
    change's is its subject, which two changes of one subject on one day share."""
    return None if event_type == "status.changed" else _words(title)


def _fingerprint(event: events.Event):
    title = event.data.get(event.spec.title)
    return (event.type, event.occurred, frozenset(event.orgs),
            _title(event.type, title), _words(event.summary))


def _alike(fingerprint, other) -> bool:
    """Same type, date and organizations, and the same title or the same summary."""
    return fingerprint[:3] == other[:3] and any(
        mine is not None and mine == theirs
        for mine, theirs in zip(fingerprint[3:], other[3:], strict=True))


def _from_database(store: Store, dated: list[tuple[str, events.Event]], db: Path
                   ) -> dict[str, tuple[str, tuple]] | None:
    """id -> (path, fingerprint) of the current events alike in type and date, from the
    database and the files it has not recorded: a look-up, where the files take a read of
    every one. None when the database cannot answer for the files."""
    types = {event.type for _, event in dated}

    def alike(conn) -> tuple[dict[str, tuple[str, tuple]], list[str]]:
        found = {}
        for _, event in dated:
            # through the index on (type, occurred_start); `+` keeps SQLite, which has no
            # statistics, off the index on (type, retracted), which matches every row of a type
            for event_id, path, summary, title, orgs in conn.execute(
                    "select id, path, summary, title, orgs from events where type = ? "
                    "and occurred_start = ? and occurred = ? and +retracted = 0",
                    [event.type, dates.start(event.occurred).isoformat(), event.occurred]):
                keys = frozenset(msgspec.json.decode(orgs)) if orgs else frozenset()
                found[event_id] = (path, (event.type, event.occurred, keys,
                                          _title(event.type, title), _words(summary)))
        return found, list(found)

    answer = consult(store, db, alike)
    if answer is None:
        return None
    found, unrecorded = answer
    for event in unrecorded:
        if event.type in types:
            found[event.id] = (store.relpath(store.path_for(event.id)), _fingerprint(event))
    return found


def _from_files(store: Store, dated: list[tuple[str, events.Event]]
                ) -> dict[str, tuple[str, tuple]]:
    """The same from the files, with the corrections and retractions that apply to them. A
    file costs a look at its type, and one of the types in question a search of its bytes
    for one of the dates: only those that hold it are read whole."""
    from .resolution import current_events

    dates = {event.type: set() for _, event in dated}
    for _, event in dated:
        dates[event.type].add(msgspec.json.encode(event.occurred))
    by_id: dict[str, events.Event] = {}
    for entry in store.entries():
        try:
            status = entry.stat(follow_symlinks=False)
            raw = contents(entry.path, status)
            kind = _HEAD.decode(raw).type
            if kind not in events.AMENDING and not any(
                    date in raw for date in dates.get(kind, ())):
                continue
            event = store.parse(Path(entry.path), raw, status.st_mode)
        except (msgspec.DecodeError, events.Invalid, OSError):
            continue
        by_id.setdefault(event.id, event)
    return {event_id: (store.relpath(store.path_for(event_id)), _fingerprint(event))
            for event_id, event in current_events(by_id).items() if event.type in dates}


class _Head(msgspec.Struct):
    type: str = ""


_HEAD = msgspec.json.Decoder(_Head)
