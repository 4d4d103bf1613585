"""Command-line values that are already what their option declares (text, lists of text,
paths) taken as they are, without Typer's pydantic coercion.

Typer 0.29 checks every value it parses with a pydantic TypeAdapter built for that option
(even an option left out, even the --help option), and importing pydantic and building the adapters
was a third of `cooplog add`'s start-up (60-70 ms of 0.21 s). No public option avoids it,
so each plain option is given, before it parses, a coercion of its own (Typer's private
hook: the `_runtime_param` it would otherwise build on first use). Any other value, or any
other type, still goes to Typer's adapter, so the values and the errors stay Typer's.
"""

from pathlib import Path
from typing import Any

import typer
from typer._coercion import RuntimeParam, build_runtime_param
from typer._param_types import coerce_cli_path
from typer.core import TyperCommand, TyperGroup


class PlainValue(RuntimeParam):
    """A str, list[str] or Path that needs no conversion, else Typer's own coercion. A
    flag's value needs none: Typer passes a bool through, and None (left out) never gets
    here. (RuntimeParam's dataclass fields are all it needs.)"""

    def _coerce_value(self, value: Any, param, ctx) -> Any:
        kind = _kind(self.annotation)
        if kind is str and isinstance(value, str):
            return value
        if kind is list and isinstance(value, (list, tuple)) and all(
            isinstance(item, str) for item in value
        ):
            return list(value)
        if kind is Path and isinstance(value, (str, Path)):
            return coerce_cli_path(Path(value), self.parameter_info, path_type=Path,
                                   param=param, ctx=ctx)
        return build_runtime_param(param.type_descriptor)._coerce_value(value, param, ctx)


def _kind(annotation) -> type | None:
    """The plain kind of value an annotation declares, if it is one."""
    if annotation in (str, Path, bool):
        return annotation
    if annotation == list[str]:
        return list
    return None


def _plain(param) -> bool:
    descriptor = param.type_descriptor
    info = descriptor.parameter_info
    if info.parser is not None or descriptor.file_annotation is not None:
        return False
    kind = _kind(descriptor.annotation)
    return kind is not None and (kind is not Path or info.path_type in (None, Path))


class PlainValues:
    """For a Click command class: its plain options (help included, which Click makes at
    parse time) take the plain coercion."""

    def get_params(self, ctx) -> list:
        params = super().get_params(ctx)
        for param in params:
            if _plain(param) and param._runtime_param is None:
                param._runtime_param = PlainValue(
                    parameter_info=param.type_descriptor.parameter_info,
                    annotation=param.type_descriptor.annotation)
        return params


class Commands(PlainValues, TyperGroup):
    """A group whose plain values are taken without pydantic."""


class Command(PlainValues, TyperCommand):
    """A command whose plain values are taken without pydantic."""


class App(typer.Typer):
    """A Typer app whose groups and commands take plain values without pydantic."""

    def __init__(self, *, cls=Commands, **options):
        super().__init__(cls=cls, **options)

    def command(self, name=None, *, cls=Command, **options):
        return super().command(name, cls=cls, **options)
