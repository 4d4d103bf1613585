"""The log's current state, read quickly: the organizations and one event as the log reads
now (`orgs`, `show`), and the org keys and event ids that shell completion offers.

`orgs` and `show` read the files, the truth, never a database that may be behind them; to
stay quick on a big log they fully read only the events that can matter (organizations,
corrections, retractions), telling them apart by a decode of the `type` field alone.
Completion must answer in a blink, so it reads the database when there is one.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from . import append, events
from .resolution import Among, current_events, in_force, organization, resolve
from .store import Store, default_db, read_only


def organizations(store: Store) -> list[dict]:
    """Every registered organization as the projection has it (the first registration of a
    key, then its updates in id order), in the annex's group order, then by key."""
    records: dict[str, list[tuple[str, dict]]] = {}
    current = current_events(store.events_of((*events.ORGANIZATION_TYPES, *events.AMENDING)))
    for event in current.values():
        if event.spec.registers_org or event.spec.updates_org:
            role = "create" if event.spec.registers_org else "update"
            records.setdefault(event.data["key"], []).append((role, event.data))
    orgs = [{"key": key, **org} for key, found in records.items()
            if (org := organization(found)) is not None]
    order = {category: i for i, category in enumerate(events.CATEGORIES)}
    return sorted(orgs, key=lambda o: (order[o["category"]], o["key"]))


@dataclass
class Shown:
    """One event as the log reads now: `event` is the corrected view of `original`."""

    path: str
    original: events.Event
    event: events.Event
    corrections: list[events.Event] = field(default_factory=list)  # applied, in id order
    refused: list[str] = field(default_factory=list)  # why a correction is not applied
    retracted_by: list[events.Event] = field(default_factory=list)

    def changes(self) -> list[list[tuple[str, object, object]]]:
        """For each applied correction, (field, old value, new value) of each field it sets."""
        from .corrections import changed

        return changed(events.to_dict(self.original), [c.data["set"] for c in self.corrections])

    def to_dict(self) -> dict:
        return {"path": self.path, "event": events.to_dict(self.event),
                "original": events.to_dict(self.original),
                "corrections": [events.to_dict(c) for c in self.corrections],
                "changes": [[{"field": f, "old": old, "new": new} for f, old, new in fields]
                            for fields in self.changes()],
                "refused": self.refused,
                "retracted_by": [events.to_dict(r) for r in self.retracted_by]}


def show(store: Store, event_id: str) -> Shown:
    """The event with this id, with the corrections and retractions that apply to it."""
    original = append.find(store, event_id)
    event_id = original.id
    others = store.events_of(events.AMENDING)
    source = Among({**others, event_id: original})
    resolved = resolve(source, original)
    return Shown(store.relpath(store.path_for(event_id)), original, resolved.event,
                 [others[c] for c in resolved.corrected_by],
                 [message for _, message in resolved.refused],
                 [others[r] for r in in_force(source, event_id)])


# --- for shell completion ---------------------------------------------------------------


def _from_database(db: Path, sql: str) -> list[tuple] | None:
    """The rows of `sql` in the database, or None if it cannot be read (then the files)."""
    if not db.is_file():
        return None
    try:
        with closing(read_only(db)) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.Error:
        return None


def org_keys(root: Path, db: Path | None = None) -> list[tuple[str, str]]:
    """(key, name) of every organization: from the database when it can be read, else from
    the files."""
    found = _from_database(db or default_db(root),
                           "select key, name from organizations order by key")
    if found is not None:
        return found
    return sorted((o["key"], o["name"]) for o in organizations(Store(root)))


def entity_keys(root: Path, db: Path | None = None,
                kinds: tuple[str, ...] = events.ENTITY_KINDS) -> list[tuple[str, str]]:
    """(key, title) of every agreement, submission, request or project of these kinds, as
    `org_keys` finds organizations: the database if it can be read, else the files."""
    found = _from_database(db or default_db(root), " union ".join(
        f"select key, {events.ENTITIES[kind].title} from {events.ENTITIES[kind].table}"
        for kind in kinds) + " order by 1")
    if found is not None:
        return found
    creators = tuple(name for name, spec in events.TYPES.items() if spec.entity)
    found: dict[str, tuple[str, str]] = {}
    for event in current_events(Store(root).events_of((*creators, *events.AMENDING))).values():
        if event.type in creators:  # a key is what its first creator (smallest id) made
            entity = event.spec.entity
            found.setdefault(event.data["key"], (entity.kind, event.data[entity.title]))
    return sorted((key, title) for key, (kind, title) in found.items() if kind in kinds)


def event_ids(root: Path, prefix: str = "") -> list[str]:
    """The ids starting with `prefix`, from the file names alone (nothing is read)."""
    return [path.stem for path in Store(root).files() if path.stem.startswith(prefix)]
