"""Publishing (DESIGN.md, rule 6, and `cooplog serve`): every table, view and canned query of
a small log answers through Datasette, search finds words in any script (two-character
Chinese words too), nothing over HTTP can write or redirect off the site, and the real
`cooplog serve` shows a file appended while it runs and stops cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import html
import io
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from datasette.database import Database
from datasette.plugins import pm

from cooplog import append, log_assets, report, serve, watch
from cooplog.projection import Projection
from cooplog.store import Store
from helpers import built

BY = "serve@example.org"

# watchdog's own complaint when nested folders appear at once; harmless
pytestmark = [pytest.mark.slow,  # real servers over HTTP
              pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")]

ORGS = [
    ("wco", "World Customs Organization", "WCO", "intergovernmental"),
    ("wto", "World Trade Organization", "WTO", "intergovernmental"),
    ("unep", "United Nations Environment Programme", "UNEP", "unep"),
    ("gef", "Global Environment Facility", "GEF", "other"),
]

# label -> body; labels name the events in the assertions below
LOG = {
    "hs-meeting": {
        "type": "meeting.attended", "occurred": "2008-09-24",
        "summary": "Presented the waste streams at the Harmonized System Committee.",
        "orgs": ["wco"], "mandates": ["IX/11"], "source": "UNEP/CHW/OEWG/7/17, annex",
        "data": {"title": "Harmonized System Committee, 42nd session", "role": "presenter",
                 "location": {"city": "Brussels", "country": "BE"}}},
    "cte-meeting": {
        "type": "meeting.attended", "occurred": "2009-03-23/2009-03-25",
        "summary": "秘书处作为观察员出席了贸易与环境委员会会议。", "orgs": ["wto"],
        "data": {"title": "Committee on Trade and Environment", "role": "observer",
                 "location": {"city": "Geneva", "country": "CH"}}},
    "customs": {
        "type": "activity.noted", "occurred": "2009",
        "summary": "秘书处与海关合作打击危险废物的非法运输。", "orgs": ["wco"], "data": {}},
    "mou": {
        "type": "agreement.signed", "occurred": "2008-06",
        "summary": "Signed a memorandum of understanding with the WCO.", "orgs": ["wco"],
        "data": {"key": "wco-mou", "kind": "mou", "title": "MoU with the WCO",
                 "parties": ["wco"]}},
    "mou-revised": {
        "type": "agreement.revised", "occurred": "2009-05",
        "summary": "Extended the MoU to cover e-waste.", "orgs": ["wco"],
        "data": {"agreement": "wco-mou", "change": "Covers e-waste."}},
    "submission": {
        "type": "submission.made", "occurred": "2008-11",
        "summary": "Submitted three waste streams.", "orgs": ["wco"],
        "data": {"key": "hs-waste-streams", "to": "wco",
                 "title": "Waste streams proposed for the Harmonized System"}},
    "request": {
        "type": "request.made", "occurred": "2008",
        "summary": "Asked the WTO for observer status.", "orgs": ["wto"],
        "data": {"key": "wto-cte-observer", "to": "wto",
                 "subject": "observer status in the Committee on Trade and Environment"}},
    "request-pending": {
        "type": "status.changed", "occurred": "2009-06",
        "summary": "The request is still pending.", "orgs": ["wto"],
        "data": {"subject": "wto-cte-observer", "status": "pending"}},
    "submission-accepted": {
        "type": "status.changed", "occurred": "2009-10",
        "summary": "The waste streams were accepted.", "orgs": ["wco"],
        "data": {"subject": "hs-waste-streams", "status": "accepted"}},
    "project": {
        "type": "project.proposed", "occurred": "2009",
        "summary": "Proposed an e-waste project to the GEF.", "orgs": ["gef"],
        "data": {"key": "e-waste-africa", "title": "E-waste Africa", "funder": "gef"}},
    "partnership": {
        "type": "partnership.joined", "occurred": "2008",
        "summary": "Joined the Mobile Phone Partnership Initiative.", "orgs": ["unep"],
        "data": {"partnership": "Mobile Phone Partnership Initiative", "role": "member"}},
    "mistake": {
        "type": "activity.noted", "occurred": "2009-02",
        "summary": "Sent a mistaken note to the customs enforcement network.",
        "orgs": ["wco"], "data": {}},
}

TABLES = ["events", "organizations", "event_orgs", "meetings", "agreements", "submissions",
          "requests", "projects", "statuses", "partnerships", "revisions", "mandates"]
VIEWS = ["problems", "timeline", "open_items"]
QUERIES = ["search", "activities_in_period", "open_requests_and_submissions",
           "meetings_by_year_and_place", "organization_history", "list_problems"]


def write_log(root: Path, commit: bool = False) -> tuple[dict[str, str], str]:
    """The small log under root: label -> event id, and the bad file's path."""
    store = Store(root)
    store.events_dir.mkdir(parents=True, exist_ok=True)
    bodies = [(f"org {key}", {"type": "organization.registered",
                              "data": {"key": key, "name": name, "acronym": acronym,
                                       "category": category}})
              for key, name, acronym, category in ORGS]
    written = append.append(store, [*bodies, *LOG.items()], by=BY, commit=commit)
    ids = {label: event.id for (label, _), (event, _) in
           zip([*bodies, *LOG.items()], written, strict=True)}
    (retraction, _), = append.retract(store, ids["mistake"], "sent by mistake", by=BY,
                                      commit=commit)
    ids["retraction"] = retraction.id
    bad = store.path_for("01JGHJJM00BADBADBADBADBADB")  # its folder from its id, as add's
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text('{"type": "activity.noted", ', encoding="utf-8")
    return ids, store.relpath(bad)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A built projection of the small log (no git needed): (root, db, ids, bad path)."""
    root = tmp_path_factory.mktemp("published") / "log"
    ids, bad = write_log(root)
    db = root / ".cooplog" / "cooplog.db"
    built(root, db)
    return root, db, ids, bad


@pytest.fixture
def ds(published):
    root, db, _, _ = published
    return serve.datasette(root, db)


def request(ds, method: str, path: str, **options) -> httpx.Response:
    return asyncio.run(ds.client.request(method, path, **options))


def get(ds, path: str, **options) -> httpx.Response:
    return request(ds, "get", path, **options)


def rows(ds, path: str, **params) -> list[dict]:
    response = get(ds, path, params={**params, "_shape": "objects"})
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    return response.json()["rows"]


def fingerprint(db: Path) -> tuple[str, str]:
    """The database file's sha256 after a checkpoint, and a dump of every row."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("pragma wal_checkpoint(truncate)")
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    return hashlib.sha256(db.read_bytes()).hexdigest(), dump


