"""`cooplog report --log …` (issue 18): several logs reported as one, grouped as the annex
groups them; an organization registered alike in two logs is one, differently two."""

from __future__ import annotations

import asyncio
import io
import shutil
import sqlite3
from pathlib import Path

import pytest

from helpers import built
from test_publish import record


@pytest.fixture
def two(seeded, tmp_path) -> tuple[Path, Path]:
    """basel and stockholm: each trained customs officers with the WCO (registered alike
    in both) and briefed UNEP (registered differently)."""
    basel = seeded
    stockholm = shutil.copytree(seeded, tmp_path / "stockholm", symlinks=True)
    record(basel,
           {"type": "activity.noted", "occurred": "2009-03", "orgs": ["wco"],
            "summary": "Basel trained customs officers.", "data": {}},
           {"type": "activity.noted", "occurred": "2009-04", "orgs": ["unep"],
            "summary": "Basel briefed UNEP.", "data": {}})
    record(stockholm,
           {"type": "organization.updated",  # unep is another organization in stockholm
            "data": {"key": "unep", "name": "United Nations Environment Programme"}},
           {"type": "activity.noted", "occurred": "2009-05", "orgs": ["wco"],
            "summary": "Stockholm trained customs officers.", "data": {}},
           {"type": "activity.noted", "occurred": "2009-06", "orgs": ["unep"],
            "summary": "Stockholm briefed UNEP.", "data": {}})
    return basel, stockholm


@pytest.mark.slow
def test_a_report_of_two_logs_groups_them_as_one(cli, two):
    basel, stockholm = two
    done = cli(basel, "report", "--period", "2009", "--log", f"basel={basel}",
               "--log", f"stockholm={stockholm}")
    assert done.exit_code == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines[1:10] == [
        "## UNEP",
        "### The UNEP",
        "- April 2009: Basel briefed UNEP.",
        "### United Nations Environment Programme",
        "- June 2009: Stockholm briefed UNEP.",
        "## Other international and regional organizations",
        "### The WCO",
        "- March 2009: Basel trained customs officers.",
        "- May 2009: Stockholm trained customs officers.",
    ]
    headings = [line for line in lines if line.startswith("### ")]
    assert len(headings) == len(set(headings)), headings  # no organization twice
    one = cli(basel, "report", "--period", "2009", "--log", f"basel={basel}")
    assert "Stockholm" not in one.stdout and "Basel trained" in one.stdout
    checked = cli(basel, "report", "--period", "2009", "--check", "--log", f"basel={basel}",
                  "--log", f"stockholm={stockholm}")
    assert checked.exit_code == 0, checked.stderr


def published_pages(cli, logs: tuple[Path, Path], folder: Path, *paths: str) -> list:
    """The pages at `paths` of the two logs published into `folder`, served by Datasette."""
    from datasette.app import Datasette

    basel, stockholm = logs
    done = cli(basel, "publish", folder, "--log", f"basel={basel}",
               "--log", f"stockholm={stockholm}")
    assert done.exit_code == 0, done.output
    ds = Datasette(config_dir=folder)

    async def pages():
        await ds.invoke_startup()
        return [await ds.client.get(path) for path in paths]

    return asyncio.run(pages())


@pytest.mark.slow
def test_the_sites_report_and_home_page_name_a_shared_organization_once(cli, two, tmp_path):
    report, home = published_pages(cli, two, tmp_path / "site", "/report?period=2009", "/")
    assert report.status_code == 200 and home.status_code == 200
    assert report.text.count("<tr><td>The WCO<") == 1
    assert report.text.count("<option value=\"The WCO\">") == 1
    assert "Basel trained customs officers." in report.text
    assert "Stockholm trained customs officers." in report.text
    assert "United Nations Environment Programme" in report.text  # kept apart from "The UNEP"
    assert home.text.count('<li><a href="/org/wco">The WCO</a></li>') == 1  # its group's list


@pytest.fixture
def twins(seeded, tmp_path) -> tuple[Path, Path]:
    """basel, and stockholm a copy of it made after basel recorded a meeting with the WCO
    (with a place and a French translation) and a meeting with no organization: both
    logs hold these events under the same ids."""
    record(seeded,
           {"type": "meeting.attended", "occurred": "2009-03-23", "orgs": ["wco"],
            "summary": "Met the WCO in Brussels.",
            "data": {"title": "Customs course", "role": "participant",
                     "location": {"city": "Brussels", "country": "BE"}}},
           {"type": "meeting.attended", "occurred": "2009-04-02",
            "summary": "Met alone in Geneva.",
            "data": {"title": "Own course", "role": "organizer",
                     "location": {"city": "Geneva", "country": "CH"}}})
    [meeting] = [row[0] for row in sqlite3.connect(built(seeded, tmp_path / "ids.db")).execute(
        "select id from events where type = 'meeting.attended' and orgs is not null")]
    record(seeded, {"type": "translation.added",
                    "data": {"target": meeting, "lang": "fr",
                             "summary": "Rencontré l'OMD à Bruxelles."}})
    return seeded, shutil.copytree(seeded, tmp_path / "stockholm", symlinks=True)


def _once_a_log(text: str, *words: str) -> None:
    for said in words:
        assert text.count(said) == 2, (said, text.count(said))  # basel's and stockholm's


@pytest.mark.parametrize("lang, said", [
    ("en", ["Met the WCO in Brussels", "Met alone in Geneva."]),
    ("fr", ["Rencontré l'OMD à Bruxelles.", "Met alone in Geneva."])])
