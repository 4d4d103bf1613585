"""`cooplog report --format docx`: the annex as a Word file, read back with python-docx: the
two-column table, a full-width row per group in the annex's order, each organization with
its activities as bullets."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import docx

from cooplog import report, report_docx

REPO = Path(__file__).resolve().parents[1]

ANNEX_GROUPS = ["UNEP", "MEAs", "UN Agencies and organizations",
                "Other international and regional organizations",
                "Non-governmental organizations / Networks"]


def annex(sample_db, **options) -> report.Report:
    conn = sqlite3.connect(sample_db)
    try:
        return report.build(conn, "2008/2009", **options)
    finally:
        conn.close()


def is_merged(row) -> bool:
    return row.cells[0]._tc is row.cells[1]._tc


def test_the_word_report_is_laid_out_like_the_annex(sample_db, tmp_path):
    content = annex(sample_db)
    path = tmp_path / "annex.docx"
    report_docx.write(content, path)
    document = docx.Document(str(path))
    assert document.paragraphs[0].text == content.title
    assert document.paragraphs[0].style.name == "Heading 1"
    (table,) = document.tables
    header, *rows = table.rows
    assert tuple(c.text for c in header.cells) == report.COLUMNS
    groups = [r.cells[0].text for r in rows if is_merged(r)]
    # the two activities the log records with no organization close it
    assert groups == [*ANNEX_GROUPS, report.OTHER_ACTIVITIES]
    expected = [(org.heading, [a.line for a in org.activities] or [report.NOTHING])
                for _, orgs in content.groups for org in orgs]
    got = [(r.cells[0].text, [p.text for p in r.cells[1].paragraphs]) for r in rows
           if not is_merged(r)]
    assert got == expected
    assert all(p.style.name == "List Bullet" for r in rows if not is_merged(r)
               for p in r.cells[1].paragraphs)
    wco = dict(got)["World Customs Organization (WCO)"]
    assert any("Harmonized System" in line for line in wco)


def test_a_log_without_activities_says_so(tmp_path):
    path = tmp_path / "empty.docx"
    report_docx.write(report.Report("Report on international cooperation in 1990", "1990",
                                    []), path)
    document = docx.Document(str(path))
    assert [p.text for p in document.paragraphs] == [
        "Report on international cooperation in 1990", report.EMPTY]
    assert document.tables == []


def test_report_command_writes_docx_and_needs_output(sample_db, cli, tmp_path):
    refused = cli(REPO, "--db", sample_db, "report", "--period", "2008/2009",
                  "--format", "docx")
    assert refused.exit_code == 2
    assert "--output" in refused.stderr
    target = tmp_path / "annex.docx"
    done = cli(REPO, "--db", sample_db, "report", "--period", "2009", "--format", "docx",
               "--group", "mea", "--output", target)
    assert done.exit_code == 0, done.output
    (table,) = docx.Document(str(target)).tables
    assert [r.cells[0].text for r in table.rows if is_merged(r)] == ["MEAs"]
