"""Input with one obvious meaning, made the way the schema writes it rather than refused:
country codes and event ids in any case, keys and field names with spaces around them."""

from __future__ import annotations

from typing import Any


def event_id(text: str) -> str:
    """An event id as typed (ULIDs are case-insensitive) as files name it: upper case."""
    return text.strip().upper()


def normalised(body: dict) -> dict:
    """An event body to append, with country codes and `data.target` in upper case, and
    field names and keys (in `orgs` and the data fields that hold keys) stripped of
    surrounding spaces. Anything of an unexpected shape is left for validation to name."""
    from .events import TYPES

    body = _names_stripped(body)
    if isinstance(body.get("orgs"), list):
        body["orgs"] = [_stripped(key) for key in body["orgs"]]
    data = body.get("data")
    if not isinstance(data, dict):
        return body
    data = body["data"] = {**data}
    spec = TYPES.get(body.get("type")) if isinstance(body.get("type"), str) else None
    keyed = ((("key",) if spec.creates else ()) + spec.org_refs
             + tuple(spec.entity_refs or ())) if spec else ()
    for name in keyed:
        if isinstance(data.get(name), list):
            data[name] = [_stripped(key) for key in data[name]]
        elif name in data:
            data[name] = _stripped(data[name])
    for path in spec.countries if spec else ():
        data = body["data"] = _codes_upper(data, path.split("."))
    if isinstance(data.get("target"), str):
        data["target"] = event_id(data["target"])
    return body


def _codes_upper(data: dict, path: list[str]) -> dict:
    """`data` with the country codes at a data path in upper case (changed in a copy)."""
    name, rest = path[0], path[1:]
    value = data.get(name)
    if rest:
        return {**data, name: _codes_upper(value, rest)} if isinstance(value, dict) else data
    if isinstance(value, str):
        return {**data, name: value.strip().upper()}
    if isinstance(value, list):
        return {**data, name: [c.strip().upper() if isinstance(c, str) else c for c in value]}
    return data


def _names_stripped(value: Any) -> Any:
    """Objects, at any depth, with their field names stripped, unless that would make two
    fields one (then both are left for validation to name)."""
    if isinstance(value, list):
        return [_names_stripped(item) for item in value]
    if not isinstance(value, dict):
        return value
    names = [name.strip() if isinstance(name, str) else name for name in value]
    if len(set(names)) < len(names):
        names = list(value)
    return {name: _names_stripped(item) for name, item in zip(names, value.values(),
                                                               strict=True)}


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value
