"""An organization's page in every period when it has more items than a page holds (issue
18: thousands across ten logs): its items a page at a time, latest first, the links to older
and newer items going through every item once, in order, keeping `?log=` and `?lang=`; its
items counted by period and year, each count what that period's page lists. Over HTTP
in-process, on one log and on a site of two logs that hold the same ids."""

from __future__ import annotations

import asyncio
import html
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from cooplog import serve, site
from cooplog.events import NOT_ACTIVITIES
from cooplog.logs import Log
from helpers import built
from test_publish import record
from test_site_pages import read
from test_site_serve import _site

ITEMS = 250  # two and a half pages
LINK = re.compile(r'href="/event/([0-9A-Z]{26})(?:\?log=([a-z0-9-]+))?"')


def big_organization() -> list[dict]:
    """The organization `big`, and ITEMS things done with it: days, months and spans across
    two bienniums, several on one date (their order then is their ids'), of three types."""
    bodies = [{"type": "organization.registered",
               "data": {"key": "big", "name": "Big Organization", "category": "other"}}]
    for n in range(ITEMS):
        year, month = 2000 + n % 12, 1 + n % 12
        occurred = [f"{year}-{month:02d}", f"{year}-{month:02d}-{1 + n % 28:02d}",
                    f"{year + 1}/{year + 2}", f"{year}-{month:02d}"][n % 4]
        body = {"type": "activity.noted", "occurred": occurred, "orgs": ["big"],
                "summary": f"Big item {n}.", "data": {}}
        if n % 5 == 1:
            body.update(type="meeting.attended",
                        data={"title": f"Big meeting {n}", "role": "participant"})
        elif n % 5 == 3:
            body.update(type="submission.made",
                        data={"key": f"big-{n}", "to": "big", "title": f"Big submission {n}"})
        bodies.append(body)
    return bodies


def many_items(root: Path) -> None:
    record(root, *big_organization())


def get(ds, path: str, status: int = 200) -> str:
    response = asyncio.run(ds.client.get(path))
    assert response.status_code == status, (path, response.status_code, response.text[:500])
    return response.text


def items_of(page: str) -> list[tuple[str | None, str]]:
    """The (log, id) of each item a page lists, in order."""
    listed = page.split('<ul class="plain activities">', 1)[1].split("</ul>", 1)[0]
    return [(log or None, event_id) for event_id, log in LINK.findall(listed)]


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a rel="{rel}" href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def walk(ds, path: str, rel: str) -> tuple[list[tuple], list[str]]:
    """Every item met following the `rel` links from `path`, and each page's address."""
    met, addresses = [], []
    while path:
        addresses.append(path)
        page = get(ds, path)
        met += items_of(page)
        path = link(page, rel)
        assert len(addresses) < 20, "the links go round"
    return met, addresses


def expected(db: Path, logs: bool = False, log: str | None = None) -> list[tuple]:
    """`big`'s items as the database holds them, latest first, (log, id)."""
    column = "e.log" if logs else "null"
    with sqlite3.connect(db) as conn:
        return [tuple(row) for row in conn.execute(f"""
            select {column}, e.id from event_orgs eo
              join events e on e.id = eo.event_id {'and e.log = eo.log' if logs else ''}
             where eo.org_key = 'big' and e.retracted = 0 and {'e.log = ?' if log else '1'}
               and e.type not in ({', '.join('?' for _ in NOT_ACTIVITIES)})
             order by e.occurred_start desc, e.occurred_end desc, e.id desc,
                      {column} desc""", ([log] if log else []) + list(NOT_ACTIVITIES))]


@pytest.fixture
def one_log(seeded, tmp_path):
    many_items(seeded)
    db = built(seeded, tmp_path / "site.db")
    return serve.datasette(seeded, db), db


@pytest.fixture
def two_logs(seeded, tmp_path):
    """basel and stockholm, a copy of it: both hold `big`'s items under the same ids."""
    many_items(seeded)
    stockholm = shutil.copytree(seeded, tmp_path / "stockholm", symlinks=True)
    logs = [Log("basel", seeded), Log("stockholm", stockholm)]
    site.caught_up(logs)
    db = site.assemble(tmp_path / "site" / "cooplog.db", logs)
    return _site(db), db


def test_the_links_go_through_every_item_once_in_order_both_ways(one_log):
    ds, db = one_log
    everything = expected(db)
    assert len(everything) == ITEMS
    first = get(ds, "/org/big")
    assert "What was done with it, latest first" in read(first)
    assert f"Items 1–100 of {ITEMS}" in read(first) and link(first, "prev") is None
    older, pages = walk(ds, "/org/big", "next")
    assert older == everything and len(pages) == 3
    last = get(ds, pages[-1])
    assert f"Items 201–{ITEMS} of {ITEMS}" in read(last) and link(last, "next") is None
    newer, _ = walk(ds, pages[-1], "prev")
    # back from the oldest page: the same items, page by page from the oldest
    assert sorted(newer) == sorted(everything) and len(set(newer)) == ITEMS
    oldest_first = [item for page in _pages_of(ds, pages[-1], "prev") for item in page]
    assert oldest_first == newer


