"""The audit, read from git: who committed each event (`history`, `commits_since`) and proof
that no committed event file was ever changed (`verify`).

Each walks the history in one or two git processes, never one per commit or per event, so
that a history of 10,000 commits is audited in seconds.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from . import events, gitops
from .corrections import old_values
from .errors import USAGE, CooplogError, Problem
from .repo import METADATA
from .store import EVENTS, Store, contents, ulid_month

# One commit per record: \x1e opens it, \x1f separates fields, the subject goes last.
LOG_FORMAT = "%x1e%H%x1f%an%x1f%ae%x1f%ct%x1f%s"
# What `serve` reads from a log besides its events: a change to them is news, not a breach.
SERVED = ("metadata.yml", "datasette/", "*.py")
# Findings that are warnings: an event file not committed yet, a file `serve` would read.
WARNINGS = frozenset({"uncommitted", "served", "code"})
# Refs that are not the log: where `sync` holds what it fetched until it verifies.
QUARANTINE = "refs/cooplog/"


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# metadata.yml as `cooplog init` writes it: every log has it, so it is no news.
INITIAL_METADATA = _blob_id(METADATA.encode())


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _utc(seconds: str) -> str:
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_event_path(path: str) -> bool:
    return path.startswith(f"{EVENTS}/") and path.endswith(".json")


def is_served_path(path: str) -> bool:
    return (path == "metadata.yml" or path.startswith("datasette/")
            or path.endswith(".py"))


def resolves(root: Path, rev: str) -> bool:
    return gitops.run(root, "rev-parse", "-q", "--verify", f"{rev}^{{commit}}",
                      check=False).returncode == 0


# --- who committed what --------------------------------------------------------------------


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    email: str
    committed_at: str  # RFC 3339 UTC, like recorded_at
    message: str  # the subject line

    def __str__(self) -> str:
        return f"commit {self.sha[:12]} {self.committed_at} by {self.author} <{self.email}>"


def adding_commits(root: Path, revs: list[str], paths: list[str]):
    """(commit, event paths it added) for each commit of `revs` that added one, oldest first.

    git's default history simplification is what we want here: the commits that explain the
    files as they are at the tip."""
    out = _text(gitops.raw(root, "log", "--relative", "--reverse", "--topo-order",
                           "--no-renames", "--diff-filter=A", "--name-status", "-z",
                           f"--format={LOG_FORMAT}", *revs, "--", *paths))
    for record in out.split("\x1e")[1:]:
        header, *rest = record.split("\0")
        sha, author, email, seconds, subject = header.split("\x1f", 4)
        tokens = [t.strip("\n") for t in rest if t.strip("\n")]
        added = [path for path in tokens[1::2] if is_event_path(path)]
        if added:
            yield Commit(sha, author, email, _utc(seconds), subject), added


def commits_since(root: Path | str, last_sha: str | None = None) -> list[dict]:
    """The commits on HEAD after `last_sha` that added event files, oldest first, as
    {sha, author, email, committed_at, message, added: [paths]}: what the projection needs to
    fill its `commits` table and `added_in` column incrementally.

    Keep the last sha returned as the next `last_sha`. An unknown `last_sha` (the history was
    rewritten and collected, or the database came from another clone) means a walk from the
    start; a `last_sha` left off HEAD by a rebase gives the rebased commits again, under their
    new shas. A path may come twice when it was committed on two branches: the first counts."""
    root = Path(root)
    if not gitops.is_repository(root) or not resolves(root, "HEAD"):
        return []
    revs = [f"{last_sha}..HEAD"] if last_sha and resolves(root, last_sha) else ["HEAD"]
    return [{**asdict(commit), "added": added}
            for commit, added in adding_commits(root, revs, [f"{EVENTS}/"])]


@dataclass(frozen=True)
class Entry:
    """One line of history: an event file beside the commit that added it (None: not yet)."""

    step: str  # "added", or in a trail "corrected" / "retracted" / "translated"
    id: str
    path: str
    type: str | None
    recorded_by: str | None
    recorded_at: str | None
    commit: Commit | None
    target: str | None = None
    reason: str | None = None
    changes: dict | None = None  # a correction's `set`
    old: dict | None = None  # the values its `set` replaced

    def when(self) -> str | None:
        return self.commit.committed_at if self.commit else self.recorded_at

    def line(self) -> str:
        parts = [f"{self.step:<10}", self.id, self.type or "?",
                 f"recorded {self.recorded_at or '?'} by {self.recorded_by or '?'}"]
        if self.changes:
            from .corrections import describe

            old = self.old or {}
            parts.append("set " + "; ".join(describe(name, old.get(name), value)
                                            for name, value in self.changes.items()))
        if self.reason:
            parts.append(f"reason: {self.reason}")
        parts.append(str(self.commit) if self.commit else "not committed")
        return "  ".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)


def history(
    root: Path | str, event_id: str | None = None, since: str | None = None,
    by: str | None = None,
) -> list[Entry]:
    """Every event file beside the commit that added it, in id order; or, for one id, its
    trail: the event, then the corrections and retractions aimed at it (or at those), each
    with its commit. `since` (YYYY-MM-DD) keeps entries committed (or, uncommitted,
    recorded) on or after that day; `by` those whose recorder, or whose commit's author name
    or email, contains it."""
    since_day = _day(since)
    store = Store(root)
    bodies = _bodies(store)
    if event_id is not None:
        chosen = _trail(bodies, event_id)
        paths = [bodies[i][0] for i in chosen]
    else:
        chosen, paths = sorted(bodies), [f"{EVENTS}/"]
    added_by: dict[str, Commit] = {}
    if gitops.is_repository(store.root) and resolves(store.root, "HEAD"):
        for commit, added in adding_commits(store.root, ["HEAD"], paths):
            for path in added:
                added_by.setdefault(path, commit)
    old = old_values({i: body for i, (_, body) in bodies.items()})
    entries = [_entry(i, *bodies[i], added_by.get(bodies[i][0]), event_id, old.get(i))
               for i in chosen]
    return [e for e in entries if _wanted(e, since_day, by)]


def _bodies(store: Store) -> dict[str, tuple[str, dict]]:
    """id -> (path, body) of every event file; a file that is not JSON still has its history,
    under the id its name gives."""
    bodies: dict[str, tuple[str, dict]] = {}
    for path in store.files():
        try:
            body = events.decode(contents(path, path.lstat()))  # no FIFO, no 20 MB
        except (events.Invalid, OSError):
            body = {}
        event_id = body.get("id") if isinstance(body.get("id"), str) else path.stem
        bodies.setdefault(event_id, (store.relpath(path), body))
    return bodies


def _trail(bodies: dict[str, tuple[str, dict]], event_id: str) -> list[str]:
    if not events.ULID_RE.fullmatch(event_id):
        raise CooplogError(f"{event_id!r}: not an event id (a ULID of 26 characters)",
                           exit_code=USAGE)
    if event_id not in bodies:
        raise CooplogError(f"{event_id}: no event file has this id: check it with "
                           "`cooplog history` (all events)")
    aimed_at: dict[str, list[str]] = {}
    for other, (_, body) in bodies.items():
        data = body.get("data")
        if body.get("type") in events.TARGETING and isinstance(data, dict):
            aimed_at.setdefault(str(data.get("target")), []).append(other)
    trail, todo = {event_id}, [event_id]
    while todo:
        for other in aimed_at.get(todo.pop(), []):
            if other not in trail:
                trail.add(other)
                todo.append(other)
    return sorted(trail)


def _entry(event_id, path, body, commit, root_id, old=None) -> Entry:
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    step = "added"
    if root_id is not None and event_id != root_id:
        step = {"event.corrected": "corrected", "event.retracted": "retracted",
                "translation.added": "translated"}[body["type"]]
    return Entry(step, event_id, path, body.get("type"), body.get("recorded_by"),
                 body.get("recorded_at"), commit, data.get("target"), data.get("reason"),
                 data.get("set"), old)


def _day(since: str | None) -> date | None:
    if since is None:
        return None
    try:
        return date.fromisoformat(since)
    except ValueError:
        raise CooplogError(f"--since {since!r}: give a day as YYYY-MM-DD",
                           exit_code=USAGE) from None


def _wanted(entry: Entry, since: date | None, by: str | None) -> bool:
    when = entry.when()
    if since and not (when and date.fromisoformat(when[:10]) >= since):
        return False
    if by:
        who = [entry.recorded_by or ""]
        if entry.commit:
            who += [entry.commit.author, entry.commit.email]
        return any(by.casefold() in w.casefold() for w in who)
    return True


# --- append-only proof -----------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    """One thing `verify` found: a breach (exit 1), or one of the WARNINGS."""

    # modified, deleted, renamed, mode, misnamed, misplaced, duplicate; or a warning:
    # uncommitted, served (a file `serve` reads), code (Python in the log)
    kind: str
    path: str
    commit: str | None  # None: in the working tree
    author: str | None
    date: str | None  # the commit's committed date, RFC 3339 UTC
    detail: str

    @property
    def breach(self) -> bool:
        return self.kind not in WARNINGS

    def where(self) -> str:
        if self.commit is None:
            return "in the working tree"
        return f"in commit {self.commit[:12]} ({self.author}, {self.date})"

    def problem(self) -> Problem:
        return Problem(self.path, self.kind, f"{self.where()}: {self.detail}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Report:
    commits: int
    files: int  # event files added in the commits walked
    findings: list[Finding] = field(default_factory=list)

    @property
    def breaches(self) -> list[Finding]:
        return [f for f in self.findings if f.breach]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if not f.breach]


@dataclass(frozen=True)
class _Change:
    """One line of `git diff-tree --raw`."""

    old_mode: str
    new_mode: str
    old_blob: str
    new_blob: str
    status: str
    path: str


def verify(root: Path | str, revision_range: str | None = None,
           known: str | None = None) -> Report:
    """Prove the log append-only: walk every commit reachable from any ref but the stash and
    sync's quarantine (or those of `revision_range`, any `git rev-list` range such as
    OLD..NEW), compare each with every one of its parents, and report each committed event
    file changed, deleted, renamed or changed in mode; each added file whose name is not its
    id, that lies outside events/YYYY/MM/, or whose id another file holds. Without a range the
    working tree is checked too (uncommitted event files are a warning). Files that `serve`
    reads (metadata.yml, datasette/, any Python) are warnings, named with the commit that
    brought them.

    A change carried on by later commits (a merge bringing in a branch that edited a file) is
    reported once, at the commit that made it. When two commits add one path (or one id)
    with different content, the earlier is the reference and the later the breach: earlier
    means reachable from `known` (a history already trusted, as sync's own branch), then the
    older commit date, then the walk's order."""
    root = Path(root)
    # A log may be a folder of a larger repository: git paths are made relative to it.
    inside = gitops.run(root, "rev-parse", "--is-inside-work-tree", "--show-prefix",
                        check=False)
    if inside.returncode != 0:
        raise CooplogError(f"{root}: not a git repository: verify audits a log's git history",
                           exit_code=USAGE)
    revs = (revision_range.split() if revision_range
            else ["--exclude=refs/stash", f"--exclude={QUARANTINE}*", "--all"])
    try:
        walk = _text(gitops.raw(root, "rev-list", "--topo-order", "--reverse", "--parents",
                                *revs))
    except CooplogError as e:
        if revision_range is None:
            raise
        raise CooplogError(f"--range {revision_range}: not a range of this repository ({e})",
                           exit_code=USAGE) from None
    # One line per (commit, parent) pair, so that a merge is compared with every parent.
    pairs: list[tuple[str, str | None, int]] = []
    for line in walk.splitlines():
        commit, *parents = line.split()
        pairs += [(commit, p, len(parents)) for p in parents] or [(commit, None, 0)]
    diffs = _diff_pairs(root, pairs)
    report = Report(commits=len({c for c, _, _ in pairs}), files=0)
    _append_only(root, diffs, report, known)
    report.findings += _served(diffs, per_path=revision_range is None)
    work_tree, prefix = inside.stdout.split("\n")[:2]
    if revision_range is None and work_tree == "true":
        report.findings += _working_tree(root, prefix)
    return report


def _diff_pairs(root: Path, pairs) -> list[tuple[dict, list[_Change]]]:
    """(commit info, changes to event files against one parent) for each pair, in order."""
    if not pairs:
        return []
    stdin = "".join(f"{c} {p}\n" if p else f"{c}\n" for c, p, _ in pairs).encode()
    out = _text(gitops.raw(root, "diff-tree", "--stdin", "--relative", "-r", "--raw", "-z",
                           "--no-renames", "--root", "--always",
                           "--format=>%H%x1f%an%x1f%ae%x1f%ct",
                           "--", f"{EVENTS}/", *SERVED, input=stdin))
    diffs: list[tuple[dict, list[_Change]]] = []
    tokens = iter(out.split("\0"))
    for token in tokens:
        token = token.lstrip("\n")
        if token.startswith(">"):
            sha, name, email, seconds = token[1:].split("\x1f")
            _, parent, parents = pairs[len(diffs)]
            diffs.append(({"sha": sha, "author": f"{name} <{email}>", "date": _utc(seconds),
                           "parent": parent if parents > 1 else None}, []))
        elif token.startswith(":"):
            old_mode, new_mode, old_blob, new_blob, status = token[1:].split(" ")
            path = next(tokens)
            diffs[-1][1].append(_Change(old_mode, new_mode, old_blob, new_blob, status[0],
                                        path))
    return diffs


def _served(diffs, per_path: bool) -> list[Finding]:
    """A warning for each file `serve` would read that the commits added or changed:
    templates and metadata may come with a log, code never should. Each content is named at
    the commit that brought it; or, `per_path` (a whole history), each path once, at its
    latest content."""
    brought: dict = {}  # path, or (path, blob) -> (commit, change)
    versions: dict[str, set[str]] = {}
    for commit, changes in diffs:
        for change in changes:
            if change.status == "D" or not is_served_path(change.path):
                continue
            seen = versions.setdefault(change.path, set())
            if change.new_blob in seen:  # the same content again (a merge): already named
                continue
            seen.add(change.new_blob)
            brought[change.path if per_path else (change.path, change.new_blob)] = \
                (commit, change)
    findings = []
    for commit, change in brought.values():
        if change.path == "metadata.yml" and change.new_blob == INITIAL_METADATA:
            continue
        count = len(versions[change.path])
        older = (f" (the latest of {count} versions)" if per_path and count > 1 else "")
        if change.path.endswith(".py"):
            kind, detail = "code", ("PYTHON CODE sent through the log: serve must never run "
                                    "it (plugins come only from the installed cooplog): ask "
                                    "its author why, and remove it")
        else:
            kind, detail = "served", ("serve shows this file with the log's pages (a "
                                      "template, static file or metadata): check that it is "
                                      "what you expect")
        findings.append(Finding(kind, change.path, commit["sha"], commit["author"],
                                commit["date"], detail + older))
    return findings


def _append_only(root: Path, diffs, report: Report, known: str | None) -> None:
    seen: set[tuple] = set()  # each change reported once, at its first (oldest) commit
    added: dict[tuple[str, str], dict] = {}  # (path, blob) -> commit that first added it
    removed: set[str] = set()

    def found(key: tuple, kind: str, path: str, commit: dict, detail: str) -> None:
        if key in seen:
            return
        seen.add(key)
        if commit["parent"]:
            detail += f" (merge, against its parent {commit['parent'][:12]})"
        report.findings.append(Finding(kind, path, commit["sha"], commit["author"],
                                       commit["date"], detail))

    # A file new against one parent of a merge but changed against another is not an
    # addition: it is the other parent's file, changed (and reported as such).
    parents_had: dict[str, set[str]] = {}
    diffs = [(commit, [c for c in changes if is_event_path(c.path)])
             for commit, changes in diffs]
    for commit, changes in diffs:
        parents_had.setdefault(commit["sha"], set()).update(
            c.path for c in changes if c.status != "A")
    for commit, changes in diffs:
        new_blobs = {c.new_blob: c for c in changes if c.status == "A"}
        for change in changes:
            path = change.path
            if change.status == "A":
                if path not in parents_had[commit["sha"]]:
                    added.setdefault((path, change.new_blob), commit)
            elif change.status == "D":
                removed.add(path)
                moved = new_blobs.get(change.old_blob)
                if moved:
                    found(("renamed", path, change.old_blob, moved.path), "renamed", path,
                          commit, f"renamed to {moved.path}")
                else:
                    found(("deleted", path, change.old_blob), "deleted", path, commit,
                          "deleted")
            elif change.old_blob == change.new_blob or change.status == "T":
                found(("mode", path, change.old_blob, change.old_mode, change.new_mode),
                      "mode", path, commit, f"mode changed from {change.old_mode} to "
                                            f"{change.new_mode}")
            else:
                mode = ("" if change.old_mode == change.new_mode
                        else f", and its mode from {change.old_mode} to {change.new_mode}")
                found(("modified", path, change.old_blob, change.new_blob), "modified", path,
                      commit, f"content changed (blob {change.old_blob[:12]} to "
                              f"{change.new_blob[:12]}){mode}")
    report.files = len({path for path, _ in added})
    report.findings += _placement(root, added, removed, known)


def _placement(root: Path, added: dict[tuple[str, str], dict], removed: set[str],
               known: str | None):
    """Findings for added files whose name is not their id, that lie outside the layout, or
    whose id another file still in the log holds (or this path, with other content)."""
    ids = _ids(root, list(dict.fromkeys(blob for _, blob in added)))
    holders: dict[str, list[tuple[str, dict]]] = {}
    findings = []

    def finding(kind: str, path: str, commit: dict, detail: str) -> None:
        findings.append(Finding(kind, path, commit["sha"], commit["author"], commit["date"],
                                detail))

    for (path, blob), commit in added.items():
        event_id = ids[blob]
        name = path.rsplit("/", 1)[-1]
        if not (event_id and events.ULID_RE.fullmatch(event_id)
                and event_id[:10] <= events.LAST_ULID_TIME):
            finding("misnamed", path, commit, "holds no event id (a ULID): not an event file")
            continue
        if name != f"{event_id}.json":
            finding("misnamed", path, commit,
                    f"holds the id {event_id}: an event lives in {event_id}.json")
        else:
            year, month = ulid_month(event_id)
            expected = f"{EVENTS}/{year}/{month}/{name}"
            if path != expected:
                finding("misplaced", path, commit, f"outside the layout: belongs at {expected}")
        if path not in removed:
            holders.setdefault(event_id, []).append((path, commit))
    contested = {event_id: held for event_id, held in holders.items() if len(held) > 1}
    trusted = (set(gitops.run(root, "rev-list", known).stdout.split())
               if contested and known else set())
    for event_id, held in contested.items():
        # sorted() is stable: between commits of one second, the walk's order stands
        held = sorted(held, key=lambda h: (h[1]["sha"] not in trusted, h[1]["date"]))
        first_path, first_commit = held[0]
        since = (f"first added in commit {first_commit['sha'][:12]} by "
                 f"{first_commit['author']}, {first_commit['date']}")
        for path, commit in held[1:]:
            finding("duplicate", path, commit,
                    f"added again with other content ({since})" if path == first_path
                    else f"holds the id {event_id}, which {first_path} holds too ({since})")
    return findings


def _ids(root: Path, blobs: list[str]) -> dict[str, str | None]:
    """The `id` each blob's JSON holds (None if it holds none), read by one `git cat-file`."""
    if not blobs:
        return {}
    out = gitops.raw(root, "cat-file", "--batch",
                     input="".join(f"{b}\n" for b in blobs).encode())
    ids: dict[str, str | None] = {}
    position = 0
    for blob in blobs:
        end = out.index(b"\n", position)
        header = out[position:end].split()
        position = end + 1
        ids[blob] = None
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            content = out[position:position + size]
            position += size + 1
            try:
                event_id = events.decode(content).get("id")
            except events.Invalid:
                continue
            ids[blob] = event_id if isinstance(event_id, str) else None
    return ids


def changed_in_working_tree(root: Path | str) -> list[Finding]:
    """Committed event files changed or deleted in the working tree, for the projection's
    `problems` (one `git status`; nothing outside a git repository)."""
    root = Path(root)
    inside = gitops.run(root, "rev-parse", "--is-inside-work-tree", "--show-prefix",
                        check=False) if gitops.is_repository(root) else None
    if inside is None or inside.returncode != 0:
        return []
    prefix = inside.stdout.split("\n")[1]
    return [f for f in _working_tree(root, prefix) if f.breach]


def _working_tree(root: Path, prefix: str) -> list[Finding]:
    """Event files changed, deleted or not yet committed in the working tree or index."""
    out = _text(gitops.raw(root, "status", "--porcelain=v1", "-z", "--untracked-files=all",
                           "--no-renames", "--", f"{EVENTS}/"))
    findings = []
    for entry in filter(None, out.split("\0")):
        state, path = entry[:2], entry[3 + len(prefix):]  # paths from the repository's top
        if not is_event_path(path):
            continue
        if state == "??" or state[0] == "A":
            findings.append(Finding("uncommitted", path, None, None, None,
                                    "not committed yet: commit it (git add, git commit)"))
        elif "D" in state:
            findings.append(Finding("deleted", path, None, None, None,
                                    "deleted: restore it with `git restore --staged "
                                    f"--worktree {path}`"))
        else:
            kind = "mode" if "T" in state else "modified"
            findings.append(Finding(kind, path, None, None, None,
                                    "changed: restore it with `git restore --staged "
                                    f"--worktree {path}`"))
    return findings
