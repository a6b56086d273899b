"""The opening of a new day: at 00:00 JST the day at the end of the horizon (30 days ahead) becomes
bookable online, every seat of it at once; a second before, none of it is. Its slots exist before
that moment (the nightly roll makes them a day ahead), and no cached answer shows it closed after.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from rest_framework.test import APIClient

from bookings import seats
from bookings.models import Booking, Slot
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from venues import planning
from venues.models import Closure, Procedure, Venue

pytestmark = pytest.mark.django_db

CENTRE, STATION = "hokushin-centre", "nagano-chuo-station"
ROLL = (2026, 11, 15, 0, 15)  # Sunday: the nightly roll of the day before the opening
EVE = (2026, 11, 15, 23, 59, 59)  # the horizon still ends on Tuesday 15 December
MIDNIGHT = (2026, 11, 16, 0, 0, 0)  # Monday: it now ends on Wednesday 16 December
OPENING = date(2026, 12, 16)
TEN = "2026-12-16T10:00:00+09:00"
ANSWERS = {"card_valid": True, "chip_ok": True, "licence_suspended": False}
CONTACT = {"name": "長野 太郎", "phone": "026-000-0000", "email": "taro@example.jp"}


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def rolled(nagano, travel):
    """Slots of a licence centre and a police station as the nightly roll left them the day before."""
    slots_generate(now=travel(*ROLL), venues=Venue.objects.filter(code__in=[CENTRE, STATION]))


def opening_day(api, venue: str = CENTRE, procedure: str = "record") -> list[dict]:
    url = f"/api/v1/venues/{venue}/availability/?procedure={procedure}&from={OPENING}&to={OPENING}"
    response = api.get(url)
    assert response.status_code == 200
    return [slot for day in response.json()["days"] for slot in day["slots"]]


def default_range(api, venue: str = CENTRE, procedure: str = "record") -> list[dict]:
    return api.get(f"/api/v1/venues/{venue}/availability/?procedure={procedure}").json()["days"]


def test_the_nightly_roll_makes_the_slots_of_a_day_before_that_day_opens(rolled):
    made = Slot.objects.filter(date=OPENING, active=True)
    assert made.filter(venue__code=CENTRE).count() == 12  # 10:00–11:00 and 14:30–15:30
    assert made.filter(venue__code=STATION).count() == 33  # 09:00–11:30 and 13:00–16:00
    assert not Slot.objects.filter(date=OPENING + timedelta(days=1)).exists()


def test_at_23_59_59_the_new_day_shows_no_seat_and_at_midnight_every_seat_of_it(api, rolled, travel):
    travel(*EVE)
    assert opening_day(api) == [] and opening_day(api, STATION, "erase") == []
    assert default_range(api)[-1]["date"] == "2026-12-15"

    travel(*MIDNIGHT)
    assert [slot["remaining"] for slot in opening_day(api)] == [1] * 12
    assert [slot["remaining"] for slot in opening_day(api, STATION, "erase")] == [1] * 33
    last = default_range(api)[-1]
    assert (last["date"], len(last["slots"])) == ("2026-12-16", 12)


def test_a_booking_or_a_hold_at_23_59_59_is_refused_and_at_midnight_accepted(api, rolled, travel):
    booking = {"venue": CENTRE, "procedure": "record", "start": TEN, **CONTACT, "answers": ANSWERS}
    hold = {"venue": CENTRE, "procedure": "record", "start": "2026-12-16T14:30:00+09:00"}

    travel(*EVE)
    for path, body in (("/api/v1/bookings/", booking), ("/api/v1/holds/", hold)):
        response = api.post(path, body, format="json")
        assert (response.status_code, response.json()["code"]) == (400, "outside_booking_window")
    assert not Booking.objects.exists()

    travel(*MIDNIGHT)
    assert api.post("/api/v1/bookings/", booking, format="json").status_code == 201
    assert api.post("/api/v1/holds/", hold, format="json").status_code == 201
    assert len([slot for slot in opening_day(api) if slot["remaining"] == 0]) == 2


def test_every_seat_of_the_new_day_opens_in_the_same_instant_not_a_slot_at_a_time(rolled):
    centre = Venue.objects.get(code=CENTRE)
    midnight = at_jst(date(2026, 11, 16))
    slots = list(Slot.objects.filter(venue=centre, date=OPENING))

    def bookable(now) -> list[bool]:
        return [seats.is_bookable(venue=centre, run=[slot], now=now, online=True) for slot in slots]

    assert bookable(midnight - timedelta(microseconds=1)) == [False] * 12
    assert bookable(midnight) == [True] * 12
    assert seats.last_bookable_day(centre, midnight - timedelta(microseconds=1)) == OPENING - timedelta(
        days=1
    )
    assert seats.last_bookable_day(centre, midnight) == OPENING


def test_an_answer_cached_a_second_before_midnight_is_not_served_after_it(
    api, rolled, travel, django_assert_num_queries
):
    centre, record = Venue.objects.get(code=CENTRE), Procedure.objects.get(code="record")

    def pages_view(now) -> list:  # the resident pages' read: its key does not name the date
        return seats.availability(venue=centre, procedure=record, first=OPENING, last=OPENING, now=now)

    eve = travel(*EVE)
    assert pages_view(eve)[0].slots == [] and opening_day(api) == []
    with django_assert_num_queries(0):  # both answers are kept
        assert pages_view(eve)[0].slots == [] and opening_day(api) == []

    midnight = travel(*MIDNIGHT)  # no write in between: only the clock moved
    assert [view.remaining for view in pages_view(midnight)[0].slots] == [1] * 12
    assert len(opening_day(api)) == 12


def test_a_closure_staff_add_before_the_day_opens_removes_its_slots_before_they_open(api, rolled, travel):
    planning.closure_save(
        closure=Closure(venue=Venue.objects.get(code=CENTRE), start_date=OPENING, end_date=OPENING),
        actor=None,
        now=travel(*EVE),
    )
    assert not Slot.objects.filter(venue__code=CENTRE, date=OPENING, active=True).exists()

    travel(*MIDNIGHT)
    assert opening_day(api) == []
    booking = {"venue": CENTRE, "procedure": "record", "start": TEN, **CONTACT, "answers": ANSWERS}
    response = api.post("/api/v1/bookings/", booking, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "no_such_slot")
