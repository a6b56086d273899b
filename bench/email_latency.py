"""Time from booking to confirmation email through Redis and a real Celery worker: median of many.

Usage: REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/email_latency.py [--bookings 50]

Books one at a time through `services.booking_create` (the API's code path: the outbox row is
written in the booking's transaction and the task is published on commit), then waits for the
email file written by the worker (`celery -A scheduler worker --pool=solo`, a subprocess, with
the filebased email backend). Uses DATABASE_URL if set (e.g. PostgreSQL), otherwise a temporary
SQLite file that both processes open. Loopback only; bounded in count and time.
"""

from __future__ import annotations

import argparse
import email
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from email import policy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
NOW = "2026-12-01T09:00:00+09:00"  # both processes' clock: every slot of December is bookable
WAIT_SECONDS = 30


def written(mail_dir: Path) -> int:
    """Bytes the filebased backend has written (it may append two emails to one file)."""
    return sum(path.stat().st_size for path in mail_dir.iterdir())


def messages(mail_dir: Path) -> list[email.message.EmailMessage]:
    separator = b"\n" + b"-" * 79 + b"\n"
    return [
        email.message_from_bytes(chunk.lstrip(), policy=policy.default)
        for path in sorted(mail_dir.iterdir())
        for chunk in path.read_bytes().split(separator)
        if chunk.strip()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=50)
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        sys.exit("Set REDIS_URL (e.g. redis://127.0.0.1:6379/14): this measures the real broker and worker.")

    tmp = tempfile.TemporaryDirectory()
    mail_dir = Path(tmp.name) / "mail"
    mail_dir.mkdir()
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp.name}/bench.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler.settings")
    os.environ.pop("EMAIL_URL", None)
    os.environ.update(
        {
            "CLOCK_NOW": NOW,
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(mail_dir),
            "LOG_LEVEL": "WARNING",
            # The bench process seals tokens that the worker unseals: one key, a real one.
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-" + uuid.uuid4().hex * 2,
            "ALLOWED_HOSTS": "127.0.0.1",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bookings import services
    from bookings.contact import Contact
    from bookings.models import Booking, Notification, Slot
    from bookings.slots import slots_generate
    from scheduler import clock
    from scheduler.celery import app
    from venues.models import Procedure, Venue

    print(f"database: {connection.vendor}; broker: {app.conf.broker_url.rsplit('@', 1)[-1]}", flush=True)
    call_command("migrate", verbosity=0)
    call_command("load_nagano", verbosity=0, stdout=open(os.devnull, "w"))
    now = clock.now()
    venues = Venue.objects.filter(code__in=["hokushin-centre", "toshin-centre", "chunanshin-centre"])
    slots_generate(now=now, venues=venues)
    Booking.objects.filter(email__endswith="@bench.example").delete()
    procedure = Procedure.objects.get(code="record")
    starts = list(
        Slot.objects.filter(venue__in=venues, date__gt=clock.today(now), taken=0, active=True)
        .order_by("start", "venue_id")
        .values_list("venue_id", "start")[: args.bookings]
    )
    if len(starts) < args.bookings:
        sys.exit(f"only {len(starts)} free slots")
    app.control.purge()  # nothing stale in front of our tasks

    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "scheduler",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname=bench-email@%h",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline or worker.poll() is not None:
                sys.exit("the worker did not start")
        latencies, booking_calls = [], []
        venue_by_id = {venue.pk: venue for venue in venues}
        for index, (venue_id, start) in enumerate(starts):
            before = written(mail_dir)
            began = time.perf_counter()
            created = services.booking_create(
                venue=venue_by_id[venue_id],
                procedure=procedure,
                start=start,
                contact=Contact(
                    name="計測 太郎", phone=f"0900000{index:04d}", email=f"p{index}@bench.example"
                ),
                answers={"card_valid": True, "chip_ok": True, "licence_suspended": False},
                now=now,
            )
            booked = time.perf_counter()
            while written(mail_dir) == before:
                if time.perf_counter() - began > WAIT_SECONDS:
                    sys.exit(f"no email for {created.booking.reference} within {WAIT_SECONDS}s")
                time.sleep(0.0005)
            latencies.append(time.perf_counter() - began)
            booking_calls.append(booked - began)
        deadline = time.monotonic() + WAIT_SECONDS  # let the last write finish before reading
        while Notification.objects.filter(state="sent").count() < len(starts) and time.monotonic() < deadline:
            time.sleep(0.01)
        subjects = [str(message["Subject"]) for message in messages(mail_dir)]
        assert len(subjects) == len(starts), f"{len(subjects)} emails for {len(starts)} bookings"
        assert sum(created.booking.reference in subject for subject in subjects) == 1
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    ms = sorted(1000 * value for value in latencies)
    print(f"bookings: {len(ms)}, emails: {len(messages(mail_dir))}")
    print(
        f"booking → email through the worker: median {statistics.median(ms):.1f} ms, "
        f"p90 {ms[int(0.9 * (len(ms) - 1))]:.1f} ms, min {ms[0]:.1f} ms, max {ms[-1]:.1f} ms"
    )
    print(
        "of which the booking call itself (commit + publish): "
        f"median {1000 * statistics.median(booking_calls):.1f} ms"
    )


if __name__ == "__main__":
    main()
