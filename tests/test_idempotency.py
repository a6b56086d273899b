"""Idempotency-Key on the API's POSTs (api.md 1.1): a retry over a bad network books once."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django.test import RequestFactory
from rest_framework.test import APIClient

from bookings.models import Booking, Slot
from bookings.slots import slots_generate
from scheduler import idempotency
from tests import builders

pytestmark = pytest.mark.django_db
# Keys unique to this run: kept answers outlive a test database in a shared Redis.
RUN = uuid.uuid4().hex[:12]
KEYS = {
    name: f"{name}-{RUN}"
    for name in [
        "book-2",
        "cancel-1",
        "error-1",
        "hold-1",
        "mismatch-1",
        "order-1",
        "race-1",
        "retry-1",
        "running-1",
        "sealed-1",
    ]
}
ON_POSTGRES = django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.fixture
def centre(db, travel):
    place = builders.venue(code="idem-centre", procedures=("erase",), counters=3)
    slots_generate(now=travel(2026, 12, 1, 9, 0), venues=[place])
    return place


def booking_body(**overrides):
    return {
        "venue": "idem-centre",
        "procedure": "erase",
        "start": "2026-12-14T10:00:00+09:00",
        "name": "長野 太郎",
        "phone": "026-000-0000",
        **overrides,
    }


def post(path, body, key, **headers):
    return APIClient().post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key, **headers)


def test_a_retried_booking_gets_the_first_response_with_its_token_and_books_once(centre):
    first = post("/api/v1/bookings/", booking_body(), KEYS["retry-1"])
    again = post("/api/v1/bookings/", booking_body(), KEYS["retry-1"])
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and "token" in again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Booking.objects.count() == 1
    assert Slot.objects.get(start=Booking.objects.get().start).taken == 1


def test_the_same_json_in_another_key_order_is_the_same_request(centre):
    first = post("/api/v1/bookings/", booking_body(), KEYS["order-1"])
    reordered = dict(reversed(list(booking_body().items())))
    assert post("/api/v1/bookings/", reordered, KEYS["order-1"]).content == first.content


def test_the_same_key_with_another_body_is_a_mismatch(centre):
    post("/api/v1/bookings/", booking_body(), KEYS["mismatch-1"])
    other = post("/api/v1/bookings/", booking_body(name="別人"), KEYS["mismatch-1"])
    assert other.status_code == 422 and other.json()["code"] == "idempotency_mismatch"
    assert Booking.objects.count() == 1


def test_a_repeat_while_the_first_is_running_is_in_progress(centre):
    body = booking_body()
    request = APIClient().post("/api/v1/bookings/", body, format="json").wsgi_request  # its fingerprint
    Booking.objects.all().delete()
    where = idempotency._cache_key(request, KEYS["running-1"])
    cache.add(where, {"state": "in_progress", "fingerprint": idempotency._fingerprint(request)}, 60)
    response = post("/api/v1/bookings/", body, KEYS["running-1"])
    assert response.status_code == 409 and response.json()["code"] == "idempotency_in_progress"


def test_an_error_answer_is_replayed_too_and_changes_nothing(centre):
    first = post("/api/v1/bookings/", booking_body(start="2026-12-14T10:05:00+09:00"), KEYS["error-1"])
    again = post("/api/v1/bookings/", booking_body(start="2026-12-14T10:05:00+09:00"), KEYS["error-1"])
    assert first.status_code == again.status_code == 400 and again.json()["code"] == "no_such_slot"


def test_the_kept_response_is_sealed_and_expires(centre, settings):
    settings.IDEMPOTENCY_SECONDS = 1
    first = post("/api/v1/bookings/", booking_body(), KEYS["sealed-1"]).json()
    where = idempotency._cache_key(RequestFactory().post("/api/v1/bookings/"), KEYS["sealed-1"])
    kept = cache.get(where)
    assert kept["state"] == "done" and first["token"] not in repr(kept)  # the token is sealed
    time.sleep(1.2)
    assert cache.get(where) is None
    later = post("/api/v1/bookings/", booking_body(), KEYS["sealed-1"])  # a new request now: the rules answer
    assert later.status_code == 409 and later.json()["code"] == "duplicate_booking"


@pytest.mark.parametrize("key", ["", "a" * 256, "with space", "改行"])
def test_a_malformed_key_is_invalid(centre, key):
    response = APIClient().post(
        "/api/v1/bookings/",
        booking_body(),
        format="json",
        HTTP_IDEMPOTENCY_KEY=key.encode().decode("latin-1"),
    )
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["fields"]
    assert Booking.objects.count() == 0


def test_every_api_post_takes_a_key_holds_and_cancels_too(centre):
    held = post(
        "/api/v1/holds/",
        {"venue": "idem-centre", "procedure": "erase", "start": "2026-12-14T10:10:00+09:00"},
        KEYS["hold-1"],
    )
    assert (
        post(
            "/api/v1/holds/",
            {"venue": "idem-centre", "procedure": "erase", "start": "2026-12-14T10:10:00+09:00"},
            KEYS["hold-1"],
        ).content
        == held.content
    )
    made = post("/api/v1/bookings/", booking_body(), KEYS["book-2"]).json()
    headers = {"HTTP_X_BOOKING_TOKEN": made["token"]}
    first = post(f"/api/v1/bookings/{made['reference']}/cancel/", None, KEYS["cancel-1"], **headers)
    again = post(f"/api/v1/bookings/{made['reference']}/cancel/", None, KEYS["cancel-1"], **headers)
    assert first.status_code == again.status_code == 200  # not 409 not_active: the first answer


@pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL: DATABASE_URL is not PostgreSQL (CI sets one)")
@pytest.mark.django_db(transaction=True)
@pytest.mark.xdist_group("pg-race")
def test_concurrent_repeats_with_one_key_make_one_booking(travel):
    place = builders.venue(code="idem-race", procedures=("erase",), counters=5)
    slots_generate(now=travel(2026, 12, 1, 9, 0), venues=[place], days=13)
    barrier = threading.Barrier(12)
    results: list = [None] * 12

    def run(index: int) -> None:
        try:
            connection.ensure_connection()
            barrier.wait(timeout=30)
            response = post("/api/v1/bookings/", booking_body(venue="idem-race"), KEYS["race-1"])
            results[index] = (response.status_code, response.json().get("code", "created"))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert Booking.objects.count() == 1
    assert set(Counter(results)) <= {(201, "created"), (409, "idempotency_in_progress")}, results
    assert Counter(results)[(201, "created")] >= 1
