"""What the published log offers beyond tables, configured in metadata.yml: the Atom feed of
newly recorded events (datasette-atom), the map (datasette-cluster-map) and the dashboard
(datasette-dashboards), over the repository's sample log, in-process."""

from __future__ import annotations

import asyncio
import html
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import pytest

from cooplog import append, serve
from cooplog.projection import Projection
from cooplog.store import Store
from helpers import built

REPO = Path(__file__).resolve().parents[1]
BY = "feeds@example.org"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def ds(sample_db):
    return serve.datasette(REPO, sample_db)


def get(ds, path: str, **params):
    response = asyncio.run(ds.client.get(path, params=params or None))
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    return response


def sql(ds, query: str) -> list[dict]:
    return get(ds, "/cooplog.json", sql=query, _shape="objects").json()["rows"]


# --- Atom ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_atom_feed_lists_the_newest_events_first(ds):
    response = get(ds, "/cooplog/recent_events.atom")
    assert response.headers["content-type"].startswith("application/xml")
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}title") == "Newly recorded events"
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 100  # of 178: the latest hundred
    keys = [(e.findtext(f"{ATOM}updated"), e.findtext(f"{ATOM}id")) for e in entries]
    assert keys == sorted(keys, reverse=True)
    newest = sql(ds, "select id from events order by recorded_at desc, id desc limit 1")[0]
    assert keys[0][1] == f"urn:cooplog:event:{newest['id']}"
    for entry in entries:
        assert entry.findtext(f"{ATOM}title").strip()
        assert entry.find(f"{ATOM}link").get("href").startswith("/cooplog/events/")
        assert entry.findtext(f"{ATOM}author/{ATOM}name") == "secretariat@basel.example"


def test_events_without_a_summary_get_a_title(log):
    store = Store(log)
    (org, _), (note, _) = append.append(store, [
        ("org", {"type": "organization.registered",
                 "data": {"key": "wco", "name": "World Customs Organization",
                          "category": "intergovernmental"}}),
        ("note", {"type": "activity.noted", "occurred": "2009-02", "orgs": ["wco"],
                  "summary": "Sent a note to the customs network."}),
    ], by=BY, commit=False)
    (correction, _), = append.correct(store, note.id, {"occurred": "2009-03"}, "wrong month",
                                      by=BY, commit=False)
    (retraction, _), = append.retract(store, note.id, "sent by mistake", by=BY, commit=False)
    projection = Projection(store)
    try:
        projection.build()
    finally:
        projection.close()
    rows = get(serve.datasette(log), "/cooplog/recent_events.json",
               _shape="objects").json()["rows"]
    assert {r["atom_id"]: r["atom_title"] for r in rows} == {
        f"urn:cooplog:event:{org.id}": "Registered: World Customs Organization",
        f"urn:cooplog:event:{note.id}": "[retracted] Sent a note to the customs network.",
        f"urn:cooplog:event:{correction.id}": f"Corrected {note.id}: wrong month",
        f"urn:cooplog:event:{retraction.id}": f"Retracted {note.id}: sent by mistake",
    }


# --- the map -------------------------------------------------------------------------------


def test_the_meetings_table_is_a_map(ds):
    page = get(ds, "/cooplog/meetings").text
    assert "datasette-cluster-map.js" in page
    assert 'DATASETTE_CLUSTER_MAP_LATITUDE_COLUMN = "latitude"' in page
    # Leaflet comes with the plugins, not from a CDN
    assert "/-/static-plugins/datasette-leaflet/leaflet-v1.7.1.js" in page
    assert "unpkg.com" not in page and "cdn." not in page


def test_meetings_name_their_countries_as_the_un_does(ds):
    """The table (and so the map's popups) carries the UN short name beside the code."""
    rows = get(ds, "/cooplog/meetings.json", _shape="objects",
               _col=["country", "country_name"]).json()["rows"]
    names = {r["country"]: r["country_name"] for r in rows if r["country"]}
    assert names["KR"] == "Republic of Korea" and names["CH"] == "Switzerland"
    assert "South Korea" not in names.values()


def test_unplaced_meetings_say_why(ds):
    rows = get(ds, "/cooplog/unplaced_meetings.json", _shape="objects").json()["rows"]
    assert rows and all(r["why"] for r in rows)
    assert "Port Ghalib" in {r["city"] for r in rows}


# --- the dashboard -------------------------------------------------------------------------

CHARTS = ["activities-by-year", "open-items", "busiest-partners", "meetings-places"]


def dashboard(ds) -> dict:
    return ds.plugin_config("datasette-dashboards")["cooperation"]


def test_the_dashboard_page_has_its_charts(ds):
    page = get(ds, "/-/dashboards/cooperation").text
    assert "Cooperation at a glance" in page
    for chart in CHARTS:
        assert f'id="chart-{chart}"' in page
    assert "vega-lite.min.js" in page  # the plugin's own copy
    assert "cdn.jsdelivr" not in page