# --- every table, view and canned query ----------------------------------------------------


@pytest.mark.parametrize("name", TABLES + VIEWS)
def test_every_table_and_view_answers_with_rows(ds, name):
    assert rows(ds, f"/cooplog/{name}.json"), f"{name} has no rows"
    page = get(ds, f"/cooplog/{name}")
    assert page.status_code == 200, page.text[:500]


def test_every_other_table_and_view_answers(ds, published):
    """Whatever else the projection publishes (tables added later included)."""
    _, db, _, _ = published
    conn = sqlite3.connect(db)
    try:
        names = [n for (n,) in conn.execute(
            "select name from sqlite_master where type in ('table', 'view') and name not like "
            "'\\_%' escape '\\' and name not like 'events_fts%' and name not like 'sqlite%'")]
    finally:
        conn.close()
    assert set(TABLES + VIEWS) <= set(names)
    for name in names:
        for path in (f"/cooplog/{name}.json", f"/cooplog/{name}"):
            response = get(ds, path)
            assert response.status_code == 200, (path, response.text[:500])


def test_every_canned_query_answers(ds, published):
    root, db, _, _ = published
    queries = serve.metadata(root)["databases"]["cooplog"]["queries"]
    assert set(QUERIES) <= set(queries)
    values = {"q": "秘书处", "start": "2008-01-01", "end": "2009-12-31", "org": "wco",
              "limit": "", "offset": ""}
    for name, query in queries.items():
        assert not query.get("write"), f"{name} is a write query"
        params = {p: values.get(p, "x") for p in re.findall(r"(?<!:):(\w+)", query["sql"])}
        for path in (f"/cooplog/{name}.json", f"/cooplog/{name}"):
            response = get(ds, path, params=params)
            assert response.status_code == 200, (path, response.text[:500])


def test_paths_that_match_nothing_are_plain_404s(ds):
    for path in ("/a/b/c/d/e/f", "/cooplog/events/x/y/z/w", "/cooplog/no_such_table",
                 "/no_such_database"):
        assert get(ds, path).status_code == 404, path


def test_the_home_page_database_page_and_query_pages(ds):
    home = get(ds, "/")
    assert home.status_code == 200
    assert "Basel Convention secretariat" in home.text  # the sample log's own metadata
    database = get(ds, "/cooplog")
    assert database.status_code == 200
    for name in QUERIES:
        assert f"/cooplog/{name}" in database.text
    for hidden in ("_files", "_keys", "_refs"):
        assert f'href="/cooplog/{hidden}"' not in database.text
    for name in QUERIES:
        page = get(ds, f"/cooplog/{name}")
        assert page.status_code == 200, (name, page.text[:500])


def test_events_show_the_retraction_and_organizations_their_activity(ds, published):
    _, _, ids, _ = published
    by_id = {r["id"]: r for r in rows(ds, "/cooplog/events.json", _size="max")}
    assert len(by_id) == len(ORGS) + len(LOG) + 1
    assert by_id[ids["mistake"]]["retracted"] == 1
    assert by_id[ids["mistake"]]["retracted_by"] == ids["retraction"]
    assert by_id[ids["customs"]]["summary"] == "秘书处与海关合作打击危险废物的非法运输。"
    orgs = {r["key"]: r for r in rows(ds, "/cooplog/organizations.json")}
    assert set(orgs) == {key for key, *_ in ORGS}
    assert orgs["wco"]["first_activity"] == "2008-06-01"
    # the retracted note left every other table
    assert ids["mistake"] not in {r["event_id"] for r in rows(ds, "/cooplog/timeline.json",
                                                                _size="max")}


