"""Several logs as one site (issue 18, point 4): ten logs of 10,000 synthetic events.

Measures, beside a single build of the same events in one log:
- `publish` of all the logs (from logs never built, and again with their databases built):
  time and peak memory;
- what one log's refresh of the site database costs: its rows all replaced in one
  transaction (the fallback), and only those of one new file copied (the incremental one);
- `serve --log …` of all the logs: p95 of each page;
- a new file in any log (--new-files of them, taking turns among the logs): the time from
  writing it until its row is readable in the site database the server serves (polled every
  millisecond), and until its page answers (polled every 5 ms): median, p99, max.

    .venv/bin/python tests/bench/logs_bench.py [--logs 10] [--events 10000] [--requests 20]
        [--new-files 100] [--only publish,refresh,pages,new_file] [--keep DIR]

Prints a table and one JSON line of figures. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from ulid import ULID

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import COOPLOG, _free_port, pages_p95, synthetic_log, timed  # noqa: E402

from cooplog import events, site  # noqa: E402
from cooplog.logs import Log  # noqa: E402
from cooplog.projection import project  # noqa: E402
from cooplog.store import Store  # noqa: E402

PARTS = ("publish", "refresh", "pages", "new_file")
PAGES = {
    "home": "/",
    "org": "/org/org-1",
    "org_period": "/org/org-1?period=2008/2009",
    "search_zh": "/search?q=海关",
    "meetings": "/meetings",
    "events_table": "/cooplog/events",
    "events_of_one_log": "/cooplog/events?log=log-3",
    "shared_organizations": "/cooplog/shared_organizations",
    "organization_across_logs": "/cooplog/organization_across_logs?org_key=org-1",
    "problems": "/cooplog/problems",
    "report": "/report?period=2008/2009",
    "report_of_one_log": "/report?period=2008/2009&log=log-3",
}


def logs_of(work: Path, count: int, events_each: int) -> list[Path]:
    roots = [work / f"log-{i}" for i in range(count)]
    for i, root in enumerate(roots):
        if not (root / "events").is_dir():
            synthetic_log(root, events_each, seed=i + 1, recorded_from=2020 + i)
    return roots


def bench_publish(roots: list[Path], single: Path, work: Path) -> dict:
    specs = [f"--log={root.name}={root}" for root in roots]
    for root in roots:
        shutil.rmtree(root / ".cooplog", ignore_errors=True)
    shutil.rmtree(single / ".cooplog", ignore_errors=True)
    build_s, build_mb = timed([COOPLOG, "--root", str(single), "build"])
    cold_s, cold_mb = timed([COOPLOG, "publish", str(work / "site-cold"), *specs])
    warm_s, warm_mb = timed([COOPLOG, "publish", str(work / "site-warm"), *specs])
    return {"single_build_s": build_s, "single_build_rss_mb": build_mb,
            "publish_cold_s": cold_s, "publish_cold_rss_mb": cold_mb,
            "publish_warm_s": warm_s, "publish_warm_rss_mb": warm_mb,
            "publish_cold_over_build": cold_s / build_s,
            "publish_cold_rss_over_build": cold_mb / build_mb}


def bench_refresh(roots: list[Path], work: Path, repeat: int = 5) -> dict:
    """One log's rows replaced in a site holding all of them (the logs built already)."""
    logs = [Log(root.name, root) for root in roots]
    path = work / "refresh" / "cooplog.db"
    shutil.rmtree(path.parent, ignore_errors=True)
    conn = site.connect(path)
    begin = time.perf_counter()
    for log in logs:
        site.refresh(conn, log)
    assembled = time.perf_counter() - begin
    middle = logs[len(logs) // 2]
    times, copies = [], []
    for _ in range(repeat):
        begin = time.perf_counter()
        copied = site.refresh(conn, middle)
        times.append(time.perf_counter() - begin)
    source = sqlite3.connect(f"file:{middle.db_path}?mode=ro", uri=True)  # as Refresher
    for _ in range(repeat):
        projection = project(middle.root)
        try:
            projection.apply(Store(middle.root).path_for(new_event(middle.root)))
        finally:
            projection.close()
        begin = time.perf_counter()
        copied = site.refresh(conn, middle, copied, source)
        copies.append(time.perf_counter() - begin)
    source.close()
    conn.close()
    return {"site_assemble_s": assembled, "one_log_refresh_s": statistics.median(times),
            "one_new_file_refresh_ms": statistics.median(copies) * 1000}


def new_event(root: Path) -> str:
    event_id = str(ULID())
    Store(root).write(events.validate({
        "id": event_id, "type": "activity.noted", "schema": 1,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "recorded_by": "bench@example.org", "occurred": "2009-05", "orgs": [],
        "summary": f"A new activity in {root.name}.", "data": {}}))
    return event_id


def percentiles(name: str, seconds: list[float]) -> dict:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return {f"{name}_median_ms": statistics.median(ordered) * 1000,
            f"{name}_p99_ms": p99 * 1000, f"{name}_max_ms": ordered[-1] * 1000}


def readable(db: Path, event_id: str, begin: float) -> float:
    """Seconds from `begin` until the event's row is readable in the site database."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        while not conn.execute("select 1 from events where id = ?", [event_id]).fetchone():
            if time.perf_counter() - begin > 60:
                raise SystemExit(f"{event_id}: the new event never showed")
            time.sleep(0.001)
    return time.perf_counter() - begin


def bench_serve(roots: list[Path], requests: int, new_files: int, parts: set[str]) -> dict:
    port = _free_port()
    server = subprocess.Popen([COOPLOG, "serve", "--port", str(port),
                               *(f"--log={root.name}={root}" for root in roots)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    figures: dict = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            begin = time.perf_counter()
            while True:
                try:
                    if client.get("/-/cooplog.json").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None:
                    raise SystemExit("serve stopped")
                time.sleep(0.2)
            figures["serve_ready_s"] = time.perf_counter() - begin
            if "pages" in parts:
                with sqlite3.connect(roots[0] / ".cooplog" / "cooplog.db") as conn:
                    an_id = conn.execute("select id from events where type = "
                                         "'meeting.attended' limit 1").fetchone()[0]
                figures.update(pages_p95(client, {**PAGES, "event": f"/event/{an_id}"},
                                         requests))
            if "new_file" in parts:
                site_db = Path(client.get("/-/databases.json").json()[0]["path"])
                in_site, on_page = [], []
                for n in range(new_files):
                    root = roots[n % len(roots)]
                    begin = time.perf_counter()
                    event_id = new_event(root)
                    in_site.append(readable(site_db, event_id, begin))
                    while client.get(f"/event/{event_id}").status_code != 200:
                        if time.perf_counter() - begin > 60:
                            raise SystemExit(f"{root.name}: the new event's page never showed")
                        time.sleep(0.005)
                    on_page.append(time.perf_counter() - begin)
                    time.sleep(0.05)  # files apart, as people add them
                figures["new_files"] = new_files
                figures.update(percentiles("new_file_in_site", in_site))
                figures.update(percentiles("new_file_page", on_page))
    finally:
        server.terminate()
        server.wait(30)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=10)
    parser.add_argument("--events", type=int, default=10_000, help="events in each log")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--new-files", type=int, default=100)
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts to run, of: {', '.join(PARTS)}")
    parser.add_argument("--keep", type=Path, help="reuse/keep the synthetic logs here")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="cooplog-logs-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    begin = time.perf_counter()
    roots = logs_of(work, args.logs, args.events)
    single = work / "single"
    if "publish" in args.only and not (single / "events").is_dir():
        synthetic_log(single, args.logs * args.events)
    print(f"generated in {time.perf_counter() - begin:.1f} s", file=sys.stderr)
    parts = set(args.only.split(","))
    if unknown := parts - set(PARTS):
        parser.error(f"--only: no part named {', '.join(sorted(unknown))}")
    figures = {"logs": args.logs, "events_each": args.events}
    if "publish" in parts:
        figures.update(bench_publish(roots, single, work))
    else:  # the other parts read the logs' databases
        for root in roots:
            if not (root / ".cooplog" / "cooplog.db").exists():
                subprocess.run([COOPLOG, "--root", str(root), "build"], check=True,
                               stdout=subprocess.DEVNULL)
    if "refresh" in parts:
        figures.update(bench_refresh(roots, work))
    if parts & {"pages", "new_file"}:
        figures.update(bench_serve(roots, args.requests, args.new_files, parts))
    for name, value in figures.items():
        print(f"{name:32} {value:10.3f}" if isinstance(value, float) else f"{name:32} {value:>10}")
    print(json.dumps(figures))
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
