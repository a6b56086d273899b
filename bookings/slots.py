"""Slots: generating them from the windows and the calendar (what is bookable: `bookings.seats`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Value
from django.db.models.functions import Greatest

from scheduler import clock
from venues.calendar import DayStatus, overlaps_closure, venue_calendar
from venues.models import ReceptionWindow, Venue
from venues.selectors import slots_end

from .models import Booking, Slot
from .waitlist_wake import seats_freed

# --- Cutting windows into slots ----------------------------------------------------------


def slot_starts(window: ReceptionWindow, day: date) -> Iterator[tuple[datetime, datetime]]:
    """Consecutive slots from the window's start; the last one must end by the window's end."""
    step = timedelta(minutes=window.slot_minutes)
    start = clock.at_jst(day, window.start.hour, window.start.minute)
    end_of_window = clock.at_jst(day, window.end.hour, window.end.minute)
    while start + step <= end_of_window:
        yield start, start + step
        start += step


@dataclass
class GenerateReport:
    venue: str
    created: int = 0
    updated: int = 0
    withdrawn: int = 0
    deleted: int = 0

    def __str__(self) -> str:
        return (
            f"{self.venue}: {self.created} created, {self.updated} updated, "
            f"{self.withdrawn} withdrawn, {self.deleted} deleted"
        )


def _desired_slots(
    venue: Venue, windows: list[ReceptionWindow], calendar: list[DayStatus], now: datetime
) -> dict[tuple[int, datetime], tuple[datetime, ReceptionWindow]]:
    desired: dict[tuple[int, datetime], tuple[datetime, ReceptionWindow]] = {}
    for status in calendar:
        if not status.open:
            continue
        for window in windows:
            if not window.applies_on(status.date):
                continue
            for start, end in slot_starts(window, status.date):
                if start <= now or overlaps_closure(start, end, status.partial_closures):
                    continue
                desired[(window.pk, start)] = (end, window)
    return desired


def slots_generate_for_venue(*, venue: Venue, first: date, last: date, now: datetime) -> GenerateReport:
    """Make the venue's future slots match its windows and calendar; never lose a booked seat.

    Missing slots are created; changed counters are applied (never below what is taken); slots
    that should no longer exist are deleted when nobody ever booked them, and otherwise withdrawn
    from online booking with their capacity lowered to what is taken.
    """
    report = GenerateReport(venue.code)
    windows = list(ReceptionWindow.objects.filter(venue=venue).order_by("start"))
    calendar = venue_calendar(venue, first, last)
    with transaction.atomic():
        from .availability_cache import venue_changed

        venue_changed(venue)  # closures and windows change the calendar even when no slot changes
        seats_freed(venue.pk)  # new slots, more counters, a closure lifted: the waiting list looks
        desired = _desired_slots(venue, windows, calendar, now)
        existing = {
            (slot.window_id, slot.start): slot
            for slot in Slot.objects.filter(
                venue=venue, date__gte=first, date__lte=last, start__gt=now
            ).annotate(has_bookings=Exists(Booking.objects.filter(slot=OuterRef("pk"))))
        }
        to_create = [
            Slot(
                venue=venue,
                window=window,
                date=clock.local(start).date(),
                start=start,
                end=end,
                capacity=window.counters,
                reserved=window.reserved,
            )
            for (window_id, start), (end, window) in desired.items()
            if (window_id, start) not in existing
        ]
        Slot.objects.bulk_create(to_create, batch_size=500)
        report.created = len(to_create)

        to_delete: list[int] = []
        for key, slot in existing.items():
            if key in desired:
                end, window = desired[key]
                if (slot.capacity, slot.reserved, slot.end, slot.active) != (
                    max(window.counters, slot.taken),
                    window.reserved,
                    end,
                    True,
                ):
                    Slot.objects.filter(pk=slot.pk).update(
                        capacity=Greatest(Value(window.counters), "taken"),
                        reserved=window.reserved,
                        end=end,
                        active=True,
                    )
                    report.updated += 1
            elif not slot.has_bookings and slot.taken == 0:
                to_delete.append(slot.pk)
            elif slot.active:
                # Booked once: keep the row (bookings point at it) but offer nothing more.
                Slot.objects.filter(pk=slot.pk).update(capacity=F("taken"), active=False)
                report.withdrawn += 1
        if to_delete:
            report.deleted, _ = Slot.objects.filter(pk__in=to_delete, taken=0).delete()
    return report


def slots_generate(
    *,
    days: int | None = None,
    now: datetime | None = None,
    venues: Iterable[Venue] | None = None,
    progress: Callable[[int, int, GenerateReport], None] | None = None,
) -> list[GenerateReport]:
    """Generate slots for every active venue, from today up to the day after its horizon (that
    day opens at the next 00:00 JST: `venues.selectors.slots_end`), or up to `days` ahead."""
    now = now or clock.now()
    today = clock.today(now)
    venue_list = list(
        venues if venues is not None else Venue.objects.filter(is_active=True).order_by("sort_order")
    )
    reports = []
    for index, venue in enumerate(venue_list, start=1):
        last = today + timedelta(days=days) if days is not None else slots_end(venue, today=today)
        report = slots_generate_for_venue(venue=venue, first=today, last=last, now=now)
        reports.append(report)
        if progress:
            progress(index, len(venue_list), report)
    return reports
