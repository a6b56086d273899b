"""The seats side of planning windows and closures (`venues.planning` calls it as its
`SeatPlanner`): which booked slots a change would break, slots regenerated, bookings cancelled."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from django.contrib.auth.models import AbstractBaseUser

from scheduler import clock
from venues.calendar import closure_covers
from venues.models import Closure, ReceptionWindow, Venue

from .models import Booking, Slot
from .services import booking_cancel_by_venue
from .slots import slot_starts, slots_generate_for_venue


def slots_described(slots: Iterable[Slot]) -> str:
    return "、".join(f"{clock.local(s.start):%Y-%m-%d %H:%M}（予約{s.taken}件）" for s in slots)


def window_conflicts(*, window: ReceptionWindow, now: datetime, lock: bool = False) -> list[Slot]:
    """Future slots of the window that hold bookings its new settings (unsaved) would not keep:
    fewer counters than seats taken, or the slot's time no longer in the window."""
    if window.pk is None:
        return []
    slots = Slot.objects.filter(window_id=window.pk, start__gt=now)
    if lock:  # ascending pk, the order of every seat change
        slots = slots.select_for_update().order_by("pk")
    conflicts = []
    for slot in sorted(slots, key=lambda s: s.start):
        if not slot.active or slot.taken == 0:
            continue
        keeps = (
            window.applies_on(slot.date)
            and (slot.start, slot.end) in set(slot_starts(window, slot.date))
            and window.counters >= slot.taken
        )
        if not keeps:
            conflicts.append(slot)
    return conflicts


def replan(*, venue: Venue, first: date, last: date, now: datetime) -> None:
    slots_generate_for_venue(venue=venue, first=first, last=last, now=now)


def closure_bookings(*, closure: Closure, now: datetime) -> list[Booking]:
    """Active bookings the closure (saved or not) covers that have not started yet."""
    candidates = (
        Booking.objects.filter(
            venue_id=closure.venue_id,
            status__in=Booking.ACTIVE,
            slot__date__gte=closure.start_date,
            slot__date__lte=closure.end_date,
            start__gt=now,
        )
        .select_related("procedure")
        .order_by("start", "id")
    )
    return [booking for booking in candidates if closure_covers(closure, booking.start, booking.end)]


def closure_cancel(
    *, closure: Closure, now: datetime, actor: AbstractBaseUser | None, note: str
) -> list[Booking]:
    cancelled = [
        booking.pk
        for booking in closure_bookings(closure=closure, now=now)
        if booking_cancel_by_venue(booking=booking, now=now, actor=actor, note=note)
    ]
    return list(Booking.objects.filter(pk__in=cancelled).select_related("procedure").order_by("start", "id"))


def closure_cancelled(*, closure: Closure) -> list[Booking]:
    """Bookings the venue cancelled inside the closure's days and hours (by this closure, or by an
    earlier one over the same hours): the people who were told, or must be phoned."""
    candidates = (
        Booking.objects.filter(
            venue_id=closure.venue_id,
            status=Booking.Status.CANCELLED_BY_VENUE,
            slot__date__gte=closure.start_date,
            slot__date__lte=closure.end_date,
        )
        .select_related("procedure")
        .order_by("start", "id")
    )
    return [booking for booking in candidates if closure_covers(closure, booking.start, booking.end)]