def test_search_finds_english_and_chinese_words(ds, published):
    _, _, ids, _ = published

    def search(q):
        return {r["id"] for r in rows(ds, "/cooplog/search.json", q=q)}

    assert search("Harmonized") == {ids["hs-meeting"], ids["submission"]}
    assert search("harmonized system committee") == {ids["hs-meeting"]}
    assert search("秘书处") == {ids["cte-meeting"], ids["customs"]}  # trigram index
    assert search("观察员") == {ids["cte-meeting"]}
    assert search("海关") == {ids["customs"]}  # two characters: the substring fallback
    assert search("关") == {ids["customs"]}
    assert search("no such words anywhere") == set()
    assert search('say "hello"') == set()  # quotes in the query are not syntax
    (mistake,) = rows(ds, "/cooplog/search.json", q="mistaken")
    assert (mistake["id"], mistake["retracted"]) == (ids["mistake"], 1)


def test_activities_in_period(ds, published):
    _, _, ids, _ = published
    biennium = rows(ds, "/cooplog/activities_in_period.json", start="2008-01-01",
                    end="2009-12-31")
    dated = {label for label in LOG if label != "mistake"}
    assert {r["event_id"] for r in biennium} == {ids[label] for label in dated}
    assert {"category", "org_name", "org_acronym", "occurred", "type", "summary",
            "event_id"} == set(biennium[0])
    categories = [r["category"] for r in biennium]
    assert categories == sorted(categories, key=lambda c: (c is not None, c or ""))
    in_2009 = rows(ds, "/cooplog/activities_in_period.json", start="2009-01-01",
                   end="2009-12-31")
    assert {r["event_id"] for r in in_2009} == {
        ids[label] for label in ("cte-meeting", "customs", "mou-revised", "request-pending",
                                 "submission-accepted", "project")}


def test_open_requests_and_submissions(ds, published):
    _, _, ids, _ = published
    (item,) = rows(ds, "/cooplog/open_requests_and_submissions.json")
    assert item == {"kind": "request", "key": "wto-cte-observer",
                    "title": "observer status in the Committee on Trade and Environment",
                    "to_org": "wto", "status": "pending", "status_since": "2009-06",
                    "event_id": ids["request"]}


def test_meetings_by_year_and_place(ds):
    assert rows(ds, "/cooplog/meetings_by_year_and_place.json") == [
        {"year": 2009, "country": "CH", "country_name": "Switzerland", "city": "Geneva",
         "meetings": 1, "titles": "Committee on Trade and Environment"},
        {"year": 2008, "country": "BE", "country_name": "Belgium", "city": "Brussels",
         "meetings": 1,
         "titles": "Harmonized System Committee, 42nd session"},
    ]


def test_organization_history_keeps_the_retracted_for_the_audit(ds, published):
    _, _, ids, _ = published
    history = rows(ds, "/cooplog/organization_history.json", org="wco")
    assert {r["id"] for r in history} == {
        ids[label] for label in ("hs-meeting", "customs", "mou", "mou-revised", "submission",
                                 "submission-accepted", "mistake")}
    assert [r["retracted"] for r in history if r["id"] == ids["mistake"]] == [1]
    occurred = [r["occurred"] for r in history]
    assert occurred == sorted(occurred)


def test_list_problems_names_the_bad_file(ds, published):
    _, _, _, bad = published
    (problem,) = rows(ds, "/cooplog/list_problems.json")
    assert problem["path"] == bad
    assert problem["message"]


# --- a page at a time ----------------------------------------------------------------------

# canned query -> its parameters besides limit and offset
PAGED = {"activities_in_period": {"start": "2008-01-01", "end": "2009-12-31"},
         "open_requests_and_submissions": {}, "meetings_by_year_and_place": {},
         "organization_history": {"org": "wco"}, "list_problems": {}}


@pytest.mark.parametrize("name", PAGED)
def test_limit_and_offset_page_through_a_canned_query(ds, name):
    """Pages of one row, one after the other, are the whole result in its order."""
    everything = rows(ds, f"/cooplog/{name}.json", **PAGED[name])
    assert everything
    pages = [rows(ds, f"/cooplog/{name}.json", **PAGED[name], limit="1", offset=str(n))
             for n in range(len(everything) + 1)]
    assert [row for page in pages for row in page] == everything
    assert pages[-1] == []


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    """A log where one organization has 150 activities, and a Datasette over it."""
    root = tmp_path_factory.mktemp("busy") / "log"
    store = Store(root)
    store.events_dir.mkdir(parents=True)
    org = {"type": "organization.registered",
           "data": {"key": "wco", "name": "World Customs Organization", "category": "un"}}
    activities = [(f"a{n}", {"type": "activity.noted", "occurred": f"2009-{n % 12 + 1:02d}",
                             "summary": f"Activity {n}.", "orgs": ["wco"], "data": {}})
                  for n in range(150)]
    append.append(store, [("org", org), *activities], by=BY, commit=False)
    db = root / ".cooplog" / "cooplog.db"
    projection = Projection(store, db)
    try:
        projection.build()
    finally:
        projection.close()
    return serve.datasette(root, db)


