"""The typed `add` subcommands' content: one option per field of a type's `data` struct
(nested structs flattened: --city, --country) and of the envelope, and the event body the
options given describe. The command itself is built in cli.py."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import msgspec

from . import events
from .errors import Problem

SINGULAR = {"parties": "party", "items": "item", "countries": "country"}
COMMON_OPTIONS = {
    "occurred": ("--date", "When: 2009, 2009-03, 2009-03-23 or START/END."),
    "summary": ("--summary", "One self-contained sentence: the line a report prints."),
    "orgs": ("--org", "An organization involved (its key); repeat for more."),
    "mandates": ("--mandate", "A decision that mandates it, e.g. IX/11; repeat for more."),
    "documents": ("--doc", "A document: SYMBOL, SYMBOL=URL or a URL; repeat for more."),
    "source": ("--source", "Where this comes from, e.g. 'UNEP/CHW/OEWG/7/17, annex'."),
}


@dataclass(frozen=True)
class OptionField:
    """One command-line option of a typed `add` and where its value goes in the body."""

    param: str
    flag: str
    path: tuple[str, ...]  # e.g. ("data", "location", "city")
    kind: str  # "text", "list" or "flag"
    required: bool
    help: str


def _data_options(struct, path=("data",)) -> list[OptionField]:
    options = []
    for field in msgspec.structs.fields(struct):
        inner = [t for t in getattr(field.type, "__args__", ()) if t is not type(None)]
        if inspect.isclass(inner[0] if inner else None) and issubclass(
            inner[0], msgspec.Struct
        ):
            options += _data_options(inner[0], (*path, field.name))
            continue
        origin = getattr(field.type, "__origin__", None)
        origin = getattr(origin, "__origin__", origin)  # Annotated[list[Key], …] is a list too
        kind = "list" if origin is list else "flag" if bool in (field.type, *inner) else "text"
        name = SINGULAR.get(field.name, field.name)
        choices = events.choices(struct, field.name)
        help_text = f"One of: {', '.join(choices)}." if choices else ""
        if kind == "list":
            help_text += " Repeat for more."
        options.append(OptionField(name.replace("-", "_"), f"--{name}", (*path, field.name),
                                   kind, field.required and len(path) == 1, help_text.strip()))
    return options


def typed_options(spec: events.EventType) -> list[OptionField]:
    """The options of a type's `add`: its data fields, then the envelope's."""
    common = [
        OptionField(
            field.replace("occurred", "date"), flag, (field,),
            "list" if field in ("orgs", "mandates", "documents") else "text",
            spec.dated and field in ("occurred", "summary"), help_text,
        )
        for field, (flag, help_text) in COMMON_OPTIONS.items()
        if spec.dated or field not in ("occurred", "summary")
    ]
    return _data_options(spec.data) + common


def _document(value: str) -> dict:
    if value.startswith(("http://", "https://")):
        return {"url": value}
    symbol, _, url = value.partition("=")
    return {"symbol": symbol, "url": url} if url else {"symbol": symbol}


def body_from_options(spec: events.EventType, options: list[OptionField],
                      values: dict[str, Any]) -> dict:
    """The event body the typed options describe."""
    body: dict[str, Any] = {"type": spec.name, "data": {}}
    for option in options:
        value = values.get(option.param)
        if value is None or value == []:  # --not-online says false; no flag says nothing
            continue
        if option.path == ("documents",):
            value = [_document(v) for v in value]
        target = body
        for part in option.path[:-1]:
            target = target.setdefault(part, {})
        target[option.path[-1]] = value
    return body



def as_option(problem: Problem, options: list[OptionField]) -> Problem:
    """Name the command-line option, not the JSON field, in errors from a typed add."""
    for option in options:
        if problem.field == ".".join(option.path) or problem.field.startswith(
            ".".join(option.path) + "["
        ):
            return Problem(problem.path, option.flag, problem.message)
    return problem



def typed_specs() -> dict[str, events.EventType]:
    """Event types by their `add` subcommand (the types that name another event have
    commands of their own: correct, retract, translate)."""
    return {s.command: s for s in events.TYPES.values() if not s.targets}
