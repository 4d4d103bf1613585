"""The site's pages in the six UN languages (issue 16, §2 and §3), over HTTP in-process: the
language asked for with `?lang=` and remembered in a cookie, a switch naming each language in
itself, fixed words from the catalogs, dates and countries in the language, each text of the
record in it where written in it or translated into it, else marked with its language's name
and its own `lang`; search finds an event by a translation's words and says in which
language they were found."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from cooplog import messages, serve
from helpers import built, written
from test_site_pages import main_of, read

TEMPLATES = Path(__file__).resolve().parents[1] / "datasette" / "templates"
PAGES = ["/", "/org/wco", "/search?q=customs", "/meetings?period=2009", "/event/{meeting}"]


def get(ds, path: str, status: int = 200, cookie: str | None = None):
    headers = {"cookie": f"{messages.COOKIE}={cookie}"} if cookie else None
    response = asyncio.run(ds.client.get(path, headers=headers))
    assert response.status_code == status, (path, response.status_code, response.text[:500])
    return response


@pytest.fixture
def translated(seeded, cli, meeting) -> str:
    """The meeting translated into French, summary and title; the translation's id."""
    result = cli(seeded, "translate", meeting, "--lang", "fr",
                 "--summary", "A formé des douaniers à Bruxelles.",
                 "--title", "Cours sur la lutte contre la fraude douanière")
    assert result.exit_code == 0, result.output
    [(translation, _)] = written(result, seeded)
    return translation


def site(root: Path):
    return serve.datasette(root, built(root, root / "site.db"))


# --- the language asked for, and kept -------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_each_page_is_written_in_the_language_asked_for(seeded, meeting, path):
    ds = site(seeded)
    path = path.format(meeting=meeting)
    french = get(ds, path + ("&" if "?" in path else "?") + "lang=fr")
    assert '<html lang="fr">' in french.text
    assert '<a href="/">Accueil</a>' in french.text and ">Rechercher</a>" in french.text
    assert f"{messages.COOKIE}=fr" in french.headers["set-cookie"]
    english = get(ds, path)
    assert '<html lang="en">' in english.text and '<a href="/">Home</a>' in english.text
    arabic = get(ds, path + ("&" if "?" in path else "?") + "lang=ar")
    assert '<html lang="ar" dir="rtl">' in arabic.text
    assert "<a href=\"/\">الصفحة الرئيسية</a>" in arabic.text


@pytest.mark.slow
def test_the_language_chosen_is_remembered_for_the_pages_its_links_lead_to(seeded, meeting):
    ds = site(seeded)
    page = get(ds, f"/event/{meeting}", cookie="fr")
    assert '<html lang="fr">' in page.text and "set-cookie" not in page.headers
    assert "Cookie" in page.headers["vary"]  # a cache keeps the languages of an address apart
    assert "23 mars–11 mai 2009" in read(page.text)
    # asked for in the address, the language wins over the one remembered
    assert '<html lang="es">' in get(ds, f"/event/{meeting}?lang=es", cookie="fr").text
    report = get(ds, "/report?period=2009", cookie="fr")
    assert "Cookie" in report.headers["vary"]
    report = report.text
    assert "Rapport sur la coopération internationale en 2009" in report
    assert '<html lang="fr">' in report
    # a cookie that names no language of the site is not an error: the page is in English
    assert '<html lang="en">' in get(ds, "/", cookie="de").text


def test_the_switch_names_each_language_in_itself_and_keeps_what_the_page_shows(seeded):
    ds = site(seeded)
    page = get(ds, "/meetings?period=2009&lang=ru").text
    switch = page.split('class="crumbs cooplog-languages"', 1)[1].split("</p>", 1)[0]
    links = re.findall(r'<a href="([^"]+)" lang="(\w+)" hreflang="\w+"[^>]*>([^<]+)</a>',
                       switch)
    assert [(code, name) for _, code, name in links] == [
        ("ar", "العربية"), ("en", "English"), ("es", "Español"), ("fr", "Français"),
        ("ru", "Русский"), ("zh", "中文")]
    assert [href for href, _, _ in links][2] == "/meetings?period=2009&amp;lang=es"
    assert 'lang="ru" hreflang="ru" aria-current="true"' in switch


@pytest.mark.parametrize("asked", ["de", "FR", "français"])
def test_a_language_the_site_is_not_written_in_is_a_page_in_words(seeded, asked):
    ds = site(seeded)
    page = get(ds, f"/search?q=customs&lang={asked}", status=400).text
    assert "Not understood" in page
    text = read(page)
    assert f"lang: '{asked}' is not a language reports and pages are written in" in text
    assert "use one of: ar, en, es, fr, ru, zh" in text
    assert "set-cookie" not in get(ds, f"/?lang={asked}", status=400).headers


# --- the record in the page's language --------------------------------------------------------


def test_a_translated_event_reads_in_french_with_its_date_and_country(seeded, translated,
                                                                       meeting):
    ds = site(seeded)
    page = get(ds, f"/event/{meeting}?lang=fr").text
    text = read(page)
    assert "Cours sur la lutte contre la fraude douanière" in text
    assert "A formé des douaniers à Bruxelles." in text
    assert "Trained customs officers" not in text and "written-in" not in main_of(page)
    assert "Date\n23 mars–11 mai 2009" in text and "Lieu\nBrussels, Belgique" in text
    assert "Rôle\nintervenant" in text
    # English, as written: no mark, no lang attribute
    english = main_of(get(ds, f"/event/{meeting}").text)
    assert "Trained customs officers in Brussels." in english and " lang=" not in english


