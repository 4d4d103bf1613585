"""Appending: the only way events enter the log (`add`, `correct`, `retract`, `import`).

Everything is checked before anything is written, and a batch is written whole or not at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timezone
from pathlib import Path

from . import events, gitops, inputs
from .errors import USAGE, CooplogError, Problem
from .rules import Registry, unresolved
from .store import MAX_EVENT_BYTES, Store, too_large


def recorder(root: Path, by: str | None) -> str:
    """Who is appending: --by, else COOPLOG_USER, else git's user.email."""
    who = by or os.environ.get("COOPLOG_USER") or gitops.config(root, "user.email")
    if not who:
        raise CooplogError(
            "recorded_by: who is recording? pass --by EMAIL, set COOPLOG_USER, "
            "or set git config user.email",
            exit_code=USAGE,
        )
    return who


def mint_ids(count: int) -> list[str]:
    """Fresh ULIDs, increasing, so a batch keeps its order. Each is python-ulid's own: it
    makes those of one millisecond increase by one, so a batch counted on from its first
    would be given the next batch's ids in the same millisecond. Sorted, whichever order the
    library gives those of one millisecond."""
    from ulid import ULID

    return sorted(str(ULID()) for _ in range(count))


def headline(event: events.Event) -> str:
    """The event as one line of history: type, what it is about, and when."""
    data = event.data
    if event.type == "status.changed":
        about = f"{data['subject']} {data['status']}"
    else:
        about = next(
            (str(data[f])
             for f in (event.spec.title, "title", "change", "key", "target") if f in data),
            event.summary or "",
        )
    about = about if len(about) <= 100 else about[:99] + "…"
    when = f" ({event.occurred})" if event.occurred else ""
    return f"{event.type}: {about}{when}"


def prepare(bodies: list[tuple[str, dict]], recorded_by: str
            ) -> tuple[list[tuple[str, events.Event]], list[Problem]]:
    """Assign ids and recording details, and validate: the valid events with their labels,
    and every problem of the others."""
    ids = mint_ids(len(bodies))
    problems: list[Problem] = []
    prepared = []
    for (label, body), event_id in zip(bodies, ids, strict=True):
        try:
            body = inputs.normalised(events.new_body(body))
            from ulid import ULID

            when = ULID.from_str(event_id).datetime.astimezone(timezone.utc)
            body = {
                "id": event_id,
                "recorded_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "recorded_by": recorded_by,
                **body,
            }
            event = events.validate(body)
            if len(events.encode(event)) > MAX_EVENT_BYTES:  # its file would be refused
                raise too_large(len(events.encode(event)))
            prepared.append((label, event))
        except events.Invalid as e:
            problems += e.at(label)
    return prepared, problems


def reference_problems(store: Store, batch: list[tuple[str, events.Event]],
                       db: Path | None = None) -> list[Problem]:
    """A batch's references to an organization, entity or event the log does not have, and
    keys it creates that exist. Keys created in the batch count."""
    if not any(_has_references(e) for _, e in batch):
        return []
    return unresolved(store, [event for _, event in batch],
                      lambda registry: _problems_against(registry, batch), db)


def _has_references(event: events.Event) -> bool:
    return bool(
        events.org_references(event) or event.spec.entity_refs or event.spec.creates
        or event.spec.targets
    )


def _problems_against(registry: Registry, batch: list[tuple[str, events.Event]]
                      ) -> list[Problem]:
    problems = []
    for label, event in batch:
        created = events.created_key(event)
        existing = created and (registry.orgs if created[0] == "org" else registry.entities)
        if created and created[1] in existing:
            problems.append(Problem(label, "data.key", f"{created[1]!r} exists already: "
                                                       "choose another key"))
        registry.add(event)
    for label, event in batch:
        problems += [Problem(label, f, m) for f, m in registry.missing(event)]
    return problems


def append(
    store: Store,
    bodies: Iterable[tuple[str, dict]],
    *,
    by: str | None = None,
    commit: bool = True,
    message: str | None = None,
    progress=None,
    db: Path | None = None,
    problems: Iterable[Problem] = (),
    warn=None,
    strict: bool = False,
) -> list[tuple[events.Event, Path]]:
    """Validate, write and (in a git repository) commit new events. `bodies` are
    (label for errors, event body) pairs. All or nothing, and every problem of every body
    reported at once, with `problems` found before (a line of an import that is no JSON).
    `db`: the database a running watcher may keep in step (default: the log's), where the
    checks look names up first. `warn`: told, one line each, what is allowed but likely a
    mistake (a duplicate, an activity of no organization); `strict` refuses those instead."""
    bodies = list(bodies)
    recorded_by = recorder(store.root, by)
    committing = commit and gitops.is_repository(store.root)
    if committing:  # --no-commit writes a file that stays in the working tree: not orphaned
        gitops.require_branch(store.root, "the event" if len(bodies) == 1
                              else f"the {len(bodies)} events")
    batch, found = prepare(bodies, recorded_by)
    found = [*problems, *found]
    found += reference_problems(store, batch, db)
    found += correction_batch_problems(store, batch, db)
    if found:
        raise CooplogError(f"{len(found)} problem(s); nothing was written", problems=found)
    if warn is not None or strict:
        from .mistakes import likely_mistakes

        mistakes = likely_mistakes(store, batch, db)
        if mistakes and strict:
            raise CooplogError(f"{len(mistakes)} warning(s) under --strict; nothing was "
                               "written", problems=mistakes)
        for mistake in mistakes:
            warn(mistake)
    prepared = [event for _, event in batch]
    written: list[Path] = []
    try:
        for event in prepared:
            written.append(store.write(event))
            if progress:
                progress(1)
        if committing:
            if message is None:
                message = (headline(prepared[0]) if len(prepared) == 1
                           else f"import: {len(prepared)} events")
            gitops.commit_files(store.root, written, message, recorded_by)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return list(zip(prepared, written, strict=True))


