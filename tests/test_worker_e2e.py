"""End to end through real Redis and a real Celery worker (a subprocess on the test database).

Needs REDIS_URL (CI's second run sets it) and a database another process can open (PostgreSQL;
SQLite's in-memory test database is private to this process).
"""

from __future__ import annotations

import email
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date
from email import policy
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from icalendar import Calendar
from rest_framework.test import APIClient

from bookings import links, tasks
from bookings.models import Booking, Notification
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from venues.models import Venue

pytestmark = [
    pytest.mark.redis,
    pytest.mark.xdist_group("worker"),
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parent.parent
NOW = at_jst(date(2026, 12, 1), 9)  # the worker's clock too (CLOCK_NOW), so rows are due at once
MONDAY_TEN = "2026-12-14T10:00:00+09:00"
WAIT_SECONDS = 60


def database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """`celery -A scheduler worker` on this test database, writing emails to files."""
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url:
        pytest.skip("REDIS_URL is not set: no real broker to run a worker against (CI's second run sets it)")
    if connection.vendor != "postgresql":
        pytest.skip(
            "the worker subprocess cannot open this test database: run with a PostgreSQL DATABASE_URL"
        )
    mail_dir = tmp_path_factory.mktemp("mail")
    log_path = mail_dir.parent / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "CLOCK_NOW": NOW.isoformat(),
        "SITE_URL": settings.SITE_URL,
        # The worker unseals tokens sealed here, with this process's (local, insecure) key, which a
        # worker with DEBUG off refuses (tests/test_startup.py): DEBUG on for this local worker.
        "DEBUG": "1",
        "SECRET_KEY": settings.SECRET_KEY,
    }
    env.pop("EMAIL_URL", None)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "scheduler",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                f"--hostname=e2e-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Worker(mail_dir, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        print(log_path.read_text(errors="replace")[-3000:])


@dataclass
class Worker:
    mail_dir: Path
    log_path: Path

    def wait_for_log(self, text: str) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if text in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.05)
        pytest.fail(f"the worker did not log {text!r} within {WAIT_SECONDS}s")


def wait_until_sent(reference: str) -> Notification:
    """Bounded wait for the worker to mark the confirmation sent."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        row = Notification.objects.filter(booking__reference=reference, kind="confirmed").first()
        if row is not None and row.state in (Notification.State.SENT, Notification.State.FAILED):
            return row
        time.sleep(0.05)
    pytest.fail(f"no confirmation for {reference} within {WAIT_SECONDS}s")


def mail_for(mail_dir: Path, reference: str) -> email.message.EmailMessage:
    separator = b"\n" + b"-" * 79 + b"\n"
    found = []
    for path in sorted(mail_dir.glob("*.log")):
        for chunk in path.read_bytes().split(separator):
            if chunk.strip():
                message = email.message_from_bytes(chunk.lstrip(), policy=policy.default)
                if reference in str(message["Subject"]):
                    found.append(message)
    assert len(found) == 1, f"expected one email for {reference}, found {len(found)}"
    return found[0]


@pytest.fixture
def centre(nagano, settings):
    settings.CLOCK_NOW = NOW.isoformat()
    slots_generate(now=NOW, venues=Venue.objects.filter(code="hokushin-centre"))
    return Venue.objects.get(code="hokushin-centre")


def post_booking(**overrides):
    body = {
        "venue": "hokushin-centre",
        "procedure": "record",
        "start": MONDAY_TEN,
        "name": "長野 太郎",
        "phone": "026-000-0000",
        "email": "taro@example.jp",
        "answers": {"card_valid": True, "chip_ok": True, "licence_suspended": False},
    }
    body.update(overrides)
    response = APIClient().post("/api/v1/bookings/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_booking_through_the_api_gets_its_confirmation_from_the_real_worker(worker, centre):
    data = post_booking()

    row = wait_until_sent(data["reference"])
    assert (row.state, row.attempts, row.body_text) == (Notification.State.SENT, 1, "")
    message = mail_for(worker.mail_dir, data["reference"])
    assert message["To"] == "taro@example.jp"
    text = message.get_body(("plain",)).get_content()
    assert links.manage_url(data["reference"], data["token"]) in text
    (attachment,) = [
        part for part in message.iter_attachments() if part.get_content_type() == "text/calendar"
    ]
    event = next(iter(Calendar.from_ical(attachment.get_content()).walk("VEVENT")))
    assert event.decoded("dtstart") == at_jst(date(2026, 12, 14), 10)
    assert centre.name in str(event["location"])


@pytest.fixture
def broker_down_for_bookings(monkeypatch):
    """Publishing a send from this process fails as with Redis stopped; calling the returned
    function brings it back. The worker keeps listening on the real broker throughout (the
    closed-port case itself is covered in tests/test_outbox.py and bench/redis_outage.sh)."""
    from kombu.exceptions import OperationalError

    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to the broker. Connection refused.")

    monkeypatch.setattr(tasks.notification_send, "apply_async", refuse)
    return lambda: monkeypatch.undo()


def test_a_booking_made_while_redis_is_down_is_emailed_once_by_the_sweep_through_the_worker(
    worker, centre, broker_down_for_bookings
):
    data = post_booking(phone="026-000-0001", email="hanako@example.jp")
    assert Booking.objects.filter(reference=data["reference"]).exists()
    assert Notification.objects.get(booking__reference=data["reference"]).state == Notification.State.PENDING

    broker_down_for_bookings()  # Redis is back: the next beat run of the sweep
    # Publish on a fresh connection to the real broker: earlier tests in this process may have
    # pointed the app's pooled connections elsewhere.
    from scheduler.celery import app

    with app.connection_for_write(os.environ["REDIS_URL"]) as connection:
        tasks.notifications_sweep.apply_async(connection=connection)

    row = wait_until_sent(data["reference"])
    assert (row.state, row.attempts) == (Notification.State.SENT, 1)
    with app.connection_for_write(os.environ["REDIS_URL"]) as connection:
        # a task delivered twice must not send twice
        duplicate = tasks.notification_send.apply_async((row.pk,), connection=connection)
    worker.wait_for_log(f"notification_send[{duplicate.id}] succeeded")
    assert f"notification_send[{duplicate.id}] succeeded" in worker.log_path.read_text()
    assert "'not_claimed'" in worker.log_path.read_text()
    assert mail_for(worker.mail_dir, data["reference"])["To"] == "hanako@example.jp"
