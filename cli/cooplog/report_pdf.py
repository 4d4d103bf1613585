"""The annex-style report as PDF (fpdf2: pure Python, installed by pip alone), laid out as
the Word file is: A4 with its margins, the symbol in the header and the page number in the
footer of every page, the symbol block, then the two-column table whose header row is
repeated on each page, a full-width row per group, and no row split across pages.

One font for everything, with Latin and Chinese: WenQuanYi Micro Hei, which Debian's
fonts-wqy-microhei installs (the test line of the README does), or any TrueType file
named by COOPLOG_PDF_FONT. fpdf2 embeds only the characters used.

An Arabic report reads right to left: its letters are joined by HarfBuzz (fpdf2's text
shaping, through uharfbuzz), from a font with Arabic letters (DejaVu Sans, which Debian's
fonts-dejavu-core installs, or COOPLOG_PDF_ARABIC_FONT) that stands in wherever the main
font has no glyph, and the table's columns run from the right."""

from __future__ import annotations

import math
import os
from pathlib import Path

from fpdf import FPDF, FontFace

from .errors import USAGE, CooplogError
from .report import COLUMNS, CONTINUED, EMPTY, NOTHING, Report
from .report_docx import FONT_PT, FOOTER_TWIPS, HEADER_TWIPS, MARGINS_TWIPS, WIDTHS_CM

FONT_FILES = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
              "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
              "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
ARABIC_FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                     "/usr/share/fonts/truetype/noto/NotoNaskhArabic-Regular.ttf")
FAMILY = "report"
ARABIC_FAMILY = "arabic"
BULLET = "\N{BULLET} "
GROUP_FILL = (230, 230, 240)
LINE, PADDING = 5, 1.5  # mm
MM_PER_TWIP = 25.4 / 1440
MARGINS = {side: twips * MM_PER_TWIP for side, twips in MARGINS_TWIPS.items()}
WRAP_LOSS = 0.85  # of a column's width, what wrapped words fill on average, at worst


def font_file(variable: str = "COOPLOG_PDF_FONT", candidates: tuple | None = None,
              missing: str = "no font with Chinese characters found; install "
                             "fonts-wqy-microhei (Debian)") -> Path:
    """The font to embed: the one `variable` names, else the first candidate installed."""
    named = os.environ.get(variable)
    if named:
        if not Path(named).is_file():
            raise CooplogError(f"{variable}: no font file at {named}", exit_code=USAGE)
        return Path(named)
    for candidate in FONT_FILES if candidates is None else candidates:
        if Path(candidate).is_file():
            return Path(candidate)
    raise CooplogError(f"--format pdf: {missing} or set {variable} to a .ttf or .ttc file",
                       exit_code=USAGE)


def _right_to_left(pdf: FPDF) -> None:
    """Arabic letters from a font that has them, joined and ordered by HarfBuzz."""
    pdf.add_font(ARABIC_FAMILY, fname=str(font_file(
        "COOPLOG_PDF_ARABIC_FONT", ARABIC_FONT_FILES,
        "no font with Arabic letters found; install fonts-dejavu-core (Debian)")))
    pdf.set_fallback_fonts([ARABIC_FAMILY], exact_match=False)
    pdf.set_text_shaping(use_shaping_engine=True, direction="rtl", script="arab",
                         language="ar")


class _Document(FPDF):
    def __init__(self, running_head: str, first_page_head: bool):
        super().__init__(format="A4", unit="mm")
        self.running_head = running_head
        self.first_page_head = first_page_head  # not above the symbol block itself

    def header(self):
        if self.page_no() == 1 and not self.first_page_head:
            return
        self.set_font(FAMILY, size=FONT_PT - 1)
        self.set_y(HEADER_TWIPS * MM_PER_TWIP)
        self.cell(0, 5, self.running_head, align="R")
        self.set_y(MARGINS["top"])

    def footer(self):
        self.set_y(-FOOTER_TWIPS * MM_PER_TWIP - 5)
        self.set_font(FAMILY, size=FONT_PT - 1)
        self.cell(0, 5, str(self.page_no()), align="C")


def write(report: Report, path: Path) -> None:
    """Write the PDF once it is whole: a refusal (no font) leaves no file."""
    path.write_bytes(render(report))


def render(report: Report) -> bytes:
    pdf = _Document(report.front.symbol or report.title, not report.front.block)
    pdf.add_font(FAMILY, fname=str(font_file()))
    rtl = report.direction == "rtl"
    if rtl:
        _right_to_left(pdf)
    pdf.set_margins(MARGINS["left"], MARGINS["top"], MARGINS["right"])
    pdf.set_auto_page_break(True, margin=MARGINS["bottom"])
    pdf.set_title(report.title)
    pdf.set_lang(report.lang)
    pdf.add_page()
    pdf.set_font(FAMILY, size=FONT_PT)
    for i, line in enumerate(report.front.block):
        pdf.set_font_size(FONT_PT + 4 if i == 0 and report.front.symbol else FONT_PT)
        pdf.cell(0, 6, line, align="R", new_x="LMARGIN", new_y="NEXT")
    if report.front.title:
        pdf.ln(4)
        pdf.set_font_size(FONT_PT + 1)
        pdf.multi_cell(0, 6, report.front.title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font_size(FONT_PT + 4)
    pdf.multi_cell(0, 7, report.title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font_size(FONT_PT)
    if not report.groups:
        pdf.multi_cell(0, 5, report.say(EMPTY))
        return bytes(pdf.output())
    order = slice(None, None, -1 if rtl else 1)  # right to left: organizations on the right
    with pdf.table(col_widths=tuple(w * 10 for w in WIDTHS_CM)[order],
                   width=sum(WIDTHS_CM) * 10, align="LEFT",
                   text_align="RIGHT" if rtl else "LEFT",
                   v_align="TOP", line_height=LINE, padding=PADDING, repeat_headings=1,
                   headings_style=FontFace(emphasis=None, fill_color=GROUP_FILL)) as table:
        table.row(tuple(map(report.say, COLUMNS))[order])
        for heading, organizations in report.groups:
            table.row().cell(heading, colspan=2,
                             style=FontFace(size_pt=FONT_PT + 1, fill_color=GROUP_FILL))
            for org in organizations:
                lines = [a.line for a in org.activities] or [report.say(NOTHING)]
                for i, chunk in enumerate(_pages_of(pdf, [BULLET + x for x in lines])):
                    name = (org.heading if i == 0
                            else f"{org.heading} {report.say(CONTINUED)}")
                    table.row((name, "\n".join(chunk))[order])
    return bytes(pdf.output())


def _pages_of(pdf: FPDF, bullets: list[str]) -> list[list[str]]:
    """The bullets in runs of at most half a page: a row is never split, so an
    organization with more activities continues in a row of its own, and a row that moves
    to the next page leaves at most half a page blank."""
    width = (WIDTHS_CM[1] * 10 - 2 * PADDING) * WRAP_LOSS
    room = pdf.eph / 2
    runs: list[list[str]] = [[]]
    height = 0.0
    for bullet in bullets:
        # an estimate (the table breaks the lines itself, and breaking them twice doubled
        # the time): the half page left over absorbs its error
        needed = LINE * (bullet.count("\n") + math.ceil(pdf.get_string_width(bullet) / width))
        if runs[-1] and height + needed > room:
            runs.append([])
            height = 0.0
        runs[-1].append(bullet)
        height += needed
    return runs
