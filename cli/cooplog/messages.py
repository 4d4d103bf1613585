"""The fixed words of reports in the six UN languages: gettext catalogs (`.po` files under
`locale/<lang>/LC_MESSAGES/cooplog.po`, the English text as msgid), read with Babel at run
time, so that a plain `pip install -e .` needs no compile step. Language names come from
Babel's CLDR data, in the language of the page."""

from __future__ import annotations

import functools
from pathlib import Path

from .errors import USAGE, CooplogError

LANGUAGES = ("ar", "en", "es", "fr", "ru", "zh")  # the UN's: a report is in one of these
RIGHT_TO_LEFT = ("ar",)
LOCALE_DIR = Path(__file__).parent / "locale"
COOKIE = "cooplog_lang"  # the site remembers there the language a reader chose
DOMAIN = "cooplog"


def checked(lang: str, option: str = "--lang") -> str:
    """`lang` if a report or page can be written in it, else a usage error naming the
    option."""
    if lang not in LANGUAGES:
        raise CooplogError(f"{option}: {lang!r} is not a language reports and pages are "
                           "written in; "
                           f"use one of: {', '.join(LANGUAGES)}", exit_code=USAGE)
    return lang


@functools.cache
def catalog(lang: str) -> dict[str, str]:
    """msgid -> translation, for the translated, non-fuzzy entries (English: none)."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return {}
    from babel.messages.pofile import read_po

    with path.open("rb") as po:
        return {m.id: m.string for m in read_po(po, locale=lang)
                if m.id and m.string and not m.fuzzy}


def gettext(message: str, lang: str) -> str:
    return catalog(lang).get(message, message)


@functools.cache
def language_name(code: str, lang: str) -> str:
    """The name of language `code` in language `lang`: "Chinese", "chinois", "中文"."""
    from babel import Locale

    return Locale.parse(lang).languages.get(code, code)


def direction(lang: str) -> str:
    return "rtl" if lang in RIGHT_TO_LEFT else "ltr"


def in_their_own_names() -> dict[str, str]:
    """Each language by its own name, as a language switch offers them: "Français", "中文"."""
    return {code: _capitalized(language_name(code, code)) for code in LANGUAGES}


def _capitalized(name: str) -> str:
    return name[:1].upper() + name[1:]


def asked_for(asked: str | None, remembered: str | None) -> str:
    """The language a page is read in: the one asked for (`?lang=`, checked), else the one
    the reader chose before (a cookie; ignored when it is not one of LANGUAGES), else
    English."""
    if asked and asked.strip():
        return checked(asked.strip(), option="lang")
    return remembered if remembered in LANGUAGES else "en"
