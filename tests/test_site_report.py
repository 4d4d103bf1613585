"""`cooplog report --log …` (issue 18): several logs reported as one, grouped as the annex
groups them; an organization registered alike in two logs is one, differently two."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

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


def test_the_sites_report_and_home_page_name_a_shared_organization_once(cli, two, tmp_path):
    from datasette.app import Datasette

    basel, stockholm = two
    done = cli(basel, "publish", tmp_path / "site", "--log", f"basel={basel}",
               "--log", f"stockholm={stockholm}")
    assert done.exit_code == 0, done.output
    ds = Datasette(config_dir=tmp_path / "site")

    async def pages():
        await ds.invoke_startup()
        return [await ds.client.get(path) for path in ("/report?period=2009", "/")]

    report, home = asyncio.run(pages())
    assert report.status_code == 200 and home.status_code == 200
    assert report.text.count("<tr><td>The WCO<") == 1
    assert report.text.count("<option value=\"The WCO\">") == 1
    assert "Basel trained customs officers." in report.text
    assert "Stockholm trained customs officers." in report.text
    assert "United Nations Environment Programme" in report.text  # kept apart from "The UNEP"
    assert home.text.count('<li><a href="/org/wco">The WCO</a></li>') == 1  # its group's list
