"""Markup in the record stays text in the browser: a real `cooplog serve` over a log whose
every text field holds script (summaries, titles, places, organization names and acronyms,
document symbols, mandates, sources, reasons, notes, a bad file's field name), opened in
headless Chromium. Every page, every map popup, every chart's tooltips and every row page
is opened; a script that runs sets `window.__xss` or opens a dialog, and fails the test.
The tests/browser/test_pages.py rules hold too: no console error, no failed request (an
injected `<img src=x>` would be one)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from test_pages import Visit, browser, serving  # noqa: F401 (browser: a fixture)

from cooplog import append
from cooplog.store import Store

MARKUP = ('<img src=x onerror="window.__xss=1"> <script>window.__xss=1</script> '
          "\"><svg onload=window.__xss=1> ' onmouseover=window.__xss=1 x='")


def hostile(label: str) -> str:
    return f"{label} {MARKUP}"


def hostile_log(root: Path) -> None:
    """Script in every text field a log can hold, who recorded it included; three meetings
    placed on the map."""
    by = hostile("recorder@example.org")
    store = Store(root)
    store.events_dir.mkdir(parents=True)
    documents = [{"symbol": hostile("UNEP/CHW/1"), "title": hostile("Document"),
                  "url": "javascript:window.__xss=1"}]
    envelope = {"mandates": [hostile("IX/11")], "documents": documents,
                "source": hostile("Source")}

    def meeting(city: str, country: str) -> dict:
        return {"type": "meeting.attended", "occurred": "2009-03-23/2009-03-25",
                "summary": hostile("Meeting summary"), "orgs": ["evil"], **envelope,
                "data": {"title": hostile(f"Meeting in {city}"), "role": "observer",
                         "location": {"city": city, "country": country},
                         "organizer": ["evil"]}}

    written = append.append(store, [
        ("org", {"type": "organization.registered",
                 "data": {"key": "evil", "name": hostile("Name"), "acronym": hostile("ACR"),
                          "category": "intergovernmental",
                          "url": "javascript:window.__xss=1"}}),
        ("geneva", meeting("Geneva", "CH")), ("nairobi", meeting("Nairobi", "KE")),
        ("unplaced", meeting(hostile("City"), "CH")),
        ("planned", {**meeting("Bangkok", "TH"), "type": "meeting.planned",
                     "occurred": "2030-05"}),
        ("agreement", {"type": "agreement.signed", "occurred": "2008-06", "orgs": ["evil"],
                       "summary": hostile("Agreement summary"), **envelope,
                       "data": {"key": "evil-mou", "kind": "mou",
                                "title": hostile("Agreement"), "parties": ["evil"]}}),
        ("revision", {"type": "agreement.revised", "occurred": "2009-05", "orgs": ["evil"],
                      "summary": hostile("Revision summary"),
                      "data": {"agreement": "evil-mou", "change": hostile("Change")}}),
        ("submission", {"type": "submission.made", "occurred": "2008-11", "orgs": ["evil"],
                        "summary": hostile("Submission summary"),
                        "data": {"key": "evil-submission", "to": "evil",
                                 "body": hostile("Body"), "title": hostile("Submission"),
                                 "items": [hostile("Item")]}}),
        ("request", {"type": "request.made", "occurred": "2008", "orgs": ["evil"],
                     "summary": hostile("Request summary"),
                     "data": {"key": "evil-request", "to": "evil",
                              "subject": hostile("Subject")}}),
        ("status", {"type": "status.changed", "occurred": "2009-06", "orgs": ["evil"],
                    "summary": hostile("Status summary"),
                    "data": {"subject": "evil-request", "status": "pending",
                             "note": hostile("Note")}}),
        ("project", {"type": "project.proposed", "occurred": "2009", "orgs": ["evil"],
                     "summary": hostile("Project summary"),
                     "data": {"key": "evil-project", "title": hostile("Project"),
                              "funder": "evil", "countries": ["KE"]}}),
        ("partnership", {"type": "partnership.joined", "occurred": "2008", "orgs": ["evil"],
                         "summary": hostile("Partnership summary"),
                         "data": {"partnership": hostile("Partnership"), "role": "member"}}),
        ("activity", {"type": "activity.noted", "occurred": "2009-02", "orgs": ["evil"],
                      "summary": hostile("Activity summary"), **envelope, "data": {}}),
    ], by=by, commit=False)
    ids = {label: event.id for label, (event, _) in zip(
        ["org", "geneva", "nairobi", "unplaced", "planned", "agreement", "revision",
         "submission", "request", "status", "project", "partnership", "activity"],
        written, strict=True)}
    append.correct(store, ids["activity"], {"summary": hostile("Corrected summary")},
                   hostile("Reason"), by=by, commit=False)
    append.retract(store, ids["partnership"], hostile("Retracted because"), by=by,
                   commit=False)
    bad = store.events_dir / "2009" / "01" / "01FZZZZZZZZZZZZZZZZZZZZZZZ.json"
    bad.parent.mkdir(parents=True)
    bad.write_text(json.dumps({"id": "01FZZZZZZZZZZZZZZZZZZZZZZZ", MARKUP: 1}),
                   encoding="utf-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """`cooplog serve` over the hostile log."""
    root = tmp_path_factory.mktemp("markup") / "log"
    hostile_log(root)
    with serving("--root", str(root)) as base:
        yield base


class Watched(Visit):
    """A visit that also counts dialogs (an `alert` payload) and reads `window.__xss`."""

    def __init__(self, chromium, base: str):
        super().__init__(chromium, base)
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog) -> None:
        self.problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def ran_script(self) -> bool:
        return self.page.evaluate("window.__xss !== undefined")


@pytest.fixture
def watched(browser, site):  # noqa: F811 (browser: test_pages' fixture)
    visits: list[Watched] = []

    def open_page(path: str) -> Watched:
        visit = Watched(browser, site)
        visit.open(path)
        visits.append(visit)
        return visit

    yield open_page
    for visit in visits:  # those a failed assertion left open
        visit.context.close()


def open_popups(page, within: str = "body") -> int:
    """Click every cluster (it zooms in), then every marker; return the popups opened."""
    for _ in range(10):
        clusters = page.locator(f"{within} .marker-cluster")
        if clusters.count() == 0:
            break
        clusters.first.click()
        page.wait_for_timeout(500)
    markers = page.locator(f"{within} .leaflet-marker-icon:not(.marker-cluster)")
    for i in range(markers.count()):
        # as a click, wherever the last popup panned the map to
        markers.nth(i).dispatch_event("click")
        page.locator(f"{within} .leaflet-popup-content").first.wait_for()
    return markers.count()


def hover_charts(page) -> None:
    """Move the pointer across every vega chart, down three lines and along two, so that
    a tooltip shows for each bar (bars grow from the left or from the bottom)."""
    for chart in page.locator(".vega-embed").all():
        box = chart.bounding_box()
        if not box:
            continue
        width, height = int(box["width"]), int(box["height"])
        points = [(width * share, y) for share in (0.35, 0.5, 0.65) for y in range(0, height, 6)]
        points += [(x, height * share) for share in (0.7, 0.85) for x in range(0, width, 6)]
        for x, y in points:
            page.mouse.move(box["x"] + x, box["y"] + y)


# what markup from the record would have become, had it not stayed text
INJECTED = """[...document.querySelectorAll('*')].some(e =>
    [...e.attributes].some(a => a.name.startsWith('on') && a.value.includes('__xss'))
    || (e.tagName === 'SCRIPT' && e.textContent.includes('__xss'))
    || (e.tagName === 'IMG' && e.getAttribute('src') === 'x')
    || (e.tagName === 'A' && (e.getAttribute('href') || '').startsWith('javascript:')))"""


def check(visit: Watched, name: str) -> None:
    """No script ran, no markup became elements, nothing went wrong; then close."""
    ran, injected = visit.ran_script(), visit.page.evaluate(INJECTED)
    visit.context.close()
    assert not ran, f"{name}: a script from the record ran"
    assert not injected, f"{name}: markup from the record became elements"
    assert visit.problems == [], (name, visit.problems)


def test_the_dashboard_places_and_charts_show_markup_as_text(watched):
    visit = watched("/-/dashboards/cooperation")
    page = visit.page
    for chart in ("activities-by-year", "busiest-partners"):
        page.locator(f"#chart-{chart} canvas, #chart-{chart} svg").first.wait_for()
    page.locator("#chart-meetings-places tbody tr").first.wait_for()
    places = page.locator("#chart-meetings-places tbody").inner_text()
    assert "<img src=x" in places, places
    hover_charts(page)
    assert page.locator("#vg-tooltip-element").count() == 1  # a tooltip showed
    assert "<img src=x" in page.locator("#chart-open-items").inner_text()
    check(visit, "dashboard")


@pytest.mark.parametrize("chart", ["meetings-places", "open-items", "busiest-partners",
                                   "activities-by-year"])
def test_each_dashboard_chart_on_its_own_page(watched, chart):
    visit = watched(f"/-/dashboards/cooperation/{chart}")
    # their tooltips are hovered on the dashboard; the chart's page names its container
    # after the dashboard, not the chart
    visit.page.locator(".chart-container table, .chart-container canvas, "
                       ".chart-container svg").first.wait_for(state="attached")
    check(visit, chart)


def test_the_meetings_map_popups_show_markup_as_text(watched):
    visit = watched("/cooplog/meetings")
    page = visit.page
    page.locator(".leaflet-container .leaflet-marker-icon").first.wait_for()
    assert open_popups(page) == 3  # Geneva, Nairobi and the planned one in Bangkok
    popups = page.locator(".leaflet-popup-content").all_inner_texts()
    assert popups and all("<img src=x" in text for text in popups), popups
    check(visit, "meetings map")


def test_the_agenda_map_popups_show_markup_as_text(watched):
    """The meetings page's own map writes each place's meetings as text (its script)."""
    visit = watched("/meetings?period=2000/2030")
    page = visit.page
    places = page.locator("#meetings-map path.leaflet-interactive")
    places.first.wait_for()
    assert places.count() == 3  # Geneva, Nairobi and the planned one in Bangkok
    popups = []
    for i in range(places.count()):
        places.nth(i).dispatch_event("click")
        # the one just opened (the one before may still be fading out)
        popups.append(page.locator("#meetings-map .leaflet-popup-content").last.inner_text())
    assert all("<img src=x" in text for text in popups), popups
    page.locator("details.unplaced summary").click()
    assert "<img src=x" in page.locator("details.unplaced").inner_text()
    check(visit, "agenda map")


def readable_pages(site: str) -> list[str]:
    """The pages people read (cooplog_pages): every event's and every organization's, and
    the home page, the agenda and the search over a period and words of the record."""
    def rows(table: str, column: str) -> list[str]:
        answer = httpx.get(f"{site}/cooplog/{table}.json",
                           params={"_shape": "array", "_col": column, "_size": "max"})
        return [row[column] for row in answer.json()]

    event_ids, org_keys = rows("events", "id"), rows("organizations", "key")
    assert len(event_ids) > 10 and "evil" in org_keys, (event_ids, org_keys)
    return ["/?period=2008/2030", "/meetings?period=2000/2030", "/search?q=onerror",
            "/search?q=%3Cimg", "/search?q=__xss",
            *(f"/event/{event_id}" for event_id in event_ids),
            *(f"/org/{key}" for key in org_keys)]


def test_every_page_and_row_page_shows_markup_as_text(watched, site):
    database = httpx.get(f"{site}/cooplog.json").json()
    tables = [t["name"] for t in database["tables"] if not t["hidden"]]
    views = [v["name"] for v in database["views"]]
    pages = ["/", "/cooplog", "/report?period=2008/2030", "/-/dashboards",
             "/cooplog/search?q=onerror", "/cooplog/search?q=%3Cimg",
             "/cooplog/organization_history?org=evil",
             "/cooplog/activities_in_period?start=2000-01-01&end=2030-12-31",
             "/cooplog/open_requests_and_submissions", "/cooplog/meetings_by_year_and_place",
             "/cooplog/list_problems", "/cooplog/meetings_calendar", "/cooplog/recent_events",
             *(f"/cooplog/{name}" for name in [*tables, *views]),
             *readable_pages(site)]
    row_pages: set[str] = set()
    for path in pages:
        visit = watched(path)
        if path.removeprefix("/cooplog/") in tables:
            row_pages.update(visit.page.eval_on_selector_all(
                "table.rows-and-columns td:first-child a",
                "links => links.map(a => a.getAttribute('href'))"))
        hover_charts(visit.page)
        check(visit, path)
    assert len(row_pages) > 20, row_pages
    for path in sorted(row_pages):
        check(watched(path), path)
