"""The input of `import` (JSON Lines, one event body per line, each labelled with its line)
and of `add --json` (one body)."""

from __future__ import annotations

import sys
from pathlib import Path

from . import events
from .errors import USAGE, CooplogError, Problem


def one(source: str) -> tuple[str, dict]:
    """The body in the file at `source` ('-': stdin), labelled with where it came from."""
    label = "stdin" if source == "-" else source
    raw = sys.stdin.buffer.read() if source == "-" else _bytes(Path(source))
    try:
        return label, events.decode(raw)
    except events.Invalid as e:
        raise CooplogError("nothing was written", problems=e.at(label)) from None


def _bytes(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as e:
        raise CooplogError(f"{file}: cannot be read ({e.strerror})", exit_code=USAGE) from None


def read(file: Path) -> tuple[list[tuple[str, dict]], list[Problem]]:
    """The bodies of the lines that are JSON objects, labelled `FILE line N`, and the
    problem of each line that is not: all of them, so that one run names every one."""
    raw = _bytes(Path(file))
    bodies, problems = [], []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        label = f"{file} line {number}"
        try:
            bodies.append((label, events.decode(line)))
        except events.Invalid as e:
            problems += e.at(label)
    if not bodies and not problems:
        raise CooplogError(f"{file}: no events in it", exit_code=USAGE)
    return bodies, problems
