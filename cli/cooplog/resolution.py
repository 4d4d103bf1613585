"""An event's current state, worked out one way wherever cooplog asks: its corrections
applied in id order (one that would make it invalid is refused), unless a retraction in
force (one not itself retracted) takes it out. A retracted correction no longer applies; a
retracted retraction restores its target.

`validate`, `show`, `orgs` and the projection each ask through a source of the events aimed
at one: the files read (`Among`) or the projection's database (`projection.Lookups`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from . import events

CORRECTION = "event.corrected"
RETRACTION = "event.retracted"


class Source(Protocol):
    def retractions_of(self, event_id: str) -> list[str]:
        """The ids of the retractions naming this event, in id order."""

    def corrections_of(self, event_id: str) -> list[events.Event]:
        """The corrections naming this event, in id order."""


class Among:
    """The corrections and retractions among these events (the files read), by target."""

    def __init__(self, by_id: dict[str, events.Event]):
        self.retractions: dict[str, list[str]] = {}
        self.corrections: dict[str, list[events.Event]] = {}
        for event_id in sorted(by_id):
            event = by_id[event_id]
            if event.type == RETRACTION:
                self.retractions.setdefault(event.data["target"], []).append(event_id)
            elif event.type == CORRECTION:
                self.corrections.setdefault(event.data["target"], []).append(event)

    def retractions_of(self, event_id: str) -> list[str]:
        return self.retractions.get(event_id, [])

    def corrections_of(self, event_id: str) -> list[events.Event]:
        return self.corrections.get(event_id, [])


@dataclass
class Resolved:
    event: events.Event  # as corrected
    retracted_by: str | None
    corrected_by: list[str]  # the corrections applied, in id order
    refused: list[tuple[str, str]]  # (correction id, why it is not applied)


def retracted_by(source: Source, event_id: str, seen: frozenset = frozenset()) -> str | None:
    """The first retraction in force on this event: one not itself retracted (cycles
    ignored)."""
    return next(iter(in_force(source, event_id, seen)), None)


def in_force(source: Source, event_id: str, seen: frozenset = frozenset()):
    """The retractions of this event that are not themselves retracted, in id order."""
    for retraction in source.retractions_of(event_id):
        if retraction not in seen and not retracted_by(source, retraction, seen | {event_id}):
            yield retraction


def corrected(event: events.Event, corrections: list[events.Event]
              ) -> tuple[events.Event, list[tuple[str, str]]]:
    """The event as its corrections (in id order) leave it, and (correction id, problem) for
    each correction that would make it invalid and so is not applied."""
    body = events.to_dict(event)
    current = event
    refused = []
    for correction in sorted(corrections, key=lambda c: c.id):
        candidate = events.apply_corrections(body, [correction.data["set"]])
        try:
            current = events.validate(candidate)
        except events.Invalid as e:
            refused.append((correction.id, f"would make {event.id} invalid: {e}"))
            continue
        body = candidate
    return current, refused


def resolve(source: Source, original: events.Event) -> Resolved:
    """The event as the log reads now. Corrections never apply to corrections and
    retractions themselves."""
    retraction = retracted_by(source, original.id)
    if original.spec.amends:
        return Resolved(original, retraction, [], [])
    corrections = [c for c in source.corrections_of(original.id)
                   if not retracted_by(source, c.id)]
    current, refused = corrected(original, corrections)
    refused_ids = {c for c, _ in refused}
    applied = [c.id for c in corrections if c.id not in refused_ids]
    return Resolved(current, retraction, applied, refused)


def current_events(by_id: dict[str, events.Event]) -> dict[str, events.Event]:
    """The events that are not retracted, each as its corrections leave it (corrections and
    retractions themselves left out), in id order."""
    source = Among(by_id)
    found = {}
    for event_id in sorted(by_id):
        resolved = resolve(source, by_id[event_id])
        if not resolved.retracted_by and not resolved.event.spec.amends:
            found[event_id] = resolved.event
    return found


ORGANIZATION_FIELDS = ("name", "acronym", "category", "parent", "url")


def organization(records: list[tuple[str, dict]]) -> dict | None:
    """An organization as its current records leave it: `records` are (role, data) in id
    order, role "create" for a registration and "update" for an update. The first
    registration counts (a later one is a problem), then every update in id order. None if
    none registers it."""
    registrations = [data for role, data in records if role == "create"]
    if not registrations:
        return None
    org = dict.fromkeys(ORGANIZATION_FIELDS)
    for data in (registrations[0], *(data for role, data in records if role == "update")):
        org.update({name: value for name, value in data.items() if name != "key"})
    return org
