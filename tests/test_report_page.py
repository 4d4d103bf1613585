"""`/report` over HTTP (issue 14, point 5) on the repository's sample log: periods as people
write them, the latest whole biennium when none is given, an organization by key, acronym
or name, errors in words with the form to try again, and the PDF and the Word file of the
report shown. The default's rule is also checked on small logs made for it."""

from __future__ import annotations

import asyncio
import html
import io
import re
import sqlite3
import zipfile
from pathlib import Path

import httpx
import pytest

from cooplog import append, report, serve
from cooplog.errors import USAGE, CooplogError
from cooplog.store import Store
from helpers import built

REPO = Path(__file__).resolve().parents[1]
BIENNIUM = "Report on international cooperation over the biennium 2008–2009"
DEMETER = "Operation Demeter"  # an activity of 2009 with the WCO, in the sample log


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    db = tmp_path_factory.mktemp("report") / "cooplog.db"
    built(REPO, db)
    return serve.datasette(REPO, db)


def get(ds, path: str, **params) -> httpx.Response:
    return asyncio.run(ds.client.get(path, params=params or None))


def title(page: httpx.Response) -> str:
    return html.unescape(re.findall(r"<h1>(.*?)</h1>", page.text)[-1])


def error(page: httpx.Response) -> str:
    found = re.search(r'<p class="message-error"[^>]*>(.*?)</p>', page.text, re.S)
    return html.unescape(found.group(1)) if found else ""


def downloads(page: httpx.Response) -> dict[str, str]:
    return {label: html.unescape(url) for url, label in
            re.findall(r'<a class="download" href="([^"]+)" download>([^<]+)</a>', page.text)}


@pytest.mark.parametrize("period", ["2008/2009", "2008-2009", "2008–2009", "2008 – 2009",
                                    " 2008—2009 "])
def test_a_biennium_in_any_of_its_spellings(ds, period):
    page = get(ds, "/report", period=period)
    assert page.status_code == 200, error(page)
    assert title(page) == BIENNIUM
    assert downloads(page) == {"PDF": "/report.pdf?period=2008%2F2009",
                               "Word document": "/report.docx?period=2008%2F2009"}


def test_the_en_dash_url_encoded(ds):
    page = get(ds, "/report?period=2008%E2%80%932009")
    assert (page.status_code, title(page)) == (200, BIENNIUM)


def test_a_single_year_and_a_span_of_months(ds):
    year = get(ds, "/report", period="2009")
    assert (year.status_code, title(year)) == (200, "Report on international cooperation in 2009")
    months = get(ds, "/report", period="2009-01–2009-06")
    assert (months.status_code, title(months)) == (
        200, "Report on international cooperation over the period January–June 2009")


def test_no_period_is_the_latest_whole_biennium(ds):
    """The sample log runs into 2010 and 2011 (meetings of early 2010, one planned for
    February 2011), but its latest whole biennium is 2008–2009, the annex's."""
    page = get(ds, "/report")
    assert page.status_code == 200
    assert title(page) == BIENNIUM
    assert "this is the latest whole biennium" in page.text
    assert 'name="period" value="2008–2009"' in page.text
    assert downloads(page)["PDF"] == "/report.pdf?period=2008%2F2009"


@pytest.mark.parametrize("org", ["wco", "WCO", "Wco", "World Customs Organization",
                                 "world customs  organization", " WCO "])
def test_an_organization_by_key_acronym_or_name_in_any_case(ds, org):
    page = get(ds, "/report", period="2009", org=org)
    assert page.status_code == 200, error(page)
    assert DEMETER in page.text
    assert "World Customs Organization (WCO)" in page.text
    assert "United Nations Environment Programme" not in page.text.split("<h1>")[-1]
    assert downloads(page)["Word document"] == "/report.docx?period=2009&org=wco"


@pytest.mark.parametrize("group", ["un", "UN", "UN Agencies and organizations"])
def test_a_group_by_key_or_heading(ds, group):
    page = get(ds, "/report", period="2009", group=group)
    assert page.status_code == 200, error(page)
    assert '<tr class="group"><th colspan="2">UN Agencies and organizations</th></tr>' in page.text
    assert '<th colspan="2">UNEP</th>' not in page.text
    assert downloads(page)["PDF"] == "/report.pdf?period=2009&group=un"