def test_a_long_canned_query_shows_100_rows_and_links_the_next(busy):
    def page(path):
        response = get(busy, path)
        assert response.status_code == 200, response.text[:500]
        ids = re.findall(r'<td class="col-id">(\w+)</td>', response.text)
        links = {rel: html.unescape(href) for rel, href in
                 re.findall(r'<a rel="(next|prev)" href="([^"]+)"', response.text)}
        return ids, links

    first, links = page("/cooplog/organization_history?org=wco")
    assert len(first) == 100
    assert set(links) == {"next"}
    second, links = page(links["next"])
    assert len(second) == 50
    assert set(links) == {"prev"}
    everything = [r["id"] for r in rows(busy, "/cooplog/organization_history.json", org="wco",
                                        limit="1000")]
    assert first + second == everything
    assert len(everything) == 150
    assert page(links["prev"])[0] == first
    # the JSON takes the same default
    assert len(rows(busy, "/cooplog/organization_history.json", org="wco")) == 100


# --- what keeps pages quick ------------------------------------------------------------------


def test_markdown_renders_in_dashboards_but_no_cell_is_markdown(published, tmp_path,
                                                               monkeypatch):
    """datasette-render-markdown's per-cell hook is gone (it cost a third of a page of rows);
    its template function, which datasette-dashboards' markdown charts use, stays."""
    root, db, _, _ = published
    ours = tmp_path / "metadata.yml"  # only cooplog's metadata configures plugins
    ours.write_text(
        "plugins:\n  datasette-dashboards:\n    notes:\n      title: Notes\n"
        "      charts:\n        intro:\n          library: markdown\n"
        "          display: Read **this** first.\n", encoding="utf-8")
    monkeypatch.setattr(log_assets, "METADATA", ours)
    ds = serve.datasette(root, db)
    board = get(ds, "/-/dashboards/notes")
    assert board.status_code == 200
    assert "Read <strong>this</strong> first." in board.text
    cell = get(ds, "/cooplog", params={"sql": "select 'a **loud** note' as note_markdown"})
    assert cell.status_code == 200
    assert re.search(r'<td class="col-note_markdown">\s*a \*\*loud\*\* note\s*</td>',
                     cell.text), cell.text[-2000:]
    assert not [impl for impl in pm.hook.render_cell.get_hookimpls()
                if impl.plugin.__name__ == "datasette_render_markdown"]


@pytest.fixture
def live(tmp_path):
    """The small log built, its projection left open to apply what comes later:
    (root, db, projection)."""
    root = tmp_path / "log"
    write_log(root)
    db = root / ".cooplog" / "cooplog.db"
    projection = Projection(Store(root), db)
    try:
        projection.build()
        yield root, db, projection
    finally:
        projection.close()


def commit_late_activity(root: Path, projection: Projection) -> None:
    """Another connection commits: an activity of 2009, recorded late."""
    (_, path), = append.append(Store(root), [("new", {
        "type": "activity.noted", "occurred": "2009-12", "orgs": ["wco"],
        "summary": "Opened a customs liaison desk.", "data": {}})], by=BY, commit=False)
    projection.apply(path)


def test_the_report_is_built_once_until_the_log_changes(live, monkeypatch):
    root, db, projection = live
    ds = serve.datasette(root, db)
    builds = []
    build = report.build
    monkeypatch.setattr(report, "build", lambda *a, **k: builds.append(a[1:]) or build(*a, **k))
    first = get(ds, "/report", params={"period": "2008/2009"})
    assert first.status_code == 200
    assert get(ds, "/report", params={"period": "2008/2009"}).text == first.text
    assert get(ds, "/report", params={"period": "2009"}).status_code == 200
    assert builds == [("2008/2009", None, None), ("2009", None, None)]
    assert "Opened a customs liaison desk." not in first.text

    commit_late_activity(root, projection)
    again = get(ds, "/report", params={"period": "2008/2009"})
    assert "Opened a customs liaison desk." in again.text
    assert builds[2:] == [("2008/2009", None, None)]
    assert get(ds, "/report", params={"period": "2008/2009", "org": "nobody"}
               ).status_code == 400  # errors are not kept


def test_facet_counts_are_kept_until_the_log_changes(live, monkeypatch):
    root, db, projection = live
    counted = []
    execute = Database.execute

    async def counting(self, sql, *args, **options):
        if "as value, count(*) as count from (" in sql:
            counted.append(sql)
        return await execute(self, sql, *args, **options)

    monkeypatch.setattr(Database, "execute", counting)
    ds = serve.datasette(root, db)
    asyncio.run(ds.invoke_startup())

    def facets(path: str) -> dict:
        results = get(ds, path).json()["facet_results"]
        return {name: {r["value"]: r["count"] for r in facet["results"]}
                for name, facet in results.items()}

    first = facets("/cooplog/events.json?_facet=year")
    assert facets("/cooplog/events.json?_facet=year") == first
    assert len(counted) == 2  # type (the table's) and year (asked), counted once
    assert facets("/cooplog/events.json?_facet=year&type=activity.noted")["type"] == {
        "activity.noted": first["type"]["activity.noted"]}  # other rows: counted anew
    assert len(counted) == 4

    commit_late_activity(root, projection)
    again = facets("/cooplog/events.json?_facet=year")
    assert again["type"] == {**first["type"],
                             "activity.noted": first["type"]["activity.noted"] + 1}
    assert again["year"] == {**first["year"], 2009: first["year"][2009] + 1}
    assert len(counted) == 6


