"""What one waiting-room TV costs the server: its once-a-second poll, through the full stack.

Usage: .venv/bin/python bench/display_poll.py [--calls 1000] [--venue iida-station]
Uses DATABASE_URL if set (e.g. PostgreSQL), otherwise a temporary SQLite file. In-process
(Django's test client: URL routing, middleware, view, SQL), no network. Measures the poll that
finds nothing new (304, what a TV does almost all day) and the one after a call (200 with JSON),
with 6 calls of the day on the list and 60 calls in the venue's history of the day.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(client, url: str, calls: int, headers: dict[str, str], status: int) -> list[float]:
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == status, response.status_code
    return sorted(timings)


def line(name: str, timings: list[float], queries: int, size: int) -> str:
    p95 = timings[int(len(timings) * 0.95) - 1]
    return (
        f"{name}: {queries} SQL queries, {size} bytes body; median={statistics.median(timings):.2f} ms "
        f"p95={p95:.2f} ms max={timings[-1]:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--venue", default="iida-station")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp.name}/bench.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler.settings")
    os.environ["CLOCK_NOW"] = "2026-12-15T09:00:00+09:00"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from bookings import calls
    from bookings.contact import Contact
    from bookings.models import Booking, Call
    from bookings.services import booking_create
    from scheduler.clock import at_jst, today
    from venues.display import display_secret_renew
    from venues.models import Procedure, Venue

    print(f"database: {connection.vendor}", flush=True)
    call_command("migrate", verbosity=0)
    call_command("load_nagano", verbosity=0, stdout=open(os.devnull, "w"))
    call_command("generate_slots", verbosity=0, stdout=open(os.devnull, "w"))
    venue = Venue.objects.get(code=args.venue)
    day = today(at_jst(today(), 9, 0))
    procedure = Procedure.objects.get(code="erase")
    bookings = []
    for index, slot in enumerate(venue.slots.filter(date=day).order_by("start")[:6]):
        contact = Contact(name=f"試験 {index}", phone=f"090{12345670 + index}", email="")
        bookings.append(
            booking_create(
                venue=venue,
                procedure=procedure,
                start=slot.start,
                contact=contact,
                answers={},
                now=at_jst(day, 8, 0),
                channel=Booking.Channel.STAFF,
            ).booking
        )
    Booking.objects.filter(pk__in=[b.pk for b in bookings]).update(status=Booking.Status.CHECKED_IN)
    history = [
        Call(booking=bookings[n % 6], venue=venue, counter=1, kind="recall", at=at_jst(day, 8, 1 + n % 50))
        for n in range(60)
    ]
    Call.objects.bulk_create(history)
    key = display_secret_renew(venue=venue, now=at_jst(day, 7, 0), actor=None)
    url = f"/display/{venue.code}/calls/?k={key}"
    client = Client()
    for _ in range(20):  # warm up
        client.get(url)
    version = calls.display_version(venue=venue, now=at_jst(day, 9, 0))
    unchanged = {"If-None-Match": f'"c{version}"'}

    def measure(headers: dict[str, str]) -> tuple[int, int]:
        queries: list[str] = []

        def count(execute, sql, params, many, context):
            queries.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            body = client.get(url, headers=headers).content
        return len(queries), len(body)

    q304, size304 = measure(unchanged)
    q200, size200 = measure({})
    t304 = timed(client, url, args.calls, unchanged, 304)
    t200 = timed(client, url, args.calls, {}, 200)
    print(f"display poll, {venue.code}, 6 people on the list, 60 calls today, {args.calls} polls each")
    print(line("nothing new (304)", t304, q304, size304))
    print(line("after a call (200)", t200, q200, size200))
    per_tv = statistics.median(t304) / 1000  # seconds of one worker per second of one TV
    print(f"one TV polling every second keeps a worker busy {per_tv * 100:.2f}% of the time")


if __name__ == "__main__":
    main()
