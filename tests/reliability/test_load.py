"""7. Load: the real `cooplog serve` answers 20 concurrent clients for 60 s while events are
appended at 50 per second by a separate process, as `cooplog add` appends them (not
committed: git is not what is measured; naming no organization, so that an append does not
read the whole log first). No HTTP 5xx, no "database is locked" anywhere, every appended
event visible at the end, and the WAL file stays bounded (checkpointed) throughout.

The clients cycle through what readers open: table and row pages, JSON, facets, full-text
search (Latin and Chinese), the report, the timeline, canned queries, the feed, the
dashboard and the health endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import httpx
from faults import query, wait_until

from cooplog import append
from cooplog.store import Store
from test_serve import start_serve, stop_serve, write_log

# the reliability suite (README, "Reliability"): minutes in all, so `-m "not slow"` skips it

SECONDS = 60.0  # how long the load lasts
CLIENTS = 20
RATE = 50  # events appended per second
WAL_LIMIT = 64 * 2**20  # bytes

APPENDER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from cooplog import append
    from cooplog.store import Store

    store, seconds, rate, out = Store(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), \
        sys.argv[4]
    start, ids = time.monotonic(), []
    while time.monotonic() - start < seconds:
        due = start + len(ids) / rate
        time.sleep(max(0.0, due - time.monotonic()))
        (event, _), = append.append(store, [("load", {
            "type": "activity.noted", "occurred": "2011",
            "summary": f"Load event {len(ids)}: 秘书处与海关合作。"})],
            by="load@example.org", commit=False)
        ids.append(event.id)
    Path(out).write_text(json.dumps(ids))
""")

PAGES = [
    "/", "/cooplog", "/cooplog/events", "/cooplog/events.json?_size=50",
    "/cooplog/events?_facet=type&_facet=year", "/cooplog/organizations",
    "/cooplog/organizations/wco", "/cooplog/meetings", "/cooplog/timeline.json",
    "/cooplog/search.json?q=Load+event", "/cooplog/search?q=%E6%B5%B7%E5%85%B3",
    "/cooplog/activities_in_period.json?start=2008-01-01&end=2011-12-31",
    "/cooplog/open_requests_and_submissions", "/cooplog/organization_history.json?org=wco",
    "/report?period=2008/2011", "/cooplog/recent_events.atom", "/-/cooplog.json",
    "/cooplog/problems", "/-/dashboards/cooperation",
    "/cooplog.json?sql=select+count(*)+from+events",
]


async def load(base: str, seconds: float, wal: Path) -> dict:
    stats = {"latencies": [], "statuses": Counter(), "locked": 0, "wal": [0]}
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        async def reader(n: int) -> None:
            rng = random.Random(n)
            while time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    response = await client.get(rng.choice(PAGES))
                except httpx.TransportError as e:
                    stats["statuses"][type(e).__name__] += 1
                    continue
                stats["latencies"].append(time.monotonic() - started)
                stats["statuses"][response.status_code] += 1
                stats["locked"] += "database is locked" in response.text

        async def watch_wal() -> None:
            while time.monotonic() < deadline:
                stats["wal"].append(wal.stat().st_size if wal.exists() else 0)
                await asyncio.sleep(0.25)

        await asyncio.gather(watch_wal(), *(reader(n) for n in range(CLIENTS)))
    return stats


def test_serve_under_load_while_events_are_appended(tmp_path):
    root = tmp_path / "log"
    write_log(root)
    append.append(Store(root), [(f"more {n}", {  # a few hundred events to page through
        "type": "meeting.attended", "occurred": f"{2000 + n % 12}-0{1 + n % 9}",
        "summary": f"Meeting number {n} on hazardous wastes.", "orgs": ["wco"],
        "data": {"title": f"Meeting {n}", "role": "participant",
                 "location": {"city": "Geneva", "country": "CH"}}})
        for n in range(300)], by="load@example.org", commit=False)
    db = root / ".cooplog" / "cooplog.db"
    wal = Path(f"{db}-wal")
    process, port, stderr_path = start_serve(root, tmp_path)
    appended_ids = tmp_path / "appended.json"
    appender = subprocess.Popen([sys.executable, "-c", APPENDER, str(root), str(SECONDS),
                                 str(RATE), str(appended_ids)])
    try:
        started = time.monotonic()
        stats = asyncio.run(load(f"http://127.0.0.1:{port}", SECONDS, wal))
        assert appender.wait(timeout=60) == 0
        ids = json.loads(appended_ids.read_text())
        finished = time.monotonic()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            def visible() -> bool:
                answer = client.get("/cooplog.json", params={
                    "sql": "select count(*) from events where recorded_by = 'load@example.org'"
                           " and summary like 'Load event %'", "_shape": "array"})
                return answer.status_code == 200 and answer.json()[0]["count(*)"] == len(ids)
            wait_until(visible, 30, f"all {len(ids)} appended events visible over HTTP")
            lag = time.monotonic() - finished
            health = client.get("/-/cooplog.json").json()
        assert {i for (i,) in query(db, "select id from events")} >= set(ids)
        assert health["watcher"] == "alive" and health["recent_errors"] == []
        # the health endpoint shows the watcher alive, and a file of the load as the last
        assert Path(health["last_applied"]).stem in set(ids), health
        assert health["seconds_since_last_applied"] < 10, health
    finally:
        if appender.poll() is None:
            appender.kill()
            appender.wait()
        if process.poll() is None:
            stop_serve(process, signal.SIGINT, stderr_path)
    err = stderr_path.read_text(encoding="utf-8")
    latencies = sorted(stats["latencies"])
    served = len(latencies)
    p95 = latencies[int(0.95 * served)]
    server_errors = {s: n for s, n in stats["statuses"].items()
                     if not isinstance(s, int) or s >= 500}
    print(f"\n7. {served} requests in {SECONDS:.0f} s ({served / SECONDS:.0f}/s) from {CLIENTS} "
          f"clients: statuses {dict(stats['statuses'])}, median "
          f"{statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max "
          f"{latencies[-1] * 1000:.0f} ms; {len(ids)} events appended ({len(ids) / SECONDS:.0f}"
          f"/s), all visible {lag:.1f} s after the last; WAL at most "
          f"{max(stats['wal']) / 2**20:.1f} MB; {time.monotonic() - started:.0f} s in all")
    assert server_errors == {}, stats["statuses"]
    assert stats["locked"] == 0
    assert "database is locked" not in err and "Traceback" not in err, err[-3000:]
    assert len(ids) >= 0.9 * RATE * SECONDS
    assert max(stats["wal"]) < WAL_LIMIT
    assert stats["statuses"][200] >= 0.99 * served, stats["statuses"]
    assert os.path.getsize(db) > 0
