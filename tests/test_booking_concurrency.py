"""Never double-booked: real threads, each with its own database connection, released together.

The PostgreSQL races skip where DATABASE_URL is not PostgreSQL (CI runs them on PostgreSQL). On
SQLite, the same code is raced through the embedded threaded server against a real database file,
in a subprocess (pytest-django's in-memory SQLite cannot stand for a file shared by threads).
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count, Q
from rest_framework.test import APIClient

from bookings import seats, services
from bookings.contact import contact_clean
from bookings.models import Booking, Slot
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from scheduler.errors import NotActive, SlotFull
from tests import builders
from venues.models import Procedure

ROOT = Path(__file__).resolve().parent.parent
MONDAY = date(2026, 12, 14)
ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
postgres_only = pytest.mark.skipif(
    not ON_POSTGRES, reason="needs PostgreSQL: DATABASE_URL is not a PostgreSQL database (CI sets one)"
)
pytestmark = [pytest.mark.xdist_group("pg-race")]


def race(count: int, work: Callable[[int], object]) -> list[object]:
    """Run `work(i)` in `count` threads released together; each thread has and closes its connection."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(index: int) -> None:
        try:
            connection.ensure_connection()  # connect first, so that the race is the booking itself
            barrier.wait(timeout=30)
            results[index] = work(index)
        except Exception as error:  # kept, to be asserted on by the test
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


def seats_match_bookings() -> list[tuple]:
    """Every slot whose counter differs from its seat-holding bookings, or exceeds its capacity."""
    slots = Slot.objects.annotate(
        holding=Count("bookings", filter=Q(bookings__status__in=seats.SEAT_HOLDING))
    ).values_list("pk", "taken", "holding", "capacity")
    return [row for row in slots if row[1] != row[2] or row[1] > row[3]]


def venue_with_slots(travel, *, window: tuple[str, str], counters: int):
    place = builders.venue(code="race-centre", procedures=("erase",), windows=(window,), counters=counters)
    now = travel(2026, 12, 1, 9, 0)
    slots_generate(now=now, venues=[place], days=13)  # up to Monday 14 December
    return place, now


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_50_clients_racing_for_a_one_seat_slot_get_one_201_and_49_409s(travel):
    venue_with_slots(travel, window=("10:00", "10:10"), counters=1)

    def client(index: int) -> tuple[int, str]:
        response = APIClient().post(
            "/api/v1/bookings/",
            {
                "venue": "race-centre",
                "procedure": "erase",
                "start": "2026-12-14T10:00:00+09:00",
                "name": f"利用者 {index}",
                "phone": f"090{index:08d}",
                "email": f"person{index}@example.jp",
            },
            format="json",
        )
        return response.status_code, response.json()["code"] if response.status_code != 201 else "created"

    results = race(50, client)
    assert Counter(results) == {(201, "created"): 1, (409, "slot_full"): 49}, results
    assert Slot.objects.get(start=at_jst(MONDAY, 10)).taken == 1
    assert Booking.objects.count() == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_200_bookings_by_20_threads_fill_20_two_seat_slots_exactly(travel):
    place, now = venue_with_slots(travel, window=("10:00", "13:20"), counters=2)
    slots = list(Slot.objects.filter(date=MONDAY).order_by("start"))
    assert len(slots) == 20
    erase = Procedure.objects.get(code="erase")

    def booker(thread: int) -> list[str]:
        outcomes = []
        for attempt in range(10):
            slot = slots[(thread + attempt * 3) % 20]  # every slot gets 10 tries, in a different order
            try:
                services.booking_create(
                    venue=place,
                    procedure=erase,
                    start=slot.start,
                    contact=contact_clean(name="利用者", phone=f"090{thread:04d}{attempt:04d}"),
                    answers={},
                    now=now,
                )
                outcomes.append("booked")
            except SlotFull:
                outcomes.append("full")
        return outcomes

    results = race(20, booker)
    assert all(isinstance(r, list) for r in results), results
    assert Counter(o for r in results for o in r) == {"booked": 40, "full": 160}
    assert set(Slot.objects.filter(date=MONDAY).values_list("taken", flat=True)) == {2}
    assert seats_match_bookings() == []


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_reschedules_and_cancels_keep_counters_equal_to_active_bookings(travel, caplog):
    place, now = venue_with_slots(travel, window=("10:00", "11:00"), counters=2)  # 6 slots, 12 seats
    erase = Procedure.objects.get(code="erase")
    starts = [s.start for s in Slot.objects.filter(date=MONDAY).order_by("start")]
    bookings = [
        services.booking_create(
            venue=place,
            procedure=erase,
            start=starts[index % 6],
            contact=contact_clean(name="利用者", phone=f"0260000{index:04d}"),
            answers={},
            now=now,
        ).booking
        for index in range(10)
    ]

    def mover(thread: int) -> Counter:
        rng = random.Random(thread)
        outcomes: Counter = Counter()
        for _ in range(8):
            booking = bookings[rng.randrange(len(bookings))]
            try:
                if rng.random() < 0.15:
                    services.booking_cancel(booking=booking, now=now)
                    outcomes["cancelled"] += 1
                else:
                    services.booking_reschedule(booking=booking, start=rng.choice(starts), now=now)
                    outcomes["moved"] += 1
            except (SlotFull, NotActive) as refused:
                outcomes[refused.code] += 1
        return outcomes

    with caplog.at_level(logging.WARNING, logger="bookings.services"):
        results = race(20, mover)
    assert all(isinstance(r, Counter) for r in results), results
    assert sum(r["moved"] for r in results) > 20  # the race did move bookings about
    assert seats_match_bookings() == []
    active = Booking.objects.filter(status="confirmed").count()
    assert sum(Slot.objects.values_list("taken", flat=True)) == active
    assert not [r.getMessage() for r in caplog.records if "deadlock" in r.getMessage().lower()]


def test_on_sqlite_the_embedded_threaded_server_never_double_books(tmp_path):
    """The scenario script serves the app with Django's threaded server on a SQLite file and races it."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'race.sqlite3'}",
        "CLOCK_NOW": "2026-12-01T09:00:00+09:00",
        "REDIS_URL": "",
        "DJANGO_SETTINGS_MODULE": "scheduler.settings",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "sqlite_race_scenario.py")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["rush"] == {"201": 2, "409": 28}, report
    assert report["moves"]["200"] + report["moves"]["409"] == 120, report  # no 500, no 503 "busy"
    assert report["mismatched_slots"] == [], report
    assert report["over_capacity"] == 0
