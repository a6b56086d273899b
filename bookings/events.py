"""The status history of a booking: who changed what, and when."""

from __future__ import annotations

import functools
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from scheduler import metrics

from .models import Booking, BookingEvent


def event_new(
    booking: Booking,
    *,
    before: str,
    after: str,
    now: datetime,
    actor: AbstractBaseUser | None,
    note: str = "",
) -> BookingEvent:
    """The event row, unsaved (a new booking writes it in the booking's own statement)."""
    return BookingEvent(
        booking=booking,
        at=now,
        from_status=before,
        to_status=after,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_kind="staff" if actor is not None else ("system" if note.startswith("system") else "resident"),
        note=note[:200],
    )


def booking_counted(booking: Booking) -> None:
    """A new booking (every channel is created through here) is counted once it is committed."""
    transaction.on_commit(functools.partial(metrics.booking_created, booking.channel), robust=True)


def event_record(
    booking: Booking,
    *,
    before: str,
    after: str,
    now: datetime,
    actor: AbstractBaseUser | None,
    note: str = "",
) -> None:
    event_new(booking, before=before, after=after, now=now, actor=actor, note=note).save(force_insert=True)
    if not before:
        booking_counted(booking)
