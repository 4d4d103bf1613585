"""Small helpers and sample data shared by the tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

RECORDER = "recorder@example.org"

ORGS = {"unep": "unep", "wco": "intergovernmental", "wto": "intergovernmental",
        "gef": "other"}
ENTITIES = {"wco-mou": "agreement", "hs-waste-streams": "submission",
            "wto-cte-observer": "request", "e-waste-africa": "project"}

SEED = [
    *({"type": "organization.registered",
       "data": {"key": key, "name": f"The {key.upper()}", "category": category}}
      for key, category in ORGS.items()),
    {"type": "agreement.signed", "occurred": "2008-06", "summary": "Signed an MoU.",
     "orgs": ["wco"], "data": {"key": "wco-mou", "kind": "mou", "title": "MoU with the WCO",
                               "parties": ["wco"]}},
    {"type": "submission.made", "occurred": "2008-11", "summary": "Submitted waste streams.",
     "orgs": ["wco"], "data": {"key": "hs-waste-streams", "to": "wco",
                               "title": "Waste streams for the Harmonized System"}},
    {"type": "request.made", "occurred": "2008", "summary": "Asked for observer status.",
     "orgs": ["wto"], "data": {"key": "wto-cte-observer", "to": "wto",
                               "subject": "observer status in the CTE"}},
    {"type": "project.proposed", "occurred": "2009", "summary": "Proposed a project.",
     "data": {"key": "e-waste-africa", "title": "E-waste Africa", "funder": "gef"}},
]


def built(root: Path, db: Path | None = None) -> Path:
    """The database of the log at `root` (its default one unless `db`), built in full."""
    from cooplog.projection import Projection
    from cooplog.store import Store

    projection = Projection(Store(root), db)
    try:
        projection.build()
    finally:
        projection.close()
    return projection.db_path


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=check)


def commits(root: Path) -> list[str]:
    """Subjects of the commits on HEAD, newest first."""
    return git(root, "log", "--format=%s").stdout.splitlines()


def committed_files(root: Path, rev: str = "HEAD") -> list[str]:
    return git(root, "show", "--name-only", "--format=", rev).stdout.split()


def event_files(root: Path) -> list[str]:
    """Every *.json under events/, relative to the root, sorted."""
    return sorted(p.relative_to(root).as_posix() for p in (root / "events").rglob("*.json"))


def snapshot(root: Path) -> dict:
    """Everything a failed command must leave as it was: files under events/ and HEAD."""
    files = {p.relative_to(root).as_posix(): p.read_bytes()
             for p in sorted((root / "events").rglob("*")) if p.is_file()}
    return {"files": files, "head": git(root, "rev-parse", "HEAD").stdout,
            "status": git(root, "status", "--porcelain", "--untracked-files=all").stdout}


def read_json(path: Path) -> dict:
    return json.loads(path.read_bytes().decode("utf-8"))


def written(result, root: Path) -> list[tuple[str, str]]:
    """(id, path relative to the root) for each line `ID  PATH` a writing command printed."""
    pairs = [line.split("  ") for line in result.stdout.splitlines()]
    return [(event_id, Path(path).relative_to(root).as_posix()) for event_id, path in pairs]


def sample_bodies() -> list[dict]:
    """The repository's sample log (the 2008-2009 annex) as `import` bodies, in id order:
    its 164 events, not the corrections and translations naming them by id (imported, the
    events get new ids)."""
    files = sorted((Path(__file__).parents[1] / "events").rglob("*.json"))
    assigned = ("id", "recorded_at", "recorded_by")
    bodies = [{k: v for k, v in read_json(f).items() if k not in assigned} for f in files]
    return [body for body in bodies if "target" not in body["data"]]


def numbered_ulid(n: int, prefix: str = "01J0G00000") -> str:
    """The n-th of a row of ULIDs with one fixed time (`prefix`'s; ids increase with n):
    their files share the month folder `Store.path_for` derives from that time."""
    from cooplog.store import CROCKFORD

    tail = ""
    for _ in range(16):
        n, r = divmod(n, 32)
        tail = CROCKFORD[r] + tail
    return prefix + tail


def without_warnings(output: str) -> str:
    """`validate`'s output without its warning lines: SEED's project names no organization,
    so every seeded log has one."""
    return "".join(line for line in output.splitlines(keepends=True)
                   if not line.startswith("warning: "))


SAMPLE_LOG = Path(__file__).resolve().parents[1]  # this repository's events/


def latest_recorded(root: Path = SAMPLE_LOG) -> tuple[str, str]:
    """(who, on what day in words) recorded the log's latest event, the first of the home
    page's latest changes: read from the files, since the sample log grows."""
    from cooplog import dates

    bodies = [json.loads(p.read_text(encoding="utf-8"))
              for p in (root / "events").rglob("*.json")]
    latest = max(bodies, key=lambda body: (body["recorded_at"], body["id"]))
    return latest["recorded_by"], dates.in_words(latest["recorded_at"][:10])
