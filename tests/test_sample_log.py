"""The repository's events/ against the document they transcribe (UNEP/CHW/OEWG/7/17 and its
annex): facts read off the document, checked against the projection and the report."""

from __future__ import annotations

import html
import re
from pathlib import Path

import docx
import pytest

from cooplog import report
from cooplog.projection import Projection
from cooplog.rules import check_log
from cooplog.store import Store

REPO = Path(__file__).resolve().parents[1]

ANNEX_GROUPS = [
    "UNEP",
    "MEAs",
    "UN Agencies and organizations",
    "Other international and regional organizations",
    "Non-governmental organizations / Networks",
]

# Every row of the annex, by group, as (key, acronym the annex uses or None).
ANNEX_ORGANIZATIONS = {
    "unep": ["unep-chemicals", "unep-gef", "unep-dtie", "unep-pcdmb", "saicm",
             "unep-ocha-jeu"],
    "mea": ["stockholm", "rotterdam", "montreal-protocol", "cbd", "cites", "unccd",
            "unece-aarhus"],
    "un": ["unce-tdg-ghs", "dpko", "fao", "iomc", "ilo", "imo", "who", "ohchr", "opcw", "csd",
           "doalos", "unesco", "unido"],
    "intergovernmental": ["wco", "wto", "ungis", "3r-initiative", "osce", "interpol", "gef"],
    "network": ["impel", "inece", "asian-network", "step"],
}

ACRONYMS = {"wco": "WCO", "imo": "IMO", "ilo": "ILO", "gef": "GEF", "opcw": "OPCW",
            "impel": "IMPEL", "inece": "INECE", "step": "StEP", "fao": "FAO", "who": "WHO",
            "unesco": "UNESCO", "unido": "UNIDO", "osce": "OSCE", "saicm": "SAICM"}

# (organization, type, occurred, city, country, role, words in the title or summary)
FACTS = [
    ("unep-chemicals", "meeting.attended", "2009-12-14/2009-12-16", "Geneva", "CH", None,
     "global trends in chemicals management"),
    ("unep-chemicals", "meeting.attended", "2009-12-17/2009-12-18", "Geneva", "CH", None,
     "Chemicals in Products"),
    ("unep-dtie", "meeting.attended", "2009-01-26/2009-01-27", "Brussels", "BE", None,
     "Green Customs"),
    ("unep-dtie", "meeting.attended", "2010-02-08/2010-02-09", "Geneva", "CH", None,
     "Green Customs"),
    ("unep-dtie", "meeting.attended", "2009-10-12/2009-10-15", "Chiang Mai", "TH", None,
     "Regional Enforcement Network"),
    ("unep-dtie", "meeting.attended", "2009-11-30/2009-12-01", "Geneva", "CH", "host",
     "waste management partnership"),
    ("montreal-protocol", "meeting.attended", "2008-11-16/2008-11-20", "Doha", "QA", None,
     "Vienna Convention"),
    ("montreal-protocol", "meeting.attended", "2009-07-13", "Geneva", "CH", None,
     "ozone-depleting substance banks"),
    ("montreal-protocol", "meeting.attended", "2009-07-15/2009-07-18", "Geneva", "CH", None,
     "Open-ended Working Group"),
    ("montreal-protocol", "meeting.attended", "2009-07-21/2009-07-22", "Geneva", "CH",
     "observer", "Implementation Committee"),
    ("montreal-protocol", "meeting.attended", "2009-11-04/2009-11-08", "Port Ghalib", "EG",
     None, "21st"),
    ("imo", "meeting.attended", "2008-10-06/2008-10-10", None, None, None, "MEPC 58"),
    ("imo", "meeting.attended", "2009-02-23/2009-02-25", None, "IN", None, "India"),
    ("imo", "meeting.attended", "2009-05-11/2009-05-15", "Hong Kong", None, None,
     "Recycling of Ships"),
    ("imo", "meeting.attended", "2009-07-13/2009-07-17", None, None, None, "MEPC 59"),
    ("imo", "meeting.attended", "2010-03-22/2010-03-26", None, None, None, "MEPC 60"),
    ("imo", "meeting.attended", "2008-02-28", None, None, None, "Côte d'Ivoire"),
    ("ilo", "meeting.attended", "2008-10", None, None, None, "Ship Scrapping"),
    ("ohchr", "meeting.attended", "2009-09-18", "Geneva", "CH", None, "human rights"),
    ("wco", "meeting.attended", "2009-02-09", "Brussels", "BE", None, "Demeter"),
    ("wco", "meeting.attended", "2009-11-23", "Brussels", "BE", None, "Demeter"),
    ("wco", "meeting.attended", "2010-03-02/2010-03-05", "Brussels", "BE", "presenter",
     "Enforcement Committee"),
    ("wco", "meeting.attended", "2008-11", None, None, None, "Harmonized System Committee"),
    ("wto", "meeting.attended", "2009-09-24", "Geneva", "CH", "presenter",
     "Environmental Goods and Services"),
    ("wto", "meeting.attended", "2010-02", "Singapore", "SG", "presenter",
     "Trade and Environment"),
    ("wto", "meeting.attended", "2009-03-24/2009-03-26", None, "BW", None,
     "English Speaking"),
    ("ungis", "meeting.attended", "2009-10-08/2009-10-09", "Geneva", "CH", None,
     "financial mechanisms"),
    ("3r-initiative", "meeting.attended", "2009-11-11/2009-11-12", "Tokyo", "JP", None,
     "3R Forum"),
    ("osce", "meeting.attended", "2010-03-15/2010-03-16", "Minsk", "BY", None,
     "border crossings"),
    ("interpol", "meeting.attended", "2009-10-07", "Lyon", "FR", None,
     "Pollution Crime Working Group"),
    ("gef", "meeting.attended", "2009-11", None, None, None, "Council"),
    ("asian-network", "meeting.attended", "2010-01-27/2010-01-29", "Yokohama", "JP",
     "observer", "Asian Network"),
    ("impel", "agreement.signed", "2008-02", None, None, None, "IMPEL"),
    ("impel", "agreement.revised", "2009-02-05", None, None, None, "revised"),
    ("wto", "request.made", "2007-01-18", None, None, None, "observer status"),
]


