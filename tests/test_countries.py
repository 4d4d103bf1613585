"""Countries by the UN's standard short names (countries.py, the M49 table it ships), for
the report, the calendar and the site; the codes stay what the log stores."""

from __future__ import annotations

import csv

import pytest

from cooplog import countries


@pytest.mark.parametrize(("code", "name"), [
    ("KR", "Republic of Korea"),
    ("VN", "Viet Nam"),
    ("IR", "Iran (Islamic Republic of)"),
    ("US", "United States of America"),
    ("TR", "Türkiye"),
    ("GB", "United Kingdom of Great Britain and Northern Ireland"),
    ("HK", "China, Hong Kong Special Administrative Region"),
    ("TW", "Taiwan (Province of China)"),
    ("CH", "Switzerland"),
    ("cn", "China"),
])
def test_un_short_names(code, name):
    assert countries.country_name(code) == name


def test_a_code_the_list_lacks_stays_as_recorded():
    assert countries.country_name("XK") == "XK"


@pytest.mark.parametrize(("city", "country", "place"), [
    ("Geneva", "CH", "Geneva, Switzerland"),
    ("Hong Kong", "CN", "Hong Kong, China"),  # as UN documents write a meeting held there
    ("Hong Kong", "HK", "China, Hong Kong Special Administrative Region"),
    ("Singapore", "SG", "Singapore"),
    (None, "KR", "Republic of Korea"),
    ("Brussels", None, "Brussels"),
    (None, None, None),
])
def test_places_as_a_document_prints_them(city, country, place):
    assert countries.place(city, country) == place


def test_every_iso_code_has_an_english_name_and_codes_are_unique():
    with countries.TABLE.open(encoding="utf-8", newline="") as table:
        rows = list(csv.DictReader(table))
    codes = [row["code"] for row in rows]
    assert len(codes) == len(set(codes)) >= 249
    assert all(row["en"].strip() for row in rows)
    assert all(len(code) == 2 and code.isupper() for code in codes)