def test_activities_per_year_by_group(ds):
    rows = sql(ds, dashboard(ds)["charts"]["activities-by-year"]["query"])
    by = {(r["year"], r["group"]): r["activities"] for r in rows}
    assert by[("2008", "UNEP")] > 0 and by[("2009", "MEAs")] > 0
    assert ("2008", "Non-governmental organizations / Networks") in by


def test_open_requests_and_submissions(ds):
    rows = sql(ds, dashboard(ds)["charts"]["open-items"]["query"])
    assert {(r["kind"], r["to"]) for r in rows} == {
        ("request", "wto"), ("submission", "wco"), ("submission", "montreal-protocol")}
    assert {r["status"] for r in rows} == {"pending", "under-consideration", "no status yet"}


def test_the_busiest_partners(ds):
    rows = sql(ds, dashboard(ds)["charts"]["busiest-partners"]["query"])
    assert len(rows) == 10
    assert rows[0] == {"organization": "IMO", "activities": 12}
    assert [r["activities"] for r in rows] == sorted((r["activities"] for r in rows),
                                                     reverse=True)


def test_the_dashboard_lists_where_the_meetings_were(ds):
    """A table, not a map: datasette-dashboards draws its maps on tiles from
    openstreetmap.org, and the site fetches nothing from the internet (the map is on the
    meetings page, on tiles the site serves)."""
    rows = sql(ds, dashboard(ds)["charts"]["meetings-places"]["query"])
    assert rows[0]["city"] == "Geneva" and rows[0]["meetings"] >= 10
    assert {r["country"] for r in rows if r["city"] == "Tokyo"} == {"Japan"}
    assert all(r["city"] for r in rows)  # a meeting with no city is on no list of places


@pytest.mark.slow
def test_a_new_log_publishes_every_page_and_feed_empty(log):
    """`cooplog init` then `serve`: nothing recorded yet is no error anywhere (the Atom feed
    was a 500: datasette-atom dates a feed by its newest entry)."""
    built(log)
    ds = serve.datasette(log)
    feed = ET.fromstring(get(ds, "/cooplog/recent_events.atom").content)
    assert feed.findtext(f"{ATOM}title") == "Newly recorded events"
    assert feed.findall(f"{ATOM}entry") == [] and feed.findtext(f"{ATOM}updated")
    calendar = get(ds, "/cooplog/meetings_calendar.ics").text
    assert calendar.startswith("BEGIN:VCALENDAR") and "BEGIN:VEVENT" not in calendar
    tables = [t["name"] for t in get(ds, "/cooplog.json").json()["tables"]
              if not t["hidden"]]
    views = [v["name"] for v in get(ds, "/cooplog.json").json()["views"]]
    queries = ["search", "open_requests_and_submissions", "meetings_by_year_and_place",
               "list_problems", "meetings_calendar", "recent_events"]
    for name in [*tables, *views, *queries]:
        assert get(ds, f"/cooplog/{name}.json", _shape="objects").json()["rows"] == [], name
    for page in ("/", "/cooplog", "/cooplog/events", "/cooplog/meetings",
                 "/-/dashboards/cooperation", "/report?period=2008/2009",
                 "/cooplog/activities_in_period?start=2008-01-01&end=2009-12-31",
                 "/cooplog/organization_history?org=wco"):
        assert "<html" in get(ds, page).text.lower(), page


@pytest.mark.parametrize("name", ["other.db", "my log.db"])
@pytest.mark.slow
def test_a_database_file_of_any_name_is_published_whole(sample_db, tmp_path, name):
    """`--db elsewhere/NAME`: the site still calls the database `cooplog`, so what metadata.yml
    names answers: every canned query, each chart of the dashboard as its script asks for
    its rows (`/<db>.json?sql=`, the name not encoded: `my log` was a 404), the links of the
    home page and of the report, and the feed's entries."""
    import re
    import shutil

    (tmp_path / "elsewhere").mkdir()
    ds = serve.datasette(REPO, shutil.copy(sample_db, tmp_path / "elsewhere" / name))
    assert [db for db in ds.databases if db != "_internal"] == ["cooplog"]
    for query in ds.metadata()["databases"]["cooplog"]["queries"]:
        get(ds, f"/cooplog/{query}")
    board = get(ds, "/-/dashboards/cooperation").text
    assert all(f'id="chart-{chart}"' in board for chart in CHARTS)
    for chart in dashboard(ds)["charts"].values():
        response = asyncio.run(ds.client.get(f"/{chart['db']}.json?sql={quote(chart['query'])}"
                                             "&_shape=objects"))
        assert response.status_code == 200, (chart["db"], response.status_code)
        assert response.json()["rows"]
    assert 'href="/cooplog/meetings_calendar.ics?limit=1000"' in get(ds, "/").text
    for page in ("/", "/report?period=2008/2009"):
        for link in set(re.findall(r'href="(/[^/"][^"]*)"', get(ds, page).text)):
            get(ds, html.unescape(link))
    links = {r["atom_link"] for r in get(ds, "/cooplog/recent_events.json",
                                          _shape="objects").json()["rows"]}
    assert links and all(link.startswith("/cooplog/events/") for link in links)
    assert get(ds, next(iter(links))).status_code == 200


