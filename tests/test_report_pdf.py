"""`cooplog report --format pdf` (fpdf2), read back with pypdf: A4, the symbol atop and the
number at the foot of every page, the table's header row on every page, the log's Chinese
text rendered with the one embedded font."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pypdf import PdfReader

from cooplog import report, report_pdf
from cooplog.errors import CooplogError

REPO = Path(__file__).resolve().parents[1]
A4_POINTS = (595.28, 841.89)
FRONT = ("UNEP/CHW/OEWG/7/17", "2010-04-14", "International cooperation and coordination")


def sample_pdf(sample_db, path: Path, lang: str = "en") -> PdfReader:
    conn = sqlite3.connect(sample_db)
    try:
        content = report.build(conn, "2008/2009", front=report.front_matter(*FRONT, lang=lang),
                               lang=lang)
    finally:
        conn.close()
    report_pdf.write(content, path)
    return PdfReader(path)


@pytest.mark.slow
def test_the_sample_log_as_a_pdf(sample_db, tmp_path):
    pdf = sample_pdf(sample_db, tmp_path / "annex.pdf")
    pages = [page.extract_text() for page in pdf.pages]
    assert len(pages) > 5
    assert all((round(float(p.mediabox.width), 2), round(float(p.mediabox.height), 2))
               == A4_POINTS for p in pdf.pages)
    for number, text in enumerate(pages, start=1):
        lines = text.splitlines()
        assert lines[0] == "UNEP/CHW/OEWG/7/17", number
        assert str(number) in lines, number  # the footer's page number
        assert "Activities" in lines, number  # the repeated header row
    text = "\n".join(pages)
    assert "Report on international cooperation over the biennium 2008–2009" in text
    assert "23 March–11 May 2009" in text.replace("\n", " ")
    # the two activities recorded in Chinese with no organization, in the closing part, in
    # their English translations; in Chinese in the Chinese report
    assert report.OTHER_ACTIVITIES in text
    assert "the annex to this note describes them" in text.replace("\n", " ")
    assert "秘书处在国际和区域层面与国际组织和非政府组织" not in text.replace("\n", "")
    chinese = "".join(page.extract_text() for page in
                      sample_pdf(sample_db, tmp_path / "zh.pdf", "zh").pages).replace("\n", "")
    assert "秘书处在国际和区域层面与国际组织和非政府组织" in chinese
    assert "2009年3月23日至5月11日" in chinese
    fonts = {font.get_object()["/BaseFont"].split("+")[-1] for page in pdf.pages
             for font in page["/Resources"]["/Font"].values()}
    assert fonts == {"WenQuanYiMicroHei"}


@pytest.mark.slow
def test_an_organization_longer_than_a_page_continues_in_rows_of_its_own(tmp_path):
    """fpdf2 never splits a row; one taller than a page is cut into rows that each fit."""
    activities = [report.Activity("2009-03", f"Activity number {i} " + "and more " * 30,
                                  None, f"id{i}") for i in range(60)]
    content = report.Report("A long one", "2009", [("UNEP", [
        report.Organization("unep", "United Nations Environment Programme", "UNEP",
                            activities)])])
    report_pdf.write(content, tmp_path / "long.pdf")
    text = "\n".join(p.extract_text() for p in PdfReader(tmp_path / "long.pdf").pages)
    assert text.count("(continued)") >= 2
    assert all(f"Activity number {i} " in text for i in range(60))


def test_without_a_chinese_font_it_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(report_pdf, "FONT_FILES", (str(tmp_path / "none.ttc"),))
    monkeypatch.delenv("COOPLOG_PDF_FONT", raising=False)
    with pytest.raises(CooplogError, match="install fonts-wqy-microhei") as refused:
        report_pdf.write(report.Report("T", "2009", []), tmp_path / "x.pdf")
    assert refused.value.exit_code == 2
    monkeypatch.setenv("COOPLOG_PDF_FONT", str(tmp_path / "missing.ttf"))
    with pytest.raises(CooplogError, match="COOPLOG_PDF_FONT: no font file at"):
        report_pdf.write(report.Report("T", "2009", []), tmp_path / "x.pdf")
    assert not (tmp_path / "x.pdf").exists()


@pytest.mark.slow
def test_report_command_writes_pdf(sample_db, cli, tmp_path):
    target = tmp_path / "annex.pdf"
    done = cli(REPO, "--db", sample_db, "report", "--period", "2009", "--format", "pdf",
               "--group", "mea", "--output", target)
    assert (done.exit_code, done.stderr) == (0, f"wrote {target}\n")
    text = "\n".join(p.extract_text() for p in PdfReader(target).pages)
    assert "MEAs" in text and "UNEP-Chemicals" not in text
