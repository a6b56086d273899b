"""Reads that the pages, the admin and the API share (no writes here; seats are `bookings.seats`)."""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from scheduler import clock
from venues.models import Procedure, Venue

from . import seats
from .models import Booking, Hold, Notification, Slot


def booking_by_reference(reference: str | None) -> Booking | None:
    if not reference:
        return None
    return Booking.objects.select_related("venue", "procedure").filter(reference=reference).first()


def held_seats_by_slot(*, venue: Venue, first: date, last: date, now: datetime) -> dict[int, int]:
    """Seats kept by live holds, per slot id (a hold on a longer procedure keeps every slot of it)."""
    holds = Hold.objects.filter(
        venue=venue,
        state=Hold.State.LIVE,
        start__gte=clock.at_jst(first),
        start__lt=clock.at_jst(last + timedelta(days=1)),
    ).select_related("slot")
    slots_by_window: dict[int, list[Slot]] = defaultdict(list)
    holds = list(holds)
    if not holds:
        return {}
    window_ids = {hold.slot.window_id for hold in holds}
    for slot in Slot.objects.filter(window_id__in=window_ids, date__gte=first, date__lte=last):
        slots_by_window[slot.window_id].append(slot)
    held: Counter[int] = Counter()
    for hold in holds:
        for slot in slots_by_window[hold.slot.window_id]:
            if hold.start <= slot.start < hold.end:
                held[slot.pk] += 1
    return dict(held)


@dataclass
class DayData:
    slots: list[Slot]
    bookings: list[Booking]
    held: dict[int, int]
    bookable: list[seats.SlotView]


def staff_starts(
    *, venue: Venue, procedures: list[Procedure], day: date, now: datetime
) -> list[seats.SlotView]:
    """Times a clerk may still book on `day` for any of the procedures (held seats never offered)."""
    by_start: dict[datetime, seats.SlotView] = {}
    by_procedure = seats.availability_by_procedure(
        venue=venue, procedures=procedures, first=day, last=day, now=now, online=False
    )
    for days in by_procedure.values():
        for availability in days:
            for view in availability.slots:
                known = by_start.get(view.start)
                if view.remaining and (known is None or view.remaining > known.remaining):
                    by_start[view.start] = view
    return [by_start[start] for start in sorted(by_start)]


def day_data(*, venue: Venue, day: date, now: datetime, procedures: list[Procedure]) -> DayData:
    """The day page's rows: slots, bookings and held seats, in a fixed number of queries."""
    slots = list(
        Slot.objects.filter(venue=venue, date=day).select_related("window").order_by("start", "window__start")
    )
    first, last = clock.at_jst(day), clock.at_jst(day) + timedelta(days=1)
    bookings = list(
        Booking.objects.filter(venue=venue, start__gte=first, start__lt=last)
        .select_related("procedure")
        .order_by("start", "id")
    )
    held = held_seats_by_slot(venue=venue, first=day, last=day, now=now)
    bookable = staff_starts(venue=venue, procedures=procedures, day=day, now=now)
    return DayData(slots, bookings, held, bookable)


def day_version(*, venue: Venue, day: date) -> str:
    """A cheap fingerprint of a venue's day: changes whenever a booking of it is added or changes
    status, or a slot is withdrawn or comes back (the day page polls it to reload when another
    counter did something). Two aggregate queries."""
    first = clock.at_jst(day)
    bookings = Booking.objects.filter(venue=venue, start__gte=first, start__lt=first + timedelta(days=1))
    row = bookings.aggregate(n=Count("id"), last=Max("updated_at"))
    active = Slot.objects.filter(venue=venue, date=day, active=True).count()
    return version_text(row["n"], row["last"], active)


def day_version_of(data: DayData) -> str:
    """The same fingerprint from the rows the day page has read already (no query)."""
    last = max((b.updated_at for b in data.bookings), default=None)
    return version_text(len(data.bookings), last, sum(1 for slot in data.slots if slot.active))


def version_text(bookings: int, last_change: datetime | None, active_slots: int) -> str:
    stamp = f"{last_change.timestamp():.6f}" if last_change else "0"
    return f"{bookings}-{stamp}-{active_slots}"


def bookings_find_for_staff(
    bookings: QuerySet[Booking], *, reference: str | None, digits: str | None, text: str
) -> list[Booking]:
    """Bookings (already scoped to the clerk's venues) by reference, phone digits or name words."""
    found = bookings.select_related("venue", "procedure")
    if reference:
        hits = list(found.filter(reference=reference))
        if hits:
            return hits
    if digits:
        return list(found.filter(phone__contains=digits).order_by("-start")[:30])
    words = unicodedata.normalize("NFKC", text).split()
    if not words:
        return []
    for word in words:
        found = found.filter(name__icontains=word)
    return list(found.order_by("-start")[:30])


def seat_totals_by_day(*, venue: Venue, first: date, last: date, now: datetime) -> dict[date, dict[str, Any]]:
    """Per day: seats offered (active slots), taken (bookings and live holds) and held (live holds)."""
    totals = {
        row["date"]: dict(row)
        for row in Slot.objects.filter(venue=venue, date__gte=first, date__lte=last)
        .values("date")
        .annotate(capacity=Sum("capacity", filter=Q(active=True)), taken=Sum("taken"), slots=Count("id"))
    }
    held_by_day = (
        Hold.objects.filter(
            venue=venue,
            state=Hold.State.LIVE,
            start__gte=clock.at_jst(first),
            start__lt=clock.at_jst(last + timedelta(days=1)),
        )
        .values("slot__date")
        .annotate(held=Sum("slot_count"))
    )
    for row in held_by_day:
        totals.setdefault(row["slot__date"], {"taken": 0, "capacity": 0})["held"] = row["held"]
    return totals


def outbox_backlog(*, now: datetime) -> tuple[int, float]:
    """The outbox's backlog for readiness and metrics: pending rows (due or in back-off), and how
    many seconds the oldest due one has waited (0.0 when none is due). One query on the partial
    index `notification_pending`."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    found = Notification.objects.filter(state=Notification.State.PENDING).aggregate(
        rows=Count("pk"), oldest=Min(Coalesce("next_attempt_at", "created_at"), filter=due)
    )
    oldest = found["oldest"]
    return found["rows"], max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
