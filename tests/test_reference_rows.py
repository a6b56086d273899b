"""A venue and a procedure are kept by the process for a few seconds after a booking or a hold
read them (venues.selectors.venue_and_procedure): a statement less on every booking. What must be
exact at once still is; a change made here is seen at once, one made by another process within
REFERENCE_CACHE_SECONDS."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from bookings.models import Booking
from bookings.slots import slots_generate
from tests import builders
from venues import selectors
from venues.models import Venue

pytestmark = pytest.mark.django_db

ANSWERS = {"card_valid": True, "chip_ok": True, "licence_suspended": False}


@pytest.fixture
def centre(travel, settings):
    settings.REFERENCE_CACHE_SECONDS = 60
    place = builders.venue(code="kept-centre", windows=(("10:00", "11:00"),), counters=3)
    slots_generate(now=travel(2026, 12, 1, 9, 0), venues=[place], days=13)
    return place


def book(phone: str, start: str = "2026-12-14T10:00:00+09:00"):
    body = {"venue": "kept-centre", "procedure": "record", "start": start}
    body.update(name="長野 花子", phone=phone)
    return APIClient().post("/api/v1/bookings/", {**body, "answers": ANSWERS}, format="json")


def test_a_venue_closed_by_another_process_takes_no_booking_although_this_one_kept_it(centre):
    assert book("090-1111-0001").status_code == 201  # the venue is now kept here
    Venue.objects.filter(pk=centre.pk).update(is_active=False)  # as another process would: no signal here
    response = book("090-1111-0002", start="2026-12-14T10:10:00+09:00")
    assert (response.status_code, response.json()["code"]) == (400, "procedure_not_offered")
    assert Booking.objects.count() == 1


def test_a_venue_changed_in_this_process_is_read_afresh_at_once(centre):
    assert book("090-1111-0003").status_code == 201
    centre.is_active = False
    centre.save()
    response = book("090-1111-0004", start="2026-12-14T10:10:00+09:00")
    assert response.status_code == 400 and "venue" in response.json()["fields"]


def test_another_process_s_change_is_seen_once_the_kept_rows_are_older_than_the_setting(centre, settings):
    settings.REFERENCE_CACHE_SECONDS = 0.2
    venue, _ = selectors.venue_and_procedure("kept-centre", "record")
    Venue.objects.filter(pk=centre.pk).update(name="改名後")
    assert selectors.venue_and_procedure("kept-centre", "record")[0].name == venue.name  # kept
    time.sleep(0.25)
    assert selectors.venue_and_procedure("kept-centre", "record")[0].name == "改名後"


def test_codes_that_name_nothing_are_never_kept(centre):
    for number in range(50):
        assert selectors.venue_and_procedure(f"made-up-{number}", "record")[0] is None
        assert selectors.venue_and_procedure("kept-centre", f"made-up-{number}")[1] is None
    assert selectors._kept == {}


def test_a_hold_at_a_venue_closed_by_another_process_is_refused_too(centre):
    client = APIClient()
    assert book("090-1111-0005").status_code == 201
    Venue.objects.filter(pk=centre.pk).update(is_active=False)
    body = {"venue": "kept-centre", "procedure": "record", "start": "2026-12-14T10:20:00+09:00"}
    response = client.post("/api/v1/holds/", body, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "procedure_not_offered")
