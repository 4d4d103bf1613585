"""`cooplog.dates` against the `edtf` package: the same first and last day for every level-0
value, and a refusal for everything that is not level 0."""

from __future__ import annotations

import re
from datetime import date

import pytest
from edtf import Date, Interval, parse_edtf
from hypothesis import given, settings
from hypothesis import strategies as st

from cooplog import dates
from strategies import level0, level0_part


def edtf_bounds(value: str) -> tuple[date, date]:
    parsed = parse_edtf(value)
    assert type(parsed) in (Date, Interval), f"{value!r} is {type(parsed).__name__} to edtf"
    return date(*parsed.lower_strict()[:3]), date(*parsed.upper_strict()[:3])


@settings(max_examples=50, deadline=None)  # edtf parses slowly
@given(level0)
@pytest.mark.slow
def test_level0_values_have_the_bounds_edtf_gives(value):
    start, end = edtf_bounds(value)
    if start <= end:
        assert dates.parse(value) == (start, end)
        assert (dates.start(value), dates.end(value)) == (start, end)
    else:  # EDTF parses a backwards interval; the log refuses it
        with pytest.raises(dates.DateError, match="ends before it starts"):
            dates.parse(value)


years = st.integers(1, 9999).map("{:04d}".format)
months = st.integers(1, 12).map("{:02d}".format)
times = st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)).map(
    lambda t: "T{:02d}:{:02d}:{:02d}".format(*t))

# EDTF that is not level 0: each of level 1 and 2's additions, built on level-0 parts.
not_level0 = st.one_of(
    st.builds("{}{}".format, level0_part(), st.sampled_from("?~%")),  # uncertain/approximate
    st.builds("-{}".format, years),  # negative year
    st.builds("{}-{}".format, years, st.integers(21, 41).map(str)),  # season
    st.builds("{}X".format, years.map(lambda y: y[:3])),  # unspecified digits
    st.builds("{}-XX".format, years),
    st.builds("{}-{}-XX".format, years, months),
    st.builds("Y{}".format, st.integers(10_000, 10**9)),  # long year
    st.builds("{}S{}".format, years, st.integers(1, 4)),  # significant digits
    st.builds("{}-{}-15{}".format, years, months, times),  # a time of day
    st.builds("../{}".format, level0_part()),  # open and unknown ends
    st.builds("{}/..".format, level0_part()),
    st.builds("{}/".format, level0_part()),
    st.builds("[{},{}]".format, level0_part(), level0_part()),  # sets
    st.builds("{{{},{}}}".format, level0_part(), level0_part()),
)


@settings(max_examples=50, deadline=None)  # edtf parses slowly
@given(not_level0)
@pytest.mark.slow
def test_edtf_beyond_level0_is_refused(value):
    assert parse_edtf(value) is not None  # it is EDTF…
    with pytest.raises(dates.DateError):  # …but not level 0
        dates.parse(value)


@settings(deadline=None)
@given(st.text(alphabet="0123456789-/?~%XYST:.Z ٢２", max_size=24))
def test_whatever_parse_accepts_edtf_reads_the_same(value):
    """Any string: refused with DateError (never another exception), or level 0 to edtf
    with the same bounds."""
    try:
        bounds = dates.parse(value)
    except dates.DateError:
        return
    assert bounds == edtf_bounds(value)


@pytest.mark.parametrize(("value", "message"), [
    ("2009-13", "'2009-13' has no month 13"),
    ("2009-00", "'2009-00' has no month 00"),
    ("2009-02-30", "'2009-02-30' is not a calendar day"),
    ("2010/2009", "'2010/2009' ends before it starts"),
    ("March 2009", "'March 2009' is not YYYY, YYYY-MM or YYYY-MM-DD"),
    ("٢٠٠٩", "'٢٠٠٩' is not YYYY, YYYY-MM or YYYY-MM-DD"),  # Arabic-Indic digits
    ("2009/2010/2011", "'2009/2010/2011' has more than one '/'"),
    ("0000", "'0000': the year 0000 is not supported"),
])
def test_refusals_say_what_is_wrong(value, message):
    with pytest.raises(dates.DateError) as refused:
        dates.parse(value)
    assert str(refused.value) == message


def test_bounds_are_calendar_days():
    assert dates.parse("2009") == (date(2009, 1, 1), date(2009, 12, 31))
    assert dates.parse("2009-02") == (date(2009, 2, 1), date(2009, 2, 28))
    assert dates.parse("2008-02") == (date(2008, 2, 1), date(2008, 2, 29))
    assert dates.parse("2009-11/2010-02") == (date(2009, 11, 1), date(2010, 2, 28))
    assert dates.parse("2009-03-23/2009") == (date(2009, 3, 23), date(2009, 12, 31))


# --- in words ------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "words"), [
    # the examples, in the UN's editorial style
    ("2009-02-09", "9 February 2009"),
    ("2009-12-14/2009-12-16", "14–16 December 2009"),
    ("2009-03-23/2009-05-11", "23 March–11 May 2009"),
    ("2009-12-28/2010-01-02", "28 December 2009–2 January 2010"),
    ("2008-11", "November 2008"),
    ("2009", "2009"),
    ("2008/2009", "2008–2009"),
    # what both ends share is said once; what they do not, each end says
    ("2009-03/2009-05", "March–May 2009"),
    ("2008-11/2009-02", "November 2008–February 2009"),
    ("2009-03/2009-05-11", "March–11 May 2009"),
    ("2008-12-30/2009-01", "30 December 2008–January 2009"),
    ("2009/2009-05", "2009–May 2009"),
    ("2009-03-23/2009-03-23", "23 March 2009"),
    ("2009-03/2009-03", "March 2009"),
])
def test_dates_in_words(value, words):
    assert dates.in_words(value) == words


@settings(max_examples=200, deadline=None)
@given(level0)
def test_every_date_reads_as_words_with_no_iso_date_and_no_spaced_dash(value):
    try:
        dates.parse(value)
    except dates.DateError:
        with pytest.raises(dates.DateError):
            dates.in_words(value)
        return
    words = dates.in_words(value)
    assert not re.search(r"\d{4}-\d{2}", words), words
    assert " – " not in words and " - " not in words
    assert words.count(dates.DASH) == ("/" in value and len(set(value.split("/"))) == 2)
