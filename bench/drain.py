"""How long the outbox sweep takes to drain a backlog (as after a Redis outage), in-process.

    .venv/bin/python bench/drain.py --rows 2000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/drain.py --rows 2000

A throwaway test database (created and dropped here), the in-memory e-mail backend, and sweeps
(`bookings.notifications_sweep`, which beat starts every minute, each keeping to
NOTIFICATION_SWEEP_SECONDS) until nothing is left: how many sweeps, the seconds of sending, the
rate, and that every row went out exactly once.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler.settings")
os.environ.setdefault("CLOCK_NOW", "2026-12-01T09:00:00+09:00")

import django

django.setup()

from django.conf import settings
from django.core import mail
from django.db import connection
from django.test.utils import setup_test_environment


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    rows = parser.parse_args().rows
    setup_test_environment()  # the locmem e-mail backend
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    old_name = connection.creation.create_test_db(verbosity=0, keepdb=False)
    try:
        from bookings import tasks
        from bookings.contact import contact_clean
        from bookings.models import Notification
        from bookings.services import booking_create
        from bookings.slots import slots_generate
        from scheduler.clock import at_jst
        from tests import builders

        place = builders.venue(code="drain-centre", procedures=("erase",), counters=50)
        now = at_jst(date(2026, 12, 1), 9)
        slots_generate(now=now, venues=[place])
        procedure = place.procedures.get()
        bookings = [
            booking_create(
                venue=place,
                procedure=procedure,
                start=at_jst(date(2026, 12, 14), 10, 10 * (index % 6)),
                contact=contact_clean(name="住民", phone="", email=f"p{index}@example.jp"),
                answers={},
                now=now,
            ).booking
            for index in range(min(rows, 250))
        ]
        Notification.objects.all().delete()  # (their on-commit sends never ran here anyway)
        Notification.objects.bulk_create(
            Notification(
                booking=bookings[index % len(bookings)],
                kind=Notification.Kind.RESCHEDULED,
                dedupe_key=f"drain:{index}",
                to_address=f"p{index}@example.jp",
                next_attempt_at=now,
            )
            for index in range(rows)
        )
        mail.outbox = []
        print(f"database: {connection.vendor}; backlog: {rows} rows", flush=True)
        started = time.perf_counter()
        sent, sweeps, left = 0, 0, rows
        while left and sweeps < 5:  # beat starts one a minute; each keeps to its time budget
            sent += tasks.notifications_sweep().get("sent", 0)
            sweeps += 1
            left = Notification.objects.exclude(state=Notification.State.SENT).count()
        seconds = time.perf_counter() - started
        addresses = [message.to[0] for message in mail.outbox]
        print(f"sent {sent} in {sweeps} sweep(s), {seconds:.1f} s ({sent / seconds:.0f}/s); left {left}")
        print(f"every row exactly once: {len(addresses) == len(set(addresses)) == rows}")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
