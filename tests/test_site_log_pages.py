"""The pages people read on a site of several logs (issue 18): each item names its log,
`?log=` narrows a page to one log and is kept on its links, a private log's items are
marked confidential, an organization registered differently in two logs is two pages, and
two logs holding one event id show each event once. Over HTTP, on a site database
assembled from two real logs."""

from __future__ import annotations

import asyncio
import re

import pytest

from cooplog import site
from cooplog.logs import Log
from test_logs import private
from test_publish import record
from test_site_pages import read
from test_site_report import two  # noqa: F401 - a fixture
from test_site_serve import _site, serving

MEETING = {"type": "meeting.attended", "orgs": ["wco"],
           "data": {"role": "participant", "location": {"city": "Geneva", "country": "CH"}}}


@pytest.fixture
def two_logs(two):  # noqa: F811 - the fixture imported above
    """basel (public) and stockholm (private), stockholm a copy of basel: every event of
    the seed is in both, under one id. Each also met in Geneva; unep is registered
    differently in each, wco alike."""
    basel, stockholm = two
    private(stockholm)
    record(basel, {**MEETING, "occurred": "2009-07-01", "summary": "Basel met in Geneva.",
                   "data": {**MEETING["data"], "title": "Basel's Geneva meeting"}})
    record(stockholm, {**MEETING, "occurred": "2009-08-01",
                       "summary": "Stockholm met in Geneva.",
                       "data": {**MEETING["data"], "title": "Stockholm's Geneva meeting"}})
    return [Log("basel", basel), Log("stockholm", stockholm, private=True)]


@pytest.fixture
def site_of_two(two_logs, tmp_path):
    logs = two_logs
    site.caught_up(logs)
    return _site(site.assemble(tmp_path / "site" / "cooplog.db", logs))


def get(ds, path: str, status: int = 200, **params) -> str:
    response = asyncio.run(ds.client.get(path, params=params or None))
    assert response.status_code == status, (path, response.status_code, response.text[:500])
    return response.text


def lines_with(text: str, words: str) -> list[str]:
    return [line for line in text.splitlines() if words in line]


# --- 1: organizations registered differently, events under one id ------------------------


def test_an_organization_registered_differently_in_two_logs_is_never_merged(site_of_two):
    page = get(site_of_two, "/org/unep")
    text = read(page)
    assert text.startswith("The UNEP\nAs registered in basel.")
    assert "Basel briefed UNEP." in text and "Stockholm briefed UNEP." not in text
    assert re.search(r'Registered differently in stockholm: <a href="/org/unep\?log=stockholm">'
                     r"United Nations Environment Programme</a>, kept apart", page)
    theirs = read(get(site_of_two, "/org/unep", log="stockholm"))
    assert theirs.startswith("Confidential. From the private log stockholm")
    assert "\nUnited Nations Environment Programme\nAs registered in stockholm." in theirs
    assert "Stockholm briefed UNEP." in theirs and "Basel briefed UNEP." not in theirs
    assert "Registered differently in basel: The UNEP, kept apart." in theirs
    home = get(site_of_two, "/")  # each registration linked to its own page
    assert '<a href="/org/unep?log=basel">The UNEP</a>' in home
    assert '<a href="/org/unep?log=stockholm">United Nations Environment Programme</a>' in home
    assert '<a href="/org/wco">The WCO</a></li>' in home  # registered alike: one
    # registered in the private log alone: marked
    assert '<a href="/org/unep?log=stockholm">United Nations Environment Programme</a> ' \
           '<strong class="confidential">confidential</strong></li>' in home


def test_an_organization_registered_alike_reads_each_logs_events_once(site_of_two):
    text = read(get(site_of_two, "/org/wco"))
    assert text.startswith("The WCO\nAs registered in basel, stockholm.")
    assert len(lines_with(text, "Basel trained customs officers.")) == 1
    assert len(lines_with(text, "Stockholm trained customs officers.")) == 1
    # an event of the seed, under one id in both logs: once in each, each named with its log
    signed = lines_with(text.split("What was done with it", 1)[1].split("\nAgreements")[0],
                        "Signed an MoU.")
    assert len(signed) == 2, signed
    assert [line.endswith("[stockholm] confidential") for line in signed] == [False, True]


