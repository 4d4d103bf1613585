"""The pages people read (datasette/plugins/cooplog_pages.py): `/`, `/event/<id>`,
`/org/<key>` and `/search`, over HTTP in-process, asserting what a person reads on them:
names instead of keys, dates in words, lists as lists, and text from the record escaped."""

from __future__ import annotations

import asyncio
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cooplog import append, serve
from cooplog.store import Store
from helpers import RECORDER, built, latest_recorded

REPO = Path(__file__).resolve().parents[1]
DEMETER = "01M8E9BDJV9T2HQHD8W2W51V86"  # Operation Demeter, 23 March–11 May 2009
HS_SUBMISSION = "01M8E9BDJV9T2HQHD8W2W51V8D"
BRUSSELS_MEETING = "01M8E9BDJV9T2HQHD8W2W51V88"
CHINESE = "01M8E9BDJV9T2HQHD8W2W51V9A"  # a WTO meeting, its summary in Chinese
ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")


@pytest.fixture(scope="module")
def ds(sample_db):
    return serve.datasette(REPO, sample_db)


def get(ds, path: str, status: int = 200, **params) -> str:
    response = asyncio.run(ds.client.get(path, params=params or None))
    assert response.status_code == status, (path, response.status_code, response.text[:500])
    return response.text


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("style", "script")
        if tag in ("li", "p", "h1", "h2", "h3", "dt", "dd", "br", "section"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        self.skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def read(page: str) -> str:
    """What a person reads in the page's main part: its text, one line per block."""
    main = page.split("<main", 1)[1].split("</main>", 1)[0]
    parser = _Text()
    parser.feed("<main" + main)
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def main_of(page: str) -> str:
    return page.split("<main", 1)[1].split("</main>", 1)[0]


# --- /event/<id> -------------------------------------------------------------------------


def test_an_event_reads_with_its_date_in_words_and_its_organizations_by_name(ds):
    page = get(ds, f"/event/{DEMETER}")
    text = read(page)
    assert "23 March–11 May 2009" in text
    assert "Operation Demeter" in text
    assert '<a href="/org/wco">World Customs Organization</a> (WCO)' in page
    assert "Recorded by secretariat@basel.example on 27 November 2026." in text
    assert re.search(r"Commit [0-9a-f]{12} by .+ on 27 November 2026\.", text)
    assert not ULID.search(text), "a reader meets no ULID"
    assert "2009-03-23" not in text  # no EDTF


def test_a_submission_lists_its_items_and_its_status_history(ds):
    page = get(ds, f"/event/{HS_SUBMISSION}")
    items = re.findall(r"<li>([^<]+)</li>", main_of(page))
    assert "power-plant ashes and residues" in items
    assert "waste personal computers, electronic equipment and mobile phones" in items
    text = read(page)
    assert "Waste streams proposed for inclusion in the Harmonized System" in text
    assert "under consideration since 2008–2009" in text
    assert "Harmonized System Committee" in text


def test_a_meeting_names_its_place_and_its_country_as_the_un_does(ds):
    text = read(get(ds, f"/event/{BRUSSELS_MEETING}"))
    assert "Brussels, Belgium" in text
    assert "23 November 2009" in text
    assert "Organized by\nWorld Customs Organization (WCO)" in text


def test_chinese_text_is_marked_as_chinese_where_no_translation_is_shown(ds):
    """The shipped log translates its Chinese paragraphs into English: the English page
    shows the translation; a Spanish page, with none, the Chinese as written, marked."""
    english = main_of(get(ds, f"/event/{CHINESE}"))
    assert "The Committee on Trade and Environment of the World Trade Organization" in english
    assert 'lang="zh"' not in english
    spanish = main_of(get(ds, f"/event/{CHINESE}", lang="es"))
    assert re.search(r'<h1 class="summary"><span class="written-in">\(chino\)</span> '
                     r'<span dir="auto" lang="zh">世界贸易组织', spanish)
    assert 'lang="zh"' not in main_of(get(ds, f"/event/{DEMETER}"))


def test_an_unknown_event_is_a_404_page_in_words(ds):
    page = get(ds, "/event/01M8E9BDJV9T2HQHD8W2W51XXX", status=404)
    assert "No event has the id “01M8E9BDJV9T2HQHD8W2W51XXX”" in read(page)
    assert "Traceback" not in page


def test_ids_are_read_in_any_case(ds):
    assert "23 March–11 May 2009" in read(get(ds, f"/event/{DEMETER.lower()}"))


@pytest.fixture
def corrected(seeded):
    """A log with an event corrected twice, one retracted, and one whose text and document
    carry markup and a script link: its database and the ids."""
    store = Store(seeded)
    (note, _), (other, _), (markup, _) = append.append(store, [
        ("note", {"type": "activity.noted", "occurred": "2009-02", "orgs": ["wco"],
                  "summary": "Sent a note to the customs network."}),
        ("other", {"type": "activity.noted", "occurred": "2009-05", "orgs": ["wto"],
                   "summary": "Recorded twice by mistake."}),
        ("markup", {"type": "activity.noted", "occurred": "2009-06", "orgs": ["wco"],
                    "summary": "<script>alert(1)</script> <b>customs</b> & trade",
                    "documents": [{"symbol": "EVIL/1", "url": "javascript:alert(1)"},
                                  {"symbol": "UNEP/CHW/OEWG/7/17",
                                   "url": "https://www.basel.int/"}]}),
    ], by=RECORDER, commit=True)
    append.correct(store, note.id, {"occurred": "2009-03"}, "wrong month", by=RECORDER)
    append.correct(store, note.id, {"occurred": "2009-04", "summary": "Sent two notes."},
                   "two notes, in April", by=RECORDER)
    append.retract(store, other.id, "recorded twice", by=RECORDER)
    db = built(seeded, seeded / "site.db")
    return serve.datasette(seeded, db), note.id, other.id, markup.id


def test_corrections_read_as_old_and_new_values_with_their_reasons(corrected):
    ds, note, _, _ = corrected
    text = read(get(ds, f"/event/{note}"))
    assert "April 2009" in text and "Sent two notes." in text
    assert "occurred: 2009-02 → 2009-03" in text
    assert "occurred: 2009-03 → 2009-04" in text  # old = what the first correction made it
    assert "summary: Sent a note to the customs network. → Sent two notes." in text
    assert "wrong month" in text and "two notes, in April" in text
    assert text.index("wrong month") < text.index("two notes, in April")
    assert "Retracted" not in text


def test_a_retracted_event_has_a_plain_banner(corrected):
    ds, _, other, _ = corrected
    page = get(ds, f"/event/{other}")
    banner = re.search(r'<p class="banner"[^>]*>(.*?)</p>', page, re.S)
    assert banner, "no banner"
    assert "Retracted." in banner.group(1) and "recorded twice" in banner.group(1)


def test_the_latest_changes_say_what_a_correction_or_retraction_is_of(corrected):
    ds, _, _, _ = corrected
    latest = read(get(ds, "/")).split("Latest changes", 1)[1]
    assert "Retraction of: “Recorded twice by mistake.”" in latest
    assert "Correction of: “Sent two notes.”" in latest
    assert not ULID.search(latest)


def test_every_page_links_to_the_others(ds):
    for path in ("/", f"/event/{DEMETER}", "/org/wco", "/search", "/meetings"):
        nav = re.search(r'<p class="crumbs cooplog-nav">(.*?)</p>', get(ds, path), re.S)
        assert nav, path
        assert re.findall(r'href="([^"]+)"', nav.group(1)) == [
            "/", "/meetings", "/search", "/report", "/cooplog"], path


def test_markup_from_the_record_is_shown_as_text_and_only_web_links_are_followed(corrected):
    ds, _, _, markup = corrected
    page = get(ds, f"/event/{markup}")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;customs&lt;/b&gt; &amp; trade" in page
    assert "javascript:" not in page
    assert "EVIL/1" in read(page)
    assert '<a href="https://www.basel.int/">UNEP/CHW/OEWG/7/17</a>' in page


# --- /org/<key> --------------------------------------------------------------------------


def test_an_organization_reads_with_its_group_submission_and_status_history(ds):
    page = get(ds, "/org/WCO")  # a key in any case
    text = read(page)
    assert text.startswith("World Customs Organization (WCO)")
    assert "Group\nOther international and regional organizations" in text
    assert "Waste streams proposed for inclusion in the Harmonized System (2008–2009), " \
           "to the Harmonized System Committee" in text
    assert "power-plant ashes and residues" in text
    assert "under consideration since 2008–2009" in text
    assert "Operation Demeter debriefing meeting, Brussels, Belgium" in text
    assert '<a href="/report?org=wco">' in page
    assert not ULID.search(text)


def test_everything_done_with_an_organization_is_listed_by_date(ds):
    text = read(get(ds, "/org/wco"))
    done = text.split("What was done with it", 1)[1].split("\nSubmissions", 1)[0]
    dated = ["9 February 2009", "23 March–11 May 2009", "23 November 2009", "2–5 March 2010"]
    assert [d for d in dated if d in done] == dated
    assert [done.index(d) for d in dated] == sorted(done.index(d) for d in dated)


@pytest.mark.parametrize("period", ["2008/2009", "2008-2009", "2008–2009", " 2008 / 2009 "])
def test_an_organization_in_a_biennium_however_it_is_written(ds, period):
    page = get(ds, "/org/wco", period=period)
    text = read(page)
    assert "What was done with it in 2008–2009" in text
    assert "23 March–11 May 2009" in text
    assert "2–5 March 2010" not in text  # after the period
    assert '<a href="/report?period=2008/2009&amp;org=wco">' in page


def test_an_organization_in_one_year(ds):
    text = read(get(ds, "/org/wco", period="2010"))
    assert "What was done with it in 2010" in text
    assert "2–5 March 2010" in text and "23 November 2009" not in text


def test_a_pending_request_says_since_when_in_words(ds):
    text = read(get(ds, "/org/wto"))
    assert "observer status in the Committee on Trade and Environment (18 January 2007)" in text
    assert "pending since 10 July 2009" in text


def test_a_period_not_understood_is_said_in_words(ds):
    page = get(ds, "/org/wco", status=400, period="last year")
    assert "The period “last year” is not one this page understands" in read(page)
    assert "--period" not in page


def test_an_unknown_organization_is_a_404_page_in_words(ds):
    page = get(ds, "/org/nobody", status=404)
    assert "No organization has the key “nobody”" in read(page)


def test_an_organization_links_to_its_parent_and_parts(ds):
    assert '<a href="/org/unep">United Nations Environment Programme</a>' in \
        get(ds, "/org/unep-chemicals")
    assert '<a href="/org/unep-chemicals">UNEP Chemicals</a>' in get(ds, "/org/unep")


# --- / -----------------------------------------------------------------------------------


def test_the_home_page_says_what_the_log_holds_and_what_changed_last(ds):
    page = get(ds, "/")
    text = read(page)
    assert "39 organizations registered, 39 meetings attended" in text
    assert "2 submissions, 1 request" in text
    assert re.search(r'<input id="q" name="q" type="search"', page)
    assert '<a href="/cooplog">Browse the tables (SQL)</a>' in page
    assert '<a href="/org/wco">World Customs Organization</a>' in page
    latest = text.split("Latest changes", 1)[1]
    who, when = latest_recorded()
    assert f"recorded by {who} on {when}" in latest
    assert not ULID.search(text)
    for link in ("/-/dashboards/cooperation", "/report?period=2008/2009",
                 "/cooplog/recent_events.atom"):
        assert f'href="{link}"' in page, link


def test_the_home_page_lists_what_waits_for_an_answer_and_since_when(ds):
    waiting = read(get(ds, "/")).split("Waiting for an answer", 1)[1].split("Organizations")[0]
    assert "Request observer status in the Committee on Trade and Environment, to World " \
           "Trade Organization (WTO), made 18 January 2007: pending since 2008–2009" in waiting
    assert "no answer recorded" in waiting


def test_the_home_page_in_a_period(ds):
    page = get(ds, "/", period="2008–2009")
    assert "What the log holds for 2008–2009" in read(page)
    assert '<option value="2008/2009" selected>2008–2009</option>' in page
    assert '<a href="/org/wco?period=2008/2009">World Customs Organization</a>' in page
    assert '<a href="/report?period=2008/2009">' in page


def test_datasette_keeps_its_database_page(ds):
    assert "events" in get(ds, "/cooplog")


# --- /search -----------------------------------------------------------------------------


def test_search_shows_dates_names_and_the_words_found(ds):
    page = get(ds, "/search", q="demeter")
    text = read(page)
    assert "3 found for “demeter”" in text
    assert "Operation <mark>Demeter</mark> debriefing meeting" in page
    assert "23 March–11 May 2009" in text
    assert "World Customs Organization (WCO)" in text
    assert "select" not in text.lower()  # no SQL in sight


def test_search_finds_two_character_chinese_words(ds):
    page = get(ds, "/search", q="委员")
    assert "6 found for “委员”" in read(page)
    assert 'lang="zh">世界贸易组织贸易与环境<mark>委员</mark>会' in page


def test_search_with_nothing_asked_shows_the_box_first(ds):
    page = get(ds, "/search")
    assert main_of(page).index('<form class="search"') < main_of(page).index("<h2") \
        if "<h2" in main_of(page) else '<form class="search"' in page
    assert "found" not in read(page)


def test_search_escapes_first_then_marks(corrected):
    ds = corrected[0]
    page = get(ds, "/search", q="customs")
    assert "&lt;b&gt;<mark>customs</mark>&lt;/b&gt; &amp; trade" in page
    assert "<script>alert" not in page
    query = get(ds, "/search", q="<b>")
    assert "<mark>&lt;b&gt;</mark>customs" in query and "“&lt;b&gt;”" in query
    assert "<mark><b>" not in query


# --- /meetings ---------------------------------------------------------------------------


def test_meetings_read_as_an_agenda_by_year_and_month(ds):
    page = get(ds, "/meetings", period="2008–2009")
    headings = re.findall(r"<h([23])>([^<]+)", main_of(page))
    assert ("2", "2009") in headings
    months = [text.strip() for level, text in headings if level == "3"]
    assert months.index("January 2009") < months.index("July 2009") < \
        months.index("December 2009")
    text = read(page)
    assert "23 November 2009 · Operation Demeter debriefing meeting, Brussels, Belgium" in text
    # dated only to the biennium: under it, said so, never counted as January 2008
    assert "2008–2009 (not dated within one year)" in text


def test_meetings_in_one_place_and_year(ds):
    text = read(get(ds, "/meetings", period="2009", city="Geneva"))
    assert text.startswith("Meetings, 2009, in Geneva")
    listed = re.findall(r"^(.+?) · (.+), ([^,]+), Switzerland$", text, re.M)
    assert len(listed) == 10 and {city for _, _, city in listed} == {"Geneva"}
    assert "Brussels, Belgium (3)" in text  # the other places, to go to


def test_meetings_default_to_the_latest_biennium_that_holds_some(ds):
    assert read(get(ds, "/meetings")).startswith("Meetings, 2010–2011")


def test_meetings_refuse_an_offset_that_is_not_a_number_in_words(ds):
    page = get(ds, "/meetings", status=400, offset="x")
    assert "“x” is not a number of meetings to skip" in read(page)


@pytest.mark.slow
def test_the_pages_kept_for_speed_change_as_soon_as_the_log_does(seeded):
    """The home page, the agenda and an organization's page are kept until the database
    changes: a new event shows on the next request."""
    db = built(seeded, seeded / "site.db")
    ds = serve.datasette(seeded, db)
    assert "Met the customs network in Geneva." not in get(ds, "/")
    assert "No meeting recorded" in read(get(ds, "/meetings", period="2009"))
    assert "Customs network meeting" not in read(get(ds, "/org/wco"))
    append.append(Store(seeded), [("meeting", {
        "type": "meeting.attended", "occurred": "2009-06-02", "orgs": ["wco"],
        "summary": "Met the customs network in Geneva.",
        "data": {"title": "Customs network meeting", "role": "participant",
                 "location": {"city": "Geneva", "country": "CH"}}})], by=RECORDER)
    built(seeded, db)
    assert "Met the customs network in Geneva." in read(get(ds, "/"))
    assert "2 June 2009 · Customs network meeting, Geneva, Switzerland" in \
        read(get(ds, "/meetings", period="2009"))
    assert "Customs network meeting" in read(get(ds, "/org/wco"))


def test_datasette_row_pages_link_to_the_pages_people_read(ds):
    assert f'<a href="/event/{DEMETER}">Read this event as a page</a>' in \
        get(ds, f"/cooplog/events/{DEMETER}")
    assert '<a href="/org/wco">Read about this organization</a>' in \
        get(ds, "/cooplog/organizations/wco")
