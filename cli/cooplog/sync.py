"""`cooplog sync`: keep offices in step through a git remote.

Fetch the branch's upstream, check what is coming in (and going out) with the same code as
`cooplog verify`, rebase local commits onto it, push, and catch the projection up. Event
files have unique names, so two offices appending never conflict; anything else that goes
wrong leaves the branch, index and working tree as they were.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import audit, gitops
from .errors import USAGE, CooplogError


@dataclass(frozen=True)
class Synced:
    remote: str
    branch: str  # the remote branch, e.g. refs/heads/main
    incoming: int  # commits fetched that were not here
    outgoing: int  # local commits pushed


def sync(root: Path | str, db: Path | None = None) -> Synced:
    from .database import claim  # the database is checked before the repository is touched

    claim(root, db)
    root = Path(root)
    if not gitops.is_repository(root):
        raise CooplogError(f"{root}: not a git repository: sync needs a log made by "
                           "`cooplog init` (or a clone of one)", exit_code=USAGE)
    branch = gitops.run(root, "symbolic-ref", "--short", "-q", "HEAD", check=False)
    branch = branch.stdout.strip()
    if not branch:
        raise CooplogError(f"{root}: not on a branch (detached HEAD): check out your branch, "
                           "then sync again")
    remote, merge_ref, tracked = _upstream(root, branch)
    _require_clean(root)
    old = gitops.run(root, "rev-parse", "HEAD").stdout.strip()
    fetched = _fetch(root, remote, merge_ref)
    incoming = outgoing = 0
    if fetched is not None:
        counts = gitops.run(root, "rev-list", "--left-right", "--count", f"{old}...{fetched}")
        outgoing, incoming = map(int, counts.stdout.split())
        _check(root, f"{old}...{fetched}", remote)
        if incoming:
            _rebase(root, fetched, remote, merge_ref)
    if outgoing or not tracked or fetched is None:
        try:
            _push(root, remote, branch, merge_ref, tracked)
        except CooplogError:
            gitops.run(root, "reset", "--quiet", "--keep", old)
            raise
    from .projection import catch_up  # here: the database is not needed until now

    catch_up(root, db)
    return Synced(remote, merge_ref, incoming, outgoing)


def _upstream(root: Path, branch: str) -> tuple[str, str, bool]:
    """(remote, its branch, whether that is the configured upstream): the upstream, else
    the same-named branch of `origin`."""
    remote = gitops.config(root, f"branch.{branch}.remote")
    merge_ref = gitops.config(root, f"branch.{branch}.merge")
    if remote and merge_ref:
        return remote, merge_ref, True
    remotes = gitops.run(root, "remote").stdout.split()
    if "origin" not in remotes:
        raise CooplogError(f"{root}: no remote to sync with: the branch {branch} has no "
                           "upstream and there is no `origin`; add one with "
                           "`git remote add origin URL`")
    return "origin", f"refs/heads/{branch}", False


def _require_clean(root: Path) -> None:
    changed = gitops.run(root, "status", "--porcelain", "--untracked-files=no").stdout
    if changed.strip():
        paths = ", ".join(line[3:] for line in changed.splitlines())
        raise CooplogError(f"uncommitted changes to {paths}: commit or stash them, then sync "
                           "again; nothing was done")


def _fetch(root: Path, remote: str, merge_ref: str) -> str | None:
    """The remote branch's commit, fetched; None if the remote has no such branch yet."""
    fetched = gitops.run(root, "fetch", "--quiet", "--no-tags", remote, merge_ref, check=False)
    if fetched.returncode == 0:
        return gitops.run(root, "rev-parse", "FETCH_HEAD").stdout.strip()
    probe = gitops.run(root, "ls-remote", "--exit-code", remote, merge_ref, check=False)
    if probe.returncode == 2:  # reachable, and the branch is not there: the first push
        return None
    url = gitops.run(root, "remote", "get-url", remote, check=False).stdout.strip() or remote
    reason = fetched.stderr.strip().splitlines()
    raise CooplogError(f"cannot fetch {merge_ref} from {remote} ({url}): "
                       f"{reason[-1] if reason else 'git fetch failed'}; nothing was changed: "
                       "check the address (`git remote -v`) and the connection")


def _check(root: Path, revision_range: str, remote: str) -> None:
    """Refuse to take in, or send out, commits that break the append-only rule."""
    report = audit.verify(root, revision_range)
    if report.breaches:
        raise CooplogError(
            f"the commits between here and {remote} break the append-only rule "
            f"({len(report.breaches)} breach(es)); nothing was changed: find who made them "
            "with `cooplog verify`, and have the history repaired before syncing",
            problems=[f.problem() for f in report.breaches],
        )


def _rebase(root: Path, onto: str, remote: str, merge_ref: str) -> None:
    """Replay local commits onto the remote's; on a conflict, put everything back."""
    who = os.environ.get("COOPLOG_USER")  # as `add` commits when git has no identity
    ident = []
    if who and not gitops.config(root, "user.email"):
        ident = ["-c", f"user.email={who}", "-c", f"user.name={who}"]
    rebased = gitops.run(root, *ident, "rebase", "--quiet", onto, check=False)
    if rebased.returncode == 0:
        return
    conflicts = gitops.run(root, "diff", "--name-only", "--diff-filter=U", check=False)
    gitops.run(root, "rebase", "--abort", check=False)
    paths = ", ".join(conflicts.stdout.split())
    if paths:
        raise CooplogError(f"{paths}: changed both here and on {remote} ({merge_ref}); "
                           "nothing was changed: merge them by hand (`git pull --rebase`), "
                           "then sync again")
    reason = (rebased.stderr or rebased.stdout).strip().splitlines()
    raise CooplogError(f"cannot rebase onto {remote} ({merge_ref}): "
                       f"{reason[-1] if reason else 'git rebase failed'}; nothing was changed")


def _push(root: Path, remote: str, branch: str, merge_ref: str, tracked: bool) -> None:
    upstream = [] if tracked else ["--set-upstream"]
    pushed = gitops.run(root, "push", *upstream, remote, f"refs/heads/{branch}:{merge_ref}",
                        check=False)
    if pushed.returncode != 0:
        said = [line.rstrip() for line in pushed.stderr.splitlines()
                if line.startswith(("remote:", " ! ", "fatal:"))]
        raise CooplogError("\n".join([
            f"{remote} refused the push to {merge_ref}; the branch is back where it was "
            "before the sync, nothing was lost: fix what the remote says, then sync again",
            *said]))