@pytest.mark.parametrize(("params", "words"), [
    ({"period": "2009-13"}, "The period cannot be read: '2009-13' has no month 13; give a "
                            "year (2009), a biennium (2008–2009 or 2008/2009) or a span "
                            "(2009-01/2009-06)."),
    ({"period": "2009/2008"}, "The period cannot be read: '2009/2008' ends before it starts;"),
    ({"period": "last year"}, "The period cannot be read: 'last year' is not YYYY"),
    ({"org": "wcoo"}, "No organization is called 'wcoo'; the closest: World Customs "
                      "Organization (WCO), key wco."),
    ({"org": "xyzzy"}, "No organization is called 'xyzzy'; give an organization's key, "
                       "acronym or full name."),
    ({"group": "ngo"}, "There is no group 'ngo'; choose one of: UNEP, MEAs,"),
])
def test_errors_are_in_words_with_the_form_to_try_again(ds, params, words):
    for path in ("/report", "/report.pdf", "/report.docx"):
        page = get(ds, path, **params)
        assert page.status_code == 400
        assert page.headers["content-type"].startswith("text/html")
        assert error(page).startswith(words), error(page)
        assert "--" not in error(page)
        assert '<form class="core cooplog-report-form"' in page.text
        # what was typed stays in the form, to be corrected
        for name, value in params.items():
            assert f'name="{name}" value="{html.escape(value)}"' in page.text or name == "group"
        assert downloads(page) == {}


def test_an_ambiguous_name_lists_the_organizations_it_could_be(tmp_path):
    store = Store(tmp_path / "log")
    store.events_dir.mkdir(parents=True)
    append.append(store, [(key, {"type": "organization.registered", "data": {
        "key": key, "name": name, "acronym": "CEC", "category": "intergovernmental"}})
        for key, name in (("cec-na", "Commission for Environmental Cooperation"),
                          ("cec-eu", "Commission of the European Communities"))],
        by="report@example.org", commit=False)
    conn = sqlite3.connect(built(store.root, tmp_path / "cooplog.db"))
    try:
        with pytest.raises(CooplogError) as refused:
            report.choose(conn, "2009", org="cec")
        assert refused.value.exit_code == USAGE
        assert str(refused.value) == (
            "'cec' names 2 organizations: Commission for Environmental Cooperation (CEC), key "
            "cec-na; Commission of the European Communities (CEC), key cec-eu; give the key "
            "of the one you mean")
        assert report.choose(conn, "2009", org="CEC-EU").org == "cec-eu"
    finally:
        conn.close()


def test_the_word_file_is_the_report_shown(ds):
    page = get(ds, "/report", period="2008–2009", org="WCO")
    response = get(ds, downloads(page)["Word document"])
    assert response.status_code == 200
    assert response.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    assert response.headers["content-disposition"] == (
        'attachment; filename="report-2008-2009-wco.docx"')
    with zipfile.ZipFile(io.BytesIO(response.content)) as docx:
        document = docx.read("word/document.xml").decode()
    assert BIENNIUM in document and DEMETER in document
    assert "United Nations Environment Programme" not in document


def test_the_word_file_is_built_once_until_the_log_changes(ds, monkeypatch):
    from cooplog import report_docx

    rendered = []
    render = report_docx.render
    monkeypatch.setattr(report_docx, "render", lambda r: rendered.append(r.period) or render(r))
    first = get(ds, "/report.docx", period="2009", org="unep")
    assert get(ds, "/report.docx", period="2009", org="UNEP").content == first.content
    assert rendered == ["2009"]


def log_with(tmp_path: Path, *occurred: str) -> sqlite3.Connection:
    """A log of one organization with an activity at each date, built."""
    store = Store(tmp_path / "log")
    store.events_dir.mkdir(parents=True)
    bodies = [("org", {"type": "organization.registered", "data": {
        "key": "wco", "name": "World Customs Organization", "acronym": "WCO",
        "category": "intergovernmental"}})]
    bodies += [(when, {"type": "activity.noted", "occurred": when, "orgs": ["wco"],
                       "summary": f"Worked with the WCO ({when}).", "data": {}})
               for when in occurred]
    append.append(store, bodies, by="report@example.org", commit=False)
    return sqlite3.connect(built(store.root, tmp_path / "cooplog.db"))


@pytest.mark.parametrize(("occurred", "default"), [
    (["2008-05", "2011-02"], "2008/2009"),  # 2010–2011 still running: the one before
    (["2008-05", "2011-12-31"], "2010/2011"),  # a record on its last day: whole
    (["2008-05", "2012-01"], "2012/2013"),  # the one before holds nothing: the latest
    (["2009/2011", "2012-01"], "2010/2011"),  # an item dated 2009–2011 is in 2010–2011
    (["2011-02"], "2010/2011"),  # nothing before the running one: the running one
    (["2013"], "2012/2013"),  # bienniums start on even years, as the annex's 2008–2009
])
def test_the_default_period_rule(tmp_path, occurred, default):
    conn = log_with(tmp_path, *occurred)
    try:
        assert report.default_period(conn) == default
    finally:
        conn.close()


def test_the_default_period_of_an_empty_log_is_todays_biennium(tmp_path):
    from datetime import date

    conn = log_with(tmp_path)
    try:
        assert report.default_period(conn, today=date(2027, 3, 1)) == "2026/2027"
    finally:
        conn.close()
