"""`cooplog report` as a document the parties receive: titles and dates in words, the
front matter, the closing "Other activities" part, and `--check`, which accounts for every
event of the period the report does not show. Real logs in git, read through the command."""

from __future__ import annotations

import json
import re

import pytest

from cooplog import report
from helpers import RECORDER, numbered_ulid, written

ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def run_report(cli, root, tmp_path, *args):
    return cli(root, "--db", tmp_path / "report.db", "report", *args)


def added(cli, root, *args) -> str:
    """The id of the event a writing command (`add TYPE`, `correct`, `retract`) wrote."""
    result = cli(root, *args)
    assert result.exit_code == 0, result.output
    return written(result, root)[0][0]


@pytest.mark.parametrize(("period", "title"), [
    ("2008/2009", "Report on international cooperation over the biennium 2008–2009"),
    ("2008-01-01/2009-12-31", "Report on international cooperation over the biennium "
                              "2008–2009"),
    ("2009", "Report on international cooperation in 2009"),
    ("2019/2024", "Report on international cooperation over the period 2019–2024"),
    ("2009-03/2009-06", "Report on international cooperation over the period "
                        "March–June 2009"),
    ("2009-01-01/2009-06-30", "Report on international cooperation over the period "
                              "1 January–30 June 2009"),
])
def test_titles_name_the_period_in_words(seeded, cli, tmp_path, period, title):
    result = run_report(cli, seeded, tmp_path, "--period", period)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"# {title}"
    headings = [line for line in result.stdout.splitlines() if line.startswith("#")]
    assert not any(ISO_DAY.search(h) for h in headings)



@pytest.mark.parametrize("args", [("--period", "2008-2009"), ("--period", "2008–2009"),
                                  ("--period", "2008-2009", "--org", "WCO"),
                                  ("--period", "2008–2009", "--org", "the wco"),
                                  ("--period", "2008-2009", "--check")])
def test_the_command_reads_periods_and_organizations_as_the_site_does(seeded, cli, tmp_path,
                                                                      args):
    result = run_report(cli, seeded, tmp_path, *args)
    assert result.exit_code == 0, result.output
    if "--check" not in args:
        assert result.stdout.splitlines()[0] == (
            "# Report on international cooperation over the biennium 2008–2009")


def test_the_command_names_an_unknown_organization_in_words(seeded, cli, tmp_path):
    result = run_report(cli, seeded, tmp_path, "--period", "2009", "--org", "wcoo")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == ("error: no organization is called 'wcoo'; the closest: The WCO, "
                             "key wco\n")

def test_bullets_start_with_the_date_in_words_and_json_keeps_edtf(seeded, cli, tmp_path):
    added(cli, seeded, "add", "meeting", "--title", "Enforcement Committee", "--role", "presenter",
          "--city", "Seoul", "--country", "KR", "--date", "2009-12-14/2009-12-16",
          "--org", "wco", "--summary", "Presented the Basel work.")
    text = run_report(cli, seeded, tmp_path, "--period", "2009").stdout
    assert ("- 14–16 December 2009 (Seoul, Republic of Korea): Presented the Basel work."
            in text)
    assert "South Korea" not in text and "2009-12-14" not in text
    data = json.loads(run_report(cli, seeded, tmp_path, "--period", "2009", "--json").stdout)
    (wco,) = [o for g in data["groups"] for o in g["organizations"] if o["key"] == "wco"]
    meeting = wco["activities"][-1]
    assert (meeting["occurred"], meeting["when"], meeting["place"]) == (
        "2009-12-14/2009-12-16", "14–16 December 2009", "Seoul, Republic of Korea")


def test_an_activity_with_no_organization_closes_the_report(seeded, cli, tmp_path):
    """helpers.SEED's project has `orgs: []`: listed under "Other activities", last."""
    lone = added(cli, seeded, "add", "activity", "--date", "2009-06",
                 "--summary", "Briefed the parties on e-waste.")
    text = run_report(cli, seeded, tmp_path, "--period", "2009").stdout
    other = text.index(f"## {report.OTHER_ACTIVITIES}")
    assert other > text.index("## Other international and regional organizations")
    assert text[other:].splitlines()[2:6] == [
        f"### {report.NO_ORGANIZATION}", "", "- 2009: Proposed a project.",
        "- June 2009: Briefed the parties on e-waste."]
    html = run_report(cli, seeded, tmp_path, "--period", "2009", "--format", "html").stdout
    assert f'<tr class="group"><th colspan="2">{report.OTHER_ACTIVITIES}</th></tr>' in html
    data = json.loads(run_report(cli, seeded, tmp_path, "--period", "2009", "--json").stdout)
    assert data["groups"][-1]["heading"] == report.OTHER_ACTIVITIES
    assert [a["event_id"] for a in data["groups"][-1]["organizations"][0]["activities"]][
        -1] == lone
    # a report of one organization or group is about them alone
    only = run_report(cli, seeded, tmp_path, "--period", "2009", "--group", "other").stdout
    assert report.OTHER_ACTIVITIES not in only


