"""The few git calls the writing commands make: who is recording, and committing just the
files one command wrote (retrying while another process holds git's index lock)."""

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
        raise CooplogError(f"git {args[0]} failed: {_last_line(result)}")
    return result


def _last_line(result: subprocess.CompletedProcess) -> str:
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit code {result.returncode}"


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


def _locked(result: subprocess.CompletedProcess) -> bool:
    return result.returncode != 0 and "index.lock" in result.stderr


def _retrying(root: Path, *args: str) -> subprocess.CompletedProcess:
    for _ in range(LOCK_RETRIES):
        result = run(root, *args, check=False)
        if not _locked(result):
            return result
        time.sleep(random.uniform(0.02, 0.2))
    return result


def commit_files(root: Path, paths: list[Path], message: str, identity: str) -> None:
    """Commit exactly these new files, leaving anything else staged or not as it was.
    `identity` is the author to use when git has none configured."""
    relative = [str(p.relative_to(root)) for p in paths]
    ident = []
    if not config(root, "user.email"):
        ident = ["-c", f"user.email={identity}", "-c", f"user.name={identity}"]
    with _one_at_a_time(root):
        added = _retrying(root, "add", "--", *relative)
        if added.returncode != 0:
            raise CooplogError(f"git add failed: {_last_line(added)}")
        committed = _retrying(root, *ident, "commit", "--quiet", "-m", message, "--",
                              *relative)
        if committed.returncode != 0:
            _retrying(root, "reset", "--quiet", "--", *relative)
            raise CooplogError(f"git commit failed: {_last_line(committed)}")


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
