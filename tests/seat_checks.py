"""The seat invariant, checked from the rows themselves: every slot's counter equals the seats of
the bookings that hold it plus those of its live holds, and never passes its capacity."""

from __future__ import annotations

from collections import Counter

from bookings.models import Booking, Hold, Slot
from bookings.seats import SEAT_HOLDING


def seat_mismatches() -> list[tuple[int, int, int, int]]:
    """(slot id, taken, seats held by bookings and live holds, capacity) of every slot that is off."""
    slots = list(Slot.objects.all())
    by_window: dict[int, list[Slot]] = {}
    for slot in slots:
        by_window.setdefault(slot.window_id, []).append(slot)
    held: Counter[int] = Counter()
    holders = [
        *Booking.objects.filter(status__in=SEAT_HOLDING).select_related("slot"),
        *Hold.objects.filter(state=Hold.State.LIVE).select_related("slot"),
    ]
    for holder in holders:
        for slot in by_window.get(holder.slot.window_id, []):
            if holder.start <= slot.start < holder.end:
                held[slot.pk] += 1
    return [
        (slot.pk, slot.taken, held[slot.pk], slot.capacity)
        for slot in slots
        if slot.taken != held[slot.pk] or slot.taken > slot.capacity
    ]
