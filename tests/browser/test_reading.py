"""cooplog's own pages (`/`, `/org/<key>`, `/event/<id>`, `/search`) in headless Chromium,
as tests/browser/test_pages.py opens the rest of the site and under its rules: any console
error, failed request or HTTP status >= 400 fails a test. Each page is read at 1280 px and
at 390 px (a phone: nothing may scroll sideways), and axe-core finds no serious or critical
violation on it. The questions people bring are answered by clicking from `/`, each within
its budget of clicks."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from test_pages import Visit, browser, site  # noqa: F401  (fixtures: one server per module)

from helpers import latest_recorded

DEMETER = "01M8E9BDJV9T2HQHD8W2W51V86"
CHINESE = "01M8E9BDJV9T2HQHD8W2W51V9A"
PAGES = {"home": "/", "org": "/org/wco?period=2008/2009", "event": f"/event/{DEMETER}",
         "event-zh": f"/event/{CHINESE}", "search": "/search?q=demeter",
         "search-zh": "/search?q=委员", "meetings": "/meetings?period=2008/2009"}
SERIOUS = {"serious", "critical"}


@pytest.fixture
def visit(browser, site):  # noqa: F811
    return Visit(browser, site)


class Clicks:
    """A page driven only by clicks from `/`, counted against a budget."""

    def __init__(self, page):
        self.page = page
        self.count = 0

    def click(self, locator) -> None:
        self.count += 1
        locator.click()
        self.page.wait_for_load_state("networkidle")


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} — "
            + "; ".join(n["target"][0] for n in v["nodes"][:3])
            for v in results.response["violations"] if v["impact"] in SERIOUS]


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("name", list(PAGES))
def test_each_page_reads_at_its_width_and_passes_axe(visit, name, width):
    visit.page.set_viewport_size({"width": width, "height": 900})
    page = visit.open(PAGES[name])
    assert page.locator("main h1").count() == 1
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} scrolls sideways by {overflow} px at {width} px"
    assert serious_violations(page) == []
    visit.finish(f"reading-{name}-{width}")


def test_an_unknown_event_is_a_page_in_words(visit):
    response = visit.page.goto(visit.base + "/event/NOSUCHEVENT", wait_until="networkidle")
    assert response.status == 404
    assert "No event has the id" in visit.page.locator("main").inner_text()
    assert serious_violations(visit.page) == []
    visit.problems = [p for p in visit.problems if "/event/NOSUCHEVENT" not in p]
    visit.finish("reading-not-found")


def test_chinese_text_is_marked_lang_zh(visit):
    """On a Spanish page (the shipped log translates it into English only)."""
    page = visit.open(f"/event/{CHINESE}?lang=es")
    assert page.locator('main h1 [lang="zh"]').inner_text().startswith("世界贸易组织")
    visit.finish("reading-chinese", full_page=False)


# --- questions answered by clicking from / ------------------------------------------------


def test_what_was_done_with_the_wco_in_2008_2009(visit):
    """(a) within 3 clicks: the period, then the organization."""
    clicks = Clicks(visit.open("/"))
    page = clicks.page
    page.locator("select#period").select_option("2008/2009")
    clicks.count += 1  # choosing the period is a click
    clicks.click(page.get_by_role("button", name="Show"))
    clicks.click(page.locator("main").get_by_role("link", name="World Customs Organization")
                 .first)
    assert clicks.count <= 3
    text = page.locator("main").inner_text()
    assert "What was done with it in 2008–2009" in text
    assert "23 March–11 May 2009" in text and "2–5 March 2010" not in text
    visit.finish("question-a-wco-2008-2009")


def test_which_requests_are_pending_and_since_when(visit):
    """(b) within 2 clicks: the home page lists what waits for an answer."""
    clicks = Clicks(visit.open("/"))
    waiting = clicks.page.locator("ul.waiting li", has_text="Committee on Trade")
    assert "made 18 January 2007: pending since 2008–2009" in waiting.inner_text()
    clicks.click(waiting.get_by_role("link", name="World Trade Organization"))
    assert clicks.count <= 2
    assert "pending since 10 July 2009" in clicks.page.locator("main").inner_text()
    visit.finish("question-b-pending")


def test_the_meetings_in_geneva_in_2009(visit):
    """(c) within 3 clicks: the meetings, the year, the place."""
    clicks = Clicks(visit.open("/"))
    page = clicks.page
    clicks.click(page.get_by_role("link", name="Meetings, by month"))
    clicks.click(page.locator("main").get_by_role("link", name="2009", exact=True))
    clicks.click(page.locator("p.places").get_by_role("link", name="Geneva, Switzerland"))
    assert clicks.count <= 3
    assert page.locator("main h1").inner_text() == "Meetings, 2009, in Geneva"
    meetings = page.locator("ul.agenda > li").all_inner_texts()
    assert len(meetings) == 10
    assert all("Geneva, Switzerland" in m for m in meetings)
    visit.finish("question-c-geneva-2009")


def test_what_was_submitted_to_the_hs_committee(visit):
    """(d) within 3 clicks: the organization, then the submission."""
    clicks = Clicks(visit.open("/"))
    clicks.click(clicks.page.locator("main").get_by_role(
        "link", name="World Customs Organization").first)
    clicks.click(clicks.page.get_by_role(
        "link", name="Waste streams proposed for inclusion in the Harmonized System").first)
    assert clicks.count <= 3
    text = clicks.page.locator("main").inner_text()
    assert "Harmonized System Committee" in text
    assert "power-plant ashes and residues" in clicks.page.locator("main li").all_inner_texts()
    assert "under consideration since 2008–2009" in text
    visit.finish("question-d-hs-committee")


def test_who_recorded_the_latest_change_and_when(visit):
    """(e) within 2 clicks: the latest change, then its record."""
    clicks = Clicks(visit.open("/"))
    latest = clicks.page.locator("ul.latest li").first
    who, when = latest_recorded()
    assert f"recorded by {who} on {when}" in latest.inner_text()
    clicks.click(latest.locator("a").first)
    assert clicks.count <= 2
    text = clicks.page.locator("main").inner_text()
    assert f"Recorded by {who} on {when}." in text
    assert "Commit " in text
    visit.finish("question-e-latest")


def test_search_from_the_home_page_marks_the_words_found(visit):
    page = visit.open("/")
    page.locator("input#q").fill("Demeter")
    Clicks(page).click(page.get_by_role("button", name="Search"))
    assert page.locator("ol.results > li").count() == 3
    assert set(page.locator("ol.results mark").all_inner_texts()) == {"Demeter"}
    visit.finish("reading-search-from-home")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_meetings_map_beside_the_agenda_draws_from_the_machine_alone(visit, width):
    """Issue 14, point 4: the map's tiles come from the site itself, and every request the
    page makes goes to it; beside the agenda at 1280 px, above it at 390 px."""
    visit.page.set_viewport_size({"width": width, "height": 900})
    page = visit.open("/meetings?period=2009")
    page.locator("#meetings-map .leaflet-tile-loaded").first.wait_for()
    page.locator("#meetings-map path.leaflet-interactive").first.wait_for()
    assert page.locator("#meetings-map path.leaflet-interactive").count() >= 5  # places
    assert visit.tiles > 0
    assert [url for url in visit.requests if not url.startswith(visit.base + "/")] == []
    map_box = page.locator("#meetings-map").bounding_box()
    agenda_box = page.locator("ul.agenda").first.bounding_box()
    if width == 1280:
        assert map_box["x"] > agenda_box["x"] + agenda_box["width"] - 1  # beside
    else:
        assert map_box["y"] + map_box["height"] <= agenda_box["y"]  # above
    unplaced = page.locator("details.unplaced")
    unplaced.locator("summary").click()
    assert "no place recorded" in unplaced.inner_text()
    visit.finish(f"meetings-map-{width}", full_page=False)