def test_an_event_id_two_logs_hold_is_reported_once_in_each(cli, twins, lang, said):
    basel, stockholm = twins
    done = cli(basel, "report", "--period", "2009", "--lang", lang, "--log", f"basel={basel}",
               "--log", f"stockholm={stockholm}")
    assert done.exit_code == 0, done.stderr
    _once_a_log(done.stdout, *said)


@pytest.mark.slow
def test_the_sites_report_reads_an_event_id_two_logs_hold_once_in_each(cli, twins, tmp_path):
    report, = published_pages(cli, twins, tmp_path / "site", "/report?period=2009")
    assert report.status_code == 200
    _once_a_log(report.text, "Met the WCO in Brussels", "Met alone in Geneva.")


@pytest.mark.slow
def test_each_log_reports_its_own_translation_of_an_event_id_both_hold(cli, twins, tmp_path):
    basel, stockholm = twins
    [meeting] = [row[0] for row in sqlite3.connect(built(basel, tmp_path / "ids.db")).execute(
        "select id from events where type = 'meeting.attended' and orgs is not null")]
    record(stockholm, {"type": "translation.added",  # newer: the larger id, in stockholm only
                       "data": {"target": meeting, "lang": "fr",
                                "summary": "Stockholm a rencontré l'OMD."}})
    done = cli(basel, "report", "--period", "2009", "--lang", "fr", "--log", f"basel={basel}",
               "--log", f"stockholm={stockholm}")
    assert done.exit_code == 0, done.stderr
    assert done.stdout.count("Rencontré l'OMD à Bruxelles.") == 1  # basel's
    assert done.stdout.count("Stockholm a rencontré l'OMD.") == 1


# --- the site's /report?log= -----------------------------------------------------------------


@pytest.fixture
def site_of_two_logs(two, tmp_path):
    """The two logs' site database, served in-process as `cooplog serve --log …` serves it."""
    from cooplog import site
    from cooplog.logs import Log
    from test_site_serve import _site

    logs = [Log("basel", two[0]), Log("stockholm", two[1])]
    site.caught_up(logs)
    return _site(site.assemble(tmp_path / "site" / "cooplog.db", logs))


def _get(ds, path: str, status: int = 200):
    response = asyncio.run(ds.client.get(path))
    assert response.status_code == status, (path, response.status_code, response.text[:500])
    return response


def _report_of(text: str) -> str:
    return text.split('<div class="cooplog-report-text"', 1)[1].split("</table>", 1)[0]


def test_the_sites_report_of_one_log_is_that_logs_report_alone(cli, two, site_of_two_logs):
    basel, _ = two
    page = _get(site_of_two_logs, "/report?period=2009&log=basel").text
    assert "Basel trained customs officers." in page and "Basel briefed UNEP." in page
    assert "Stockholm" not in _report_of(page)  # the string only stockholm holds
    # the log chosen said on the page, kept in its links and its form
    assert "From the logs basel alone." in page
    assert 'href="/report.pdf?period=2009&amp;log=basel"' in page
    assert '<input type="checkbox" name="log" value="basel" checked>' in page
    assert '<input type="checkbox" name="log" value="stockholm">' in page
    # word for word the report `cooplog report --log basel=…` writes
    done = cli(basel, "report", "--period", "2009", "--format", "html",
               "--log", f"basel={basel}")
    assert done.exit_code == 0, done.stderr
    assert _report_of(page) == _report_of(done.stdout)
    stockholm = _get(site_of_two_logs, "/report?period=2009&log=stockholm").text
    assert "Stockholm trained customs officers." in stockholm
    assert "Basel" not in _report_of(stockholm)
    # unep, registered differently in each log, is one organization in each log's report
    assert _report_of(stockholm).count("United Nations Environment Programme") == 1


def test_the_sites_report_of_several_logs_groups_them_as_one(site_of_two_logs):
    both = _get(site_of_two_logs, "/report?period=2009&log=stockholm&log=basel").text
    assert _report_of(both) == _report_of(_get(site_of_two_logs, "/report?period=2009").text)
    assert "From the logs basel, stockholm alone." in both
    assert 'href="/report.docx?period=2009&amp;log=basel&amp;log=stockholm"' in both


@pytest.mark.slow
def test_the_sites_report_files_keep_to_the_logs_chosen(site_of_two_logs):
    from pypdf import PdfReader

    pdf = _get(site_of_two_logs, "/report.pdf?period=2009&log=basel")
    assert 'filename="report-2009-basel.pdf"' in pdf.headers["content-disposition"]
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Basel trained" in text and "Stockholm" not in text


def test_a_log_the_site_does_not_hold_is_a_404_in_words(site_of_two_logs):
    for path in ("/report?period=2009&log=rotterdam", "/report.pdf?period=2009&log=rotterdam",
                 "/report?period=2009&log=basel&log=rotterdam"):
        page = _get(site_of_two_logs, path, status=404).text
        assert "No log of this site is named “rotterdam”: its logs are basel, stockholm." \
            in page
        assert 'class="cooplog-report-text"' not in page


def test_the_pages_of_one_log_lead_to_its_report(site_of_two_logs):
    org = _get(site_of_two_logs, "/org/wco?log=basel&period=2009").text
    assert '<a href="/report?period=2009&amp;org=wco&amp;log=basel">' in org
    assert '<a href="/report?log=basel">Report</a>' in org  # the links every page has
    home = _get(site_of_two_logs, "/?log=stockholm&period=2009").text
    assert '<a href="/report?period=2009&amp;log=stockholm">' in home
    assert '<a href="/report">Report</a>' in _get(site_of_two_logs, "/").text
