"""The one way cooplog runs git: who is recording, committing just the files one command
wrote (retrying while another process holds git's index lock), and git's own words quoted
whole in an error, never spliced into ours."""

from __future__ import annotations

import random
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import CooplogError

LOCK_RETRIES = 100


def run(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, encoding="utf-8"
    )
    if check and result.returncode != 0:
        raise failed(f"git {args[0]} failed", result)
    return result


def raw(root: Path, *args: str, input: bytes | None = None) -> bytes:
    """git on bytes in and out (diff-tree and cat-file read their work from stdin)."""
    result = subprocess.run(["git", "-C", str(root), *args], input=input, capture_output=True)
    if result.returncode != 0:
        raise failed(f"git {args[0]} failed", result)
    return result.stdout


def said(result: subprocess.CompletedProcess) -> list[str]:
    """What git said, each line of it whole, marked as git's."""
    out = result.stderr or result.stdout
    if isinstance(out, bytes):
        out = out.decode("utf-8", "replace")
    lines = [line.rstrip() for line in out.strip().splitlines() if line.strip()]
    return [f"git: {line}" for line in lines] or [f"git: exit code {result.returncode}"]


def failed(first_line: str, result: subprocess.CompletedProcess, **options) -> CooplogError:
    """An error whose first line is ours, followed by git's message."""
    return CooplogError("\n".join([first_line, *said(result)]), **options)


def is_repository(root: Path) -> bool:
    try:
        return run(root, "rev-parse", "--is-inside-work-tree", check=False).returncode == 0
    except FileNotFoundError:  # git not installed: the log still works, uncommitted
        return False


def config(root: Path, name: str) -> str | None:
    try:
        value = run(root, "config", "--get", name, check=False).stdout.strip()
    except FileNotFoundError:
        return None
    return value or None


def fallback_identity(root: Path, who: str | None, name: str | None = None) -> list[str]:
    """Options making `who` (named `name`, else `who`) the author and committer when git has
    no identity of its own (a commit must never fail for want of one when cooplog knows
    who is recording)."""
    if not who or config(root, "user.email"):
        return []
    return ["-c", f"user.email={who}", "-c", f"user.name={name or who}"]


def require_branch(root: Path, doing: str) -> None:
    """Refuse to commit on a detached HEAD: the commit would be on no branch, and lost from
    sight at the next checkout."""
    if run(root, "symbolic-ref", "-q", "HEAD", check=False).returncode != 1:
        return  # on a branch (born or not), or not a repository at all
    head = run(root, "rev-parse", "--short=12", "HEAD").stdout.strip()
    here = run(root, "for-each-ref", "--points-at", "HEAD", "--format=%(refname:short)",
               "refs/heads/").stdout.split()
    back = (f"`git switch {here[0]}` (it points here)" if here
            else "`git switch <branch>`, or `git switch -c <new-branch>` to keep what was "
                 "committed here")
    raise CooplogError(f"{root}: HEAD is detached (at {head}): {doing} would be committed on "
                       f"no branch; nothing was written: get back on a branch with {back}, "
                       "then run it again")


def _locked(result: subprocess.CompletedProcess) -> bool:
    return result.returncode != 0 and "index.lock" in result.stderr


def _retrying(root: Path, *args: str) -> subprocess.CompletedProcess:
    for _ in range(LOCK_RETRIES):
        result = run(root, *args, check=False)
        if not _locked(result):
            return result
        time.sleep(random.uniform(0.02, 0.2))
    lock = Path(run(root, "rev-parse", "--git-path", "index.lock").stdout.strip())
    raise CooplogError(f"{root / lock}: git's index is still locked after {LOCK_RETRIES} "
                       "tries: another git may be running in this log; if none is, delete "
                       "that file, then run the command again; nothing was written")


def commit_files(root: Path, paths: list[Path], message: str, identity: str) -> None:
    """Commit exactly these new files, leaving anything else staged or not as it was.
    `identity` is the author to use when git has none configured."""
    relative = [str(p.relative_to(root)) for p in paths]
    ident = fallback_identity(root, identity)
    with _one_at_a_time(root):
        added = _retrying(root, "add", "--", *relative)
        if added.returncode != 0:
            raise failed("git add failed; nothing was written", added)
        try:
            committed = _retrying(root, *ident, "commit", "--quiet", "-m", message, "--",
                                  *relative)
        except CooplogError:
            _unstage(root, relative)
            raise
        if committed.returncode != 0:
            _unstage(root, relative)
            raise failed("git commit failed; nothing was written", committed)


def _unstage(root: Path, relative: list[str]) -> None:
    for _ in range(LOCK_RETRIES):
        if not _locked(run(root, "reset", "--quiet", "--", *relative, check=False)):
            return
        time.sleep(random.uniform(0.02, 0.2))


@contextmanager
def _one_at_a_time(root: Path):
    """Let one cooplog at a time add and commit. `git commit -- PATHS` reads the index
    before it takes index.lock and writes that copy back, so another process's `git add`
    in between is lost (its commit then fails) and a commit just made can show as a
    staged deletion. Retrying on index.lock alone does not prevent that."""
    try:
        import fcntl
    except ImportError:  # not POSIX: git's index lock and the retries are all there is
        yield
        return
    git_dir = Path(run(root, "rev-parse", "--git-dir").stdout.strip())
    with open((root / git_dir) / "cooplog.lock", "a") as lock:  # root / absolute = absolute
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # unlocked when the file is closed
