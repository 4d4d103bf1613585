"""The plain coercion of text, lists of text and paths gives what Typer's pydantic one
gives: the same values, and the same errors for the values it hands back to Typer."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer._click.exceptions import BadParameter
from typer._coercion import build_runtime_param

from cooplog.cli import app
from cooplog.cli_coercion import PlainValue, PlainValues

VALUES = ["text", "", "-", "~/x", ("a", "b"), ["a"], (), 5, b"bytes", Path("p"), None,
          (1, "a"), True]


def _params():
    """--root and --db (paths), add's --json and --by (text), add meeting's --org (a list),
    --online (a flag) and --by, and each one's --help."""
    root = typer.main.get_command(app)
    ctx = typer.Context(root)
    add = root.get_command(ctx, "add")
    meeting = add.get_command(ctx, "meeting")
    chosen = {"root", "db", "json_file", "by", "orgs", "online", "help"}
    return ctx, [p for command in (root, add, meeting) for p in command.get_params(ctx)
                 if p.name in chosen]


def _outcome(runtime, value, param, ctx):
    try:
        return "value", runtime.coerce(value, param=param, ctx=ctx)
    except BadParameter as e:
        return "error", e.format_message()


def test_the_plain_options_of_add_are_taken_plainly():
    ctx, params = _params()
    assert sorted(p.name for p in params) == ["by", "by", "db", "help", "help", "help",
                                              "json_file", "online", "orgs", "root"]
    assert all(isinstance(p._runtime_param, PlainValue) for p in params)


def test_every_command_and_group_takes_plain_values():
    def every(command):
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from every(sub)

    root = typer.main.get_command(app)
    meeting = root.get_command(typer.Context(root), "add").get_command(
        typer.Context(root), "meeting")
    commands = [*every(root), meeting]
    assert len(commands) > 20
    assert [c.name for c in commands if not isinstance(c, PlainValues)] == []


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_plain_values_are_typers_values(value):
    ctx, params = _params()
    for param in params:
        typers = build_runtime_param(param.type_descriptor)
        assert _outcome(param._runtime_param, value, param, ctx) == _outcome(
            typers, value, param, ctx), (param.name, value)
