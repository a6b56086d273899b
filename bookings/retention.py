"""Retention: personal data leaves a booking once its visit is long past (RETENTION_DAYS)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from scheduler import clock

from .models import Booking, Notification, WaitlistEntry


def personal_data_erase(*, before: datetime, now: datetime) -> int:
    """Blank name, phone, email and answers of bookings that started before `before`, and the
    copies in their notifications; the anonymous row stays for statistics. Idempotent."""
    ids = list(Booking.objects.filter(start__lt=before, erased_at__isnull=True).values_list("pk", flat=True))
    for index in range(0, len(ids), 500):
        chunk = ids[index : index + 500]
        with transaction.atomic():
            Booking.objects.filter(pk__in=chunk, erased_at__isnull=True).update(
                name="", phone="", email="", answers={}, erased_at=now, updated_at=now
            )
            unsent = [Notification.State.PENDING, Notification.State.SENDING, Notification.State.FAILED]
            Notification.objects.filter(booking_id__in=chunk, state__in=unsent).update(
                state=Notification.State.SKIPPED, next_attempt_at=None
            )
            Notification.objects.filter(booking_id__in=chunk).update(
                to_address="", body_text="", body_html="", last_error="", token_sealed=""
            )
    return len(ids) + waitlist_personal_data_erase(before=before, now=now)


def waitlist_personal_data_erase(*, before: datetime, now: datetime) -> int:
    """The same rule for waiting list entries: name, phone, email and answers go once the last
    day waited for is as far past as a booking's visit (an entry still in line keeps them)."""
    ended = WaitlistEntry.objects.filter(
        last_day__lt=clock.local(before).date(), erased_at__isnull=True
    ).exclude(state__in=WaitlistEntry.LIVE)
    ids = list(ended.values_list("pk", flat=True))
    for index in range(0, len(ids), 500):
        chunk = ids[index : index + 500]
        with transaction.atomic():
            WaitlistEntry.objects.filter(pk__in=chunk, erased_at__isnull=True).update(
                name="", phone="", email="", answers={}, erased_at=now, updated_at=now
            )
            Notification.objects.filter(
                waitlist_entry_id__in=chunk,
                state__in=[Notification.State.PENDING, Notification.State.SENDING, Notification.State.FAILED],
            ).update(state=Notification.State.SKIPPED, next_attempt_at=None)
            Notification.objects.filter(waitlist_entry_id__in=chunk).update(
                to_address="", body_text="", body_html="", last_error="", token_sealed=""
            )
    return len(ids)


def sessions_purge(*, now: datetime) -> int:
    """Delete expired sessions (the database session store); returns how many."""
    from django.contrib.sessions.models import Session

    deleted, _ = Session.objects.filter(expire_date__lt=now).delete()
    return deleted
