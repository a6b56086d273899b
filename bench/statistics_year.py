"""The statistics of a year of a busy venue (issue 14, part 3): goal under a second.
(Not bench/statistics.py: a script's folder comes first on sys.path, and that name would hide
Python's own `statistics` module.)

    .venv/bin/python bench/statistics_year.py                    # SQLite: a throwaway file under /tmp
    .venv/bin/python bench/statistics_year.py --keep             # keep it; then --reuse skips the build
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scheduler_hC .venv/bin/python bench/statistics_year.py

Builds, on a throwaway database (SQLite: a file in /tmp; PostgreSQL: `test_<name>`, created and
dropped here), one licence centre with 4 counters, 10-minute slots 9:00–16:00 on weekdays for the
whole of 2026 (the generator's calendar: ~245 open days, ~41,000 seats), and books ~92 % of the
seats (75 % online, 12 % staff, 13 % walk-in); of those 6 % are cancelled by the resident, 1 % by
the venue, 4 % do not come and the rest are checked in, called (most of them), served and done,
each with its events (made, checked in, at the counter, done) and its calls, all by `bulk_create`.
Then it times `bookings.statistics.statistics_for` for the year (by day, week and month) and the
statistics page for the year (by day and by month, as a prefecture administrator) and the CSV:
the median of RUNS runs after one warm-up, with a yardstick of the machine's speed (as bench/load.py).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics as stats
import sys
import tempfile
import time
import timeit
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler.settings")
os.environ.setdefault("CLOCK_NOW", "2027-01-05T09:00:00+09:00")  # after the year: all of it is past

import django

django.setup()

from django.conf import settings
from django.db import connection
from django.db.models import Sum
from django.test.utils import setup_test_environment

RUNS = 5
FIRST, LAST = date(2026, 1, 1), date(2026, 12, 31)
BATCH = 5000


def python_speed_us() -> float:
    """A yardstick of this machine's speed at the time of the run (best of 5, µs): figures of two
    runs compare only when this one is about the same (bench/load.py's)."""
    return round(min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6, 2)


def say(text: str) -> None:
    print(text, flush=True)


def build() -> tuple[object, int, int]:
    """The centre, its year of slots, bookings, events and calls. (venue, seats, bookings)."""
    from bookings.models import Booking, BookingEvent, Call, Slot
    from bookings.references import REFERENCE_ALPHABET, REFERENCE_LENGTH
    from bookings.slots import slots_generate
    from scheduler.clock import at_jst
    from tests import builders
    from venues.models import Procedure

    rng = random.Random(14)
    record = builders.procedure("record")
    erase = builders.procedure("erase")
    centre = builders.venue(
        code="bench-stats-centre", procedures=("record", "erase"), windows=(("09:00", "16:00"),), counters=4
    )
    builders.venue(code="bench-stats-station", windows=(("10:00", "12:00"),), counters=1)  # for the ranking
    say("generating slots for 2026 ...")
    began = time.perf_counter()
    slots_generate(now=at_jst(FIRST - timedelta(days=1), 12), days=(LAST - FIRST).days + 1)
    slots = list(
        Slot.objects.filter(venue=centre).order_by("start").values_list("pk", "start", "end", "capacity")
    )
    seats = sum(row[3] for row in slots)
    say(f"  {len(slots)} slots, {seats} seats in {time.perf_counter() - began:.1f} s")
    assert Procedure.objects.count() >= 2

    references: set[str] = set()

    def reference() -> str:
        while True:
            text = "".join(rng.choices(REFERENCE_ALPHABET, k=REFERENCE_LENGTH))
            if text not in references:
                references.add(text)
                return text

    # Bookings: created_at is auto_now_add (the real clock); the statistics use the creation event.
    say("booking ~92% of the seats ...")
    began = time.perf_counter()
    plans = []  # (booking, made, status, channel)
    for pk, start, end, capacity in slots:
        for _seat in range(capacity):
            if rng.random() > 0.92:
                continue
            draw = rng.random()
            channel = "online" if draw < 0.75 else ("staff" if draw < 0.87 else "walk_in")
            if channel == "walk_in":
                made = start - timedelta(minutes=rng.randint(5, 90))
            else:
                made = start - timedelta(hours=rng.uniform(2, 24 * 30))
            fate = rng.random()
            status = (
                "cancelled"
                if fate < 0.06
                else "cancelled_by_venue"
                if fate < 0.07
                else "no_show"
                if fate < 0.11
                else "done"
            )
            plans.append(
                (
                    Booking(
                        reference=reference(),
                        token_hash="x" * 64,
                        venue=centre,
                        procedure=record if rng.random() < 0.8 else erase,
                        slot_id=pk,
                        start=start,
                        end=end,
                        status=status,
                        channel=channel,
                        name="ベンチ",
                    ),
                    made,
                    status,
                )
            )
    for i in range(0, len(plans), BATCH):
        Booking.objects.bulk_create([plan[0] for plan in plans[i : i + BATCH]], batch_size=1000)
        say(f"  bookings {min(i + BATCH, len(plans))}/{len(plans)}")
    if connection.vendor == "sqlite":  # SQLite's bulk_create does not hand back the keys
        ids = dict(Booking.objects.filter(venue=centre).values_list("reference", "pk"))
        for plan in plans:
            plan[0].pk = ids[plan[0].reference]
    say(f"  {len(plans)} bookings in {time.perf_counter() - began:.1f} s")

    say("events and calls ...")
    began = time.perf_counter()
    events: list[BookingEvent] = []
    calls: list[Call] = []
    written = 0

    def flush(force: bool = False) -> None:
        nonlocal written, events, calls
        if force or len(events) >= BATCH * 4:
            BookingEvent.objects.bulk_create(events, batch_size=2000)
            Call.objects.bulk_create(calls, batch_size=2000)
            written += len(events) + len(calls)
            events, calls = [], []
            say(f"  {written} events and calls written")

    for booking, made, status in plans:
        events.append(BookingEvent(booking=booking, at=made, from_status="", to_status="confirmed"))
        if status.startswith("cancelled"):
            events.append(
                BookingEvent(
                    booking=booking, at=made + timedelta(hours=1), from_status="confirmed", to_status=status
                )
            )
        elif status == "no_show":
            events.append(
                BookingEvent(
                    booking=booking,
                    at=booking.end + timedelta(hours=2),
                    from_status="confirmed",
                    to_status=status,
                    actor_kind="system",
                )
            )
        else:
            checked = booking.start - timedelta(minutes=rng.uniform(-5, 15))
            called = checked + timedelta(minutes=rng.expovariate(1 / 8))
            started = called + timedelta(minutes=rng.uniform(0.3, 2))
            done = started + timedelta(
                minutes=rng.gauss(9, 3) if rng.random() < 0.97 else rng.uniform(20, 40)
            )
            events += [
                BookingEvent(booking=booking, at=checked, from_status="confirmed", to_status="checked_in"),
                BookingEvent(booking=booking, at=started, from_status="checked_in", to_status="in_service"),
                BookingEvent(
                    booking=booking, at=max(done, started), from_status="in_service", to_status="done"
                ),
            ]
            if rng.random() < 0.9:  # the rest were served before the display was in use
                calls.append(Call(booking=booking, venue=centre, counter=rng.randint(1, 4), at=called))
                if rng.random() < 0.05:
                    calls.append(
                        Call(
                            booking=booking,
                            venue=centre,
                            counter=1,
                            kind="recall",
                            at=called + timedelta(minutes=2),
                        )
                    )
        flush()
    flush(force=True)
    say(f"  events and calls in {time.perf_counter() - began:.1f} s")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return centre, seats, len(plans)


def median_seconds(function) -> float:
    function()  # warm-up
    samples = []
    for _ in range(RUNS):
        began = time.perf_counter()
        function()
        samples.append(time.perf_counter() - began)
    return stats.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", action="store_true", help="keep the database for another run (--reuse)")
    parser.add_argument("--reuse", action="store_true", help="use the database a --keep run left")
    options = parser.parse_args()
    setup_test_environment()
    if connection.vendor == "sqlite":
        path = Path(tempfile.gettempdir()) / "bench-statistics.sqlite3"
        connection.settings_dict["TEST"]["NAME"] = str(path)
        if not options.reuse:
            path.unlink(missing_ok=True)
    old_name = connection.creation.create_test_db(verbosity=0, keepdb=options.reuse)
    try:
        settings.ALLOWED_HOSTS = ["*"]
        from django.contrib.auth.models import User
        from django.test import Client

        from bookings.models import Booking, Slot
        from bookings.statistics import statistics_for
        from scheduler import clock
        from venues.models import Venue

        centre = Venue.objects.filter(code="bench-stats-centre").first()
        if centre is None:
            centre, seats, booked = build()
        else:
            say("reusing the kept database")
            seats = Slot.objects.filter(venue=centre).aggregate(n=Sum("capacity"))["n"]
            booked = Booking.objects.filter(venue=centre).count()
        now = clock.now()
        say("")
        say(f"database: {connection.vendor}; one venue, {FIRST}–{LAST}: {seats} seats, {booked} bookings")
        say(f"machine speed: sum(range(1000)) in {python_speed_us()} µs (lower is faster)")
        say(f"median of {RUNS} runs after a warm-up:")
        result = statistics_for(venues=[centre], first=FIRST, last=LAST, period="day", now=now)
        totals = result.totals
        for period in ("day", "week", "month"):
            seconds = median_seconds(
                lambda period=period: statistics_for(
                    venues=[centre], first=FIRST, last=LAST, period=period, now=now
                )
            )
            say(f"  statistics_for, a year by {period:<5}  {seconds * 1000:7.0f} ms")
        venues = list(Venue.objects.all())
        seconds = median_seconds(
            lambda: statistics_for(venues=venues, first=FIRST, last=LAST, period="day", now=now, ranking=True)
        )
        say(f"  statistics_for, prefecture + ranking {seconds * 1000:7.0f} ms  ({len(venues)} venues)")
        client = Client()
        admin = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser(
            "bench-admin", password="a-long-bench-password-42"
        )
        client.force_login(admin)
        url = "/admin/bookings/booking/statistics/"
        for label, params in (
            ("page, a year by day", {"venue": centre.code, "period": "day"}),
            ("page, a year by month", {"venue": centre.code, "period": "month"}),
            ("page, a year, CSV", {"venue": centre.code, "period": "day", "format": "csv"}),
            ("page, a month by day", {"venue": centre.code, "from": "2026-06-01", "to": "2026-06-30"}),
        ):
            query = {"from": FIRST.isoformat(), "to": LAST.isoformat(), **params}

            def get(query=query):
                response = client.get(url, query)
                assert response.status_code == 200, response.status_code
                return response

            seconds = median_seconds(get)
            say(f"  {label:<29} {seconds * 1000:7.0f} ms  ({len(get().content) // 1024} KiB)")
        say("")
        say(
            f"figures of the year: bookings {totals.bookings} (online {totals.online}, staff {totals.staff}, "
            f"walk-in {totals.walk_in}), cancelled {totals.cancelled_by_resident} "
            f"+ {totals.cancelled_by_venue} by the venue, "
            f"no-show rate {100 * (totals.no_show_rate or 0):.1f}%, seat use "
            f"{100 * (totals.seat_use or 0):.1f}%, waiting median {totals.waiting_minutes.median:.1f} min "
            f"(p90 {totals.waiting_minutes.p90:.1f}), service median {totals.service_minutes.median:.1f} min "
            f"(p90 {totals.service_minutes.p90:.1f}), lead median {totals.lead_hours.median / 24:.1f} days"
        )
    finally:
        if options.keep:
            say(f"kept the database ({connection.settings_dict['NAME']}): run again with --reuse")
        else:
            connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