def test_an_event_id_held_by_two_logs_is_one_page_each(site_of_two):
    ds = site_of_two
    event_id = re.search(r'href="/event/(\w{26})\?log=basel"[^>]*>Basel trained',
                         get(ds, "/")).group(1)
    (seed_id,) = set(re.findall(r'/event/(\w{26})\?log=basel"[^>]*>Signed an MoU',
                                get(ds, "/org/wco")))
    shared = read(get(ds, f"/event/{seed_id}"))
    assert "In the log basel. The same id is also in stockholm." in shared
    assert "Confidential" not in shared
    theirs = read(get(ds, f"/event/{seed_id}", log="stockholm"))
    assert "Confidential. From the private log stockholm" in theirs
    assert "In the log stockholm. The same id is also in basel." in theirs
    assert theirs.count("Recorded by") == shared.count("Recorded by") == 1
    get(ds, f"/event/{event_id}", status=404, log="stockholm")  # basel's alone


# --- 2 and 3: a log named on each item, ?log=, the confidential mark ---------------------


def test_the_home_page_names_each_items_log_and_marks_the_private_ones(site_of_two):
    page = get(site_of_two, "/")
    latest = read(page).split("Latest changes", 1)[1]
    assert "Basel met in Geneva. [basel] (The WCO)" in latest
    assert "Stockholm met in Geneva. [stockholm] confidential (The WCO)" in latest
    assert 'Logs: <strong>all</strong> · <a href="?log=basel">basel</a>' in page


def test_log_narrows_each_page_to_one_log_and_is_kept_on_its_links(site_of_two):
    ds = site_of_two
    home = get(ds, "/", log="basel")
    assert "Basel met in Geneva." in home and "Stockholm" not in read(home)
    assert "confidential" not in read(home)
    assert '<a href="/meetings?log=basel">Meetings</a>' in home
    assert '<a href="/org/wco?log=basel">The WCO</a>' in home
    assert '<input type="hidden" name="log" value="basel">' in home
    found = read(get(ds, "/search", q="met in Geneva", log="stockholm"))
    assert "1 found" in found and "Stockholm met in Geneva." in found
    meetings = get(ds, "/meetings", period="2009", log="basel")
    assert "Basel's Geneva meeting" in read(meetings) and "Stockholm" not in read(meetings)
    assert 'href="/meetings?period=2009&amp;city=Geneva&amp;log=basel"' in meetings
    org = read(get(ds, "/org/wco", log="stockholm"))
    assert "Stockholm trained" in org and "Basel trained" not in org
    unknown = read(get(ds, "/", status=404, log="rotterdam"))
    assert "No log of this site is named “rotterdam”: its logs are basel, stockholm." in unknown


def test_search_and_meetings_mark_what_comes_from_the_private_log(site_of_two):
    found = read(get(site_of_two, "/search", q="met in Geneva"))
    assert "2 found" in found
    assert re.findall(r"^\d+ \w+ 2009 (.*) ·$", found, re.M) == [
        "[stockholm] confidential", "[basel]"]
    agenda = read(get(site_of_two, "/meetings", period="2009", city="Geneva"))
    assert "1 August 2009 · Stockholm's Geneva meeting [stockholm] confidential, Geneva, " \
           "Switzerland" in agenda
    assert "1 July 2009 · Basel's Geneva meeting [basel], Geneva, Switzerland" in agenda


@pytest.mark.slow
def test_a_site_of_one_log_names_no_log(seeded, tmp_path):
    logs = [Log("basel", seeded)]
    site.caught_up(logs)
    ds = _site(site.assemble(tmp_path / "site" / "cooplog.db", logs))
    for path in ("/", "/org/wco", "/meetings", "/search?q=customs"):
        page = get(ds, path)
        assert "[basel]" not in page and "cooplog-logs" not in page, path
        assert "?log=" not in page and "confidential" not in read(page), path


@pytest.mark.slow  # a real `cooplog serve` of the two logs, started and stopped
def test_cooplog_serve_of_two_logs_keeps_their_organizations_and_events_apart(two_logs,
                                                                              tmp_path):
    basel, stockholm = two_logs
    with serving(tmp_path, "--log", f"basel={basel.root}",
                 "--log", f"stockholm={stockholm.root}") as (client, _):
        ours = read(client.get("/org/unep").text)
        assert "Basel briefed UNEP." in ours and "Stockholm briefed UNEP." not in ours
        theirs = read(client.get("/org/unep", params={"log": "stockholm"}).text)
        assert "Stockholm briefed UNEP." in theirs and "Basel briefed UNEP." not in theirs
        wco = read(client.get("/org/wco").text)
        assert len(lines_with(wco, "Signed an MoU.")) == 2  # once in each log, not four times
        found = read(client.get("/search", params={"q": "met in Geneva"}).text)
        assert re.findall(r"^\d+ \w+ 2009 (.*) ·$", found, re.M) == [
            "[stockholm] confidential", "[basel]"]
