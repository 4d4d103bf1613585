"""How long the site takes to heal when its database goes under a running `cooplog serve`
(issue 21, defect 9; it must within the reconciliation interval, 30 s).

Writes a log of N activities (or takes --root), starts the real `cooplog serve`, and for
each trouble — the database deleted, deleted with its -wal and -shm, another build of it
renamed over it, its bytes overwritten in place — times, RUNS times, from the trouble to
every page answering 200 with every event and `/-/cooplog.json` alive again.

    .venv/bin/python tests/bench/heal_bench.py [--events 20000] [--runs 3] [--root LOG]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from ulid import ULID

from cooplog import events
from cooplog.store import Store, default_db

COOPLOG = Path(sys.executable).parent / "cooplog"
PAGES = ("/", "/cooplog", "/cooplog/events", "/report")


def write_log(root: Path, count: int) -> None:
    store = Store(root)
    store.events_dir.mkdir(parents=True, exist_ok=True)
    envelope = {"schema": 1, "recorded_at": "2026-01-01T00:00:00Z",
                "recorded_by": "bench@example.org"}
    first = int(ULID())
    store.write(events.validate({"id": str(ULID.from_int(first)), **envelope, "orgs": [],
                                 "type": "organization.registered",
                                 "data": {"key": "wco", "name": "WCO",
                                          "category": "intergovernmental"}}))
    for n in range(count):
        store.write(events.validate({
            "id": str(ULID.from_int(first + n + 1)), **envelope, "type": "activity.noted",
            "occurred": f"{2000 + n % 20}", "summary": f"Activity number {n} with 海关.",
            "orgs": ["wco"], "data": {}}))


def deleted(db: Path) -> None:
    db.unlink()


def deleted_with_its_journal(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def replaced(db: Path) -> None:
    copy = db.with_name("copy.db")
    subprocess.run([str(COOPLOG), "--root", str(db.parents[1]), "--db", str(copy), "build"],
                   check=True, capture_output=True)
    os.replace(copy, db)


def overwritten(db: Path) -> None:
    with open(db, "r+b") as f:
        f.write(os.urandom(os.path.getsize(db)))


def healed(client: httpx.Client, count: int) -> bool:
    try:
        if not all(client.get(page).status_code == 200 for page in PAGES):
            return False
        rows = client.get("/cooplog/events.json", params={"_size": 0})
        return (client.get("/-/cooplog.json").status_code == 200 and rows.status_code == 200
                and rows.json()["filtered_table_rows_count"] == count)
    except httpx.TransportError:
        return False


def client_up(client: httpx.Client) -> bool:
    try:
        return client.get("/-/cooplog.json").status_code == 200
    except httpx.TransportError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--root", type=Path)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = options.root or Path(tmp) / "log"
        if options.root is None:
            write_log(root, options.events)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen([str(COOPLOG), "--root", str(root), "serve", "--port",
                                   str(port)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        figures = {}
        try:
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
            while not client_up(client):
                time.sleep(0.1)
            count = client.get("/cooplog/events.json", params={"_size": 0}).json()[
                "filtered_table_rows_count"]
            for trouble in (deleted, deleted_with_its_journal, replaced, overwritten):
                times = []
                for _ in range(options.runs):
                    trouble(default_db(root))
                    started = time.monotonic()
                    while not healed(client, count):
                        time.sleep(0.05)
                    times.append(time.monotonic() - started)
                    time.sleep(2)  # past the watcher's next look at the file
                times.sort()
                figures[trouble.__name__] = {"median_s": round(times[len(times) // 2], 2),
                                             "max_s": round(times[-1], 2)}
                print(f"{trouble.__name__:26} median {times[len(times) // 2]:.2f} s, "
                      f"max {times[-1]:.2f} s")
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
        print(json.dumps({"events": count, "runs": options.runs, **figures}))


if __name__ == "__main__":
    main()