def find(store: Store, event_id: str) -> events.Event:
    """The event with this id (in any case), or an error saying so."""
    typed, event_id = event_id, inputs.event_id(event_id or "")
    if not events.ULID_RE.fullmatch(event_id) or event_id[:10] > events.LAST_ULID_TIME:
        raise CooplogError(f"{typed!r}: not an event id (a ULID of 26 characters)",
                           exit_code=USAGE)
    path = store.path_for(event_id)
    if not path.exists():
        raise CooplogError(f"no event has the id {event_id}: check it with `cooplog history`, "
                           "which lists every event")
    try:
        return store.read(path)
    except events.Invalid as e:
        raise CooplogError(f"{event_id} is not a valid event", problems=store.problem(path, e)) \
            from None


def correct(store: Store, target: str, changes: dict, reason: str, **options):
    """Append an `event.corrected`, refusing one that would leave its target invalid.
    `changes` may name parts of a field (`data.location.city`, `data.items[1]`): the
    correction records the whole field as they leave it."""
    original = find(store, target)
    target = original.id
    changes = _recorded(store, original, changes)
    for name in changes:
        if problem := events.settable_problem(name):
            raise CooplogError(f"--set {name}: {problem}", exit_code=USAGE)
    if problems := correction_problems(store, original, changes, options.get("db")):
        raise CooplogError(
            f"the correction would make {target} invalid; nothing was written",
            problems=[Problem(f"--set {f}" if f else "--set", "", m) for f, m in problems],
        )
    body = {"type": "event.corrected", "data": {"target": target, "set": changes,
                                                "reason": reason}}
    return append(store, [("correct", body)], **options)


def _recorded(store: Store, original: events.Event, changes: dict) -> dict:
    """The changes as a correction records them: whole fields, normalised like new input."""
    from . import corrections  # only `correct` needs it, not `add`

    parts = {path: corrections.field_of(corrections.steps(path)) for path in changes}
    current = events.to_dict(original)
    if any(inner for _, inner in parts.values()):  # the parts' neighbours as corrected now
        from .state import show

        current = events.to_dict(show(store, original.id).event)
    recorded = corrections.resolve(current, changes)
    fixed = inputs.normalised(events.apply_corrections(events.to_dict(original), [recorded]))
    return {name: None if value is None else corrections.value_of(fixed, name)
            for name, value in recorded.items()}


def correction_problems(store: Store, target: events.Event, changes: dict,
                        db: Path | None = None):
    """(field, problem) for the target as `changes` would leave it: its own fields, and the
    organizations and entities it would name that the log does not have."""
    try:
        fixed = events.validate(events.apply_corrections(events.to_dict(target), [changes]))
    except events.Invalid as e:
        return e.problems
    return unresolved(store, [fixed], lambda registry: registry.missing(fixed), db)


def correction_batch_problems(store: Store, batch: list[tuple[str, events.Event]],
                              db: Path | None = None) -> list[Problem]:
    """A correction (from `add --json` or `import` too) that `validate` would refuse."""
    return [
        Problem(label, "data.set", f"would make {target.id} invalid: " + (f"{f}: {m}" if f else m))
        for label, event in batch
        if event.type == "event.corrected" and store.holds(event.data["target"])
        for target in [store.read(store.path_for(event.data["target"]))]
        for f, m in correction_problems(store, target, event.data["set"], db)
    ]


def retract(store: Store, target: str, reason: str, **options):
    target = find(store, target).id
    body = {"type": "event.retracted", "data": {"target": target, "reason": reason}}
    return append(store, [("retract", body)], **options)


def translate(store: Store, target: str, lang: str, summary: str | None = None,
              title: str | None = None, **options):
    """Append a `translation.added`: the target's summary and/or title in `lang`."""
    find(store, target)
    if summary is None and title is None:
        raise CooplogError("--summary, --title: give the summary, the title or both in "
                           f"{lang!r}", exit_code=USAGE)
    data = {"target": target, "lang": lang}
    data |= {name: value for name, value in (("summary", summary), ("title", title))
             if value is not None}
    return append(store, [("translate", {"type": "translation.added", "data": data})],
                  **options)
