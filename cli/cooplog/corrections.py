"""What a correction changes: `--set` paths into the fields it records, and old → new.

A person names the part they mean (`data.location.city`, `data.items[1]`); the correction
records the whole new value of the field that holds it (`data.location`), so that each
correction file says all it changes on its own, and the projection applies it as it always
has.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from .errors import USAGE, CooplogError

_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")
_ABSENT = object()


def parse(assignments: list[str]) -> dict[str, Any]:
    """`--set FIELD=VALUE` arguments as {path: value}: the value is JSON, else text, and a
    number stays text (no field of schema 1 is a number)."""
    changes: dict[str, Any] = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        name = name.strip()
        if not sep or not name:
            raise CooplogError(f"--set {assignment!r}: write FIELD=VALUE", exit_code=USAGE)
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        if isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
            parsed = value
        changes.pop(name, None)  # the later of two settings of one path wins, in order
        changes[name] = parsed
    return changes


def steps(path: str) -> list[str | int]:
    """`data.items[1]` as ["data", "items", 1]; a usage error if it is no path at all."""
    found = [(m.group(1), m.group(2)) for m in _STEP.finditer(path)]
    parts: list[str | int] = [int(i) if i is not None else name for name, i in found]
    rebuilt = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)[1:]
    if not parts or isinstance(parts[0], int) or rebuilt != path:
        raise CooplogError(f"--set {path}: not a field path: write e.g. summary, data.title, "
                           "data.location.city or data.items[0]", exit_code=USAGE)
    return parts


def field_of(parts: list[str | int]) -> tuple[str, list[str | int]]:
    """The field a correction records (`summary`, `data.location`) and the path inside it."""
    if parts[0] == "data" and len(parts) > 1 and isinstance(parts[1], str):
        return f"data.{parts[1]}", parts[2:]
    return str(parts[0]), parts[1:]


def value_of(body: dict, field: str) -> Any:
    """The value of a recorded field in an event body, or _ABSENT."""
    head, _, rest = field.partition(".")
    if head == "data" and rest:
        return body.get("data", {}).get(rest, _ABSENT)
    return body.get(field, _ABSENT)


def resolve(current: dict, changes: dict[str, Any]) -> dict[str, Any]:
    """{path: value} as the correction records it: {field: whole new value}, each field's
    new value being its current one (in `current`, the event as corrections leave it) with
    the parts named changed. A part set to None is removed."""
    resolved: dict[str, Any] = {}
    for path, value in changes.items():
        field, inner = field_of(steps(path))
        if not inner:
            resolved[field] = value
            continue
        whole = resolved.get(field, value_of(current, field))
        if whole is _ABSENT or whole is None:  # a field not given yet: a list or an object
            whole = [] if isinstance(inner[0], int) else {}
        placed = _placed(copy.deepcopy(whole), inner, value, path, field)
        resolved[field] = None if placed == {} else placed  # an object emptied is removed
    return resolved


def _placed(whole: Any, inner: list[str | int], value: Any, path: str, field: str) -> Any:
    """`whole` with `value` at `inner` (None removes it)."""
    target = whole
    for depth, step in enumerate(inner):
        where = field + "".join(f"[{s}]" if isinstance(s, int) else f".{s}"
                                for s in inner[:depth])
        last = depth == len(inner) - 1
        if isinstance(step, str):
            if not isinstance(target, dict):
                raise CooplogError(f"--set {path}: {where} is {_kind(target)}, not an object "
                                   f"with fields: set {where} itself", exit_code=USAGE)
            if last:
                if value is None:
                    target.pop(step, None)
                else:
                    target[step] = value
            else:
                target = target.setdefault(step, [] if isinstance(inner[depth + 1], int)
                                           else {})
            continue
        if not isinstance(target, list):
            raise CooplogError(f"--set {path}: {where} is {_kind(target)}, not a list: set "
                               f"{where} itself", exit_code=USAGE)
        if step > len(target) or (step == len(target) and (not last or value is None)):
            raise CooplogError(
                f"--set {path}: {where} has {len(target)} item(s): use {where}[0] to "
                f"{where}[{len(target) - 1}], or {where}[{len(target)}] to add one"
                if target else f"--set {path}: {where} is empty: use {where}[0] to add one",
                exit_code=USAGE)
        if last:
            if value is None:
                del target[step]
            elif step == len(target):
                target.append(value)
            else:
                target[step] = value
        else:
            target = target[step]
    return whole


def _kind(value: Any) -> str:
    return ("text" if isinstance(value, str) else "a list" if isinstance(value, list)
            else "an object" if isinstance(value, dict) else json.dumps(value))


def changed(original: dict, sets: list[dict]) -> list[list[tuple[str, Any, Any]]]:
    """For each correction's `set`, applied in order to `original`: (field, old, new) for
    each field it sets; a field absent before or removed is None."""
    from .events import apply_corrections

    body, found = original, []
    for changes in sets:
        found.append([(name, _or_none(value_of(body, name)), value)
                      for name, value in changes.items()])
        body = apply_corrections(body, [changes])
    return found


def _or_none(value: Any) -> Any:
    return None if value is _ABSENT else value


def describe(field: str, old: Any, new: Any) -> str:
    """`data.role: "participant" → "presenter"`, values as JSON, absence as nothing."""
    def shown(value: Any) -> str:
        return "(none)" if value is None else json.dumps(value, ensure_ascii=False)

    return f"{field}: {shown(old)} → {shown(new)}"


def old_values(bodies: dict[str, dict]) -> dict[str, dict[str, Any]]:
    """correction id -> {field: value before it} for every correction among `bodies` (id ->
    event body, as files hold them) whose target is there too; corrections of one target
    apply in id order. Bodies of any shape are borne: history shows broken files too."""
    from .events import apply_corrections

    aimed: dict[str, list[str]] = {}
    for event_id, body in bodies.items():
        data = body.get("data")
        if (body.get("type") == "event.corrected" and isinstance(data, dict)
                and isinstance(data.get("set"), dict) and data.get("target") in bodies):
            aimed.setdefault(data["target"], []).append(event_id)
    found: dict[str, dict[str, Any]] = {}
    for target, ids in aimed.items():
        body = bodies[target] if isinstance(bodies[target].get("data", {}), dict) else {}
        for changes, correction in [(bodies[i]["data"]["set"], i) for i in sorted(ids)]:
            found[correction] = {name: _or_none(value_of(body, name)) for name in changes}
            body = apply_corrections(body, [changes])
    return found