def test_datasette_reads_the_database_through_a_memory_map(ds):
    size = asyncio.run(ds.get_database("cooplog").execute("pragma mmap_size")).first()[0]
    assert size >= 1 << 30


def test_a_default_facet_asked_for_again_is_counted_and_shown_once(ds):
    """Datasette 0.65 computes a metadata facet twice when the address names it as well."""
    facets = re.compile(r'<div class="facet-info [^"]*" id="facet-([^"]+)"')
    assert facets.findall(get(ds, "/cooplog/events?_facet=type").text) == ["type"]
    page = get(ds, "/cooplog/events?_facet=type&_facet=recorded_by&type=activity.noted")
    assert sorted(facets.findall(page.text)) == ["recorded_by", "type"]
    assert "activity.noted" in page.text
    assert list(get(ds, "/cooplog/events.json?_facet=year&_facet=type").json()
                ["facet_results"]) == ["type", "year"]


def test_the_timeline_is_served_without_counting_its_rows(ds):
    """Counting a view's rows cost most of each of its pages (a row per activity and
    organization); no other page loses its count."""
    timeline = get(ds, "/cooplog/timeline.json").json()
    assert timeline["filtered_table_rows_count"] is None and timeline["rows"]
    assert timeline["next"] or len(timeline["rows"]) < 100
    assert get(ds, "/cooplog/timeline").status_code == 200
    assert get(ds, "/cooplog/timeline.json?_nocount=").json()["filtered_table_rows_count"]
    for path in ("/cooplog/events.json", "/cooplog/problems.json"):
        assert get(ds, path).json()["filtered_table_rows_count"] is not None, path


def test_a_table_the_metadata_closes_stays_closed_with_answers_kept(
        sample_db, tmp_path, monkeypatch):
    """Whether metadata restricts a table is worked out once per table (Datasette deep-
    copied the whole metadata for every check); a restriction is kept like any answer."""
    root = tmp_path / "log"
    root.mkdir()
    ours = tmp_path / "metadata.yml"  # only cooplog's metadata sets access rules
    ours.write_text(
        "databases:\n  cooplog:\n    tables:\n      commits:\n        allow: false\n",
        encoding="utf-8")
    monkeypatch.setattr(log_assets, "METADATA", ours)
    ds = serve.datasette(root, sample_db)
    asyncio.run(ds.invoke_startup())
    for _ in range(2):
        assert asyncio.run(ds.client.get("/cooplog/commits")).status_code == 403
        assert get(ds, "/cooplog/events").status_code == 200
        assert 'href="/cooplog/commits"' not in get(ds, "/cooplog").text
    assert ds._table_permission_allows.cache_info().hits > 0


def test_what_the_server_holds_is_left_out_of_full_collections():
    try:
        assert gc.get_freeze_count() == 0
        serve.settle()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_health_endpoint_without_and_with_a_watcher(ds, tmp_path, monkeypatch):
    response = get(ds, "/-/cooplog.json")
    assert response.status_code == 503
    assert response.json() == {"watcher": "not running"}
    store = Store(tmp_path / "log")
    store.events_dir.mkdir(parents=True)
    with watch.Watcher(store, tmp_path / "w.db", reconcile_every=600) as watcher:
        monkeypatch.setattr(serve, "WATCHER", watcher)
        response = get(ds, "/-/cooplog.json")
        assert response.status_code == 200
        body = response.json()
        assert body["watcher"] == "alive"
        assert body["recent_errors"] == []
    assert get(ds, "/-/cooplog.json").status_code == 503  # stopped


def test_datasette_sees_what_the_watcher_applies(tmp_path):
    """mode=ro, not immutable: a file dropped while serving shows without a restart."""
    root = tmp_path / "log"
    store = Store(root)
    store.events_dir.mkdir(parents=True)
    db = root / ".cooplog" / "cooplog.db"
    with watch.Watcher(store, db, reconcile_every=600):
        ds = serve.datasette(root, db)
        assert rows(ds, "/cooplog/events.json") == []
        (event, _), = append.append(store, [("x", {
            "type": "activity.noted", "occurred": "2009", "summary": "秘书处与海关合作。",
            "data": {}})], by=BY, commit=False)
        deadline = time.monotonic() + 10
        while not rows(ds, "/cooplog/search.json", q="海关"):
            assert time.monotonic() < deadline, "the new event never showed"
            time.sleep(0.05)
        assert [r["id"] for r in rows(ds, "/cooplog/events.json")] == [event.id]


# --- read-only, on-site ----------------------------------------------------------------------

WRITE_PATHS = ["/cooplog/events", "/cooplog/events.json", "/cooplog/events/-/insert",
               "/cooplog/search", "/cooplog/search.json", "/cooplog", "/cooplog/-/create",
               "/-/cooplog.json", "/-/messages", "/-/create-token", "/-/permissions", "/"]


