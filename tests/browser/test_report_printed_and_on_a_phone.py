"""The web report as its readers get it (issue 14, point 5): on a phone, 390 px wide, with
nothing to scroll sideways; printed on A4 with both of the annex's columns on the page; and
downloaded as the Word file. Same rules as test_pages.py: a real `cooplog serve` over the
sample log in headless Chromium, where any console error, failed request or HTTP >= 400
fails the test; screenshots go to tests/browser/artifacts/."""

from __future__ import annotations

import io
import zipfile

import pytest
from pypdf import PdfReader

# the fixtures and the visit of test_pages.py: one server and one browser per module
from test_pages import ARTIFACTS, Visit, browser, serving, site  # noqa: F401

from cooplog import append
from cooplog.store import Store

TITLE = "Report on international cooperation over the biennium 2008–2009"
PHONE = {"width": 390, "height": 844}
A4_PX = {"width": 794, "height": 1123}  # 210 × 297 mm at CSS's 96 px to the inch
A4_PT = 595.28  # 210 mm in PDF points


# one word longer than a phone is wide, as a pasted web address is
ADDRESS = ("https://www.wcoomd.org/en/topics/enforcement-and-compliance/activities-and-"
           "programmes/environment-programme/hazardous-waste-report-2009.aspx")


@pytest.fixture(scope="module")
def long_words(tmp_path_factory):
    """`cooplog serve` over a log of one activity whose summary holds ADDRESS."""
    root = tmp_path_factory.mktemp("long-words") / "log"
    store = Store(root)
    store.events_dir.mkdir(parents=True)
    append.append(store, [
        ("wco", {"type": "organization.registered", "data": {
            "key": "wco", "name": "World Customs Organization", "acronym": "WCO",
            "category": "intergovernmental"}}),
        ("report", {"type": "activity.noted", "occurred": "2009-03", "orgs": ["wco"],
                    "summary": f"Published the joint report at {ADDRESS}.", "data": {}})],
        by="report@example.org", commit=False)
    with serving("--root", str(root), "--db", str(root.parent / "cooplog.db")) as base:
        yield base


def visit(browser, site, viewport):  # noqa: F811
    seen = Visit(browser, site)
    seen.page.set_viewport_size(viewport)
    return seen


def test_the_report_reads_at_390_px_without_sideways_scrolling(browser, site):  # noqa: F811
    seen = visit(browser, site, PHONE)
    page = seen.open("/report")  # no period: the latest whole biennium
    assert page.locator("h1").last.inner_text() == TITLE
    assert page.locator("table.cooplog-report li").count() > 100
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    activities = page.locator("table.cooplog-report thead th").last.bounding_box()
    assert activities["x"] + activities["width"] <= PHONE["width"]
    seen.finish("report-390")


def test_a_long_word_wraps_inside_its_column(browser, long_words):  # noqa: F811
    """A web address in a summary breaks across lines instead of widening the page, on a
    phone and on paper."""
    for viewport, media in ((PHONE, "screen"), (A4_PX, "print")):
        seen = visit(browser, long_words, viewport)
        page = seen.open("/report?period=2009")
        page.emulate_media(media=media)
        assert ADDRESS in page.locator("table.cooplog-report").inner_text().replace("\n", "")
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        cell = page.locator("table.cooplog-report td").last.bounding_box()
        assert cell["x"] + cell["width"] <= viewport["width"]
        seen.finish(f"report-long-word-{media}", full_page=False)


def test_the_report_prints_on_a4_with_its_activities_column(browser, site):  # noqa: F811
    seen = visit(browser, site, A4_PX)
    page = seen.open("/report?period=2008%E2%80%932009")
    page.emulate_media(media="print")
    assert page.locator("form.cooplog-report-form").is_hidden()
    heading = page.locator("table.cooplog-report thead th").last
    assert heading.inner_text() == "Activities"
    column = heading.bounding_box()
    assert column["x"] + column["width"] <= A4_PX["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= A4_PX["width"]

    pdf = PdfReader(io.BytesIO(page.pdf(format="A4")))
    first = pdf.pages[0]
    width = float(first.mediabox.width)
    assert abs(width - A4_PT) < 1
    placed: list[tuple[str, float]] = []  # every piece of text and where it starts

    def keep(text, cm, tm, _font, _size):
        if text.strip():  # the text matrix's origin on the page, through the CTM
            placed.append((text.strip(), tm[4] * cm[0] + tm[5] * cm[2] + cm[4]))

    text = " ".join(p.extract_text(visitor_text=keep) for p in pdf.pages).split()
    assert " ".join(TITLE.split()) in " ".join(text) and "Activities" in text
    assert "Demeter" in text
    outside = [(words, x) for words, x in placed if not 0 <= x < width]
    assert placed and outside == []
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report-a4.pdf").write_bytes(page.pdf(format="A4"))
    seen.finish("report-print")


def test_the_report_is_downloaded_as_a_word_file(browser, site):  # noqa: F811
    seen = Visit(browser, site)
    page = seen.open("/report?period=2009&org=WCO")
    assert page.locator("h1").last.inner_text() == "Report on international cooperation in 2009"
    with page.expect_download() as download:
        page.get_by_role("link", name="Word document").click()
    assert download.value.suggested_filename == "report-2009-wco.docx"
    with zipfile.ZipFile(download.value.path()) as docx:
        document = docx.read("word/document.xml").decode()
    assert "World Customs Organization" in document
    assert "United Nations Environment Programme" not in document
    seen.finish("report-docx", full_page=False)


def test_a_report_that_cannot_be_made_says_why_in_words(browser, site):  # noqa: F811
    seen = Visit(browser, site)
    response = seen.page.goto(site + "/report?org=custom", wait_until="networkidle")
    assert response.status == 400
    seen.problems.clear()  # the 400 asked for here
    error = seen.page.locator(".message-error").inner_text()
    assert error.startswith("No organization is called 'custom'") and "--" not in error
    seen.page.get_by_label("Organization", exact=True).fill("world customs organization")
    seen.page.get_by_role("button", name="Show").click()
    seen.page.wait_for_load_state("networkidle")
    assert seen.page.locator(".message-error").count() == 0
    assert "World Customs Organization" in seen.page.locator("table.cooplog-report").inner_text()
    seen.finish("report-error-fixed", full_page=False)

