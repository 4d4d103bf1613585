"""The annex-style report as a Word document (python-docx), since the parties' documents are
Word files: the annex's two-column table, "organization | activities", with a full-width
row for each of the groups and one bullet per activity, as the Markdown and HTML say it."""

from __future__ import annotations

from pathlib import Path

from .report import COLUMNS, EMPTY, NOTHING, Report

BULLET = "List Bullet"
WIDTHS_CM = (5, 11)  # of the two columns, on an A4 or Letter page's text width


def _repeat_as_header(row) -> None:
    """Word repeats this row at the top of each page the table runs onto."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    flag = OxmlElement("w:tblHeader")
    flag.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(flag)


def _bold(cell, text: str) -> None:
    cell.paragraphs[0].add_run(text).bold = True


def _widths(cells) -> None:
    """Word reads widths from each cell, not from the columns."""
    from docx.shared import Cm

    for cell, width in zip(cells, WIDTHS_CM, strict=True):
        cell.width = Cm(width)


def write(report: Report, path: Path) -> None:
    from docx import Document
    from docx.shared import Cm

    document = Document()
    document.core_properties.title = report.title
    document.add_heading(report.title, level=1)
    if not report.groups:
        document.add_paragraph(EMPTY)
        document.save(str(path))
        return
    table = document.add_table(rows=1, cols=2)
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, COLUMNS, strict=True):
        _bold(cell, text)
    _widths(table.rows[0].cells)
    _repeat_as_header(table.rows[0])
    for heading, organizations in report.groups:
        row = table.add_row()
        group = row.cells[0].merge(row.cells[1])
        group.width = Cm(sum(WIDTHS_CM))
        _bold(group, heading)
        for org in organizations:
            left, right = cells = table.add_row().cells
            _widths(cells)
            left.text = org.heading
            lines = [a.line for a in org.activities] or [NOTHING]
            right.paragraphs[0].text = lines[0]
            right.paragraphs[0].style = BULLET
            for line in lines[1:]:
                right.add_paragraph(line, style=BULLET)
    document.save(str(path))
