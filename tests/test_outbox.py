"""The outbox: every message is a row written with the change, sent after commit, at most once.

Confirmation with the manage link and an .ics file, later messages without the token, the
broker being down at booking time, the sweep, and SMTP errors retried with back-off.
"""

from __future__ import annotations

import smtplib
import time
from datetime import date, timedelta

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from icalendar import Calendar
from rest_framework.test import APIClient

from bookings import links, notifications, services, tasks
from bookings.contact import Contact
from bookings.models import Booking, Notification
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from venues.models import Procedure, Venue

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 12, 14)
TEN = "2026-12-14T10:00:00+09:00"
ALL_GOOD = {"card_valid": True, "chip_ok": True, "licence_suspended": False}
State = Notification.State


class RefusingBackend(BaseEmailBackend):
    """An SMTP server that is down."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


class FlakyBackend(BaseEmailBackend):
    """Refuses the first message, then delivers to the locmem outbox."""

    calls = 0

    def send_messages(self, email_messages):
        FlakyBackend.calls += 1
        if FlakyBackend.calls == 1:
            raise smtplib.SMTPDataError(451, b"Try again later")
        from django.core import mail

        mail.outbox.extend(email_messages)
        return len(email_messages)


@pytest.fixture
def centre(nagano, travel):
    """Hokushin licence centre with its slots, seen on Tuesday 1 December 2026 at 09:00 JST."""
    now = travel(2026, 12, 1, 9, 0)
    slots_generate(now=now, venues=Venue.objects.filter(code="hokushin-centre"))
    return Venue.objects.get(code="hokushin-centre")


def post_booking(**overrides):
    body = {
        "venue": "hokushin-centre",
        "procedure": "record",
        "start": TEN,
        "name": "長野 太郎",
        "phone": "026-000-0000",
        "email": "taro@example.jp",
        "answers": ALL_GOOD,
    }
    body.update(overrides)
    return APIClient().post("/api/v1/bookings/", body, format="json")


def book(centre, *, now, hour=10, minute=0, email="taro@example.jp", phone="0260000000", language="ja"):
    return services.booking_create(
        venue=centre,
        procedure=Procedure.objects.get(code="record"),
        start=at_jst(MONDAY, hour, minute),
        contact=Contact(name="長野 太郎", phone=phone, email=email),
        answers=ALL_GOOD,
        now=now,
        language=language,
    )


def ics_of(message) -> Calendar:
    (attachment,) = [a for a in message.attachments if a[2].startswith("text/calendar")]
    return Calendar.from_ical(attachment[1])


def html_of(message) -> str:
    (html,) = [content for content, mimetype in message.alternatives if mimetype == "text/html"]
    return html


def test_a_booking_through_the_api_sends_one_confirmation_with_the_manage_link_and_an_ics(
    centre, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_booking()
    assert response.status_code == 201
    data = response.json()

    (message,) = mailoutbox
    assert message.to == ["taro@example.jp"]
    assert data["reference"] in message.subject
    manage = links.manage_url(data["reference"], data["token"])
    assert manage in message.body and manage.replace("&", "&amp;") in html_of(message)
    assert "2026年12月14日（月） 10:00〜10:10" in message.body
    assert "北信運転免許センター" in message.body or centre.name in message.body
    event = next(iter(ics_of(message).walk("VEVENT")))
    assert event.decoded("dtstart") == at_jst(MONDAY, 10)
    assert centre.name in str(event["location"])
    assert data["token"] not in ics_of(message).to_ical().decode()


def test_once_sent_the_body_with_the_token_is_gone_from_the_database(
    centre, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        data = post_booking().json()
    row = Notification.objects.get(booking__reference=data["reference"])
    assert (row.state, row.attempts, row.body_text, row.body_html) == (State.SENT, 1, "", "")
    assert row.sent_at is not None
    stored = " ".join(str(value) for value in Notification.objects.values_list().get(pk=row.pk))
    assert data["token"] not in stored


def test_nothing_is_sent_before_the_booking_commits(centre, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        created = book(centre, now=at_jst(date(2026, 12, 1), 9))
        assert Notification.objects.get(booking=created.booking).state == State.PENDING
    assert mailoutbox == []
    assert callbacks  # the sending waits for the commit (with the availability cache's bump)

    for callback in callbacks:
        callback()
    assert len(mailoutbox) == 1


def test_a_booking_rolled_back_leaves_no_row_and_sends_nothing(
    centre, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            book(centre, now=at_jst(date(2026, 12, 1), 9))
            raise RuntimeError("something later failed")
    assert not Notification.objects.exists()
    assert mailoutbox == []


def test_a_person_who_left_no_email_gets_no_row(centre, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        book(centre, now=at_jst(date(2026, 12, 1), 9), email="")
    assert not Notification.objects.exists()
    assert mailoutbox == []


def test_an_english_booking_gets_its_messages_in_english(
    centre, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post_booking(language="en")
    (message,) = mailoutbox
    assert message.subject.startswith("Booking confirmed")
    assert "Monday 14 December 2026, 10:00–10:10 (Japan time)" in message.body
    assert centre.name_en in message.body and centre.name not in message.body
    assert 'lang="en"' in html_of(message)


def test_the_html_part_escapes_what_the_person_typed_and_the_text_part_keeps_it(
    centre, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post_booking(name="<b>Taro & Hanako</b>")
    (message,) = mailoutbox
    assert "<b>Taro & Hanako</b> 様" in message.body
    assert "&lt;b&gt;Taro &amp; Hanako&lt;/b&gt;" in html_of(message)


def test_later_messages_point_to_the_lookup_page_and_never_carry_the_token(
    centre, mailoutbox, django_capture_on_commit_callbacks, travel
):
    with django_capture_on_commit_callbacks(execute=True):
        data = post_booking().json()
    booking = Booking.objects.get(reference=data["reference"])
    now = travel(2026, 12, 2, 9, 0)
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_reschedule(booking=booking, start=at_jst(MONDAY, 10, 30), now=now)
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_cancel(booking=booking, now=now)

    _confirmed, rescheduled, cancelled = mailoutbox
    assert "10:30〜10:40" in rescheduled.body and rescheduled.subject.startswith("【予約変更】")
    assert event_start(rescheduled) == at_jst(MONDAY, 10, 30)
    assert cancelled.subject.startswith("【予約取消】") and not cancelled.attachments
    for message in (rescheduled, cancelled):
        assert data["token"] not in message.body + html_of(message)
        assert "token=" not in message.body
    assert links.lookup_url() in rescheduled.body


def event_start(message):
    return next(iter(ics_of(message).walk("VEVENT"))).decoded("dtstart")


def sequence_of(message) -> int:
    return int(next(iter(ics_of(message).walk("VEVENT"))).decoded("sequence"))


def test_a_moved_booking_s_calendar_file_supersedes_the_first_one_and_each_e_mail_says_when_it_went(
    centre, mailoutbox, django_capture_on_commit_callbacks, travel
):
    with django_capture_on_commit_callbacks(execute=True):
        data = post_booking().json()
    booking = Booking.objects.get(reference=data["reference"])
    now = travel(2026, 12, 2, 9, 0)
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_reschedule(booking=booking, start=at_jst(MONDAY, 10, 30), now=now)

    confirmed, rescheduled = mailoutbox
    # A calendar that imported the first file replaces it: same UID, a higher SEQUENCE, which
    # counts the booking's changes as they stand when each message is sent.
    assert sequence_of(rescheduled) > sequence_of(confirmed)
    assert sequence_of(rescheduled) == booking.events.count()
    sent = Notification.objects.filter(booking=booking).order_by("pk").values_list("sent_at", flat=True)
    assert list(sent) == [at_jst(date(2026, 12, 1), 9), now]


def test_a_venue_cancellation_tells_the_closure_note_and_links_to_the_lookup_page(
    centre, mailoutbox, django_capture_on_commit_callbacks, travel
):
    created = book(centre, now=at_jst(date(2026, 12, 1), 9), language="en")
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_cancel_by_venue(
            booking=created.booking,
            now=travel(2026, 12, 2, 9, 0),
            actor=None,
            note="Power cut in the building",
        )
    (message,) = mailoutbox
    assert message.subject.startswith("Important: the venue had to cancel")
    assert "Reason: Power cut in the building" in message.body
    assert links.lookup_url() in message.body and created.token not in message.body


def test_the_send_task_run_twice_sends_once(centre, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = book(centre, now=at_jst(date(2026, 12, 1), 9))
    row = Notification.objects.get(booking=created.booking)

    assert tasks.notification_send(row.pk) == "not_claimed"
    assert tasks.notifications_sweep() == {}
    assert len(mailoutbox) == 1


def test_a_row_another_worker_is_sending_is_left_alone_until_it_is_stuck_then_sent_once(
    centre, mailoutbox, travel
):
    now = at_jst(date(2026, 12, 1), 9)
    created = book(centre, now=now)  # on_commit never runs: the row stays pending
    row = Notification.objects.get(booking=created.booking)
    Notification.objects.filter(pk=row.pk).update(state=State.SENDING, claimed_at=now, attempts=1)

    travel(2026, 12, 1, 9, 5)
    assert tasks.notification_send(row.pk) == "not_claimed"
    assert tasks.notifications_sweep() == {}
    assert mailoutbox == []

    travel(2026, 12, 1, 9, 11)  # more than NOTIFICATION_STALE_SECONDS (10 minutes) later
    assert tasks.notifications_sweep() == {"sent": 1}
    assert tasks.notifications_sweep() == {}
    assert len(mailoutbox) == 1
    assert Notification.objects.get(pk=row.pk).attempts == 2


def test_a_listener_s_pass_after_a_wake_up_sends_what_is_new_and_leaves_stuck_rows_to_its_idle_pass(
    centre, mailoutbox, travel
):
    now = at_jst(date(2026, 12, 1), 9)
    stuck = book(centre, now=now).booking
    Notification.objects.filter(booking=stuck).update(state=State.SENDING, claimed_at=now, attempts=1)
    later = travel(2026, 12, 1, 9, 11)  # the first row's sender has been silent past the stale time
    assert notifications.sweep(now=later, woken=True) == {}  # a wake-up for nothing new
    fresh = book(centre, now=later, minute=10, email="hanako@example.jp", phone="0260000001").booking

    assert notifications.sweep(now=later, woken=True) == {"sent": 1}  # the new booking's, at once
    assert [message.to for message in mailoutbox] == [["hanako@example.jp"]]
    assert Notification.objects.get(booking=fresh).state == State.SENT

    assert notifications.sweep(now=later) == {"sent": 1}  # an idle pass, or the periodic sweep
    assert Notification.objects.get(booking=stuck).state == State.SENT
    assert len(mailoutbox) == 2


@pytest.fixture
def broker_down():
    """The real publish path (not eager), pointed at a port where nothing listens."""
    from scheduler.celery import app

    saved = app.conf.broker_url, app.conf.task_always_eager

    def fresh_pools() -> None:
        app._pool = None
        app.amqp._producer_pool = None

    app.conf.broker_url, app.conf.task_always_eager = "redis://127.0.0.1:1/0", False
    fresh_pools()
    yield
    app.conf.broker_url, app.conf.task_always_eager = saved
    fresh_pools()


def test_with_the_broker_unreachable_the_booking_returns_201_quickly_and_the_row_waits(
    centre, mailoutbox, django_capture_on_commit_callbacks, broker_down, caplog
):
    started = time.perf_counter()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_booking()
    elapsed = time.perf_counter() - started

    assert response.status_code == 201
    assert elapsed < 3, f"booking took {elapsed:.1f}s with the broker down"
    row = Notification.objects.get(booking__reference=response.json()["reference"])
    assert (row.state, row.attempts) == (State.PENDING, 0)
    assert row.token_sealed and response.json()["token"] not in row.token_sealed  # sealed until sent
    assert mailoutbox == []
    assert "the sweep will send it" in caplog.text


def test_the_sweep_sends_a_row_left_by_a_broker_outage_exactly_once(
    centre, mailoutbox, django_capture_on_commit_callbacks, broker_down, settings
):
    with django_capture_on_commit_callbacks(execute=True):
        data = post_booking().json()
    assert mailoutbox == []

    settings.CLOCK_NOW = at_jst(date(2026, 12, 1), 9, 1).isoformat()  # the next sweep, a minute later
    assert tasks.notifications_sweep() == {"sent": 1}
    assert tasks.notifications_sweep() == {}
    row = Notification.objects.get(booking__reference=data["reference"])
    assert tasks.notification_send(row.pk) == "not_claimed"  # the task published late, say

    (message,) = mailoutbox
    assert links.manage_url(data["reference"], data["token"]) in message.body
    assert Notification.objects.get(pk=row.pk).state == State.SENT


def test_smtp_errors_are_retried_with_doubling_back_off_then_marked_failed(
    centre, mailoutbox, django_capture_on_commit_callbacks, settings, travel
):
    settings.EMAIL_BACKEND = "tests.test_outbox.RefusingBackend"
    start = at_jst(date(2026, 12, 1), 9)
    with django_capture_on_commit_callbacks(execute=True):
        created = book(centre, now=start)
    row = Notification.objects.get(booking=created.booking)
    row.refresh_from_db()
    assert (row.state, row.attempts, row.next_attempt_at) == (State.PENDING, 1, start + timedelta(seconds=60))
    assert "SMTPServerDisconnected" in row.last_error

    travel(2026, 12, 1, 9, 0, 59)
    assert tasks.notifications_sweep() == {}  # not due yet

    moment, waits = start, []
    for _attempt in range(2, 6):
        row.refresh_from_db()
        waits.append(int((row.next_attempt_at - moment).total_seconds()))
        moment = row.next_attempt_at
        settings.CLOCK_NOW = moment.isoformat()
        tasks.notifications_sweep()
    row.refresh_from_db()

    assert waits == [60, 120, 240, 480]
    assert (row.state, row.attempts, row.next_attempt_at) == (State.FAILED, 5, None)
    assert "SMTPServerDisconnected" in row.last_error
    settings.CLOCK_NOW = (moment + timedelta(hours=1)).isoformat()
    assert tasks.notifications_sweep() == {}  # failed rows wait for a person
    assert mailoutbox == []


def test_a_message_that_failed_once_is_sent_on_the_next_attempt_and_then_cleared(
    centre, mailoutbox, django_capture_on_commit_callbacks, settings
):
    FlakyBackend.calls = 0
    settings.EMAIL_BACKEND = "tests.test_outbox.FlakyBackend"
    start = at_jst(date(2026, 12, 1), 9)
    with django_capture_on_commit_callbacks(execute=True):
        created = book(centre, now=start)
    assert mailoutbox == []

    settings.CLOCK_NOW = (start + timedelta(seconds=60)).isoformat()
    assert tasks.notifications_sweep() == {"sent": 1}
    row = Notification.objects.get(booking=created.booking)
    assert (row.state, row.attempts, row.last_error, row.body_text) == (State.SENT, 2, "", "")
    assert len(mailoutbox) == 1


def test_a_reminder_recorded_before_a_cancellation_is_not_sent(
    centre, mailoutbox, django_capture_on_commit_callbacks
):
    created = book(centre, now=at_jst(date(2026, 12, 1), 9))
    evening = at_jst(date(2026, 12, 13), 18)
    reminder = notifications.record(booking=created.booking, kind="reminder", now=evening)  # not sent yet
    services.booking_cancel(booking=created.booking, now=evening)

    outcome = notifications.deliver(notification_id=reminder.pk, now=evening)
    reminder.refresh_from_db()
    assert (outcome.state, reminder.state, reminder.last_error) == (
        "skipped",
        State.SKIPPED,
        "booking is cancelled",
    )
    assert mailoutbox == []


# --- The token at rest ------------------------------------------------------------------------


def row_text(row: Notification) -> str:
    return repr(list(Notification.objects.filter(pk=row.pk).values()))


def test_the_outbox_row_never_holds_the_manage_token_in_clear(
    centre, mailoutbox, django_capture_on_commit_callbacks, broker_down
):
    with django_capture_on_commit_callbacks(execute=True):
        data = post_booking().json()
    row = Notification.objects.get(booking__reference=data["reference"])
    assert data["token"] not in row_text(row) and row.token_sealed  # waiting, sealed
    tasks.notifications_sweep()
    row.refresh_from_db()
    assert row.state == State.SENT and row.token_sealed == ""  # sent: forgotten
    assert data["token"] not in row_text(row)
    assert links.manage_url(data["reference"], data["token"]) in mailoutbox[0].body  # the link went out


def test_a_message_given_up_forgets_its_sealed_token(
    centre, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.test_outbox.RefusingBackend"
    settings.NOTIFICATION_MAX_ATTEMPTS = 1
    with django_capture_on_commit_callbacks(execute=True):
        data = post_booking().json()
    row = Notification.objects.get(booking__reference=data["reference"])
    assert row.state == State.FAILED and row.token_sealed == ""


def test_a_token_sealed_under_another_secret_key_sends_the_lookup_link_instead(
    centre, mailoutbox, django_capture_on_commit_callbacks, broker_down, settings
):
    with django_capture_on_commit_callbacks(execute=True):
        data = post_booking().json()
    settings.SECRET_KEY = "another-key-after-a-rotation-" + "x" * 30
    tasks.notifications_sweep()
    body = mailoutbox[0].body
    assert data["token"] not in body and links.lookup_url() in body


# --- Drain ------------------------------------------------------------------------------------


def test_one_sweep_drains_a_backlog_larger_than_a_batch_exactly_once(centre, mailoutbox):
    booking = book(centre, now=at_jst(date(2026, 12, 1), 9)).booking  # its confirmation waits here
    count = notifications.CLAIM_CHUNK * 10 + 7
    Notification.objects.bulk_create(
        Notification(
            booking=booking,
            kind=Notification.Kind.RESCHEDULED,
            dedupe_key=f"drain:{index}",
            to_address=f"p{index}@example.jp",
            subject="s",
            next_attempt_at=at_jst(date(2026, 12, 1), 9),
        )
        for index in range(count)
    )
    counts = tasks.notifications_sweep()
    assert counts == {"sent": count + 1}
    assert Notification.objects.exclude(state=State.SENT).count() == 0
    expected = sorted([f"p{index}@example.jp" for index in range(count)] + ["taro@example.jp"])
    assert sorted(message.to[0] for message in mailoutbox) == expected  # each exactly once
    assert tasks.notifications_sweep() == {}


def test_a_sweep_stops_at_its_time_budget_and_the_next_one_goes_on(centre, mailoutbox, settings):
    booking = book(centre, now=at_jst(date(2026, 12, 1), 9)).booking
    Notification.objects.bulk_create(
        Notification(booking=booking, kind="rescheduled", dedupe_key=f"d:{i}", to_address=f"q{i}@example.jp")
        for i in range(5)
    )
    settings.NOTIFICATION_SWEEP_SECONDS = 0.0
    assert tasks.notifications_sweep() == {}
    settings.NOTIFICATION_SWEEP_SECONDS = 50.0
    assert tasks.notifications_sweep() == {"sent": 6}