@pytest.mark.slow
def test_an_untranslated_event_is_marked_with_its_language_on_each_page(seeded, meeting):
    ds = site(seeded)
    event = main_of(get(ds, f"/event/{meeting}?lang=fr").text)
    assert ('<h1><span class="written-in">(anglais)</span> '
            '<span dir="auto" lang="en">Customs enforcement course</span></h1>') in event
    org = main_of(get(ds, "/org/wco?lang=fr").text)
    assert ('<span class="written-in">(anglais)</span> <a href="/event/'
            f'{meeting}" dir="auto" lang="en">Trained customs officers in Brussels.</a>') in org
    meetings = main_of(get(ds, "/meetings?period=2009&lang=zh").text)
    assert ('<span class="written-in">(英语)</span> '
            '<span dir="auto" lang="en">Customs enforcement course</span>') in meetings
    assert "2009年3月23日至5月11日" in meetings and "Brussels, 比利时" in meetings


@pytest.mark.slow
def test_a_retracted_translation_leaves_the_item_marked_as_english(seeded, cli, translated,
                                                                    meeting):
    ds = site(seeded)
    assert "A formé des douaniers" in get(ds, "/org/wco?lang=fr").text
    result = cli(seeded, "retract", translated, "--reason", "not faithful")
    assert result.exit_code == 0, result.output
    org = main_of(get(site(seeded), "/org/wco?lang=fr").text)
    assert "A formé des douaniers" not in org
    assert '(anglais)</span> <a href="/event/' in org


def test_the_home_page_in_french(seeded, translated, meeting):
    text = read(get(site(seeded), "/?lang=fr&period=2009").text)
    assert "Contenu du registre pour 2009" in text
    assert "Autres organisations internationales et régionales" in text  # a group's name
    assert "Demande observer status in the CTE, à The WTO" in text  # the fixed words around
    assert "Dernières modifications" in text


# --- search across languages ------------------------------------------------------------------


def test_search_finds_an_event_by_a_french_word_and_shows_it_in_the_page_s_language(
        seeded, translated, meeting):
    ds = site(seeded)
    french = get(ds, "/search?q=douaniers&lang=fr").text
    assert f'href="/event/{meeting}"' in main_of(french)
    assert "A formé des <mark>douaniers</mark> à Bruxelles." in main_of(french)
    assert "Trouvé dans le texte en français" in read(french)
    english = main_of(get(ds, "/search?q=douaniers").text)
    assert f'href="/event/{meeting}"' in english
    assert "Trained customs officers in Brussels." in english
    assert ('Found in the French text: <span dir="auto" lang="fr">A formé des '
            '<mark>douaniers</mark> à Bruxelles.</span>') in english
    # found by its own English words, the French page shows the translation and says so
    by_english = main_of(get(ds, "/search?q=customs%20officers&lang=fr").text)
    assert "A formé des douaniers à Bruxelles." in by_english
    assert ('Trouvé dans le texte en anglais: <span dir="auto" lang="en">Trained <mark>customs '
            'officers</mark> in Brussels.</span>') in by_english


def test_search_by_two_characters_finds_a_translation_too(seeded, cli, meeting):
    result = cli(seeded, "translate", meeting, "--lang", "zh",
                 "--summary", "在布鲁塞尔培训了海关官员。")
    assert result.exit_code == 0, result.output
    page = main_of(get(site(seeded), "/search?q=海关&lang=zh").text)
    assert f'href="/event/{meeting}"' in page
    assert "在布鲁塞尔培训了<mark>海关</mark>官员。" in page


# --- the catalogs -----------------------------------------------------------------------------


def test_every_fixed_word_of_the_templates_is_in_each_catalog():
    """A label added to a page without its five translations fails here."""
    asked = {m.group(2) for path in TEMPLATES.glob("*.html")
             for m in re.finditer(r"""_\((["'])(.+?)\1\)""", path.read_text())}
    assert len(asked) > 80
    for lang in messages.LANGUAGES:
        if lang != "en":
            missing = sorted(asked - set(messages.catalog(lang)))
            assert missing == [], (lang, missing)


def test_english_around_a_french_page_is_marked_as_english(seeded):
    """What the site says only in English (the log's title and description, Datasette's
    footer, an error's sentence) carries lang="en" on a page in another language."""
    ds = site(seeded)
    home = get(ds, "/?lang=fr").text
    assert '<footer class="ft" lang="en">' in home
    assert re.search(r'<h1 lang="en">[^<]+</h1>', main_of(home))
    missing = get(ds, "/event/01M8E9BDJV9T2HQHD8W2W51XXX?lang=fr", status=404).text
    assert "<h1>Introuvable</h1>" in missing
    assert '<p lang="en">No event has the id' in missing
    english = get(ds, "/").text
    assert '<footer class="ft">' in english and '<p lang="en">' not in english
