"""`cooplog init` and `cooplog hooks install`, with real git. (What the hook refuses is in
test_hooks.py.)"""

from __future__ import annotations

import os
import stat

from cooplog import repo
from helpers import commits, git


def test_init_makes_a_log_with_a_first_commit(tmp_path, cli):
    root = tmp_path / "new"
    result = cli(tmp_path, "init", root)
    assert (result.exit_code, result.stdout) == (0, f"a new log in {root}\n")
    assert git(root, "rev-parse", "--is-inside-work-tree").stdout == "true\n"
    assert commits(root) == ["cooplog: a new log"]
    assert git(root, "ls-files").stdout.split() == [".gitignore", "events/.gitkeep",
                                                    "metadata.yml"]
    assert ".cooplog/" in (root / ".gitignore").read_text().splitlines()
    assert (root / "metadata.yml").read_text().startswith("title: Cooperation log\n")
    assert (root / "events").is_dir()
    assert git(root, "status", "--porcelain", "--untracked-files=all").stdout == ""
    hook = root / ".git" / "hooks" / "pre-commit"
    assert hook.read_text() == repo.PRE_COMMIT
    assert hook.stat().st_mode & stat.S_IXUSR


def test_init_in_an_existing_repository_keeps_its_files(tmp_path):
    root = tmp_path / "existing"
    root.mkdir()
    git(root, "init", "-q")
    (root / ".gitignore").write_text("*.pyc\n")
    repo.init(root)
    assert (root / ".gitignore").read_text() == "*.pyc\n"
    assert commits(root) == ["cooplog: a new log"]


def test_init_refuses_an_existing_log(log, cli):
    result = cli(log, "init", log)
    assert (result.exit_code, result.stderr) == (
        2, f"error: {log / 'events'}: exists already: this is a log\n")


def test_the_database_is_ignored_and_other_files_may_change(log):
    (log / ".cooplog").mkdir()
    (log / ".cooplog" / "cooplog.db").write_bytes(b"SQLite")
    assert git(log, "status", "--porcelain", "--untracked-files=all").stdout == ""
    (log / "metadata.yml").write_text("title: Our log\n")
    git(log, "commit", "-qam", "retitle")
    assert commits(log)[0] == "retitle"


def test_hooks_install_refuses_a_hook_it_did_not_write(log, cli):
    hook = log / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 0\n")
    result = cli(log, "hooks", "install")
    assert (result.exit_code, result.stderr) == (2, (
        f"error: {hook}: a pre-commit hook that cooplog did not write is there; move it "
        "aside, then run `cooplog hooks install` again\n"))
    assert hook.read_text() == "#!/bin/sh\nexit 0\n"


def test_hooks_install_replaces_its_own_hook(log, cli):
    hook = log / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\n{repo.HOOK_MARK}: an older version\n")
    os.chmod(hook, 0o644)
    result = cli(log, "hooks", "install")
    assert (result.exit_code, result.stdout) == (0, f"installed {hook}\n")
    assert hook.read_text() == repo.PRE_COMMIT and hook.stat().st_mode & stat.S_IXUSR


def test_hooks_install_outside_a_repository(tmp_path, cli):
    result = cli(tmp_path, "hooks", "install")
    assert (result.exit_code, result.stderr) == (
        2, f"error: {tmp_path}: not a git repository: run `cooplog init` first\n")
