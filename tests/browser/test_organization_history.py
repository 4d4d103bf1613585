"""An organization of more items than a page holds, as people read it (issue 18): a real
`cooplog serve` in headless Chromium, at 1280 and 390 px and printed, axe-core finding no
serious or critical violation. Clicking "older" from its page goes through every item once,
latest first, and "newer" back again; nothing scrolls sideways on a phone, and on paper
the list is printed without the links to other pages."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from test_pages import Visit, browser, serving  # noqa: F401 - `browser` is a fixture
from test_reading import serious_violations

from cooplog import append
from cooplog.store import Store
from test_site_org_history import ITEMS, big_organization, expected

A4_PX = {"width": 794, "height": 1123}


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """`cooplog serve` over a log holding `big` and its ITEMS items: its address, and the
    items in the order the pages must show them."""
    root = tmp_path_factory.mktemp("history") / "log"
    store = Store(root)
    store.events_dir.mkdir(parents=True)
    append.append(store, [(f"body {i}", body) for i, body in enumerate(big_organization())],
                  by="history@example.org", commit=False)
    db = root.parent / "cooplog.db"
    with serving("--root", str(root), "--db", str(db)) as base:
        yield base, expected(db)


def listed(page) -> list[tuple[None, str]]:
    hrefs = page.locator("ul.activities > li > a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")
    return [(None, href.rsplit("/", 1)[1]) for href in hrefs]


def sideways(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("width", [1280, 390])
def test_older_and_newer_go_through_every_item_once_in_order(browser, big, width):  # noqa: F811
    base, everything = big
    assert len(everything) == ITEMS
    seen = Visit(browser, base)
    seen.page.set_viewport_size({"width": width, "height": 900})
    page = seen.open("/org/big")
    assert serious_violations(page) == []
    met, pages = [], 0
    while True:
        pages += 1
        assert sideways(page) <= 0, f"scrolls sideways at {width} px on page {pages}"
        met += listed(page)
        older = page.get_by_role("link", name="older")
        if older.count() == 0:
            break
        older.first.click()
        page.wait_for_load_state("networkidle")
    assert met == everything and pages == 3
    assert page.locator("nav.pager").first.inner_text().startswith(f"Items 201–{ITEMS} of")
    assert serious_violations(page) == []
    back = []
    while True:
        newer = page.get_by_role("link", name="newer")
        if newer.count() == 0:
            break
        newer.first.click()
        page.wait_for_load_state("networkidle")
        back += listed(page)
    assert sorted(back) == sorted(everything[:200]) and len(set(back)) == 200
    seen.finish(f"organization-history-{width}", full_page=False)


def test_a_period_counted_on_the_page_opens_with_that_many_items(browser, big):  # noqa: F811
    base, _ = big
    seen = Visit(browser, base)
    page = seen.open("/org/big")
    year = page.locator("ul.by-period ul li", has_text="2003 ·")
    said = int(year.inner_text().split("·", 1)[1].split()[0])
    year.get_by_role("link", name="2003").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/org/big?period=2003")
    assert page.locator("ul.activities > li").count() == said
    assert page.locator("nav.pager").count() == 0  # a period's page lists it in full
    seen.finish("organization-history-2003", full_page=False)


def test_printed_it_keeps_its_items_not_the_links_to_others(browser, big):  # noqa: F811
    base, everything = big
    seen = Visit(browser, base)
    seen.page.set_viewport_size(A4_PX)
    page = seen.open("/org/big")
    page.emulate_media(media="print")
    assert page.locator("nav.pager").first.is_hidden()
    assert page.locator("ul.activities > li").first.is_visible()
    assert sideways(page) <= 0
    assert listed(page) == everything[:100]
    printed = " ".join(sheet.extract_text()
                       for sheet in PdfReader(io.BytesIO(page.pdf(format="A4"))).pages)
    assert "Big item 239." in printed and "older" not in printed
    seen.finish("organization-history-print", full_page=False)
