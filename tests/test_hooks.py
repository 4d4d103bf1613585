"""The append-only hooks: the pre-commit hook in every log, and the server-side check that
README.md gives for a pre-receive hook (client hooks can be skipped)."""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path

import pytest

from cooplog import append, audit
from cooplog.store import Store
from helpers import git

README = Path(__file__).resolve().parents[1] / "README.md"
HOOK_MESSAGE = "committed event files would be changed or deleted"


def add(root, summary):
    body = {"type": "activity.noted", "occurred": "2009-03", "summary": summary}
    [(_, path)] = append.append(Store(root), [("test", body)], by="office-a@example.org")
    return path.relative_to(root).as_posix()


def edit(root, path):
    (root / path).write_text((root / path).read_text().replace("Original", "Changed"))
    git(root, "add", path)


def delete(root, path):
    git(root, "rm", "-q", path)


def rename(root, path):
    git(root, "mv", path, path.replace(".json", ".old.json"))


def make_executable(root, path):
    os.chmod(root / path, 0o755)
    git(root, "add", path)


@pytest.mark.parametrize("tamper,kind", [(edit, "modified"), (delete, "deleted"),
                                         (rename, "renamed"), (make_executable, "mode")])
def test_the_hook_refuses_what_verify_would_find(log, tamper, kind):
    path = add(log, "Original summary.")
    before = git(log, "rev-parse", "HEAD").stdout
    tamper(log, path)
    refused = git(log, "commit", "-q", "-m", "tamper", check=False)
    assert refused.returncode == 1
    assert HOOK_MESSAGE in refused.stderr
    assert path in refused.stderr
    assert git(log, "rev-parse", "HEAD").stdout == before
    # Skipping the hook gets the change committed, and verify names that commit.
    git(log, "commit", "-q", "--no-verify", "-m", "tamper")
    sha = git(log, "rev-parse", "HEAD").stdout.strip()
    assert (kind, path, sha) in {(f.kind, f.path, f.commit) for f in audit.verify(log).findings}


def test_the_hook_lets_new_event_files_through(log):
    add(log, "One.")
    add(log, "Two.")
    assert git(log, "rev-list", "--count", "HEAD").stdout.strip() == "3"


def test_hooks_install_puts_the_hook_back(log, cli):
    hook = log / ".git" / "hooks" / "pre-commit"
    hook.unlink()
    result = cli(log, "hooks", "install")
    assert result.exit_code == 0
    assert hook.stat().st_mode & stat.S_IXUSR
    path = add(log, "Original.")
    edit(log, path)
    assert HOOK_MESSAGE in git(log, "commit", "-q", "-m", "x", check=False).stderr


def readme_pre_receive() -> str:
    """The pre-receive hook given in README.md, section "Auditing and syncing"."""
    section = README.read_text(encoding="utf-8").split("## Auditing and syncing", 1)[1]
    return re.search(r"```sh\n(#!/bin/sh\n# pre-receive.*?)```", section, re.S)[1]


@pytest.mark.slow
def test_the_readme_pre_receive_hook_refuses_a_tampered_push(log, tmp_path, monkeypatch):
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(log), str(remote))
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(readme_pre_receive())
    hook.chmod(0o755)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    git(log, "remote", "add", "origin", str(remote))
    branch = git(log, "branch", "--show-current").stdout.strip()

    path = add(log, "Original.")
    accepted = git(log, "push", "-q", "origin", branch, check=False)
    assert accepted.returncode == 0, accepted.stderr

    edit(log, path)
    git(log, "commit", "-q", "--no-verify", "-m", "tamper")
    refused = git(log, "push", "-q", "origin", branch, check=False)
    assert refused.returncode != 0
    assert f"breach: {path}: modified" in refused.stderr
    assert git(remote, "rev-parse", branch).stdout == git(log, "rev-parse", "HEAD~1").stdout

    # A new branch is checked from its first commit.
    refused = git(log, "push", "-q", "origin", f"{branch}:refs/heads/other", check=False)
    assert refused.returncode != 0 and "modified" in refused.stderr
    assert git(remote, "rev-parse", "-q", "--verify", "refs/heads/other",
               check=False).returncode != 0
