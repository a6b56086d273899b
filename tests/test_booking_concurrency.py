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
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from bookings import holds, services
from bookings.contact import contact_clean
from bookings.models import Booking, Hold, Slot
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from scheduler.errors import NotActive, SlotFull
from tests import builders
from tests.seat_checks import seat_mismatches
from venues.models import Procedure

ROOT = Path(__file__).resolve().parent.parent
MONDAY = date(2026, 12, 14)
ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
postgres_only = pytest.mark.skipif(
    not ON_POSTGRES, reason="needs PostgreSQL: DATABASE_URL is not a PostgreSQL database (CI sets one)"
)
pytestmark = [pytest.mark.xdist_group("pg-race")]


def connect() -> None:
    """This thread's connection; PostgreSQL's 100 slots can be briefly full while the backends of
    the previous race's threads are still exiting, so a refused connection is tried again."""
    from django.db import OperationalError

    for attempt in range(40):
        try:
            connection.ensure_connection()
            return
        except OperationalError as error:
            if "too many clients" not in str(error) or attempt == 39:
                raise
            time.sleep(0.25)


def race(count: int, work: Callable[[int], object]) -> list[object]:
    """Run `work(i)` in `count` threads released together; each thread has and closes its connection."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(index: int) -> None:
        try:
            connect()  # connect first, so that the race is the booking itself
            barrier.wait(timeout=60)
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
    """Every slot whose counter differs from its bookings plus live holds, or exceeds its capacity."""
    return seat_mismatches()


def book_erase(place, start, phone: str, now):
    """A booking of `erase` for a person of that phone, through the services."""
    return services.booking_create(
        venue=place,
        procedure=Procedure.objects.get(code="erase"),
        start=start,
        contact=contact_clean(name="利用者", phone=phone),
        answers={},
        now=now,
    )


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
def test_50_clients_holding_and_booking_one_seat_take_it_exactly_once(travel):
    venue_with_slots(travel, window=("10:00", "10:10"), counters=1)
    seat = {"venue": "race-centre", "procedure": "erase", "start": "2026-12-14T10:00:00+09:00"}

    def client(index: int) -> tuple[int, str]:
        if index % 2:
            response = APIClient().post("/api/v1/holds/", seat, format="json")
            kind = "held"
        else:
            contact = {"name": f"利用者 {index}", "phone": f"090{index:08d}", "email": ""}
            response = APIClient().post("/api/v1/bookings/", {**seat, **contact}, format="json")
            kind = "booked"
        return response.status_code, kind if response.status_code == 201 else response.json()["code"]

    results = race(50, client)
    assert all(isinstance(r, tuple) for r in results), {repr(r) for r in results}
    winners = [r for r in results if r[0] == 201]
    assert len(winners) == 1, results
    assert Counter(results)[(409, "slot_full")] == 49, results
    assert Slot.objects.get(start=at_jst(MONDAY, 10)).taken == 1
    assert Booking.objects.count() + Hold.objects.filter(state="live").count() == 1
    assert seats_match_bookings() == []


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_200_holds_and_bookings_fill_20_two_seat_slots_exactly(travel):
    place, now = venue_with_slots(travel, window=("10:00", "13:20"), counters=2)
    slots = list(Slot.objects.filter(date=MONDAY).order_by("start"))
    erase = Procedure.objects.get(code="erase")

    def worker(thread: int) -> list[str]:
        outcomes = []
        for attempt in range(10):
            slot = slots[(thread + attempt * 7) % 20]
            try:
                if (thread + attempt) % 3 == 0:
                    holds.hold_create(venue=place, procedure=erase, start=slot.start, now=now)
                    outcomes.append("held")
                else:
                    book_erase(place, slot.start, f"090{thread:04d}{attempt:04d}", now)
                    outcomes.append("booked")
            except SlotFull:
                outcomes.append("full")
        return outcomes

    results = race(20, worker)
    assert all(isinstance(r, list) for r in results), results
    tally = Counter(o for r in results for o in r)
    assert tally["held"] + tally["booked"] == 40 and tally["full"] == 160, tally
    assert set(Slot.objects.filter(date=MONDAY).values_list("taken", flat=True)) == {2}
    assert seats_match_bookings() == []


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_holds_turned_into_bookings_while_the_sweep_expires_them_never_lose_or_double_a_seat(travel):
    place, now = venue_with_slots(travel, window=("10:00", "11:00"), counters=1)  # 6 one-seat slots
    erase = Procedure.objects.get(code="erase")
    starts = [s.start for s in Slot.objects.filter(date=MONDAY).order_by("start")]
    held = [holds.hold_create(venue=place, procedure=erase, start=start, now=now) for start in starts]
    later = now + timedelta(minutes=10)  # every hold has just expired

    def worker(index: int) -> str:
        if index >= len(held):
            return f"swept {holds.holds_expire(now=later)}"
        try:
            services.booking_create(
                venue=None,
                procedure=None,
                start=None,
                hold=held[index].secret,
                contact=contact_clean(name="利用者", phone=f"0900000{index:04d}"),
                answers={},
                now=later,
            )
            return "booked"
        except SlotFull:
            return "full"

    results = race(len(held) + 2, worker)
    assert all(isinstance(r, str) for r in results), results
    booked = results.count("booked")
    assert booked == Booking.objects.count()
    assert Hold.objects.filter(state="live").count() == 0
    assert set(Slot.objects.filter(date=MONDAY).values_list("taken", flat=True)) <= {0, 1}
    assert Slot.objects.filter(date=MONDAY, taken=1).count() == booked == 6  # free seats rebook
    assert seats_match_bookings() == []


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_200_bookings_by_20_threads_fill_20_two_seat_slots_exactly(travel):
    place, now = venue_with_slots(travel, window=("10:00", "13:20"), counters=2)
    slots = list(Slot.objects.filter(date=MONDAY).order_by("start"))
    assert len(slots) == 20

    def booker(thread: int) -> list[str]:
        outcomes = []
        for attempt in range(10):
            slot = slots[(thread + attempt * 3) % 20]  # every slot gets 10 tries, in a different order
            try:
                book_erase(place, slot.start, f"090{thread:04d}{attempt:04d}", now)
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
            contact=contact_clean(name="利用者", phone=f"026000{index:04d}"),
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
        "DEBUG": "1",  # the embedded default, as `make run` serves it
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
