"""The annex-style report as a Word document (python-docx), since the parties' documents are
Word files: A4 with the margins set below, one font throughout, the symbol in the page
header and the page number (a PAGE field Word fills in) in the footer, the symbol block on
the first page, then the annex's two-column table, "organization | activities", whose
header row Word repeats on every page, with a full-width row for each group and one
bullet per activity, as the Markdown and HTML say it; no row is split across pages. An
Arabic report reads right to left: every paragraph and run is marked bidirectional and the
table's columns run from the right."""

from __future__ import annotations

import io
from pathlib import Path

from .report import COLUMNS, EMPTY, NOTHING, Report

BULLET = "List Bullet"
FONT = "Times New Roman"  # the face of UN documents, for every style the report uses
FONT_PT = 10
# The page of UN A4 documents as their Word files set it, in twips (1/1440 inch): w:pgSz
# 11909 x 16834 (A4), w:pgMar 1742 top, 1200 right, 1898 bottom, 1200 left, the header
# 576 and the footer 1030 from the edge.
PAGE_TWIPS = (11909, 16834)
MARGINS_TWIPS = {"top": 1742, "right": 1200, "bottom": 1898, "left": 1200}
HEADER_TWIPS, FOOTER_TWIPS = 576, 1030
WIDTHS_CM = (5, 11.5)  # of the two columns: within the text width (16.8 cm)
STYLES = ("Normal", "Heading 1", BULLET, "Header", "Footer")


def _flag(parent, tag: str) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    element = OxmlElement(tag)
    element.set(qn("w:val"), "true")
    parent.append(element)


def _row_kept_whole(row, header: bool = False) -> None:
    """Word never splits this row across pages; a header row is repeated on each page the
    table runs onto."""
    properties = row._tr.get_or_add_trPr()
    _flag(properties, "w:cantSplit")
    if header:
        _flag(properties, "w:tblHeader")


def _one_font(document) -> None:
    """Every style the report uses in FONT: the theme's fonts (Calibri, Cambria) would
    otherwise win over a style's own name."""
    from docx.oxml.ns import qn
    from docx.shared import Pt, RGBColor

    for name in STYLES:
        style = document.styles[name]
        style.font.name = FONT
        fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
        for attribute in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
            fonts.attrib.pop(qn(attribute), None)
        fonts.set(qn("w:cs"), FONT)
        if name != "Heading 1":
            style.font.size = Pt(FONT_PT)
    heading = document.styles["Heading 1"].font
    heading.size, heading.color.rgb = Pt(FONT_PT + 4), RGBColor(0, 0, 0)


def _language(document, lang: str) -> None:
    """The text's language on the Normal style (so on every style built on it): Word checks
    spelling, breaks lines and picks fonts by it. Arabic is a complex script and Chinese an
    East Asian one: each has its own attribute."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    element = OxmlElement("w:lang")
    script = {"ar": "w:bidi", "zh": "w:eastAsia"}.get(lang, "w:val")
    element.set(qn(script), lang)
    document.styles["Normal"].element.get_or_add_rPr().append(element)


def _page_field(paragraph) -> None:
    """A PAGE field: Word shows each page's own number ("1" until it updates the field)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def char(kind: str):
        element = OxmlElement("w:fldChar")
        element.set(qn("w:fldCharType"), kind)
        return element

    instruction = OxmlElement("w:instrText")
    instruction.set(qn("xml:space"), "preserve")
    instruction.text = " PAGE "
    for element in (char("begin"), instruction, char("separate")):
        paragraph.add_run()._r.append(element)
    paragraph.add_run("1")
    paragraph.add_run()._r.append(char("end"))


def _page(document, report: Report) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Twips

    section = document.sections[0]
    section.page_width, section.page_height = (Twips(v) for v in PAGE_TWIPS)
    for side, twips in MARGINS_TWIPS.items():
        setattr(section, f"{side}_margin", Twips(twips))
    section.header_distance, section.footer_distance = Twips(HEADER_TWIPS), Twips(FOOTER_TWIPS)
    header = section.header.paragraphs[0]
    header.text = report.front.symbol or report.title
    header.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    footers = [section.footer]
    if report.front.block:  # the symbol block heads the first page: no running head above it
        section.different_first_page_header_footer = True
        footers.append(section.first_page_footer)
    for footer in footers:
        footer.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
        _page_field(footer.paragraphs[0])


