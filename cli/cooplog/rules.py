"""Rules that span files: ids unique, keys created once, references resolved, corrections
that still make a valid event. `validate` applies them to the whole log; the projection
applies the same per-event functions incrementally."""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import events
from .errors import Problem
from .recorded import consult
from .resolution import RETRACTION, Among, resolve, retracted_by
from .store import Store

# The problems of the rules across files, one table for both places that say them: the
# checks below, in Python, and the projection's `problems` view, in SQL (`sql_message`).
MESSAGES = {
    "taken": "the key '{key}' was already created by {first}: choose another key",
    "unknown_org": ("unknown organization '{key}': register it with "
                    "`cooplog add organization --key {key} ...` or fix the key"),
    "unknown_entity": "no {kinds} has the key '{key}': record it first or fix the key",
    "unknown_event": "no event has the id {key}",
}


def message(name: str, **values: str) -> str:
    return MESSAGES[name].format(**values)


def sql_message(name: str, **expressions: str) -> str:
    """The message as an SQL expression: each {value} is the SQL expression given for it."""
    parts = []
    for text, value, _, _ in string.Formatter().parse(MESSAGES[name]):
        if text:
            parts.append("'" + text.replace("'", "''") + "'")
        if value:
            parts.append(expressions[value])
    return " || ".join(parts)


@dataclass
class Registry:
    """Keys known to the log: org keys, entity keys with their kind, event ids."""

    orgs: dict[str, str] = field(default_factory=dict)  # key -> id of the event creating it
    entities: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (kind, id)
    ids: set[str] = field(default_factory=set)

    def add(self, event: events.Event) -> str | None:
        """Record what the event creates; the problem if a smaller id created it first."""
        self.ids.add(event.id)
        created = events.created_key(event)
        if created is None:
            return None
        namespace, key = created
        table = self.orgs if namespace == "org" else self.entities
        entry = event.id if namespace == "org" else (event.spec.creates, event.id)
        earlier = table.get(key)
        earlier_id = earlier if namespace == "org" else earlier and earlier[1]
        if earlier_id and earlier_id < event.id:
            return message("taken", key=key, first=earlier_id)
        table[key] = entry
        return None

    def missing(self, event: events.Event) -> list[tuple[str, str]]:
        """(field, problem) for every reference the registry cannot resolve."""
        problems = [(where, message("unknown_org", key=key))
                    for where, key in events.org_references(event) if key not in self.orgs]
        for where, key, kinds in events.entity_references(event):
            kind = self.entities.get(key, (None,))[0]
            if kind not in kinds:
                problems.append((where, message("unknown_entity", kinds=" or ".join(kinds),
                                                key=key)))
        if event.spec.targets:
            target = event.data["target"]
            if target not in self.ids:
                problems.append(("data.target", message("unknown_event", key=target)))
        return problems


def check_log(store: Store) -> list[Problem]:
    """Every problem in the log, per file and across files."""
    return review(store)[0]


def review(store: Store) -> tuple[list[Problem], list[Problem]]:
    """Every problem in the log, and every warning: what is allowed but likely a mistake
    (an activity naming no organization), each with its file."""
    problems: list[Problem] = []
    by_id: dict[str, events.Event] = {}
    paths: dict[str, str] = {}
    for path in store.files():
        rel = store.relpath(path)
        try:
            event = store.read(path)
        except events.Invalid as e:
            problems += e.at(rel)
            continue
        except OSError as e:
            problems.append(Problem(rel, "", f"cannot be read ({e.strerror}): check it"))
            continue
        if event.id in by_id:
            problems.append(Problem(rel, "id", f"duplicate: {paths[event.id]} has this id"))
            continue
        by_id[event.id] = event
        paths[event.id] = rel
    found, warnings = _cross_file(by_id, paths)
    return sorted(problems + found), sorted(warnings)


