"""Race the booking API through Django's threaded (embedded) server on a SQLite file.

Run by tests/test_booking_concurrency.py in a subprocess, with DATABASE_URL pointing at a fresh
SQLite file and CLOCK_NOW pinned; prints one JSON line with what happened. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import threading
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

START = "2026-12-14T10:00:00+09:00"


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler.settings")
    os.environ["THROTTLE_RATES"] = "off"  # 200 clients from one address: the race, not the limits
    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("django.request").setLevel(logging.ERROR)  # 409s are expected here; 500s are not
    import httpx
    from django.core.management import call_command
    from django.core.servers.basehttp import (
        ThreadedWSGIServer,
        WSGIRequestHandler,
        get_internal_wsgi_application,
    )
    from django.db import connection
    from django.db.models import Count, Q

    from bookings.models import Slot
    from bookings.seats import SEAT_HOLDING
    from bookings.slots import slots_generate
    from scheduler import clock
    from tests import builders

    assert connection.vendor == "sqlite"
    call_command("migrate", verbosity=0)
    place = builders.venue(code="race-centre", procedures=("erase",), counters=2)  # 10:00–11:00
    slots_generate(now=clock.now(), venues=[place], days=13)
    starts = [clock.local(s.start).isoformat() for s in Slot.objects.filter(date="2026-12-14")]
    connection.close()

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args) -> None:
            pass

    class Server(ThreadedWSGIServer):
        request_queue_size = 64  # runserver's listen backlog of 10 resets a 30-client rush's connects

    server = Server(("127.0.0.1", 0), QuietHandler)
    server.set_app(get_internal_wsgi_application())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/api/v1/bookings/"

    def race(count: int, work) -> list:
        barrier = threading.Barrier(count)
        results: list = [None] * count

        def run(index: int) -> None:
            try:
                with httpx.Client(timeout=60) as http:
                    barrier.wait(timeout=30)
                    results[index] = work(http, index)
            except Exception as error:
                print(f"client {index}: {error!r}", file=sys.stderr)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        assert all(result is not None for result in results), "a client thread failed"
        return results

    def book(http: httpx.Client, index: int, start: str = START) -> httpx.Response:
        body = {
            "venue": "race-centre",
            "procedure": "erase",
            "start": start,
            "name": f"利用者 {index}",
            "phone": f"090{index:08d}",
        }
        return http.post(base, json=body)

    # 1. Thirty clients rush the two seats of 10:00.
    rush = race(30, book)
    winners = [r.json() for r in rush if r.status_code == 201]

    # 2. Fill the other slots but two seats, then reschedule and cancel from 20 threads at once.
    with httpx.Client(timeout=60) as http:
        for index, start in enumerate(starts[1:] * 2):
            if index < 8:
                winners.append(book(http, 100 + index, start).json())
    bookings = [(b["reference"], b["token"]) for b in winners]

    def mover(http: httpx.Client, index: int) -> list[int]:
        rng = random.Random(index)
        statuses = []
        for _ in range(6):
            reference, token = rng.choice(bookings)
            headers = {"X-Booking-Token": token}
            if rng.random() < 0.15:
                response = http.post(f"{base}{reference}/cancel/", headers=headers)
            else:
                response = http.post(
                    f"{base}{reference}/reschedule/", json={"start": rng.choice(starts)}, headers=headers
                )
            statuses.append(response.status_code)
        return statuses

    moves = Counter(str(status) for statuses in race(20, mover) for status in statuses)
    server.shutdown()

    slots = Slot.objects.annotate(holding=Count("bookings", filter=Q(bookings__status__in=SEAT_HOLDING)))
    report = {
        "rush": dict(Counter(str(r.status_code) for r in rush)),
        "moves": {"200": moves.get("200", 0), "409": moves.get("409", 0), "all": dict(moves)},
        "mismatched_slots": [s.pk for s in slots if s.taken != s.holding],
        "over_capacity": sum(1 for s in slots if s.taken > s.capacity),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
