"""The periodic tasks, with "now" injected: reminders, rolling slots, no-shows, data retention.

Each one is idempotent: a second run in a row changes nothing and sends nothing more.
"""

from __future__ import annotations

from datetime import date

import pytest
from celery.schedules import crontab
from django.conf import settings as django_settings

from bookings import links, queue, services, tasks
from bookings.contact import Contact
from bookings.models import Booking, Notification, Slot
from bookings.slots import slots_generate
from scheduler.celery import app
from scheduler.clock import at_jst
from scheduler.errors import NotFound
from tests import builders
from venues.models import Procedure

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 12, 14)
TUESDAY = date(2026, 12, 15)
ALL_GOOD = {"card_valid": True, "chip_ok": True, "licence_suspended": False}
Status = Booking.Status


@pytest.fixture
def place(db, travel):
    """A centre with a morning and an afternoon window (10:00–11:00, 14:30–15:30), two counters."""
    now = travel(2026, 12, 1, 9, 0)
    venue = builders.venue(windows=(("10:00", "11:00"), ("14:30", "15:30")), counters=2)
    slots_generate(now=now, venues=[venue])
    return venue


def book(place, day=MONDAY, hour=10, minute=0, *, n=1, email=None, language="ja"):
    return services.booking_create(
        venue=place,
        procedure=Procedure.objects.get(code="record"),
        start=at_jst(day, hour, minute),
        contact=Contact(
            name=f"住民 {n}", phone=f"02600000{n:02d}", email=f"p{n}@example.jp" if email is None else email
        ),
        answers=ALL_GOOD,
        now=at_jst(date(2026, 12, 1), 9),
        language=language,
    ).booking


def status_of(*bookings) -> list[str]:
    return [Booking.objects.get(pk=b.pk).status for b in bookings]


# --- Reminders ---------------------------------------------------------------------------


def test_at_18_00_the_day_before_each_booking_confirmed_for_tomorrow_gets_one_reminder(
    place, travel, mailoutbox, django_capture_on_commit_callbacks
):
    first, second = book(place, n=1), book(place, hour=14, minute=30, n=2, language="en")
    cancelled = book(place, hour=10, minute=10, n=3)
    services.booking_cancel(booking=cancelled, now=at_jst(date(2026, 12, 2), 9))
    book(place, day=TUESDAY, n=4)  # the day after: not yet
    book(place, hour=10, minute=20, n=5, email="")  # no address

    travel(2026, 12, 13, 18, 0)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.reminders_send() == 2

    assert sorted(m.to[0] for m in mailoutbox) == ["p1@example.jp", "p2@example.jp"]
    japanese = next(m for m in mailoutbox if m.to == ["p1@example.jp"])
    english = next(m for m in mailoutbox if m.to == ["p2@example.jp"])
    assert japanese.subject.startswith("【明日のご予約】") and first.reference in japanese.subject
    assert "2026年12月14日（月） 10:00〜10:10" in japanese.body
    assert english.subject.startswith("Reminder:") and second.reference in english.subject
    for message in mailoutbox:
        assert links.lookup_url() in message.body and "token=" not in message.body
        assert not message.attachments


def test_reminders_run_twice_send_one_email_each(
    place, travel, mailoutbox, django_capture_on_commit_callbacks
):
    book(place, n=1)
    book(place, hour=10, minute=10, n=2)
    travel(2026, 12, 13, 18, 0)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.reminders_send() == 2
    before = list(Notification.objects.order_by("pk").values_list("pk", "state", "dedupe_key"))

    travel(2026, 12, 13, 19, 0)  # the catch-up run of the schedule
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.reminders_send() == 0
    assert list(Notification.objects.order_by("pk").values_list("pk", "state", "dedupe_key")) == before
    assert len(mailoutbox) == 2


def test_a_reminder_is_not_recorded_on_other_evenings(place, travel, mailoutbox):
    book(place, n=1)
    travel(2026, 12, 12, 18, 0)  # two days before
    assert tasks.reminders_send() == 0
    travel(2026, 12, 14, 18, 0)  # the evening of the visit
    assert tasks.reminders_send() == 0
    assert not Notification.objects.filter(kind="reminder").exists()


# --- Rolling slots -----------------------------------------------------------------------


def test_every_night_slots_roll_forward_one_day_and_a_second_run_changes_nothing(place, travel):
    def last_day():
        return Slot.objects.filter(venue=place).latest("start").date

    travel(2027, 1, 4, 0, 15)
    tasks.slots_roll()
    assert last_day() == date(2027, 2, 4)  # 31 days ahead: the day that opens at the next 00:00
    travel(2027, 1, 5, 0, 15)
    assert tasks.slots_roll() == 12  # one more day: 6 + 6 slots
    assert last_day() == date(2027, 2, 5)
    rows = list(Slot.objects.order_by("pk").values_list("pk", "start", "capacity", "taken", "active"))

    assert tasks.slots_roll() == 0
    assert list(Slot.objects.order_by("pk").values_list("pk", "start", "capacity", "taken", "active")) == rows


# --- No-shows ----------------------------------------------------------------------------