# --- any value that reaches the database ---------------------------------------------------


def test_the_charts_that_write_html_get_every_value_escaped(sample_db, tmp_path):
    """The table charts write their cells as HTML: a value that
    reached the database as markup (a title, or a key or date in a database built by
    another version) must arrive escaped."""
    import shutil

    db = shutil.copy(sample_db, tmp_path / "cooplog.db")
    markup = "<img src=x onerror=alert(1)>"
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("update requests set to_org = ?, status_since = ?", [markup, markup])
        conn.execute("update submissions set title = ?", [markup])
        conn.execute("update meetings set title = ?, city = ?, country = ?, occurred = ?",
                     [markup] * 4)
    conn.close()
    ds = serve.datasette(REPO, db)
    for chart in ("open-items", "meetings-places"):
        rows = sql(ds, dashboard(ds)["charts"][chart]["query"])
        cells = [v for row in rows for v in row.values() if isinstance(v, str)]
        assert "&lt;img src=x onerror=alert(1)>" in cells, chart
        assert not [c for c in cells if "<" in c], chart


def test_the_report_page_shows_any_value_the_database_holds(sample_db, tmp_path):
    """An event with no date or summary (a database built by an older cooplog) was a 500."""
    import shutil

    db = shutil.copy(sample_db, tmp_path / "cooplog.db")
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("update events set occurred = null, summary = null where id in (select "
                     "event_id from event_orgs where org_key = 'wco')")
        conn.execute("update events set occurred = '2009-13-45' where id in (select "
                     "event_id from event_orgs where org_key = 'imo')")
    conn.close()
    page = get(serve.datasette(REPO, db), "/report", period="2008/2009").text
    assert "World Customs Organization" in page and "2009-13-45" in page


def test_the_feed_carries_any_value_the_database_holds(log):
    """A database built by an older cooplog let `2026-13-45T99:99:99Z` in, and a summary may
    hold control characters XML cannot: the whole feed was a 500. Now the row that names no
    time is left out and the others are written, text without those characters."""
    store = Store(log)
    (org, _), (odd_time, _), (bell, _) = append.append(store, [
        ("org", {"type": "organization.registered",
                 "data": {"key": "wco", "name": "World Customs Organization",
                          "category": "intergovernmental"}}),
        ("odd time", {"type": "activity.noted", "occurred": "2009-02", "orgs": ["wco"],
                      "summary": "Recorded at no real time."}),
        ("bell", {"type": "activity.noted", "occurred": "2009-03", "orgs": ["wco"],
                  "summary": "A bell\x07 and a form feed\x0c in the text."}),
    ], by=BY, commit=False)
    db = built(log)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("update events set recorded_at = '2026-13-45T99:99:99Z' where id = ?",
                     [odd_time.id])
    conn.close()
    ds = serve.datasette(log)
    feed = ET.fromstring(get(ds, "/cooplog/recent_events.atom").content)
    titles = {e.findtext(f"{ATOM}id"): e.findtext(f"{ATOM}title")
              for e in feed.findall(f"{ATOM}entry")}
    assert titles == {f"urn:cooplog:event:{org.id}": "Registered: World Customs Organization",
                      f"urn:cooplog:event:{bell.id}": "A bell and a form feed in the text."}
    for hostile in [
        "select 1 as atom_id, 'x' as atom_updated, 't' as atom_title",
        "select 1 as atom_id, 42 as atom_updated, 't' as atom_title",
        "select 1 as atom_id, null as atom_updated, 't' as atom_title",
        "select null as atom_id, '2026-01-01T00:00:00Z' as atom_updated, char(1) as atom_title",
        "select 2 as atom_id, '2026-01-01T00:00:00Z' as atom_updated, char(1, 65) as atom_title,"
        " null as atom_link, 5 as atom_content, x'0001' as atom_author_name",
        "select 3 as atom_id, '2026-01-01T00:00:00' as atom_updated, 't' as atom_title,"
        " null as atom_content_html",
    ]:
        response = asyncio.run(ds.client.get("/cooplog.atom", params={"sql": hostile}))
        assert response.status_code == 200, (hostile, response.text[:300])
        assert ET.fromstring(response.content).tag == f"{ATOM}feed"