def test_front_matter_prints_the_symbol_block(seeded, cli, tmp_path):
    front = ("--symbol", "UNEP/CHW/OEWG/7/17", "--date", "2010-04-14",
             "--title", "International cooperation and coordination")
    text = run_report(cli, seeded, tmp_path, "--period", "2009", *front).stdout
    assert text.splitlines()[:8] == [
        "UNEP/CHW/OEWG/7/17  ", "Distr.: General  ", "14 April 2010  ", "Original: English",
        "", "**International cooperation and coordination**", "",
        "# Report on international cooperation in 2009"]
    html = run_report(cli, seeded, tmp_path, "--period", "2009", "--format", "html",
                      *front).stdout
    assert ('<div class="symbol-block"><p class="symbol">UNEP/CHW/OEWG/7/17</p>'
            '<p class="line">Distr.: General</p><p class="line">14 April 2010</p>'
            '<p class="line">Original: English</p></div>') in html
    data = json.loads(run_report(cli, seeded, tmp_path, "--period", "2009", "--json",
                                 *front).stdout)
    assert data["front"] == {"symbol": "UNEP/CHW/OEWG/7/17", "date": "14 April 2010",
                             "title": "International cooperation and coordination"}


@pytest.mark.parametrize(("args", "message"), [
    (("--date", "14 April 2010"), "error: --date: '14 April 2010' is not YYYY, YYYY-MM or "
                                  "YYYY-MM-DD: use e.g. 2010-04-14"),
    (("--symbol", "   "), "error: --symbol: empty; give a value or leave the option out"),
    (("--check", "--org", "wco"), "error: --check: it checks the whole report; leave out "
                                  "--org and --group"),
    (("--format", "pdf"), "error: --format pdf: a PDF needs --output FILE.pdf"),
])
def test_bad_options_are_usage_errors(seeded, cli, tmp_path, args, message):
    result = run_report(cli, seeded, tmp_path, "--period", "2009", *args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message + "\n")


@pytest.mark.slow
def test_check_accounts_for_every_event_the_report_leaves_out(seeded, cli, tmp_path):
    twice = added(cli, seeded, "add", "activity", "--date", "2009-05", "--org", "wco",
                  "--summary", "Met the WCO.")
    retraction = added(cli, seeded, "retract", twice, "--reason", "recorded twice")
    moved = added(cli, seeded, "add", "activity", "--date", "2009-07", "--org", "wto",
                  "--summary", "Met the WTO.")
    correction = added(cli, seeded, "correct", moved, "--set", "occurred=2011-07",
                       "--reason", "it was in 2011")
    kept = added(cli, seeded, "add", "activity", "--date", "2009-08", "--org", "wto",
                 "--summary", "Wrote to the WTO.")
    fixed = added(cli, seeded, "correct", kept, "--set", "summary=Wrote to the WTO twice.",
                  "--reason", "two letters")
    result = run_report(cli, seeded, tmp_path, "--period", "2009", "--check")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert sorted(lines) == sorted([
        f"{twice}  activity.noted  May 2009  retracted by {retraction}: recorded twice",
        f"{moved}  activity.noted  July 2011  corrected by {correction}: now dated July "
        "2011, outside the period",
        f"{retraction}  event.retracted  undated  the retraction of {twice}",
        f"{correction}  event.corrected  undated  a correction of {moved}: the report "
        "shows the corrected event",
        f"{fixed}  event.corrected  undated  a correction of {kept}: the report shows the "
        "corrected event",
    ])
    assert result.stderr == "5 event(s) of the period not in the report, 0 of them " \
                            "unaccounted for\n"
    as_json = run_report(cli, seeded, tmp_path, "--period", "2009", "--check", "--json")
    assert {o["event_id"]: o["accounted"] for o in json.loads(as_json.stdout)} == {
        twice: True, moved: True, retraction: True, correction: True, fixed: True}


def test_check_fails_on_an_event_missing_for_no_known_reason(seeded, cli, tmp_path):
    """An activity naming an organization nobody registered (a file written by hand): the
    report cannot place it, and the check says so and exits 1."""
    event_id = numbered_ulid(1)
    path = seeded / "events" / "2024" / "06" / f"{event_id}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({
        "id": event_id, "type": "activity.noted", "schema": 1,
        "recorded_at": "2024-06-01T00:00:00Z", "recorded_by": RECORDER,
        "occurred": "2009-06", "summary": "Met nobody.", "orgs": ["nobody"], "data": {}},
        indent=2) + "\n", encoding="utf-8")
    result = run_report(cli, seeded, tmp_path, "--period", "2009", "--check")
    assert result.exit_code == 1
    assert result.stdout == (f"{event_id}  activity.noted  June 2009  not shown, for no "
                             "reason the report knows: run `cooplog validate` (an "
                             "organization it names may not be registered)\n")
    assert result.stderr.splitlines() == [
        "1 event(s) of the period not in the report, 1 of them unaccounted for",
        "error: 1 event(s) of the period are missing from the report for no reason it "
        "knows: see the lines above"]
    assert "Met nobody." not in run_report(cli, seeded, tmp_path, "--period", "2009").stdout
