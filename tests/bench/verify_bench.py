"""How long `cooplog verify` takes on a long history (target: at most 5 s for 10,000 commits).

Builds, with one `git fast-import`, a log of N commits that each add one event file, every
50th commit a merge of a side-branch commit, checks out its working tree, then times the
audit and the whole command.

    .venv/bin/python tests/bench/verify_bench.py [--commits 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from ulid import ULID

from cooplog import audit

START = 1_700_000_000  # 2023-11-14, in seconds
IDENTITY = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.org",
            "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.org",
            "GIT_CONFIG_NOSYSTEM": "1"}


def event_file(n: int) -> tuple[str, bytes]:
    """(path, bytes) of the n-th event, one hour after the one before."""
    when = datetime.fromtimestamp(START + n * 3600, tz=timezone.utc)
    ulid = ULID.from_bytes(int(when.timestamp() * 1000).to_bytes(6, "big") + n.to_bytes(10, "big"))
    body = {"id": str(ulid), "type": "activity.noted", "schema": 1,
            "recorded_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "recorded_by": "bench@example.org", "occurred": "2009",
            "summary": f"Activity number {n}.", "orgs": [], "data": {}}
    raw = json.dumps(body, indent=2, ensure_ascii=False).encode() + b"\n"
    return f"events/{when:%Y}/{when:%m}/{ulid}.json", raw


def data(raw: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(raw), raw)


def commit(ref: str, mark: int, n: int, parents: list[int], carried: tuple = ()) -> bytes:
    """A commit adding the n-th event; a merge also lists the `carried` event numbers, which
    its other parent added (fast-import takes the tree of the first parent only)."""
    stream = [b"commit %s\nmark :%d\n" % (ref.encode(), mark),
              b"committer Bench <bench@example.org> %d +0000\n" % (START + n * 3600),
              data(b"event %d" % n)]
    if parents:
        stream.append(b"from :%d\n" % parents[0])
    stream += [b"merge :%d\n" % p for p in parents[1:]]
    for path, raw in map(event_file, (n, *carried)):
        stream += [b"M 100644 inline %s\n" % path.encode(), data(raw)]
    return b"".join(stream)


def build(root: Path, commits: int) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    stream, main = [], None
    for n in range(commits):
        mark = n + 1
        if n % 50 == 49 and main:  # a side commit, merged by the next one
            stream.append(commit("refs/heads/side", mark, n, [main]))
            side = mark
            continue
        merged = [side] if n % 50 == 0 and n else []
        stream.append(commit("refs/heads/main", mark, n, ([main] if main else []) + merged,
                             (n - 1,) if merged else ()))
        main = mark
    subprocess.run(["git", "-C", str(root), "fast-import", "--quiet"],
                   input=b"".join(stream), check=True)
    subprocess.run(["git", "-C", str(root), "reset", "-q", "--hard", "main"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=10_000)
    commits = parser.parse_args().commits
    os.environ.update(IDENTITY)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "log"
        started = time.perf_counter()
        build(root, commits)
        print(f"built {commits} commits in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        report = audit.verify(root)
        took = time.perf_counter() - started
        assert report.commits == commits and report.files == commits, report
        assert report.findings == [], report.findings[:5]
        print(f"audit.verify: {took:.2f} s for {report.commits} commits, "
              f"{report.files} event files")

        cooplog = Path(sys.executable).parent / "cooplog"
        started = time.perf_counter()
        subprocess.run([str(cooplog), "--root", str(root), "verify"], check=True,
                       capture_output=True)
        print(f"cooplog verify (the whole command): {time.perf_counter() - started:.2f} s")

        started = time.perf_counter()
        entries = audit.history(root)
        print(f"audit.history: {time.perf_counter() - started:.2f} s for {len(entries)} events")


if __name__ == "__main__":
    main()
