"""With the shared cache (Redis) down, holds and bookings are still accepted, through the API and
the pages: the fair-share counters (scheduler/throttling.py) and the proof of work's soft limit
(scheduler/challenge.py) count nothing while it is away rather than answer 503 to every resident.
The whole outage, with real servers: tests/test_drills.py."""

from __future__ import annotations

import socket

import pytest
from django.test import Client
from rest_framework.test import APIClient

from bookings.models import Booking, Hold
from bookings.slots import slots_generate
from scheduler.rates import parse_rates
from tests import builders
from venues.models import Venue

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "scheduler.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }
    settings.THROTTLE_RATES = parse_rates("hold=30/hour+100/day,booking=10/hour+30/day")


def test_with_redis_down_a_hold_and_its_booking_are_accepted_not_busy(db, travel, redis_down):
    place = builders.venue(code="down-centre", procedures=("erase",), counters=2)
    slots_generate(now=travel(2026, 12, 1, 9, 0), venues=[place])
    api = APIClient()
    where = {"venue": "down-centre", "procedure": "erase", "start": "2026-12-14T10:00:00+09:00"}

    held = api.post("/api/v1/holds/", where, format="json")
    assert held.status_code == 201, held.content
    booked = api.post(
        "/api/v1/bookings/",
        {"hold": held.json()["hold"], "name": "停電 花子", "phone": "0260000001"},
        format="json",
    )
    assert booked.status_code == 201, booked.content
    direct = api.post(
        "/api/v1/bookings/", {**where, "name": "停電 太郎", "phone": "0260000002"}, format="json"
    )
    assert direct.status_code == 201, direct.content
    assert Booking.objects.filter(venue=place).count() == 2


def test_with_redis_down_the_pages_still_hold_the_chosen_time(nagano, travel, redis_down, settings):
    """The soft limit of the proof of work is counted in the cache too: with it down, nobody is
    asked for a proof and the time chosen is held, not answered with the busy page."""
    settings.CHALLENGE_SOFT_LIMIT = 3
    slots_generate(now=travel(2026, 12, 1, 9, 0), venues=Venue.objects.filter(code="hokushin-centre"))
    page = Client()
    page.post("/book/", {"procedure": "record"})
    page.post(
        "/book/questions/",
        {"card_valid": "yes", "chip_ok": "yes", "chip_has_space": "yes", "licence_not_suspended": "yes"},
    )
    page.post("/book/venue/", {"venue": "hokushin-centre"})
    chosen = page.post("/book/date/", {"start": "2026-12-14T10:00:00+09:00"})
    assert chosen.status_code == 302, chosen.status_code
    assert Hold.objects.filter(state=Hold.State.LIVE).count() == 1


def test_with_redis_down_the_lookup_form_still_finds_a_booking_and_says_so_for_a_wrong_one(
    db, travel, redis_down
):
    place = builders.venue(code="down-lookup", procedures=("erase",), counters=2)
    slots_generate(now=travel(2026, 12, 1, 9, 0), venues=[place])
    made = (
        APIClient()
        .post(
            "/api/v1/bookings/",
            {
                "venue": "down-lookup",
                "procedure": "erase",
                "start": "2026-12-14T10:00:00+09:00",
                "name": "停電 次郎",
                "phone": "0260000003",
            },
            format="json",
        )
        .json()
    )
    client = Client()
    wrong = client.post("/booking/lookup/", {"reference": made["reference"], "phone_or_email": "0000000000"})
    assert wrong.status_code == 200 and "予約が見つかりませんでした" in wrong.content.decode()
    found = client.post("/booking/lookup/", {"reference": made["reference"], "phone_or_email": "0260000003"})
    assert found.status_code == 302 and found["Location"] == f"/booking/{made['reference']}/"
