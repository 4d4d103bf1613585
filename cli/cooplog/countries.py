"""Countries as the UN writes them: the standard short names of the UNSD M49 list
("Republic of Korea", "Viet Nam", "Iran (Islamic Republic of)", "Türkiye"), for every page,
report and calendar; the log itself keeps ISO 3166-1 alpha-2 codes.

`data/m49.csv` holds the M49 names in the six UN languages, taken from the "M49 …" columns
of OCHA's Countries & Territories Taxonomy as hdx-python-country 4.2.5 ships it (MIT).
Shipping the table, rather than depending on that package, spares an install of some
twenty packages (frictionless, openpyxl, …) and a first call that fetches the taxonomy
from the network. M49 has no row of its own for Taiwan; the taxonomy's preferred term,
"Taiwan (Province of China)", stands for it. Hong Kong is "China, Hong Kong Special
Administrative Region" (HK), as M49 and UN documents name it; a meeting recorded in the
city of Hong Kong under CN reads "Hong Kong, China".
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

TABLE = Path(__file__).parent / "data" / "m49.csv"


@functools.cache
def _names(lang: str = "en") -> dict[str, str]:
    """code -> short name in `lang` (a column of the table). Read once per language, on
    first use: `cooplog --help` never pays."""
    with TABLE.open(encoding="utf-8", newline="") as table:
        return {row["code"]: row[lang] for row in csv.DictReader(table)}


def country_name(code: str, lang: str = "en") -> str:
    """The UN short name of an ISO alpha-2 code in one of the six UN languages; a code the
    list lacks stays as it is."""
    return _names(lang).get(code.upper(), code)


@functools.cache  # a report names the same few places many times
def place(city: str | None, country: str | None, lang: str = "en") -> str | None:
    """"City, Country" as a document prints it, or None. A city that its country's name
    already says (Singapore, SG; Hong Kong, HK) is not said twice. Cities stay as recorded:
    the gazetteer has no names in other languages."""
    country = country_name(country, lang) if country else None
    if city and country and city.casefold() in country.casefold():
        return country
    return ", ".join(p for p in (city, country) if p) or None
