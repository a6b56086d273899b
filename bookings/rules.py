"""Small rules that pages, e-mails and the admin share: one predicate each, decided here only.

(What to bring is `guidance.what_to_bring`; whether a seat may be taken is `seats`.)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from scheduler import clock

from .models import Booking

ERASE = "erase"


def may_change_online(booking: Booking, now: datetime) -> bool:
    """A resident may still reschedule or cancel online: confirmed, and the visit not started."""
    return booking.status == Booking.Status.CONFIRMED and booking.start > now


def erase_only(procedure_codes: Iterable[str]) -> bool:
    """A venue that takes only the erasure of the licence record (most police stations, koban)."""
    return set(procedure_codes) == {ERASE}


def taken_at_stations(procedure_code: str) -> bool:
    """The one procedure that most police stations and koban take too, not only the centres."""
    return procedure_code == ERASE


def walk_in_allowed(*, start: datetime, now: datetime) -> bool:
    """A walk-in is someone at the counter today: only today's seats."""
    return clock.local(start).date() == clock.today(now)


def staff_channel_for(day: date, today: date) -> str:
    """A clerk booking for today records a walk-in; for a later day, a staff booking."""
    return Booking.Channel.WALK_IN if day == today else Booking.Channel.STAFF