def test_every_write_method_is_refused_and_nothing_changes(ds, published):
    _, db, _, _ = published
    before = fingerprint(db)
    for method in ("post", "put", "patch", "delete"):
        for path in WRITE_PATHS:
            options = {} if method == "delete" else {
                "json": {"row": {"name": "x", "value": "y"}, "sql": "delete from events"}}
            response = request(ds, method, path, **options)
            assert response.status_code == 405, (method, path, response.status_code)
            assert "read-only" in response.text
        form = request(ds, "post", "/cooplog/search", data={"q": "x"})
        assert form.status_code == 405
    assert fingerprint(db) == before


@pytest.mark.parametrize("sql", [
    "insert into _state (name, value) values ('x', 'y')",
    "with t(a) as (select 1) insert into _state (name, value) select 'x', 'y' from t",
    "with t(a) as (select 1) delete from events",
    "select 1; delete from events",
    "pragma journal_mode = delete",
    "attach database ':memory:' as other",
])
def test_custom_sql_cannot_write(ds, published, sql):
    _, db, _, _ = published
    before = fingerprint(db)
    response = get(ds, "/cooplog.json", params={"sql": sql})
    assert response.status_code != 200 or not response.json().get("ok", True), response.text
    assert fingerprint(db) == before
    assert rows(ds, "/cooplog/events.json", _size="max")


def test_a_slow_query_hits_the_time_limit(ds):
    sql = ("with recursive c(x) as (select 1 union all select x + 1 from c) "
           "select count(*) from c")
    started = time.monotonic()
    response = get(ds, "/cooplog.json", params={"sql": sql})
    assert response.status_code == 400
    assert "too long" in response.text
    assert time.monotonic() - started < 10


def _letters(n: int) -> str:
    """SQL for a string of n letters a, built in the query."""
    return f"replace(hex(zeroblob({n // 2})), '0', 'a')"


@pytest.mark.parametrize("sql, words", [
    # one call each, which the time limit could not stop: 3.1 s, 34.7 s and 42.9 s
    (f"select instr({_letters(600_000)}, {_letters(300_000)} || 'b')", "too big"),
    (f"select {_letters(600_000)} like '%' || {_letters(49_998)} || 'b'", "too big"),
    (f"select {_letters(600_000)} glob '*' || {_letters(49_998)} || 'b'", "too big"),
    (f"select {_letters(19_000)} like '%' || {_letters(1_000)} || 'b'", "too complex"),
    # within those bounds, the same call many times in one row
    (f"with t(a, b) as materialized (select {_letters(19_800)}, '*' || {_letters(97)}"
     " || 'b') select " + " + ".join(["(a glob b)"] * 400) + " from t", "too complex"),
])
def test_the_sql_box_builds_no_value_one_call_could_take_long_over(ds, sql, words):
    response = get(ds, "/cooplog.json", params={"sql": sql})
    assert response.status_code == 400, response.text[:300]
    assert words in response.json()["error"]


def test_pages_read_values_larger_than_the_sql_box_may(tmp_path):
    """The SQL box's bound is for what a reader builds: a long stored summary still shows on
    its pages and in canned queries."""
    root = tmp_path / "log"
    Store(root).events_dir.mkdir(parents=True)
    long = "A long account of the meeting. " * 1_000  # 31 kB
    (event, _), = append.append(Store(root), [("long", {
        "type": "activity.noted", "occurred": "2009", "summary": long, "data": {}})],
        by=BY)
    ds = serve.datasette(root, built(root))
    assert rows(ds, f"/cooplog/events/{event.id}.json")[0]["summary"] == long
    assert rows(ds, "/cooplog/search.json", q="long account")[0]["summary"] == long
    response = get(ds, "/cooplog.json", params={"sql": "select summary from events"})
    assert response.status_code == 400
    assert "too big" in response.json()["error"]


def test_the_sql_box_reads_the_database_file_there_now(tmp_path):
    """A database rebuilt under a running site (the watcher's healing) is a new file at the
    same path: the SQL box's queries read it, not the file they read before."""
    root = tmp_path / "log"
    write_log(root)
    db = built(root)
    ds = serve.datasette(root, db)
    count = "select count(*) as n from events"
    before = rows(ds, "/cooplog.json", sql=count)[0]["n"]
    append.append(Store(root), [("one more", {
        "type": "activity.noted", "occurred": "2010", "summary": "One more.", "data": {}})],
        by=BY, commit=False)
    os.replace(built(root, tmp_path / "rebuilt.db"), db)
    assert rows(ds, "/cooplog.json", sql=count)[0]["n"] == before + 1


def test_an_interrupted_sql_box_query_leaves_the_next_queries_alone(ds):
    """The SQL box's timer interrupts its connection at the time limit: never a query that
    runs on that connection after it."""
    slow = ("with recursive c(x) as (select 1 union all select x + 1 from c) "
            "select count(*) from c")
    for _ in range(3):
        response = get(ds, "/cooplog.json", params={"sql": slow})
        assert response.status_code == 400 and "too long" in response.text
        for _ in range(20):
            assert rows(ds, "/cooplog.json", sql="select count(*) as n from events")
            assert get(ds, "/cooplog/events").status_code == 200


