"""Issue 14, points 2-4: partial dates counted honestly on the dashboard and the pages, the
map drawn from tiles served by the machine itself, and Datasette's own pages read without
bookkeeping tables or SQL in the way. Over HTTP in-process, on the sample log, whose annex
dates most of its items only to the biennium (`2008/2009`)."""

from __future__ import annotations

import asyncio
import html
import json
import re
import sqlite3
from pathlib import Path

import pytest

from cooplog import serve
from test_site_pages import get, main_of, read

REPO = Path(__file__).resolve().parents[1]
BIENNIUM_BAND = "2008–2009, not dated within"


@pytest.fixture(scope="module")
def ds(sample_db):
    return serve.datasette(REPO, sample_db)


def dashboard_query(name: str) -> str:
    charts = serve.metadata(REPO)["plugins"]["datasette-dashboards"]["cooperation"]["charts"]
    return charts[name]["query"]


def scalar(db: Path, sql: str, **params):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


# --- partial dates -------------------------------------------------------------------------


def test_the_dashboard_counts_the_biennium_as_its_own_band_never_as_its_first_year(sample_db):
    conn = sqlite3.connect(sample_db)
    try:
        rows = conn.execute(dashboard_query("activities-by-year")).fetchall()
    finally:
        conn.close()
    bands: dict[str, int] = {}
    for year, _group, activities in rows:
        bands[year] = bands.get(year, 0) + activities
    # one activity counts once in each group it involves: count the pairs the same way
    pairs = """select count(*) from (select distinct t.event_id, coalesce(t.category, '')
                 from timeline t where t.type != 'translation.added'
                  and substr(t.occurred_start, 1, 4) = :first
                  and substr(t.occurred_end, 1, 4) = :last)"""
    assert bands["2008"] == scalar(sample_db, pairs, first="2008", last="2008")
    assert bands[BIENNIUM_BAND] == scalar(sample_db, pairs, first="2008", last="2009") > 50
    assert None not in bands  # translations are not activities, and have no date
    assert list(bands) == sorted(bands)  # 2008, then the biennium, then 2009


@pytest.mark.parametrize("table", ["events", "meetings"])
def test_no_table_page_counts_by_first_year_unasked(ds, table):
    """`year` is occurred_start's year: a facet of it counted 2008/2009 as 2008."""
    assert 'id="facet-year"' not in get(ds, f"/cooplog/{table}")
    assert 'id="facet-year"' in get(ds, f"/cooplog/{table}", _facet="year")  # on asking


def test_a_year_lists_what_overlaps_it_and_says_what_is_not_dated_within_it(ds):
    text = read(get(ds, "/org/wco", period="2009"))
    lines = text.splitlines()
    biennium = [line for line in lines if line.startswith("2008–2009")]
    assert biennium and all("(not dated within 2009)" in line for line in biennium)
    demeter = next(line for line in lines if line.startswith("23 March–11 May 2009"))
    assert "not dated within" not in demeter


def test_the_home_page_says_how_many_of_a_years_items_are_not_dated_within_it(ds, sample_db):
    text = read(get(ds, "/", period="2009"))
    outside = scalar(sample_db, """select count(*) from events where retracted = 0
        and type not like 'organization.%' and type not like 'event.%'
        and type not like 'translation.%'
        and occurred_end >= '2009-01-01' and occurred_start <= '2009-12-31'
        and (occurred_start < '2009-01-01' or occurred_end > '2009-12-31')""")
    assert outside > 0
    assert f"{outside} of them are dated only to a longer span that overlaps 2009" in text


def test_the_agenda_puts_the_biennium_between_its_two_years(ds):
    page = get(ds, "/meetings", period="2008/2009")
    years = re.findall(r"<h2>([^<]+?)\s*(?:<span[^>]*>([^<]*)</span>)?</h2>", main_of(page))
    assert [(y.strip(), note) for y, note in years if y.strip() != "On the map"] == [
        ("2008", ""), ("2008–2009", "(not dated within one year)"), ("2009", "")]
    in_2009 = read(get(ds, "/meetings", period="2009"))
    mercury = next(line for line in in_2009.splitlines()
                   if "Preparatory meetings on the new legally binding instrument" in line
                   and line.startswith("2008–2009 ·"))
    assert "(not dated within 2009)" in mercury


def test_since_on_a_status_is_that_status_own_date_in_words(ds):
    home = read(get(ds, "/"))
    assert "pending since 2008–2009" in home  # the current status's own date
    history = read(get(ds, "/org/wto"))
    assert "pending since 2008–2009" in history and "pending since 10 July 2009" in history


# --- the map, offline ----------------------------------------------------------------------


def json_in(page: str, attribute: str):
    """The JSON the map's element carries in a single-quoted attribute."""
    raw = page.split(f"{attribute}='", 1)[1].split("'", 1)[0]
    return json.loads(html.unescape(raw))


