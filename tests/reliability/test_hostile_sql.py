"""10. Hostile SQL: ten clients send the SQL box (`?sql=`) the queries that held a worker for
seconds to minutes on one function call (`instr` of 300 kB in 600 kB, a LIKE or GLOB of a
50,000-character pattern over 600 kB, the same calls repeated in one row or over many rows,
and a query that only the time limit stops) for 20 s, against the real `cooplog serve`,
while one reader opens plain pages. Every hostile query is refused with a 400, none is a
5xx, and the pages stay responsive: p95 at most 0.5 s."""

from __future__ import annotations

import asyncio
import signal
import statistics
import time
from collections import Counter

import httpx

from cooplog import append
from cooplog.store import Store
from test_serve import start_serve, stop_serve, write_log

SECONDS = 20.0
HOSTILE_CLIENTS = 10
P95_LIMIT = 0.5  # seconds, for a plain page


def _a(n: int) -> str:
    """SQL for a string of n letters a, built in the query."""
    return f"replace(hex(zeroblob({n // 2})), '0', 'a')"


HOSTILE = [
    f"select instr({_a(600_000)}, {_a(300_000)} || 'b')",
    f"select {_a(600_000)} like '%' || {_a(49_998)} || 'b'",
    f"select {_a(600_000)} glob '*' || {_a(49_998)} || 'b'",
    # within the SQL box's 20 kB values: the most calls one row may make, and many rows
    f"with t(a, b) as materialized (select {_a(19_800)}, '%' || {_a(97)} || 'b') select "
    + " + ".join(["(a like b)"] * 150) + " from t",
    f"with t(a, b) as materialized (select {_a(19_800)}, '*' || {_a(97)} || 'b') select "
    + " + ".join(["(a glob b)"] * 400) + " from t",
    f"with recursive r(i) as (select 1 union all select i + 1 from r), t(a, b) as "
    f"(select {_a(12_000)}, {_a(5_990)} || 'b') select sum(instr(a, b)) from r, t",
    "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c",
]

PAGES = [
    "/", "/cooplog", "/cooplog/events", "/cooplog/events.json?_size=50",
    "/cooplog/events?_facet=type&_facet=year", "/cooplog/organizations/wco",
    "/cooplog/meetings", "/cooplog/timeline.json", "/cooplog/search.json?q=hazardous",
    "/cooplog/open_requests_and_submissions", "/report?period=2008/2011",
    "/cooplog/recent_events.atom", "/-/cooplog.json",
]


async def attack(base: str, seconds: float) -> dict:
    stats = {"pages": [], "page_statuses": Counter(), "hostile": [],
             "hostile_statuses": Counter(), "errors": Counter()}
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        async def hostile(n: int) -> None:
            turn = n
            while time.monotonic() < deadline:
                sql = HOSTILE[turn % len(HOSTILE)]
                turn += 1
                started = time.monotonic()
                response = await client.get("/cooplog.json", params={"sql": sql})
                stats["hostile"].append(time.monotonic() - started)
                stats["hostile_statuses"][response.status_code] += 1
                if response.status_code >= 500:
                    stats["errors"][f"{response.status_code}: {sql[:60]}"] += 1

        async def reader() -> None:
            await asyncio.sleep(1)  # once the attack is under way
            turn = 0
            while time.monotonic() < deadline:
                started = time.monotonic()
                response = await client.get(PAGES[turn % len(PAGES)])
                stats["pages"].append(time.monotonic() - started)
                stats["slowest"] = max(stats.get("slowest", (0, "")),
                                       (stats["pages"][-1], PAGES[turn % len(PAGES)]))
                stats["page_statuses"][response.status_code] += 1
                if response.status_code != 200:
                    stats["errors"][f"{response.status_code}: {PAGES[turn % len(PAGES)]}: "
                                    f"{response.text[:200]}"] += 1
                turn += 1

        await asyncio.gather(reader(), *(hostile(n) for n in range(HOSTILE_CLIENTS)))
    return stats


def test_hostile_sql_holds_no_worker_and_pages_stay_responsive(tmp_path):
    root = tmp_path / "log"
    write_log(root)
    append.append(Store(root), [(f"more {n}", {
        "type": "meeting.attended", "occurred": f"{2000 + n % 12}-0{1 + n % 9}",
        "summary": f"Meeting number {n} on hazardous wastes.", "orgs": ["wco"],
        "data": {"title": f"Meeting {n}", "role": "participant",
                 "location": {"city": "Geneva", "country": "CH"}}})
        for n in range(300)], by="hostile@example.org", commit=False)
    process, port, stderr_path = start_serve(root, tmp_path)
    try:
        stats = asyncio.run(attack(f"http://127.0.0.1:{port}", SECONDS))
    finally:
        stop_serve(process, signal.SIGINT, stderr_path)
    pages = sorted(stats["pages"])
    hostile = sorted(stats["hostile"])
    p95 = pages[int(0.95 * len(pages))]
    print(f"\n10. {len(hostile)} hostile queries from {HOSTILE_CLIENTS} clients in "
          f"{SECONDS:.0f} s: statuses {dict(stats['hostile_statuses'])}, median "
          f"{statistics.median(hostile):.2f} s, max {hostile[-1]:.2f} s; {len(pages)} pages "
          f"meanwhile: statuses {dict(stats['page_statuses'])}, median "
          f"{statistics.median(pages) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max "
          f"{pages[-1] * 1000:.0f} ms ({stats['slowest'][1]})")
    assert stats["errors"] == {}, stats["errors"]
    assert set(stats["page_statuses"]) == {200}, stats["page_statuses"]
    assert len(pages) >= 20
    assert p95 <= P95_LIMIT, p95
