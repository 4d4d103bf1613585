"""The site switched to another language in headless Chromium, by clicking its language
switch, under tests/browser/test_pages.py's rules (any console error, failed request or HTTP
status >= 400 fails): French labels, French dates and a French translation on the pages the
links lead to, the language kept from page to page; Arabic right to left; axe-core finds no
serious or critical violation on either."""

from __future__ import annotations

import shutil

import pytest
from test_pages import REPO, Visit, browser, serving  # noqa: F401  (fixtures)
from test_reading import Clicks, serious_violations

from cooplog import repo
from cooplog.cli import app
from helpers import RECORDER, git

DEMETER = "01M8E9BDJV9T2HQHD8W2W51V86"  # Operation Demeter, 23 March–11 May 2009
FRENCH = ("Le Secrétariat a coopéré avec l'OMD à la préparation de son opération Demeter "
          "(23 mars – 11 mai 2009), qui visait les expéditions illicites de déchets "
          "dangereux et d'autres déchets entre l'Europe, l'Asie-Pacifique et l'Afrique, et a "
          "fourni une assistance technique.")



@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """`cooplog serve` over a copy of the sample log where Operation Demeter is translated
    into French."""
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("languages") / "log"
    repo.init(root)
    git(root, "config", "user.email", RECORDER)
    shutil.copytree(REPO / "events", root / "events", dirs_exist_ok=True)
    shutil.copy(REPO / "metadata.yml", root / "metadata.yml")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the sample log")
    result = CliRunner().invoke(app, ["--root", str(root), "translate", DEMETER, "--lang", "fr",
                                      "--summary", FRENCH])
    assert result.exit_code == 0, result.output
    with serving("--root", str(root), "--db", str(root.parent / "cooplog.db")) as base:
        yield base


@pytest.fixture
def visit(browser, site):  # noqa: F811
    return Visit(browser, site)


def test_the_site_switched_to_french_then_to_arabic(visit):
    clicks = Clicks(visit.open("/"))
    page = clicks.page
    assert page.locator("html").get_attribute("lang") == "en"
    clicks.click(page.locator("p.cooplog-languages").get_by_role("link", name="Français"))
    assert page.locator("html").get_attribute("lang") == "fr"
    main = page.locator("main")
    assert main.get_by_label("Rechercher dans le registre").count() == 1
    assert main.get_by_role("heading", name="Dernières modifications").count() == 1
    assert serious_violations(page) == []

    # the links the page makes keep the language
    clicks.click(main.get_by_role("link", name="World Customs Organization").first)
    assert page.locator("html").get_attribute("lang") == "fr"
    demeter = main.locator("ul.activities li", has_text="opération Demeter")
    assert demeter.inner_text().startswith("23 mars–11 mai 2009 · Le Secrétariat a coopéré")
    assert demeter.locator("[lang]").count() == 0  # French, on a French page
    assert main.get_by_role("heading", name="Ce qui a été fait avec elle, toutes périodes "
                                            "confondues").count() == 1
    clicks.click(demeter.get_by_role("link"))
    assert page.locator("main h1").inner_text() == FRENCH
    assert "Date\n23 mars–11 mai 2009" in page.locator("main dl").inner_text()
    assert serious_violations(page) == []

    # Arabic: right to left, the French translation not shown, the text as written
    clicks.click(page.locator("p.cooplog-languages").get_by_role("link", name="العربية"))
    assert page.locator("html").get_attribute("lang") == "ar"
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.evaluate("getComputedStyle(document.querySelector('main')).direction") == "rtl"
    assert page.locator("main h1").inner_text().startswith("The Secretariat cooperated")
    # the English text in its own direction, its full stop at its end, not at the left
    assert page.locator("main h1 [dir=auto]").evaluate(
        "e => getComputedStyle(e).direction") == "ltr"
    assert "التاريخ" in page.locator("main dl").inner_text()
    assert page.locator("main dt").first.evaluate("e => getComputedStyle(e).textAlign") == "start"
    assert serious_violations(page) == []
    page.set_viewport_size({"width": 390, "height": 900})  # a phone: nothing scrolls sideways
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    visit.finish("languages-arabic")