def _pages_of(ds, path: str, rel: str) -> list[list[tuple]]:
    pages = []
    while path:
        page = get(ds, path)
        pages.append(items_of(page))
        path = link(page, rel)
    return pages


def test_the_counts_by_period_are_what_each_periods_page_lists(one_log):
    ds, db = one_log
    page = get(ds, "/org/big")
    text = read(page)
    assert text.index("By period") < text.index("What was done with it, latest first")
    for period in ("2000/2001", "2012/2013", "2003", "2012"):
        said = re.search(rf'href="/org/big\?period={re.escape(period)}">[^<]+</a> · '
                         r"([\d,]+) items", page)
        assert said, period
        listed = get(ds, f"/org/big?period={period}")
        assert "Items 1–" not in listed  # a period's page lists it in full, as before
        assert len(items_of(listed)) == int(said.group(1).replace(",", "")), period
    # each year's items by type: the submissions of 2003
    assert re.search(r'period=2003">2003</a> · \d+ items <span class="meta">\([^)]*\b'
                     r'\d+ submissions?\b', page)


def test_the_lists_below_hold_what_the_pages_items_began(one_log):
    ds, _ = one_log
    page = get(ds, "/org/big")
    on_page = {event_id for _, event_id in items_of(page)}
    below = page.split("Below: what the items of this page began", 1)[1]
    linked = {event_id for event_id, _ in LINK.findall(below)}
    assert linked and linked <= on_page
    assert "<h2>Submissions</h2>" in below and "<h2>Meetings</h2>" in below


def test_a_site_of_two_logs_holding_the_same_ids_pages_through_each_once(two_logs):
    ds, db = two_logs
    both = expected(db, logs=True)
    assert len(both) == 2 * ITEMS
    met, pages = walk(ds, "/org/big", "next")
    assert met == both and len(pages) == 5
    basel, pages = walk(ds, "/org/big?log=basel&lang=fr", "next")
    assert basel == expected(db, logs=True, log="basel") and len(pages) == 3
    for address in pages[1:]:  # the log and the language asked for, kept
        assert "log=basel" in address and "lang=fr" in address
    assert "Éléments 1–100 sur 250" in read(get(ds, "/org/big?log=basel&lang=fr"))


def test_an_organization_with_fewer_items_than_a_page_shows_them_all_as_before(one_log):
    ds, _ = one_log
    page = get(ds, "/org/wco")
    assert "What was done with it, in every period" in read(page)
    assert "By period" not in read(page) and 'rel="next"' not in page


def test_a_place_in_the_list_that_is_none_is_a_400_in_words(one_log):
    ds, _ = one_log
    page = get(ds, "/org/big?before=yesterday", status=400)
    assert "“yesterday” is not a place in this organization's history" in html.unescape(page)


def test_a_place_beyond_every_item_opens_the_latest_page(one_log):
    ds, db = one_log
    oldest = get(ds, "/org/big?after=1990-01-01_1990-01-01_00000000000000000000000000")
    assert items_of(oldest) == expected(db)[-100:]  # the 100 oldest, latest first
    past = get(ds, "/org/big?before=1990-01-01_1990-01-01_00000000000000000000000000")
    assert items_of(past) == expected(db)[:100]
    assert f"Items 1–100 of {ITEMS}" in read(past)


def test_a_place_without_its_log_on_a_site_of_two_is_a_400_in_words(two_logs):
    ds, _ = two_logs
    page = get(ds, "/org/big?before=2005-01-01_2005-01-31_01M91MTFA5VGZCAMEDZP7A1CFX",
               status=400)
    assert "names no log" in page


@pytest.mark.slow
def test_a_periods_page_lists_what_was_made_or_answered_in_it(seeded, tmp_path):
    """Not every agreement, submission and request ever made: at ten logs' scale these are
    a thousand lines on every period's page."""
    many_items(seeded)
    record(seeded, {"type": "status.changed", "occurred": "2003-06", "orgs": ["big"],
                    "summary": "Big submission 13 accepted.",  # made in February 2001
                    "data": {"subject": "big-13", "status": "accepted"}})
    ds = serve.datasette(seeded, built(seeded, tmp_path / "site.db"))

    def submissions(year: int) -> set[int]:
        text = read(get(ds, f"/org/big?period={year}"))
        listed = (text + "\nSubmissions\n").split("\nSubmissions\n", 1)[1].split(
            "\nMeetings", 1)[0]
        return {int(n) for n in re.findall(r"Big submission (\d+)", listed)}

    def made_in(year: int) -> set[int]:
        return {n for n in range(3, ITEMS, 5)
                if (2000 + n % 12 + 1 <= year <= 2000 + n % 12 + 2 if n % 4 == 2
                    else 2000 + n % 12 == year)}

    assert made_in(2003) and submissions(2003) == made_in(2003) | {13}
    assert submissions(2001) == made_in(2001) and 13 in made_in(2001)
    assert 13 not in submissions(2002)
