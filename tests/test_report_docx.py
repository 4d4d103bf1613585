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


def test_the_word_file_is_a_un_document(sample_db, tmp_path):
    """A4 with the margins set, the symbol in the header, a PAGE field in the footer, the
    table's header row repeated on each page, no row split across pages, one font."""
    from docx.oxml.ns import qn

    content = annex(sample_db, front=report.front_matter(
        "UNEP/CHW/OEWG/7/17", "2010-04-14", "International cooperation and coordination"))
    path = tmp_path / "annex.docx"
    report_docx.write(content, path)
    document = docx.Document(str(path))
    (section,) = document.sections
    assert (section.page_width.twips, section.page_height.twips) == report_docx.PAGE_TWIPS
    assert (round(section.page_width.cm, 1), round(section.page_height.cm, 1)) == (21.0, 29.7)
    for side, twips in report_docx.MARGINS_TWIPS.items():
        assert getattr(section, f"{side}_margin").twips == twips, side
    assert (section.header_distance.twips, section.footer_distance.twips) == (
        report_docx.HEADER_TWIPS, report_docx.FOOTER_TWIPS)
    assert [p.text for p in section.header.paragraphs] == ["UNEP/CHW/OEWG/7/17"]
    for footer in (section.footer, section.first_page_footer):
        field = footer.paragraphs[0]._p
        instructions = [t.text.strip() for t in field.iter(qn("w:instrText"))]
        kinds = [c.get(qn("w:fldCharType")) for c in field.iter(qn("w:fldChar"))]
        assert (instructions, kinds) == (["PAGE"], ["begin", "separate", "end"])
    # the first page carries the symbol block, and no running head above it
    assert section.different_first_page_header_footer
    assert [p.text for p in section.first_page_header.paragraphs] == [""]
    assert [p.text for p in document.paragraphs[:6]] == [
        "UNEP/CHW/OEWG/7/17", "Distr.: General", "14 April 2010", "Original: English",
        "International cooperation and coordination", content.title]
    (table,) = document.tables
    header, *rows = table.rows
    assert header._tr.trPr.find(qn("w:tblHeader")).get(qn("w:val")) == "true"
    assert all(r._tr.trPr.find(qn("w:tblHeader")) is None for r in rows)
    assert all(r._tr.trPr.find(qn("w:cantSplit")) is not None for r in table.rows)
    used = {p.style.name for p in document.paragraphs} | {
        p.style.name for row in table.rows for cell in row.cells for p in cell.paragraphs} | {
        p.style.name for p in [*section.header.paragraphs, *section.footer.paragraphs]}
    for name in used:
        fonts = document.styles[name].element.rPr.rFonts
        assert fonts.get(qn("w:ascii")) == fonts.get(qn("w:hAnsi")) == report_docx.FONT, name
        assert fonts.get(qn("w:asciiTheme")) is None and fonts.get(qn("w:hAnsiTheme")) is None
    runs = [r for p in document.paragraphs for r in p.runs]
    assert all(r.font.name in (None, report_docx.FONT) for r in runs)