@pytest.mark.parametrize("path", ["//example.com", "//example.com/", "/\\example.com",
                                  "/\\example.com/", "/%5Cexample.com", "/%5cexample.com/",
                                  "/%2F%2Fexample.com/", "//example.com/cooplog/"])
def test_no_redirect_off_the_site(ds, path):
    for method in ("get", "head"):
        response = request(ds, method, path)
        assert response.status_code == 404, (method, path, response.status_code)
        assert "location" not in response.headers


def test_on_site_redirects_still_work(ds):
    """The guard takes only the off-site paths: Datasette's own trailing-slash redirect
    stays."""
    response = get(ds, "/cooplog/events/")
    assert response.status_code == 302
    assert response.headers["location"] == "/cooplog/events"


def test_a_log_with_its_own_metadata_is_described_by_it_alone(tmp_path):
    root = tmp_path / "log"
    Store(root).events_dir.mkdir(parents=True)
    (root / "metadata.yml").write_text(
        "title: Customs desk log\ndescription: What the customs desk did.\n"
        "databases:\n  cooplog:\n    tables:\n      events:\n        description: Ours.\n",
        encoding="utf-8")
    merged = serve.metadata(root)
    assert merged["title"] == "Customs desk log"
    assert merged["description"] == "What the customs desk did."
    for key in ("description_html", "license", "source", "source_url"):
        assert key not in merged, key  # the sample log's, not this one's
    database = merged["databases"]["cooplog"]
    assert set(QUERIES) <= set(database["queries"])  # cooplog's queries stay
    assert database["tables"]["events"]["description"] == "Ours."


# --- the real `cooplog serve` ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raw_get(port: int, target: str) -> tuple[int, dict[str, str]]:
    """GET with the request target sent byte for byte (an HTTP client would resolve
    `//host` against the base URL): the status and the headers."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                  .encode("latin-1"))
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head = answer.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(":", 1) for line in head[1:])
    return int(head[0].split()[1]), {k.strip().lower(): v.strip() for k, v in headers.items()}


def start_serve(log: Path, tmp_path: Path, *options: str,
                cooplog: Path = Path(sys.executable).parent / "cooplog",
                ) -> tuple[subprocess.Popen, int, Path]:
    """`cooplog --root LOG [OPTIONS] serve` on a free port, run from tmp_path, once it
    answers: (process, port, the file its stderr goes to)."""
    port = free_port()
    stderr_path = tmp_path / "serve.err"
    with open(stderr_path, "wb") as stderr, open(tmp_path / "serve.out", "wb") as stdout:
        process = subprocess.Popen([str(cooplog), "--root", str(log), *options, "serve",
                                    "--port", str(port)], stdout=stdout, stderr=stderr,
                                   cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 20
    try:
        while True:
            assert process.poll() is None, stderr_path.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/-/cooplog.json",
                             timeout=5).status_code == 200:
                    return process, port, stderr_path
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "cooplog serve never answered"
            time.sleep(0.1)
    except BaseException:
        process.kill()
        process.wait()
        raise


def stop_serve(process: subprocess.Popen, sig: int, stderr_path: Path) -> None:
    """Send the signal; it must end within 10 s, exit 0, and print no traceback."""
    try:
        process.send_signal(sig)
        returncode = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    err = stderr_path.read_text(encoding="utf-8")
    assert returncode == 0, err
    assert "Traceback" not in err
    assert "Aborted" not in err


@pytest.mark.slow  # a real serve, started and stopped
def test_cooplog_serve_end_to_end(log, tmp_path):
    ids, _ = write_log(log, commit=True)
    process, port, stderr_path = start_serve(log, tmp_path)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            assert client.get("/").status_code == 200
            assert client.get("/-/cooplog.json").json()["watcher"] == "alive"
            assert client.get("/cooplog/search.json",
                              params={"q": "海关", "_shape": "objects"}).json()["rows"]

            (event, _), = append.append(Store(log), [("new", {
                "type": "activity.noted", "occurred": "2010-01",
                "summary": "秘书处与世界海关组织举办了联合培训。", "orgs": ["wco"],
                "data": {}})])
            appended = time.monotonic()
            while not client.get("/cooplog/events.json", params={
                    "id": event.id, "_shape": "objects"}).json()["rows"]:
                assert time.monotonic() - appended < 5, "the appended event never showed"
                time.sleep(0.05)

            def search(q):
                response = client.get("/cooplog/search.json", params={"q": q,
                                                                      "_shape": "objects"})
                assert response.status_code == 200
                return {r["id"] for r in response.json()["rows"]}

            assert client.get("/a/b/c/d/e/f").status_code == 404
            assert search("联合培训") == {event.id}
            assert search("秘书处") == {event.id, ids["cte-meeting"], ids["customs"]}
            assert search("海关") == {event.id, ids["customs"]}

            before = client.get("/cooplog/events.json", params={"_size": "max"}).json()
            for path in ("/cooplog/events", "/cooplog/search", "/-/cooplog.json"):
                assert client.post(path, json={"sql": "delete from events"}).status_code == 405
                assert client.delete(path).status_code == 405
            # an absolute-form request line (`GET http://evil.com/ HTTP/1.1`) was
            # answered `302 Location: http://evil.com`
            for path in ("//example.com/", "/\\example.com/", "/%5Cexample.com/",
                         "//example.com", "http://evil.com/", "HTTP://EVIL.COM/cooplog/",
                         "https://evil.com/cooplog/events/", f"http://127.0.0.1:{port}/x/"):
                status, headers = raw_get(port, path)
                assert status == 404, (path, status)
                assert "location" not in headers
            assert client.get("/cooplog/events.json",
                              params={"_size": "max"}).json()["rows"] == before["rows"]
    finally:
        stop_serve(process, signal.SIGINT, stderr_path)
    assert f"serving {log}" in stderr_path.read_text(encoding="utf-8")


@pytest.mark.slow  # a real serve, started and stopped
def test_cooplog_serve_stops_cleanly_on_sigterm(log, tmp_path):
    """What a service manager sends: the same clean stop as Ctrl-C."""
    process, _, stderr_path = start_serve(log, tmp_path)
    stop_serve(process, signal.SIGTERM, stderr_path)


def test_the_report_page_offers_its_pdf(ds):
    """The web report links the PDF of the same report; the PDF is the command's."""
    from pypdf import PdfReader

    page = get(ds, "/report", params={"period": "2008/2009"})
    assert page.status_code == 200
    link = re.search(r'<a class="download" href="([^"]+)" download>', page.text)
    assert link and html.unescape(link.group(1)) == "/report.pdf?period=2008%2F2009"
    assert ('<span class="when">23–25 March 2009</span> '
            '<span class="where">(Geneva, Switzerland)</span>') in page.text
    pdf = get(ds, html.unescape(link.group(1)))
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
    assert pdf.headers["content-disposition"] == (
        'attachment; filename="report-2008-2009.pdf"')
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Report on international cooperation over the biennium 2008–2009" in text
    assert "秘书处作为观察员出席了贸易与环境委员会会议" in text.replace("\n", "")
    refused = get(ds, "/report.pdf", params={"period": "2009-13"})
    assert refused.status_code == 400
    assert ("The period cannot be read: &#39;2009-13&#39; has no month 13; give a year (2009)"
            in refused.text)


