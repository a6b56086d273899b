"""On PostgreSQL a booking NOTIFYs in its transaction and `outbox_listen` sends at once: no broker
on the request's path, nothing sent for a rolled-back booking, one message per row whatever the
number of listeners."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from bookings import notifications, outbox, services
from bookings.contact import Contact
from bookings.models import Notification
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from tests import builders
from venues.models import Procedure

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (LISTEN/NOTIFY): CI's second run has it"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("pg-race"),
]
MONDAY = date(2026, 12, 14)


@pytest.fixture
def centre(db, travel, settings):
    settings.OUTBOX_WAKE = "notify"
    settings.OUTBOX_LISTEN_IDLE_SECONDS = 30  # so that a quick send can only come from the NOTIFY
    place = builders.venue(code="listen-centre", procedures=("erase",), counters=5)
    slots_generate(now=travel(2026, 12, 1, 9, 0), venues=[place])
    return place


def book(centre, index: int = 0, email: str = "listen@example.jp"):
    return services.booking_create(
        venue=centre,
        procedure=Procedure.objects.get(code="erase"),
        start=at_jst(MONDAY, 10, 10 * (index % 6)),
        contact=Contact(name="長野 太郎", phone="", email=email),
        answers={},
        now=at_jst(date(2026, 12, 1), 9),
    )


class Listeners:
    def __init__(self, count: int) -> None:
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]
        for thread in self.threads:
            thread.start()
        time.sleep(0.5)  # LISTENing before the test books

    def _run(self) -> None:
        try:
            outbox.listen(stop=self.stop)
        finally:
            connection.close()

    def close(self) -> None:
        self.stop.set()
        # a NOTIFY ends the wait at once
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [notifications.CHANNEL])
        for thread in self.threads:
            thread.join(timeout=10)


@pytest.fixture
def listeners():
    started: list[Listeners] = []

    def start(count: int = 1) -> Listeners:
        started.append(Listeners(count))
        return started[-1]

    yield start
    for each in started:
        each.close()


def wait_for_mail(count: int, seconds: float = 5.0) -> float:
    started = time.monotonic()
    while len(mail.outbox) < count and time.monotonic() - started < seconds:
        time.sleep(0.02)
    return time.monotonic() - started


def row_state_soon(wanted: str, seconds: float = 5.0) -> str:
    """The outbox row's state once the listener has recorded `wanted` (it hands the message to
    the mail backend first, then marks the row: the message can be seen a moment before)."""
    started = time.monotonic()
    while (state := Notification.objects.get().state) != wanted and time.monotonic() - started < seconds:
        time.sleep(0.02)
    return state


def test_a_committed_booking_is_emailed_by_the_listener_within_a_second_without_the_broker(
    centre, listeners, monkeypatch
):
    monkeypatch.setattr(notifications, "enqueue", lambda *a, **k: pytest.fail("the broker was used"))
    listeners(1)
    created = book(centre)
    took = wait_for_mail(1)
    assert len(mail.outbox) == 1 and took < 1.0
    assert created.booking.reference in mail.outbox[0].subject
    assert row_state_soon(Notification.State.SENT) == Notification.State.SENT


def test_a_rolled_back_booking_sends_nothing(centre, listeners):
    listeners(1)
    with pytest.raises(RuntimeError), transaction.atomic():
        book(centre)
        raise RuntimeError("the request failed after the booking was written")
    time.sleep(1.0)
    assert mail.outbox == [] and not Notification.objects.exists()


def test_three_listeners_send_every_row_exactly_once(centre, listeners):
    listeners(3)
    made = [book(centre, i, email=f"p{i}@example.jp").booking.reference for i in range(12)]
    wait_for_mail(12)
    time.sleep(0.5)
    sent = sorted(message.to[0] for message in mail.outbox)
    assert sent == sorted(f"p{i}@example.jp" for i in range(12)) and len(made) == 12


def test_rows_committed_while_no_listener_ran_are_sent_when_one_starts(centre, listeners):
    book(centre)  # its NOTIFY reached nobody
    assert mail.outbox == [] and Notification.objects.get().state == Notification.State.PENDING
    listeners(1)
    assert wait_for_mail(1) < 3.0


def test_a_retry_whose_back_off_is_over_is_sent_on_an_idle_pass(centre, listeners, settings):
    settings.OUTBOX_LISTEN_IDLE_SECONDS = 0.2
    book(centre)
    Notification.objects.update(next_attempt_at=at_jst(date(2026, 12, 1), 9, 5))  # due in 5 minutes
    listeners(1)
    time.sleep(0.6)
    assert mail.outbox == []  # not yet due
    settings.CLOCK_NOW = at_jst(date(2026, 12, 1), 9, 6).isoformat()
    assert wait_for_mail(1) < 2.0  # no NOTIFY: the idle pass found it


def test_outbox_listen_refuses_to_run_without_notify(settings):
    settings.OUTBOX_WAKE = "task"
    with pytest.raises(CommandError, match="OUTBOX_WAKE=notify"):
        call_command("outbox_listen")