@pytest.fixture(scope="module")
def projection(tmp_path_factory):
    store = Store(REPO)
    projection = Projection(store, tmp_path_factory.mktemp("db") / "cooplog.db")
    projection.build()
    yield projection
    projection.close()


def test_the_sample_log_is_valid():
    assert check_log(Store(REPO)) == []


def test_no_problems_in_the_projection(projection):
    assert projection.conn.execute("select * from problems").fetchall() == []


@pytest.mark.parametrize("fact", FACTS, ids=lambda f: f"{f[0]}-{f[2]}")
def test_fact_from_the_annex(projection, fact):
    org, type_, occurred, city, country, role, words = fact
    rows = projection.conn.execute(
        """select e.summary || ' ' || coalesce(e.title, ''), m.city, m.country, m.role
             from events e join event_orgs eo on eo.event_id = e.id
             left join meetings m on m.event_id = e.id
            where eo.org_key = ? and e.type = ? and e.occurred = ? and e.retracted = 0""",
        [org, type_, occurred],
    ).fetchall()
    matching = [r for r in rows if words.lower() in r[0].lower()]
    assert matching, f"no {type_} of {org} on {occurred} mentioning {words!r}: {rows}"
    text, found_city, found_country, found_role = matching[0]
    if city:
        assert found_city == city
    if country:
        assert found_country == country
    if role:
        assert found_role == role


def test_the_waste_streams_submission(projection):
    row = projection.conn.execute(
        "select to_org, body, items, status from submissions where key = 'hs-waste-streams'"
    ).fetchone()
    assert row[:2] == ("wco", "Harmonized System Committee")
    assert row[2] == (
        '["waste personal computers, electronic equipment and mobile phones",'
        '"power-plant ashes and residues",'
        '"waste from inks, dyes, pigments, paints, lacquers and varnishes"]'
    )
    assert row[3] == "under-consideration"


def test_the_observer_status_request_is_still_pending(projection):
    row = projection.conn.execute(
        "select to_org, status from requests where key = 'wto-cte-observer-status'"
    ).fetchone()
    assert row == ("wto", "pending")
    mandates = projection.conn.execute(
        "select mandate from mandates m join requests r on r.event_id = m.event_id "
        "where r.key = 'wto-cte-observer-status'").fetchall()
    assert ("VIII/7",) in mandates


def test_saicm_quick_start_projects_and_countries(projection):
    countries = {c for (c,) in projection.conn.execute(
        "select j.value from projects p, json_each(p.countries) j where p.funder = 'saicm'")}
    assert {"DJ", "CI", "TT"} <= countries


def test_decisions_cited_in_the_document_are_mandates(projection):
    mandates = {m for (m,) in projection.conn.execute("select mandate from mandates")}
    assert {"VIII/33", "VIII/1", "VIII/7", "IX/11", "UNEP GC 25/8"} <= mandates


def test_ozone_report_urls_kept(projection):
    documents = " ".join(d for (d,) in projection.conn.execute(
        "select documents from events where documents is not null"))
    assert "http://ozone.unep.org/Meeting_Documents/mop/20mop/MOP-20-9E.pdf" in documents
    assert "UNEP/OzL.Pro.21/8" in documents


def test_organizations_under_their_groups_with_acronyms(projection):
    rows = projection.conn.execute("select key, category, acronym, parent from organizations")
    found = {key: (category, acronym, parent) for key, category, acronym, parent in rows}
    for category, keys in ANNEX_ORGANIZATIONS.items():
        for key in keys:
            assert found[key][0] == category, key
    for key, acronym in ACRONYMS.items():
        assert found[key][1] == acronym
    assert all(found[k][2] == "unep" for k in ANNEX_ORGANIZATIONS["unep"])


