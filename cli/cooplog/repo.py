"""Making a new log, and the pre-commit hook that keeps committed event files unchanged."""

from __future__ import annotations

import stat
from pathlib import Path

from . import gitops
from .errors import USAGE, CooplogError
from .store import EVENTS

HOOK_MARK = "# installed by cooplog"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

PRE_COMMIT = f"""#!/bin/sh
{HOOK_MARK}: committed event files are append-only.
base=$(git rev-parse --verify -q HEAD || echo {EMPTY_TREE})
changed=$(git diff --cached --name-status --no-renames "$base" -- {EVENTS}/ \\
  | awk -F'\\t' '$1 != "A" && $2 ~ /\\.json$/')
if [ -n "$changed" ]; then
  echo "cooplog: these committed event files would be changed or deleted:" >&2
  echo "$changed" >&2
  echo "cooplog: event files are append-only; fix a mistake with 'cooplog correct ID'" \\
       "or 'cooplog retract ID', and restore the file with 'git restore --staged --worktree'." >&2
  exit 1
fi
"""

GITIGNORE = ".cooplog/\n"
METADATA = """title: Cooperation log
description: >-
  What this organization attended, signed, submitted and requested, and what became of it,
  as recorded with cooplog.
"""


def install_hook(root: Path) -> Path:
    """(Re)install the pre-commit hook, keeping any hook that cooplog did not write."""
    if not gitops.is_repository(root):
        raise CooplogError(f"{root}: not a git repository: run `cooplog init` first",
                           exit_code=USAGE)
    hooks = Path(gitops.run(root, "rev-parse", "--git-path", "hooks").stdout.strip())
    hooks = hooks if hooks.is_absolute() else root / hooks
    hooks.mkdir(parents=True, exist_ok=True)
    hook = hooks / "pre-commit"
    if hook.exists() and HOOK_MARK not in hook.read_text(errors="replace"):
        raise CooplogError(
            f"{hook}: a pre-commit hook that cooplog did not write is there; "
            "move it aside, then run `cooplog hooks install` again",
            exit_code=USAGE,  # nothing is wrong with the data
        )
    hook.write_text(PRE_COMMIT)
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return hook


def init(root: Path) -> None:
    """A new log: a git repository with events/, metadata.yml, .gitignore, the hook and a
    first commit."""
    if (root / EVENTS).exists():
        raise CooplogError(f"{root / EVENTS}: exists already: this is a log", exit_code=USAGE)
    root.mkdir(parents=True, exist_ok=True)
    if not gitops.is_repository(root):
        gitops.run(root, "init", "--quiet")
    (root / EVENTS).mkdir()
    (root / EVENTS / ".gitkeep").write_text("")
    for name, text in ((".gitignore", GITIGNORE), ("metadata.yml", METADATA)):
        if not (root / name).exists():
            (root / name).write_text(text)
    install_hook(root)
    gitops.run(root, "add", "--", ".gitignore", "metadata.yml", f"{EVENTS}/.gitkeep")
    ident = gitops.fallback_identity(root, "cooplog@localhost", name="cooplog")
    gitops.run(root, *ident, "commit", "--quiet", "-m", "cooplog: a new log")
