from datetime import date, time

import pytest
from django.utils import translation

from tests import builders
from venues.calendar import day_status, venue_calendar

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("day", "name"),
    [(date(2026, 5, 6), "振替休日"), (date(2026, 9, 22), "国民の休日"), (date(2026, 11, 23), "勤労感謝の日")],
)
def test_national_substitute_and_citizens_holidays_are_closed_with_their_japanese_name(day, name):
    with translation.override("ja"):
        status = day_status(day)
    assert (status.open, status.reason, status.note) == (False, "holiday", name)


def test_holiday_names_follow_the_language():
    with translation.override("en"):
        assert day_status(date(2026, 5, 6)).note == "Substitute Holiday"


@pytest.mark.parametrize("day", [date(2026, 12, 29), date(2026, 12, 31), date(2027, 1, 1), date(2027, 1, 3)])
def test_year_end_days_are_closed_as_year_end_even_on_a_holiday_or_weekend(day):
    status = day_status(day)
    assert (status.open, status.reason) == (False, "year_end")


def test_the_whole_year_end_period_is_closed_and_the_fourth_of_january_is_open():
    place = builders.venue()
    days = venue_calendar(place, date(2026, 12, 28), date(2027, 1, 4))
    assert [(d.date.day, d.reason) for d in days] == [
        (28, None),
        (29, "year_end"),
        (30, "year_end"),
        (31, "year_end"),
        (1, "year_end"),
        (2, "year_end"),
        (3, "year_end"),
        (4, None),
    ]


@pytest.mark.parametrize("day", [date(2026, 12, 12), date(2026, 12, 13)])
def test_weekends_are_closed(day):
    status = day_status(day)
    assert (status.open, status.reason) == (False, "weekend")


def test_an_ordinary_tuesday_is_open():
    status = day_status(date(2026, 12, 15))
    assert status.open and status.reason is None


def test_a_staff_closure_closes_the_day_with_its_note():
    place = builders.venue()
    builders.closure(place, date(2026, 12, 15), note="設備点検のため休業")
    days = venue_calendar(place, date(2026, 12, 14), date(2026, 12, 16))
    assert [(d.open, d.reason, d.note) for d in days] == [
        (True, None, ""),
        (False, "closure", "設備点検のため休業"),
        (True, None, ""),
    ]


def test_a_part_day_closure_leaves_the_day_open_with_the_note():
    place = builders.venue()
    builders.closure(place, date(2026, 12, 15), start_time=time(14, 0), end_time=time(16, 0), note="午後休止")
    status = venue_calendar(place, date(2026, 12, 15), date(2026, 12, 15))[0]
    assert (status.open, status.note, len(status.partial_closures)) == (True, "午後休止", 1)


def test_a_closure_of_another_venue_does_not_close_this_one():
    place, other = builders.venue(), builders.venue()
    builders.closure(other, date(2026, 12, 15))
    assert venue_calendar(place, date(2026, 12, 15), date(2026, 12, 15))[0].open