def test_the_report_has_the_annex_groups_in_order_and_every_organization(projection):
    content = report.build(projection.conn, "2008/2009")
    assert content.title == "Report on international cooperation over the biennium 2008–2009"
    headings = [heading for heading, _ in content.groups]
    assert headings[:5] == ANNEX_GROUPS
    by_heading = {heading: [o.key for o in orgs] for heading, orgs in content.groups}
    for heading, category in zip(ANNEX_GROUPS, ANNEX_ORGANIZATIONS, strict=True):
        assert by_heading[heading] == ANNEX_ORGANIZATIONS[category]
    text = report.markdown(content)
    assert text.index("## UNEP") < text.index("## MEAs") < text.index("## UN Agencies")


def test_the_chinese_search_finds_the_observer_status_request(projection):
    rows = projection.conn.execute(
        "select e.type from events e where e.rowid in "
        "(select rowid from events_fts where events_fts match '\"观察员\"')").fetchall()
    assert ("request.made",) in rows


# --- the report of events/ as the parties read it (issue 15) ---------------------------------

ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# (words of the bullet, how it must start)
BULLETS = [
    ("Operation Demeter (23 March", "23 March–11 May 2009: "),
    ("organized by UNEP Chemicals in Geneva", "14–16 December 2009 (Geneva, Switzerland): "),
    ("Children, Environment and Health Conference", "2009 (Republic of Korea): "),
    ("submitted three waste streams", "2008–2009: "),
]


@pytest.fixture(scope="module")
def annex_outputs(sample_db, tmp_path_factory) -> dict[str, list[str]]:
    """The bullets of `cooplog report --period 2008/2009` in md, html and docx, through the
    command, as a secretariat would make them."""
    from typer.testing import CliRunner

    from cooplog.cli import app

    folder = tmp_path_factory.mktemp("annex")
    runner = CliRunner()
    outputs = {}
    for format_ in ("md", "html", "docx"):
        target = folder / f"annex.{format_}"
        done = runner.invoke(app, ["--root", str(REPO), "--db", str(sample_db), "report",
                                   "--period", "2008/2009", "--format", format_,
                                   "--output", str(target)], catch_exceptions=False)
        assert done.exit_code == 0, done.output
        outputs[format_] = target
    md = outputs["md"].read_text(encoding="utf-8")
    page = outputs["html"].read_text(encoding="utf-8")
    document = docx.Document(str(outputs["docx"]))
    cells = [p.text for row in document.tables[0].rows for cell in row.cells
             for p in cell.paragraphs]
    return {
        "md": [line[2:] for line in md.splitlines() if line.startswith("- ")],
        "html": [html.unescape(re.sub("<[^>]+>", "", item))
                 for item in re.findall(r"<li>(.*?)</li>", page)],
        "docx": cells,
        "md text": [md], "html text": [page],
        "docx text": [p.text for p in document.paragraphs] + cells
        + [p.text for p in document.sections[0].header.paragraphs],
        "docx file": [str(outputs["docx"])],
    }


@pytest.mark.parametrize("format_", ["md", "html", "docx"])
@pytest.mark.parametrize(("words", "start"), BULLETS, ids=[b[1][:20] for b in BULLETS])
def test_the_annex_bullets_read_as_a_un_document(annex_outputs, format_, words, start):
    found = [b for b in annex_outputs[format_] if words.lower() in b.lower()]
    assert found, f"no bullet about {words!r} in the {format_} report"
    assert found[0].startswith(start), found[0]


@pytest.mark.parametrize("format_", ["md", "html", "docx"])
def test_no_iso_date_and_no_everyday_country_name_anywhere(annex_outputs, format_):
    text = "\n".join(annex_outputs[f"{format_} text"])
    assert ISO_DAY.findall(text) == []
    assert "South Korea" not in text
    assert "Republic of Korea" in text


def test_the_annex_word_file_is_laid_out_for_the_parties(annex_outputs):
    from docx.oxml.ns import qn

    document = docx.Document(annex_outputs["docx file"][0])
    (section,) = document.sections
    assert (round(section.page_width.cm, 1), round(section.page_height.cm, 1)) == (21.0, 29.7)
    # the margins of UN A4 documents' Word files (twips)
    assert [m.twips for m in (section.top_margin, section.right_margin,
                              section.bottom_margin, section.left_margin)] == [
        1742, 1200, 1898, 1200]
    footer = section.footer.paragraphs[0]._p
    assert [t.text.strip() for t in footer.iter(qn("w:instrText"))] == ["PAGE"]
    header = document.tables[0].rows[0]
    assert header._tr.trPr.find(qn("w:tblHeader")).get(qn("w:val")) == "true"
    assert tuple(c.text for c in header.cells) == report.COLUMNS
