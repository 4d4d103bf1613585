"""`cooplog sync`: keep offices in step through a git remote.

Fetch the branch's upstream into a quarantine ref, check what is coming in (and going out)
with the same code as `cooplog verify`, and only then move the remote-tracking ref; rebase
local commits onto it, push, and catch the projection up. Event files have unique names, so
two offices appending never conflict; anything else that goes wrong leaves the branch, the
remote-tracking ref, the index and the working tree as they were.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from . import audit, gitops
from .errors import USAGE, CooplogError
from .store import EVENTS


@dataclass(frozen=True)
class Synced:
    remote: str
    branch: str  # the remote branch, e.g. refs/heads/main
    incoming: int  # commits fetched that were not here
    outgoing: int  # local commits pushed
    warnings: list[audit.Finding] = field(default_factory=list)  # files serve would read

# Where fetched commits wait until they verify: never a remote-tracking ref, never walked by
# a plain `verify`.
INCOMING = f"{audit.QUARANTINE}incoming"


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
    tracking = _tracking_ref(root, remote, merge_ref)
    try:
        fetched = _fetch(root, remote, merge_ref)
        incoming, warnings = _check(root, old, fetched, tracking, remote, merge_ref)
    finally:
        gitops.run(root, "update-ref", "-d", INCOMING, check=False)
    if incoming:
        _rebase(root, fetched, remote, merge_ref)
    if fetched and tracking:  # what a fetch would have done, now that it verified
        gitops.run(root, "update-ref", "-m", "cooplog sync: verified", tracking, fetched)
    # Counted as pushed: what the remote's branch (or, new, any of its branches) lacks.
    outgoing = int(gitops.run(root, "rev-list", "--count", "HEAD", "--not",
                              *([fetched] if fetched else [f"--remotes={remote}"])
                              ).stdout)
    if outgoing or not tracked or fetched is None:
        try:
            _push(root, remote, branch, merge_ref, tracked)
        except CooplogError:
            gitops.run(root, "reset", "--quiet", "--keep", old)
            raise
    from .projection import fresh  # here: the database is not needed until now

    with fresh(root, db):
        pass
    return Synced(remote, merge_ref, len(incoming), outgoing, warnings)


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


def _tracking_ref(root: Path, remote: str, merge_ref: str) -> str | None:
    """The remote-tracking ref the remote's fetch refspecs map its branch to
    (refs/remotes/origin/main), if any."""
    specs = gitops.run(root, "config", "--get-all", f"remote.{remote}.fetch", check=False)
    for spec in specs.stdout.split():
        source, _, destination = spec.removeprefix("+").partition(":")
        if source == merge_ref and destination:
            return destination
        if (source.endswith("/*") and destination.endswith("/*")
                and merge_ref.startswith(source[:-1])):
            return destination[:-1] + merge_ref[len(source) - 1:]
    return None


def _url(root: Path, remote: str) -> str:
    return gitops.run(root, "remote", "get-url", remote, check=False).stdout.strip() or remote


def _fetch(root: Path, remote: str, merge_ref: str) -> str | None:
    """The remote branch's commit, fetched into quarantine (no remote-tracking ref moves, no
    FETCH_HEAD); None if the remote has no such branch yet."""
    fetched = gitops.run(root, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                         "--refmap=", remote, f"+{merge_ref}:{INCOMING}", check=False)
    if fetched.returncode == 0:
        return gitops.run(root, "rev-parse", INCOMING).stdout.strip()
    probe = gitops.run(root, "ls-remote", "--exit-code", remote, merge_ref, check=False)
    if probe.returncode == 2:  # reachable, and the branch is not there: the first push
        return None
    raise gitops.failed(f"cannot fetch {merge_ref} from {remote} ({_url(root, remote)}); "
                        "nothing was changed: check the address (`git remote -v`) and the "
                        "connection, then sync again", fetched)


def _check(root: Path, old: str, fetched: str | None, tracking: str | None, remote: str,
           merge_ref: str) -> tuple[list[str], list[audit.Finding]]:
    """Refuse to take in, or send out, commits that break the append-only rule, or a
    rewritten remote that lost events synced from it before. (The incoming commits, the
    warnings about files they bring that serve would read.)"""
    if fetched is None:  # a first push: what goes out is all there is to check
        incoming, span = [], f"{old} --not --remotes={remote}"
    else:
        incoming = gitops.run(root, "rev-list", f"{old}..{fetched}").stdout.split()
        span = f"{old}...{fetched}"
    arrived = set(incoming)
    report = audit.verify(root, span, known=old)
    dropped = _dropped(root, tracking, fetched) if fetched else []
    if report.breaches or dropped:
        raise CooplogError(_refusal(root, report.breaches, dropped, arrived, remote,
                                    merge_ref, tracking))
    return incoming, [f for f in report.warnings if f.commit in arrived]


def _dropped(root: Path, tracking: str | None, fetched: str) -> list[tuple[str, audit.Commit]]:
    """(path, the commit that added it) for each event file that the remote's branch had
    when last synced and has no more: a force-push took it away."""
    if tracking is None or not audit.resolves(root, tracking):
        return []
    if gitops.run(root, "merge-base", "--is-ancestor", tracking, fetched,
                  check=False).returncode == 0:
        return []  # a fast-forward: a deletion in it is a commit, which verify names
    gone = gitops.run(root, "diff", "--relative", "--no-renames", "--name-only", "-z",
                      "--diff-filter=D", tracking, fetched, "--", f"{EVENTS}/")
    gone = {path for path in gone.stdout.split("\0") if audit.is_event_path(path)}
    if not gone:
        return []
    adding = {path: commit
              for commit, added in audit.adding_commits(root, [tracking], [f"{EVENTS}/"])
              for path in added if path in gone}
    return sorted(adding.items())


def _refusal(root: Path, breaches: list[audit.Finding], dropped, incoming: set[str],
             remote: str, merge_ref: str, tracking: str | None) -> str:
    """What happened, each breach on its line, and what to do next."""
    url = _url(root, remote)
    theirs = [f for f in breaches if f.commit in incoming]
    ours = [f for f in breaches if f.commit not in incoming]
    at = None
    if tracking and audit.resolves(root, tracking):
        at = gitops.run(root, "rev-parse", "--short=12", tracking).stdout.strip()
    if theirs or dropped:
        what = (f"{remote} {merge_ref} ({url}) "
                + ("holds commits that break the append-only rule" if theirs
                   else "was rewritten, and lost events synced from it before"))
        if at:
            what += f"; {tracking.removeprefix('refs/remotes/')} stays at {at}"
    else:
        what = (f"this branch holds commits that break the append-only rule; they were not "
                f"pushed to {remote} {merge_ref} ({url})")
    lines = [f"sync refused: {what}; nothing was changed"]
    lines += [f"  {f.problem()}" for f in theirs]
    if theirs:
        authors = ", ".join(sorted({f.author for f in theirs}))
        lines.append(f"  what to do: tell whoever looks after {url} that its {merge_ref} "
                     f"must be put back as it was before the commits above (made by "
                     f"{authors}), then sync again; nothing here needs undoing")
    lines += [f"  {path}: dropped: added in {commit}, synced from {remote} before, and "
              f"no longer on its {merge_ref}" for path, commit in dropped]
    if dropped:
        lines.append(f"  what to do: tell whoever looks after {url} that a force-push took "
                     f"the events above off its {merge_ref}: it must hold {at} again (this "
                     "clone has it), then sync again; nothing here needs undoing")
    lines += [f"  {f.problem()}" for f in ours]
    if ours:
        lines.append("  what to do: the commits above are on this branch, not yet on "
                     f"{remote}: repair this branch (`cooplog verify` names them), then sync "
                     "again")
    return "\n".join(lines)


def _rebase(root: Path, onto: str, remote: str, merge_ref: str) -> None:
    """Replay local commits onto the remote's; on a conflict, put everything back."""
    # as `add` commits when git has no identity
    ident = gitops.fallback_identity(root, os.environ.get("COOPLOG_USER"))
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
    raise gitops.failed(f"cannot rebase onto {remote} ({merge_ref}); nothing was changed",
                        rebased)


def _push(root: Path, remote: str, branch: str, merge_ref: str, tracked: bool) -> None:
    upstream = [] if tracked else ["--set-upstream"]
    pushed = gitops.run(root, "push", *upstream, remote, f"refs/heads/{branch}:{merge_ref}",
                        check=False)
    if pushed.returncode != 0:
        raise gitops.failed(f"{remote} refused the push to {merge_ref}; the branch is back "
                            "where it was before the sync, nothing was lost: fix what the "
                            "remote says, then sync again", pushed)
