"""8. Read-only and abuse, beyond what tests/test_serve.py holds already (writes to a few
routes, custom SQL that writes, the slow recursive query, off-site redirects): every other
route family refuses every writing method; SQL that loads extensions, writes pragmas,
vacuums into a file or builds huge values is refused quickly; results are capped, CSV
exports too; error pages and 404s never reflect input as HTML; summaries, titles and
places holding <script> render as text on the table, row, report, search, map and dashboard
pages and in the feed. After all of it the database's content hash is unchanged."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from cooplog import append, serve
from cooplog.store import Store
from helpers import built
from test_serve import fingerprint, write_log

SCRIPT = "<script>alert(1)</script>"
# the reliability suite (README, "Reliability"): minutes in all, so `-m "not slow"` skips it
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """test_serve's small log, plus a meeting whose summary, title and city are markup:
    (root, db, id of that meeting)."""
    root = tmp_path_factory.mktemp("hostile") / "log"
    write_log(root)
    (event, _), = append.append(Store(root), [("markup", {
        "type": "meeting.attended", "occurred": "2009-05-12",
        "summary": f"{SCRIPT} <b>bold</b> & <img src=x onerror=alert(2)>", "orgs": ["wco"],
        "data": {"title": f"Meeting {SCRIPT}", "role": "observer",
                 "location": {"city": "<img src=x onerror=alert(3)>", "country": "CH"}}})],
        by="markup@example.org", commit=False)
    db = root / ".cooplog" / "cooplog.db"
    built(root, db)
    return root, db, event.id


@pytest.fixture(scope="module")
def ds(hostile):
    return serve.datasette(hostile[0], hostile[1])


def request(ds, method: str, path: str, **options) -> httpx.Response:
    return asyncio.run(ds.client.request(method, path, **options))


def is_html(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("text/html")


def test_every_route_family_refuses_every_writing_method(ds, hostile):
    _, db, event_id = hostile
    before = fingerprint(db)
    routes = [
        f"/cooplog/events/{event_id}", f"/cooplog/events/{event_id}.json",
        f"/cooplog/events/{event_id}/-/update", f"/cooplog/events/{event_id}/-/delete",
        "/cooplog/events/-/upsert", "/cooplog/events/-/drop", "/cooplog/events.csv",
        "/cooplog/timeline", "/cooplog/timeline.json", "/cooplog/problems",
        "/cooplog/organization_history?org=wco", "/cooplog.json?sql=select+1",
        "/cooplog/-/query", "/-/metadata.json", "/-/plugins.json", "/-/settings.json",
        "/-/actor.json", "/-/databases.json", "/-/versions.json", "/-/threads.json",
        "/-/static/app.css", "/static/x", "/report", "/report?period=2008/2009",
        "/cooplog/meetings_calendar.ics", "/cooplog/recent_events.atom",
        "/-/dashboards", "/-/dashboards/cooperation", "/-/allow-debug", "/-/login",
        "/-/logout", "/cooplog/-/upload", "/-/api", "/cooplog/events/-/alter",
    ]
    for method in ("POST", "PUT", "PATCH", "DELETE", "PROPFIND", "MKCOL"):
        for route in routes:
            response = request(ds, method, route, content=b'{"row": {"id": "x"}}',
                               headers={"content-type": "application/json"})
            assert response.status_code == 405, (method, route, response.status_code)
            assert "read-only" in response.text
    assert fingerprint(db) == before


@pytest.mark.parametrize("sql, words", [
    ("select load_extension('/tmp/evil.so')", "not authorized"),
    ("pragma user_version = 7", "must be a SELECT"),
    ("pragma writable_schema = 1", "must be a SELECT"),
    ("pragma query_only = 0", "must be a SELECT"),
    ("vacuum into '/tmp/cooplog-vacuumed.db'", "must be a SELECT"),
    ("create temp table t(x)", "must be a SELECT"),
    ("replace into _state (name, value) values ('x', 'y')", "must be a SELECT"),
    ("update events set summary = 'x'", "must be a SELECT"),
    ("select zeroblob(900000000)", "too big"),
    ("select length(randomblob(100000000))", "too big"),
    ("select printf('%.*c', 900000000, 'x')", "not authorized"),
    ("select hex(fts3_tokenizer('simple'))", "not authorized"),  # a pointer into memory
    ("with recursive c(x) as (select 1 union all select x + 1 from c limit 1000) "
     "select zeroblob(5000000) from c", "too big"),  # the SQL box's values: 20 kB
    ("with recursive c(x) as (select 1 union all select x + 1 from c) "
     "select count(zeroblob(10000)) from c", "too long"),
])
def test_sql_that_writes_or_exhausts_is_refused_quickly(ds, hostile, sql, words):
    _, db, _ = hostile
    before = fingerprint(db)
    started = time.monotonic()
    response = request(ds, "GET", "/cooplog.json", params={"sql": sql})
    assert time.monotonic() - started < 5
    assert response.status_code == 400, response.text[:300]
    assert words in response.json()["error"]
    assert fingerprint(db) == before
    assert not Path("/tmp/cooplog-vacuumed.db").exists()


def test_results_are_capped(ds):
    many = ("with recursive c(x) as (select 1 union all select x + 1 from c limit 5000) "
            "select x from c")
    response = request(ds, "GET", "/cooplog.json", params={"sql": many, "_shape": "objects"})
    assert response.status_code == 200
    assert len(response.json()["rows"]) == serve.SETTINGS["max_returned_rows"]
    assert response.json()["truncated"] is True
    assert request(ds, "GET", "/cooplog/events.json", params={"_size": "5000"}
                   ).status_code == 400
    # no CSV stream past the cap either
    assert request(ds, "GET", "/cooplog/events.csv", params={"_stream": "on"}
                   ).status_code == 400
    csv = request(ds, "GET", "/cooplog.csv", params={"sql": many})
    assert len(csv.text.splitlines()) <= serve.SETTINGS["max_returned_rows"] + 1


PROBES = [
    (f"/cooplog/{SCRIPT}", {}), (f"/{SCRIPT}", {}), (f"/cooplog/events/{SCRIPT}", {}),
    (f"/cooplog/events.{SCRIPT}", {}), (f"/-/dashboards/{SCRIPT}", {}),
    ("/cooplog/events", {"_sort": SCRIPT}), ("/cooplog/events", {"_sort_desc": SCRIPT}),
    ("/cooplog/events", {"_facet": SCRIPT}), ("/cooplog/events", {"_where": SCRIPT}),
    ("/cooplog/events", {"_col": SCRIPT}), ("/cooplog/events", {"_next": SCRIPT}),
    ("/cooplog/events", {"id__exact": SCRIPT}), ("/cooplog/events", {"_search": SCRIPT}),
    ("/cooplog", {"sql": f"select {SCRIPT}"}), ("/cooplog", {"sql": f"select '{SCRIPT}'"}),
    ("/cooplog/search", {"q": SCRIPT}), ("/cooplog/organization_history", {"org": SCRIPT}),
    ("/report", {"period": SCRIPT}), ("/report", {"period": "2009", "org": SCRIPT}),
    ("/report", {"period": "2009", "group": SCRIPT}),
]


def test_errors_and_404s_never_reflect_input_as_html(ds):
    for path, params in PROBES:
        response = request(ds, "GET", path, params=params)
        assert response.status_code < 500, (path, params, response.status_code)
        if is_html(response):
            assert SCRIPT not in response.text, (path, params)
        location = response.headers.get("location", "")
        assert not location.startswith(("//", "/\\", "http")), (path, location)


def test_markup_in_the_record_renders_as_text(ds, hostile):
    _, _, event_id = hostile
    pages = [
        ("/cooplog/events", {}), (f"/cooplog/events/{event_id}", {}),
        ("/cooplog/meetings", {}), (f"/cooplog/meetings/{event_id}", {}),
        ("/cooplog/timeline", {}), ("/cooplog/search", {"q": "bold"}),
        ("/cooplog/organization_history", {"org": "wco"}),
        ("/report", {"period": "2008/2010"}), ("/-/dashboards/cooperation", {}),
        ("/cooplog/unplaced_meetings", {}),
    ]
    for path, params in pages:
        response = request(ds, "GET", path, params=params)
        assert response.status_code == 200, (path, response.status_code)
        assert is_html(response)
        for raw in (SCRIPT, "<img src=x onerror"):
            assert raw not in response.text, (path, raw)
    for path, params in [("/cooplog/events", {}), (f"/cooplog/events/{event_id}", {}),
                         ("/report", {"period": "2008/2010"})]:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in request(
            ds, "GET", path, params=params).text, path
    feed = request(ds, "GET", "/cooplog/recent_events.atom")
    assert feed.status_code == 200
    assert SCRIPT not in feed.text and "<img src=x" not in feed.text
