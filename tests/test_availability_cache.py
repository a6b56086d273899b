"""Cached availability: fast, and never a stale seat count after a committed change."""

from datetime import date, time

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from bookings import availability_cache, seats, services
from bookings.contact import contact_clean
from bookings.models import Booking, Slot
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from tests import builders
from venues import planning
from venues.models import Closure, Procedure

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 12, 14)
TUESDAY = date(2026, 12, 15)
TEN = "2026-12-14T10:00:00+09:00"
TEN_TEN = "2026-12-14T10:10:00+09:00"
ANSWERS = {"card_valid": True, "chip_ok": True, "licence_suspended": False}
URL = "/api/v1/venues/cache-centre/availability/?procedure=record&from=2026-12-14&to=2026-12-15"


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def centre(db, travel):
    """Two counters, 10:00–10:30 in 10-minute slots, seen on Tuesday 1 December 2026 at 09:00 JST."""
    place = builders.venue(code="cache-centre", windows=(("10:00", "10:30"),), counters=2)
    slots_generate(now=travel(2026, 12, 1, 9, 0), venues=[place])
    return place


def remaining(api, day=MONDAY) -> dict[str, int]:
    response = api.get(URL)
    assert response.status_code == 200
    days = {d["date"]: d for d in response.json()["days"]}
    if day.isoformat() not in days:
        return {}
    return {s["start"]: s["remaining"] for s in days[day.isoformat()]["slots"]}