def _cross_file(by_id: dict[str, events.Event], paths: dict[str, str]
                ) -> tuple[list[Problem], list[Problem]]:
    problems: list[Problem] = []
    source = Among(by_id)
    gone: set[str] = set()
    current: dict[str, events.Event] = {}
    for event_id in sorted(by_id):
        resolved = resolve(source, by_id[event_id])
        if resolved.retracted_by:
            gone.add(event_id)
        elif not resolved.event.spec.amends:
            current[event_id] = resolved.event
            problems += [Problem(paths[c], "data.set", why) for c, why in resolved.refused]

    registry = Registry(ids=set(by_id))
    for event_id in sorted(current):
        problem = registry.add(current[event_id])
        if problem:
            problems.append(Problem(paths[event_id], "data.key", problem))
    for event_id in sorted(by_id):
        event = current.get(event_id, by_id[event_id])
        if event_id in gone:  # a retracted event leaves every check, as every table
            continue
        problems += [Problem(paths[event_id], f, m) for f, m in registry.missing(event)]
    from .mistakes import unattributed

    warnings = [Problem(paths[event_id], "orgs", warning) for event_id, event in current.items()
                if (warning := unattributed(event))]
    return problems, warnings


def unresolved(store: Store, naming: Iterable[events.Event],
               find: Callable[[Registry], list], db: Path | None = None) -> list:
    """The problems `find` finds against what the log knows of the keys and events that
    `naming` refers to. Asked first of the log's database and the files it has not recorded
    (a look-up, where reading the log's files takes seconds on a large log), and, should
    that find any, or be unable to answer for the files, of the files alone."""
    naming = list(naming)
    recorded = _recorded_registry(store, naming, db)
    if recorded is not None and not find(recorded):
        return []
    return find(registry_of(store, naming))


def _recorded_registry(store: Store, naming: list[events.Event], db: Path | None
                       ) -> Registry | None:
    """The part of the registry that `naming` asks about, from the database (by default the
    log's) and the files it has not recorded; None when it cannot answer for the files."""
    orgs = {key for event in naming for _, key in events.org_references(event)}
    entities = {key for event in naming for _, key, _ in events.entity_references(event)}
    for event in naming:
        created = events.created_key(event)
        if created:
            (orgs if created[0] == "org" else entities).add(created[1])
    targets = _targets(naming)

    def ask(conn) -> tuple[Registry, set[str]]:
        registry = Registry(
            orgs=dict(_where_in(conn, "select key, registered_by from organizations", orgs)),
            entities={key: (kind, event_id) for kind, table in events.ENTITY_TABLES.items()
                      for key, event_id in _where_in(
                          conn, f"select key, event_id from {table}", entities)},
            ids={event_id for (event_id,) in _where_in(
                conn, "select id from events", targets, column="id")})
        creators = {*registry.orgs.values(), *(i for _, i in registry.entities.values())}
        return registry, creators | registry.ids

    answer = consult(store, db, ask)
    if answer is None:
        return None
    registry, unrecorded = answer
    registry.ids |= {event.id for event in unrecorded}
    for event in sorted(unrecorded, key=lambda e: e.id):
        registry.add(event)
    return registry


def _where_in(conn, query: str, values: set[str], column: str = "key") -> list[tuple]:
    """The rows of `query` whose `column` is one of `values` (a handful: one `add`)."""
    if not values:
        return []
    marks = ", ".join("?" * len(values))
    return conn.execute(f"{query} where {column} in ({marks})", sorted(values)).fetchall()


def _targets(naming: Iterable[events.Event]) -> set[str]:
    return {e.data["target"] for e in naming if e.spec.targets}


KEYS_AND_RETRACTIONS = (*(name for name, spec in events.TYPES.items() if spec.creates),
                        RETRACTION)


def registry_of(store: Store, naming: Iterable[events.Event] = ()) -> Registry:
    """What checking new events needs of the log: the keys its valid, current events create,
    and which of the events that `naming` corrects or retracts exist. Only the files of the
    types that create keys or retract are read whole (one `add` on a large log read and
    checked every file); any other costs a look at its type."""
    by_id = store.events_of(KEYS_AND_RETRACTIONS)
    source = Among(by_id)
    registry = Registry(ids=set(by_id) | {t for t in _targets(naming) - set(by_id)
                                          if store.holds(t)})
    for event_id in sorted(by_id):
        if not by_id[event_id].spec.amends and not retracted_by(source, event_id):
            registry.add(by_id[event_id])
    return registry
