"""Reports in the six UN languages (DESIGN.md, "Languages"; issue 16): each activity in the
language asked for where it was written in it or translated into it, else as written and
marked with its language's name; fixed words from the catalogs, dates and countries in the
language's own forms; Arabic right to left."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import zipfile

import pytest

from cooplog import dates, messages, report, serve
from helpers import built, written

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def reported(conn_or_db, lang: str, period: str = "2008/2009") -> report.Report:
    conn = sqlite3.connect(conn_or_db)
    try:
        return report.build(conn, period, lang=lang)
    finally:
        conn.close()


# --- a log built in the test (the cases) ----------------------------------------------


@pytest.mark.slow
def test_a_french_translation_shows_in_the_french_report_and_leaves_the_english_one(
        seeded, cli, meeting):
    english = cli(seeded, "report", "--period", "2009", "--format", "html").stdout
    result = cli(seeded, "translate", meeting, "--lang", "fr",
                 "--summary", "A formé des douaniers à Bruxelles.")
    assert result.exit_code == 0, result.output
    [(translation, _)] = written(result, seeded)

    french = cli(seeded, "report", "--period", "2009", "--lang", "fr").stdout
    assert ("- 23 mars–11 mai 2009 (Brussels, Belgique): A formé des douaniers à Bruxelles."
            in french.splitlines())
    assert "# Rapport sur la coopération internationale en 2009" in french
    assert "## Autres organisations internationales et régionales" in french
    assert cli(seeded, "report", "--period", "2009", "--format", "html").stdout == english

    result = cli(seeded, "retract", translation, "--reason", "not faithful")
    assert result.exit_code == 0, result.output
    french = cli(seeded, "report", "--period", "2009", "--lang", "fr").stdout
    assert ("- 23 mars–11 mai 2009 (Brussels, Belgique): (anglais) Trained customs officers "
            "in Brussels.") in french.splitlines()


def test_an_event_written_in_the_report_s_language_is_not_marked(seeded, cli, meeting):
    cli(seeded, "correct", meeting, "--set", "lang=zh",
        "--set", "summary=在布鲁塞尔培训了海关官员。", "--reason", "recorded in Chinese")
    chinese = cli(seeded, "report", "--period", "2009", "--lang", "zh").stdout
    assert "- 2009年3月23日至5月11日 (Brussels, 比利时): 在布鲁塞尔培训了海关官员。" in chinese
    english = cli(seeded, "report", "--period", "2009").stdout
    assert ("- 23 March–11 May 2009 (Brussels, Belgium): (Chinese) 在布鲁塞尔培训了海关官员。"
            in english)


@pytest.mark.parametrize("args", [["--lang", "de"], ["--lang", "FR"],
                                  ["--lang", "xx", "--date", "2010-04-14"]])
def test_a_report_in_a_language_it_is_not_written_in_is_a_usage_error(seeded, cli, args):
    result = cli(seeded, "report", "--period", "2009", *args)
    assert result.exit_code == 2
    assert "--lang" in result.stderr and "ar, en, es, fr, ru, zh" in result.stderr


# --- the shipped log -----------------------------------------------------------------------------


def test_the_english_report_of_the_shipped_log_has_no_chinese_paragraph(sample_db):
    english = reported(sample_db, "en")
    assert not CHINESE.search(report.markdown(english))
    assert "the annex to this note describes them" in report.markdown(english)


def test_the_chinese_report_shows_the_chinese_items_in_chinese(sample_db):
    chinese = report.markdown(reported(sample_db, "zh"))
    assert "2008-2009 年间，秘书处在国际和区域层面与国际组织和非政府组织" in chinese
    assert "# 关于2008–2009两年期国际合作的报告" in chinese
    assert "## 多边环境协定" in chinese and "## 其他活动" in chinese
    assert "2009年3月23日至5月11日" in chinese
    # what has no Chinese text and no recorded language is shown as written, unmarked
    assert "(英语)" not in chinese


def test_every_catalog_translates_every_fixed_word():
    words = [*report.GROUPS.values(), report.OTHER_ACTIVITIES, report.NO_ORGANIZATION,
             report.NOTHING, report.EMPTY, *report.COLUMNS, report.BIENNIUM, report.YEAR,
             report.PERIOD, report.CONTINUED]
    for lang in set(messages.LANGUAGES) - {"en"}:
        missing = [w for w in words if w not in messages.catalog(lang)]
        assert missing == [], lang
        for placeholder in ("{period}", "{year}"):
            assert all(placeholder in messages.gettext(w, lang)
                       for w in words if placeholder in w), lang


@pytest.mark.parametrize("lang, words", [
    ("en", "23 March–11 May 2009"), ("fr", "23 mars–11 mai 2009"),
    ("es", "23 de marzo–11 de mayo de 2009"), ("ru", "23 марта–11 мая 2009 г."),
    ("zh", "2009年3月23日至5月11日"), ("ar", "23 مارس–11 مايو 2009"),
])
def test_dates_in_each_language_s_own_form(lang, words):
    assert dates.in_words("2009-03-23/2009-05-11", lang) == words


def test_chinese_shortens_the_end_of_a_span_and_other_languages_its_start():
    assert dates.in_words("2009-12-14/2009-12-16", "zh") == "2009年12月14日至16日"
    assert dates.in_words("2008-11/2009-02", "zh") == "2008年11月至2009年2月"
    assert dates.in_words("2009-12-14/2009-12-16", "fr") == "14–16 décembre 2009"
    assert dates.in_words("2008-11", "ru") == "ноябрь 2008 г."


# --- Arabic, right to left ---------------------------------------------------------------------


def test_the_arabic_html_report_reads_right_to_left(sample_db):
    content = reported(sample_db, "ar")
    document = report.html_document(content)
    assert document.startswith('<!DOCTYPE html>\n<html lang="ar" dir="rtl">')
    assert "<th>الأنشطة</th>" in document
    assert "text-align:left" not in document  # start and end follow the direction


@pytest.mark.slow
def test_the_arabic_report_page_reads_right_to_left(sample_db, tmp_path):
    import shutil
    from pathlib import Path

    root = tmp_path / "log"
    shutil.copytree(Path(__file__).resolve().parents[1] / "events", root / "events")
    ds = serve.datasette(root, built(root))
    page = asyncio.run(ds.client.get("/report?period=2008/2009&lang=ar"))
    assert page.status_code == 200
    assert '<div class="cooplog-report-text" lang="ar" dir="rtl">' in page.text
    assert '<option value="ar" lang="ar" selected>العربية</option>' in page.text
    pdf = asyncio.run(ds.client.get("/report.pdf?period=2008/2009&lang=zh"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    bad = asyncio.run(ds.client.get("/report?period=2008/2009&lang=xx"))
    assert bad.status_code == 400 and "ar, en, es, fr, ru, zh" in bad.text


@pytest.mark.slow
def test_the_arabic_word_file_is_bidirectional(sample_db, tmp_path):
    from cooplog import report_docx

    report_docx.write(reported(sample_db, "ar"), tmp_path / "ar.docx")
    xml = zipfile.ZipFile(tmp_path / "ar.docx").read("word/document.xml").decode()
    paragraphs = xml.count("<w:p>") + xml.count("<w:p ")
    assert paragraphs > 100 and xml.count("<w:bidi/>") == paragraphs
    assert "<w:bidiVisual/>" in xml and "<w:rtl/>" in xml
    # where the schema orders them (Word refuses a file with properties out of order)
    assert '<w:pStyle w:val="ListBullet"/><w:bidi/>' in xml
    assert '<w:tblStyle w:val="TableGrid"/><w:bidiVisual/><w:tblW' in xml
    styles = zipfile.ZipFile(tmp_path / "ar.docx").read("word/styles.xml").decode()
    assert '<w:lang w:bidi="ar"/>' in styles
    report_docx.write(reported(sample_db, "fr"), tmp_path / "fr.docx")
    french = zipfile.ZipFile(tmp_path / "fr.docx").read("word/document.xml").decode()
    assert "<w:bidi/>" not in french and "Activités" in french


@pytest.mark.slow
def test_the_arabic_pdf_joins_its_letters_from_a_font_that_has_them(sample_db, tmp_path):
    from pypdf import PdfReader

    from cooplog import report_pdf

    report_pdf.write(reported(sample_db, "ar", "2009-12"), tmp_path / "ar.pdf")
    pdf = PdfReader(tmp_path / "ar.pdf")
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "الأنشطة" in text and "ديسمبر" in text
    fonts = {font.get_object()["/BaseFont"].split("+")[-1] for page in pdf.pages
             for font in page["/Resources"]["/Font"].values()}
    assert fonts == {"WenQuanYiMicroHei", "DejaVuSansBook"}  # Arabic letters from DejaVu


@pytest.mark.slow
def test_an_arabic_pdf_without_a_font_with_arabic_letters_is_refused(sample_db, tmp_path,
                                                                     monkeypatch):
    from cooplog import report_pdf
    from cooplog.errors import CooplogError

    monkeypatch.setenv("COOPLOG_PDF_ARABIC_FONT", str(tmp_path / "none.ttf"))
    with pytest.raises(CooplogError, match="COOPLOG_PDF_ARABIC_FONT: no font file at"):
        report_pdf.write(reported(sample_db, "ar", "2009-12"), tmp_path / "ar.pdf")
    assert not (tmp_path / "ar.pdf").exists()