def book(api, start=TEN, phone="0260000000") -> dict:
    body = {"venue": "cache-centre", "procedure": "record", "start": start, "name": "長野 太郎"}
    response = api.post("/api/v1/bookings/", {**body, "phone": phone, "answers": ANSWERS}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_repeated_question_is_answered_from_the_cache(api, centre):
    assert remaining(api)[TEN] == 2
    Slot.objects.filter(venue=centre, start=at_jst(MONDAY, 10)).update(taken=1)  # behind its back

    assert remaining(api)[TEN] == 2


def test_a_booking_shows_one_seat_fewer_at_once(api, centre, django_capture_on_commit_callbacks):
    assert remaining(api)[TEN] == 2
    with django_capture_on_commit_callbacks(execute=True):
        book(api)

    assert remaining(api) == {TEN: 1, TEN_TEN: 2, "2026-12-14T10:20:00+09:00": 2}


def test_cancelling_gives_the_seat_back_at_once(api, centre, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = book(api)
    assert remaining(api)[TEN] == 1

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/api/v1/bookings/{created['reference']}/cancel/", HTTP_X_BOOKING_TOKEN=created["token"]
        )
    assert response.status_code == 200

    assert remaining(api)[TEN] == 2


def test_rescheduling_moves_the_seat_in_the_answer(api, centre, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = book(api)
    assert remaining(api)[TEN] == 1

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/api/v1/bookings/{created['reference']}/reschedule/",
            {"start": TEN_TEN},
            format="json",
            HTTP_X_BOOKING_TOKEN=created["token"],
        )
    assert response.status_code == 200

    assert (remaining(api)[TEN], remaining(api)[TEN_TEN]) == (2, 1)


def test_a_closure_removes_the_day_and_its_removal_brings_it_back(
    api, centre, django_capture_on_commit_callbacks
):
    assert remaining(api)
    now = at_jst(date(2026, 12, 1), 9)
    with django_capture_on_commit_callbacks(execute=True):
        result = planning.closure_save(
            closure=Closure(venue=centre, start_date=MONDAY, end_date=MONDAY, note="点検"),
            actor=None,
            now=now,
        )
    assert remaining(api) == {}

    with django_capture_on_commit_callbacks(execute=True):
        planning.closure_remove(closure=result.closure, actor=None, now=now)
    assert remaining(api)[TEN] == 2


def test_a_part_day_closure_added_outside_the_services_hides_its_slots(api, centre):
    assert TEN in remaining(api)
    builders.closure(centre, MONDAY, start_time=time(10, 0), end_time=time(10, 10))

    assert TEN not in remaining(api) and TEN_TEN in remaining(api)


def test_a_day_disappears_when_its_cut_off_passes_without_any_write(api, centre, travel):
    travel(2026, 12, 13, 16, 59)
    assert remaining(api)[TEN] == 2

    travel(2026, 12, 13, 17, 0)
    assert remaining(api) == {}

    travel(2026, 12, 13, 16, 59)  # back in time (tests, demos): not the later answer either
    assert remaining(api)[TEN] == 2


def test_a_procedure_made_longer_changes_the_runs_offered(api, centre):
    assert len(remaining(api)) == 3
    Procedure.objects.filter(code="record").update(duration_minutes=20)
    Procedure.objects.get(code="record").save()

    assert list(remaining(api)) == [TEN, TEN_TEN]


def test_an_answer_read_before_the_commit_is_not_served_after_it(
    api, centre, travel, django_capture_on_commit_callbacks
):
    """Another process may read the old rows before the commit and store its answer under the
    token it saw: the bump at commit puts that answer out of reach."""
    now = travel(2026, 12, 1, 9, 0)
    stale = api.get(URL).content  # the answer as kept: rendered JSON
    procedure = Procedure.objects.get(code="record")
    contact = contact_clean(name="長野 太郎", phone="0260000000", email="")
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            services.booking_create(
                venue=centre,
                procedure=procedure,
                start=at_jst(MONDAY, 10),
                contact=contact,
                answers=ANSWERS,
                now=now,
            )
            seen = availability_cache.tokens("cache-centre")  # as the other reader would, then store
            key = availability_cache.request_key(
                (
                    "cache-centre",
                    *seats.api_answer_parts("record", "2026-12-14", "2026-12-15", date(2026, 12, 1)),
                )
            )
            availability_cache.store(
                key, tokens=seen, computed_at=now.timestamp(), valid_until=now.timestamp() + 3600, body=stale
            )
            assert remaining(api)[TEN] == 2  # that stale answer, before the commit

    assert Booking.objects.count() == 1
    assert remaining(api)[TEN] == 1


# --- A hit needs no database; every change to what the answer depends on shows at once ---------

ALL_DAYS = "/api/v1/venues/cache-centre/availability/?procedure=record"


def test_a_cached_answer_is_served_without_any_query(api, centre, django_assert_num_queries):
    first = api.get(URL).json()

    with django_assert_num_queries(0):
        again = api.get(URL)

    assert again.status_code == 200 and again.json() == first


def test_a_deactivated_venue_is_unknown_at_once(api, centre):
    assert remaining(api)[TEN] == 2
    centre.is_active = False
    centre.save()

    response = api.get(URL)

    assert response.status_code == 404 and response.json()["code"] == "unknown_venue"


def test_a_shorter_horizon_shortens_the_default_range_at_once(api, centre):
    before = [day["date"] for day in api.get(ALL_DAYS).json()["days"]]
    assert before[-1] > "2026-12-21"
    centre.horizon_days = 20
    centre.save()

    after = [day["date"] for day in api.get(ALL_DAYS).json()["days"]]

    assert after == [day for day in before if day <= "2026-12-21"]


def test_an_earlier_cut_off_time_hides_the_next_day_at_once(api, centre, travel):
    travel(2026, 12, 13, 15, 0)
    assert remaining(api)[TEN] == 2
    centre.cutoff_time = time(14, 0)
    centre.save()

    assert remaining(api) == {}


def test_a_procedure_the_venue_stops_taking_is_refused_at_once(api, centre):
    assert remaining(api)[TEN] == 2
    centre.procedures.add(builders.procedure("erase"))  # it still takes one: still public
    centre.procedures.remove(Procedure.objects.get(code="record"))

    response = api.get(URL)

    assert response.status_code == 400 and response.json()["code"] == "procedure_not_offered"


def test_a_venue_that_stops_taking_its_last_procedure_is_unknown_at_once(api, centre):
    assert remaining(api)[TEN] == 2
    centre.procedures.clear()  # no longer public (api.md)

    response = api.get(URL)

    assert response.status_code == 404 and response.json()["code"] == "unknown_venue"


def test_a_window_with_more_counters_shows_more_seats_once_slots_are_regenerated(api, centre, travel):
    assert remaining(api)[TEN] == 2
    centre.windows.update(counters=3)
    slots_generate(now=travel(2026, 12, 1, 9, 0), venues=[centre])

    assert remaining(api)[TEN] == 3


def test_a_window_that_stops_taking_the_procedure_empties_the_answer_at_once(api, centre):
    assert remaining(api)[TEN] == 2
    for window in centre.windows.all():
        window.procedures.clear()

    assert remaining(api) == {}


def test_a_slot_withdrawn_outside_the_services_disappears_at_once(api, centre):
    assert TEN in remaining(api)
    slot = Slot.objects.get(venue=centre, start=at_jst(MONDAY, 10))
    slot.active = False
    slot.save()

    assert TEN not in remaining(api)


def test_errors_are_never_cached(api, centre):
    unknown = "/api/v1/venues/cache-centre/availability/?procedure=nothing-such"
    assert api.get(unknown).json()["code"] == "unknown_procedure"
    builders.procedure("nothing-such")
    centre.procedures.add(Procedure.objects.get(code="nothing-such"))
    for window in centre.windows.all():
        window.procedures.add(Procedure.objects.get(code="nothing-such"))

    assert api.get(unknown).status_code == 200