# --- facets --------------------------------------------------------------------------------


def test_repeated_facets_are_counted_once(ds):
    """150 repeats of four facets (an 8 KB address) answered 209 MB in 42 s: each repeat
    was counted and shown again, each of its links carrying the whole address."""
    four = "&".join(["_facet=recorded_by&_facet=occurred&_facet=source&_facet=target"] * 150)
    response = get(ds, f"/cooplog/events.json?_facet_size=max&{four}")
    assert response.status_code == 200, response.text[:300]
    assert sorted(response.json()["facet_results"]) == [
        "occurred", "recorded_by", "source", "target", "type"]
    assert len(response.content) < 100_000


def test_at_most_five_facets_at_a_time(ds):
    five = "&".join(f"_facet={c}" for c in ("recorded_by", "occurred", "source", "target",
                                             "path"))
    assert get(ds, f"/cooplog/events.json?{five}").status_code == 200
    response = get(ds, f"/cooplog/events.json?{five}&_facet_array=occurred")
    assert (response.status_code, response.text) == (
        400, "6 facets asked for: ask for at most 5 at a time")


@pytest.mark.parametrize("path, facet, refused", [
    ("/cooplog/events", "_facet=summary", "summary"),
    ("/cooplog/events.json", "_facet=data&_facet=original", "data, original"),
    ("/cooplog/events", "_facet_array=orgs", "orgs"),
    ("/cooplog/events", '_facet={"column": "documents"}', "documents"),
    ("/cooplog/timeline.json", "_facet=title", "title"),
    ("/cooplog/requests", "_facet=subject", "subject"),
])
def test_no_facet_on_prose_or_json(ds, published, path, facet, refused):
    response = get(ds, f"{path}?{facet}")
    assert response.status_code == 400, response.text[:300]
    conn = sqlite3.connect(published[1])
    table = path.rpartition("/")[2].partition(".")[0]
    columns = [row[1] for row in conn.execute(f"pragma table_info({table})")]
    conn.close()
    allowed = [c for c in columns if c not in refused.split(", ") and c not in (
        "summary", "title", "data", "original", "documents", "orgs", "mandates",
        "corrected_by")]
    assert response.text == (f"cannot facet by {refused}: each row's value is prose or JSON; "
                             f"facet by one of: {', '.join(allowed)}")


def test_a_statuses_subject_is_a_key_and_can_be_faceted(ds):
    response = get(ds, "/cooplog/statuses.json?_facet=subject")
    assert response.status_code == 200
    assert "subject" in response.json()["facet_results"]


@pytest.mark.parametrize("facet", ["{bad", '{"x": 1}', '{"column": 3}'])
def test_a_facet_that_names_no_column_is_a_bad_request(ds, facet):
    response = get(ds, "/cooplog/events.json", params={"_facet": facet})
    assert response.status_code == 400, response.text[:300]
    assert "a facet names a column" in response.text