def test_no_shows_wait_until_the_last_window_of_the_day_is_over(place, travel, mailoutbox):
    morning, afternoon = book(place, n=1), book(place, hour=14, minute=30, n=2)
    arrived = book(place, hour=10, minute=10, n=3)
    queue.booking_transition(booking=arrived, action="check_in", now=at_jst(MONDAY, 10, 5), actor=None)
    tomorrow = book(place, day=TUESDAY, n=4)

    travel(2026, 12, 14, 12, 0)  # the morning window is over, the afternoon one is not
    assert tasks.no_shows_mark() == 0
    travel(2026, 12, 14, 15, 59)  # the last slot ended at 15:30; 30 minutes' grace
    assert tasks.no_shows_mark() == 0
    assert status_of(morning, afternoon) == [Status.CONFIRMED, Status.CONFIRMED]

    travel(2026, 12, 14, 16, 0)
    assert tasks.no_shows_mark() == 2
    assert status_of(morning, afternoon, arrived, tomorrow) == [
        Status.NO_SHOW,
        Status.NO_SHOW,
        Status.CHECKED_IN,
        Status.CONFIRMED,
    ]
    assert mailoutbox == []


def test_no_shows_run_twice_change_nothing_the_second_time(place, travel):
    booking = book(place, n=1)
    travel(2026, 12, 14, 16, 30)
    assert tasks.no_shows_mark() == 1
    events = booking.events.count()
    assert tasks.no_shows_mark() == 0
    assert status_of(booking) == [Status.NO_SHOW]
    assert booking.events.count() == events
    assert booking.events.last().to_status == Status.NO_SHOW


def test_bookings_left_confirmed_from_an_earlier_day_become_no_shows_the_next_morning(place, travel):
    booking = book(place, n=1)
    travel(2026, 12, 15, 8, 0)  # the task did not run on Monday evening
    assert tasks.no_shows_mark() == 1
    assert status_of(booking) == [Status.NO_SHOW]


# --- Retention ---------------------------------------------------------------------------


def test_personal_data_is_erased_more_than_90_days_after_the_visit_keeping_the_anonymous_row(
    place, travel, django_capture_on_commit_callbacks
):
    assert django_settings.RETENTION_DAYS == 90
    with django_capture_on_commit_callbacks(execute=True):
        booking = book(place, n=1)
    later = book(place, day=TUESDAY, n=2)

    travel(2027, 3, 14, 3, 30)  # 90 days after Monday 14 December: kept
    assert tasks.personal_data_erase() == 0
    travel(2027, 3, 15, 3, 30)  # 91 days after
    assert tasks.personal_data_erase() == 1

    erased = Booking.objects.get(pk=booking.pk)
    assert (erased.name, erased.phone, erased.email, erased.answers) == ("", "", "", {})
    assert erased.erased_at == at_jst(date(2027, 3, 15), 3, 30)
    assert (erased.reference, erased.venue_id, erased.start, erased.status) == (
        booking.reference,
        place.pk,
        booking.start,
        Status.CONFIRMED,
    )
    assert Notification.objects.filter(booking=booking).values_list("to_address", "body_text").get() == (
        "",
        "",
    )
    assert Booking.objects.get(pk=later.pk).name == "住民 2"
    with pytest.raises(NotFound):
        services.booking_get_for_contact(reference=booking.reference, phone_or_email="p1@example.jp")


def test_retention_run_twice_changes_nothing_the_second_time(place, travel):
    booking = book(place, n=1)
    travel(2027, 3, 15, 3, 30)
    assert tasks.personal_data_erase() == 1
    first = Booking.objects.values().get(pk=booking.pk)
    travel(2027, 3, 16, 3, 30)
    assert tasks.personal_data_erase() == 0
    assert Booking.objects.values().get(pk=booking.pk) == first


def test_a_message_still_waiting_when_its_booking_is_erased_is_never_sent(place, travel, mailoutbox):
    booking = book(place, n=1)  # its confirmation never left (on_commit did not run)
    travel(2027, 3, 15, 3, 30)
    tasks.personal_data_erase()
    assert Notification.objects.get(booking=booking).state == Notification.State.SKIPPED
    assert tasks.notifications_sweep() == {}
    assert mailoutbox == []


# --- The schedule ------------------------------------------------------------------------


def test_the_schedule_runs_each_task_at_its_japan_time():
    schedule = django_settings.CELERY_BEAT_SCHEDULE
    assert app.conf.timezone == "Asia/Tokyo"
    assert app.conf.beat_schedule == schedule
    by_task = {entry["task"]: entry["schedule"] for entry in schedule.values()}
    assert by_task["bookings.reminders_send"] == crontab(hour="18,19", minute="0")
    assert by_task["bookings.slots_roll"] == crontab(hour="0", minute="15")
    assert by_task["bookings.personal_data_erase"] == crontab(hour="3", minute="30")
    assert by_task["bookings.no_shows_mark"] == crontab(minute="*/30")
    assert by_task["bookings.notifications_sweep"] == 60.0
    assert set(by_task) <= set(app.tasks), "every scheduled task is registered"


def test_expired_sessions_leave_the_database_every_night(nagano, client, travel):
    from django.contrib.sessions.models import Session

    client.post("/book/", {"procedure": "erase"})  # an unfinished flow, in a session
    assert Session.objects.count() == 1
    travel(2026, 12, 1, 9, 0)
    assert tasks.sessions_purge() == 0  # not expired yet
    Session.objects.update(expire_date=at_jst(date(2026, 11, 30), 9))
    assert tasks.sessions_purge() == 1 and Session.objects.count() == 0