def test_the_meetings_page_maps_its_meetings_on_tiles_from_the_machine(ds):
    page = get(ds, "/meetings", period="2009")
    points = json_in(page, "data-points")
    geneva = next(p for p in points if p["place"] == "Geneva, Switzerland")
    assert len(geneva["meetings"]) == 10
    tiles = json_in(page, "data-tiles")
    assert tiles["url"].startswith("/-/") and tiles["options"]["maxZoom"] == 6
    for z, x, y in ((0, 0, 0), (3, 4, 2), (6, 33, 22)):
        tile = asyncio.run(ds.client.get(tiles["url"].format(z=z, x=x, y=y)))
        assert tile.status_code == 200 and tile.headers["content-type"] == "image/png"
        assert tile.content.startswith(b"\x89PNG")


def test_the_table_pages_cluster_map_reads_the_same_local_tiles(ds):
    page = get(ds, "/cooplog/meetings")
    assert 'DATASETTE_CLUSTER_MAP_TILE_LAYER = "/-/tiles-stack/{z}/{x}/{y}.png"' in page
    assert "openstreetmap.org/{z}" not in page and "tile.openstreetmap" not in page


def test_the_meetings_not_on_the_map_are_listed_with_the_reason_in_words(ds, sample_db):
    page = get(ds, "/meetings", period="2008/2009")
    unplaced = main_of(page).split('<details class="unplaced">', 1)[1].split("</details>")[0]
    count = scalar(sample_db, """select count(*) from meetings where latitude is null
        and occurred_end >= '2008-01-01' and occurred_start <= '2009-12-31'""")
    assert count > 0
    assert f"{count} meetings listed here are not on the map: why" in unplaced
    assert unplaced.count("<li>") == count
    assert ": no place recorded</li>" in unplaced
    assert " in CH " not in unplaced  # countries by name, never by code


@pytest.mark.parametrize("recorded, because", [
    ({"city": None, "country": None, "online": 1}, "held online"),
    ({"city": None, "country": None, "online": None}, "no place recorded"),
    ({"city": None, "country": "CH", "online": None}, "only the country recorded (Switzerland)"),
    ({"city": "Geneva", "country": None, "online": None},
     "no country recorded for Geneva, so the city cannot be looked up"),
    ({"city": "Genève", "country": "CH", "online": None},
     "Genève, Switzerland is not a place the gazetteer knows: the city may be spelt "
     "otherwise there, or be too small"),
])
def test_why_a_meeting_is_not_on_the_map(recorded, because):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "pages_under_test", REPO / "datasette" / "plugins" / "cooplog_pages.py")
    pages = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pages)
    assert pages.unplaced_because(recorded) == because


def test_the_tiles_database_takes_no_sql(ds):
    response = asyncio.run(ds.client.get("/basemap", params={"sql": "select 1"}))
    assert response.status_code == 403
    assert 'href="/basemap/tiles"' not in get(ds, "/basemap")


# --- Datasette's own pages ------------------------------------------------------------------


def test_the_database_page_hides_every_bookkeeping_table_and_opens_on_its_contents(ds, sample_db):
    page = get(ds, "/cooplog")
    bookkeeping = [name for (name,) in sqlite3.connect(sample_db).execute(
        "select name from sqlite_master where type = 'table' and name like '\\_%' escape '\\'")]
    assert {"_breaches", "_claims", "_files"} <= set(bookkeeping)
    for name in bookkeeping:
        assert f'href="/cooplog/{name}"' not in page, name
    sql_box = page.index('<details class="sql-box">')
    assert page.index('<h2 id="queries">') < page.index('<h2 id="tables">') < sql_box
    assert "<textarea" not in page[:sql_box]
    assert "The git commits that added event files" in page  # a table's description
    # hidden, not closed: the audit still reads them
    assert asyncio.run(ds.client.get("/cooplog/_files")).status_code == 200


def test_no_table_or_view_in_sight_has_a_bookkeeping_column(ds):
    database = json.loads(get(ds, "/cooplog.json"))
    shown = [t for t in database["tables"] if not t["hidden"]]
    assert shown
    for table in shown:
        assert not [c for c in table["columns"] if c.startswith("_")], table["name"]


def test_a_tables_column_descriptions_are_folded_above_its_rows(ds):
    page = get(ds, "/cooplog/events")
    folded = page.index('<details class="column-descriptions">')
    assert folded < page.index('<table class="rows-and-columns">')
    assert "<summary>What each column holds</summary>" in page


def test_a_canned_query_shows_no_sql_and_no_custom_query_heading(ds):
    page = get(ds, "/cooplog/activities_in_period", start="2008-01-01", end="2009-12-31",
               limit="", offset="")
    assert "Custom SQL query" not in page
    assert '<pre id="sql-query">' not in page and "from timeline" not in page
    assert "<title>Activities in a period, by organization</title>" in page
    assert 'placeholder="100 rows"' in page and 'placeholder="0 rows skipped"' in page
    assert re.search(r"100 rows · <a href=\"[^\"]*_show_sql=1[^\"]*\">show the SQL</a>", page)
    shown = get(ds, "/cooplog/activities_in_period", start="2008-01-01", end="2009-12-31",
                _show_sql="1")
    assert '<pre id="sql-query">' in shown and "from timeline" in shown


def test_custom_sql_keeps_datasettes_form(ds):
    page = get(ds, "/cooplog", sql="select 1 as one")
    assert "Custom SQL query returning 1 row" in page and "<textarea" in page