def _front(document, report: Report) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    for i, line in enumerate(report.front.block):
        paragraph = document.add_paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        paragraph.paragraph_format.space_after = Pt(0)
        run = paragraph.add_run(line)
        if i == 0 and report.front.symbol:
            run.bold, run.font.size = True, Pt(FONT_PT + 4)
    if report.front.title:
        document.add_paragraph().add_run(report.front.title).bold = True


def _bold(cell, text: str) -> None:
    cell.paragraphs[0].add_run(text).bold = True


def _widths(cells) -> None:
    """Word reads widths from each cell, not from the columns."""
    from docx.shared import Cm

    for cell, width in zip(cells, WIDTHS_CM, strict=True):
        cell.width = Cm(width)


# The properties that follow w:bidi, w:rtl and w:bidiVisual in their parents (ECMA-376).
_AFTER_BIDI = ("w:adjustRightInd", "w:snapToGrid", "w:spacing", "w:ind",
               "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc",
               "w:textDirection", "w:textAlignment", "w:textboxTightWrap", "w:outlineLvl",
               "w:divId", "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange")
_AFTER_RTL = ("w:cs", "w:em", "w:lang", "w:eastAsianLayout", "w:specVanish", "w:oMath")
_AFTER_BIDI_VISUAL = ("w:tblStyleRowBandSize", "w:tblStyleColBandSize", "w:tblW", "w:jc",
                      "w:tblCellSpacing", "w:tblInd", "w:tblBorders", "w:shd", "w:tblLayout",
                      "w:tblCellMar", "w:tblLook", "w:tblCaption", "w:tblDescription")


def _right_to_left(document) -> None:
    """Word's own settings for a right-to-left document: w:bidi on each paragraph (its
    direction and which side it starts from), w:rtl on each run (how its characters are
    ordered), w:bidiVisual on each table (its first column on the right)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    body = document.element.body
    paragraphs = [*body.iter(qn("w:p"))]
    for section in document.sections:
        for part in (section.header, section.footer, section.first_page_footer):
            paragraphs += [*part._element.iter(qn("w:p"))]
    # each where the schema's order of properties puts it: Word refuses a file otherwise
    for paragraph in paragraphs:
        paragraph.get_or_add_pPr().insert_element_before(OxmlElement("w:bidi"), *_AFTER_BIDI)
        for run in paragraph.iter(qn("w:r")):
            run.get_or_add_rPr().insert_element_before(OxmlElement("w:rtl"), *_AFTER_RTL)
    for table in body.iter(qn("w:tbl")):
        table.tblPr.insert_element_before(OxmlElement("w:bidiVisual"), *_AFTER_BIDI_VISUAL)


def write(report: Report, path: Path) -> None:
    path.write_bytes(render(report))


def render(report: Report) -> bytes:
    """The Word file's bytes, for a file (`write`) or a download from the site."""
    from docx import Document
    from docx.shared import Cm

    document = Document()
    document.core_properties.title = report.title
    _one_font(document)
    _language(document, report.lang)
    _page(document, report)
    _front(document, report)
    document.add_heading(report.title, level=1)
    if not report.groups:
        document.add_paragraph(report.say(EMPTY))
        return _saved(document, report)
    table = document.add_table(rows=1, cols=2)
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, map(report.say, COLUMNS), strict=True):
        _bold(cell, text)
    _widths(table.rows[0].cells)
    _row_kept_whole(table.rows[0], header=True)
    for heading, organizations in report.groups:
        row = table.add_row()
        _row_kept_whole(row)
        group = row.cells[0].merge(row.cells[1])
        group.width = Cm(sum(WIDTHS_CM))
        _bold(group, heading)
        for org in organizations:
            row = table.add_row()
            _row_kept_whole(row)
            left, right = cells = row.cells
            _widths(cells)
            left.text = org.heading
            lines = [a.line for a in org.activities] or [report.say(NOTHING)]
            right.paragraphs[0].text = lines[0]
            right.paragraphs[0].style = BULLET
            for line in lines[1:]:
                right.add_paragraph(line, style=BULLET)
    return _saved(document, report)


def _saved(document, report: Report) -> bytes:
    if report.direction == "rtl":
        _right_to_left(document)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
