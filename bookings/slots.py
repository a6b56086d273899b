"""Slots: generating them from windows and the calendar, and reading what can be booked online."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Value
from django.db.models.functions import Greatest

from scheduler import clock, rawsql
from venues.calendar import DayStatus, dates, venue_calendar
from venues.models import Closure, Procedure, ReceptionWindow, Venue

from .models import Booking, Slot

# --- Rules of the online booking window (per-venue settings) ------------------------------


def online_cutoff(venue: Venue, day: date) -> datetime:
    """The moment online booking closes for slots on `day` (default: 17:00 JST the day before)."""
    cutoff_day = day - timedelta(days=venue.cutoff_days_before)
    return clock.at_jst(cutoff_day, venue.cutoff_time.hour, venue.cutoff_time.minute)


def last_bookable_day(venue: Venue, now: datetime) -> date:
    return clock.today(now) + timedelta(days=venue.horizon_days)


def is_online_bookable(venue: Venue, start: datetime, now: datetime) -> bool:
    """Within the horizon, before the cut-off, and in the future."""
    day = clock.local(start).date()
    return start > now and now < online_cutoff(venue, day) and day <= last_bookable_day(venue, now)


# --- Cutting windows into slots ----------------------------------------------------------


def slot_starts(window: ReceptionWindow, day: date) -> Iterator[tuple[datetime, datetime]]:
    """Consecutive slots from the window's start; the last one must end by the window's end."""
    step = timedelta(minutes=window.slot_minutes)
    start = clock.at_jst(day, window.start.hour, window.start.minute)
    end_of_window = clock.at_jst(day, window.end.hour, window.end.minute)
    while start + step <= end_of_window:
        yield start, start + step
        start += step


def _overlaps_closure(start: datetime, end: datetime, closures: Iterable[Closure]) -> bool:
    for closure in closures:
        day = clock.local(start).date()
        closed_from = clock.at_jst(day, closure.start_time.hour, closure.start_time.minute)
        closed_to = clock.at_jst(day, closure.end_time.hour, closure.end_time.minute)
        if start < closed_to and closed_from < end:
            return True
    return False


def slots_needed(procedure: Procedure, window: ReceptionWindow) -> int:
    """A procedure longer than the slot length takes consecutive slots."""
    return max(1, math.ceil(procedure.duration_minutes / window.slot_minutes))


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
                if start <= now or _overlaps_closure(start, end, status.partial_closures):
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
    """Generate slots for every active venue, from today up to its horizon (or `days`)."""
    now = now or clock.now()
    today = clock.today(now)
    venue_list = list(
        venues if venues is not None else Venue.objects.filter(is_active=True).order_by("sort_order")
    )
    reports = []
    for index, venue in enumerate(venue_list, start=1):
        horizon = days if days is not None else venue.horizon_days
        report = slots_generate_for_venue(
            venue=venue, first=today, last=today + timedelta(days=horizon), now=now
        )
        reports.append(report)
        if progress:
            progress(index, len(venue_list), report)
    return reports


# --- Reading availability ----------------------------------------------------------------


@dataclass
class SlotView:
    start: datetime
    end: datetime
    remaining: int
    slot_ids: tuple[int, ...] = ()


@dataclass
class DayAvailability:
    date: date
    slots: list[SlotView] = field(default_factory=list)


@dataclass(slots=True)
class _Row:
    """A slot as read for availability: a tuple, not a model instance (hundreds per request)."""

    pk: int
    start: datetime
    end: datetime
    capacity: int
    reserved: int
    taken: int

    @property
    def online_remaining(self) -> int:
        return max(0, self.capacity - self.reserved - self.taken)

    @property
    def remaining(self) -> int:
        return max(0, self.capacity - self.taken)


def _runs(slots: list, needed: int, online: bool) -> Iterator[tuple[Any, Any, int, tuple[int, ...]]]:
    """Each slot that can start a run of `needed` back-to-back slots of its window."""
    if needed == 1:
        for slot in slots:
            yield slot, slot, (slot.online_remaining if online else slot.remaining), (slot.pk,)
        return
    for index, first in enumerate(slots):
        run = slots[index : index + needed]
        if len(run) < needed or any(b.start != a.end for a, b in pairwise(run)):
            continue
        remaining = min(s.online_remaining if online else s.remaining for s in run)
        yield first, run[-1], remaining, tuple(s.pk for s in run)


def availability(
    *, venue: Venue, procedure: Procedure, first: date, last: date, now: datetime
) -> list[DayAvailability]:
    """Open days of the range with their online-bookable slots (full ones too), in few queries."""
    return availability_with_validity(venue=venue, procedure=procedure, first=first, last=last, now=now)[0]


def availability_with_validity(
    *, venue: Venue, procedure: Procedure, first: date, last: date, now: datetime
) -> tuple[list[DayAvailability], datetime]:
    """`availability(...)`, and the first moment after `now` at which time alone changes it: the
    next slot start, cut-off or midnight (when the horizon moves). Until then, only writes do."""
    calendar = {status.date: status for status in venue_calendar(venue, first, last)}
    windows = list(ReceptionWindow.objects.filter(venue=venue, procedures=procedure))
    by_window_day: dict[tuple[int, date], list[_Row]] = defaultdict(list)
    rows = Slot.objects.filter(
        venue=venue,
        window__in=[w.pk for w in windows],
        date__gte=first,
        date__lte=last,
        active=True,
        start__gt=now,
    ).values_list("id", "window_id", "date", "start", "end", "capacity", "reserved", "taken")
    valid_until = clock.at_jst(clock.today(now) + timedelta(days=1))
    for pk, window_id, day, start, end, capacity, reserved, taken in rows.order_by("start"):
        by_window_day[(window_id, day)].append(_Row(pk, start, end, capacity, reserved, taken))
        valid_until = min(valid_until, start)  # the query's `start > now` drops it then

    last_day = last_bookable_day(venue, now)
    days: list[DayAvailability] = []
    for day in dates(first, last):
        status = calendar[day]
        applicable = [w for w in windows if w.applies_on(day)]
        if not status.open or not applicable:
            continue
        views: list[SlotView] = []
        # The rules of `is_online_bookable`, per day (every row starts after `now` already).
        cutoff = online_cutoff(venue, day)
        if now < cutoff:
            valid_until = min(valid_until, cutoff)
        if now < cutoff and day <= last_day:
            closures = status.partial_closures
            for window in applicable:
                needed = slots_needed(procedure, window)
                for first_slot, last_slot, remaining, ids in _runs(
                    by_window_day[(window.pk, day)], needed, True
                ):
                    if closures and _overlaps_closure(first_slot.start, last_slot.end, closures):
                        continue
                    views.append(SlotView(first_slot.start, last_slot.end, remaining, ids))
            if len(applicable) > 1:
                views.sort(key=lambda view: view.start)
        days.append(DayAvailability(day, views))
    return days, valid_until


def _run_candidates_sql() -> str:
    through = ReceptionWindow.procedures.through._meta
    return f"""
SELECT {rawsql.select_list(Slot, "s")}, {rawsql.select_list(ReceptionWindow, "w")}
FROM {Slot._meta.db_table} AS s
JOIN {ReceptionWindow._meta.db_table} AS w ON w.id = s.window_id
JOIN {through.db_table} AS wp
  ON wp.{through.get_field("receptionwindow").column} = s.window_id
 AND wp.{through.get_field("procedure").column} = %s
WHERE s.venue_id = %s AND s.date = %s AND s.active AND s.start >= %s AND s.start < %s
ORDER BY s.window_id, s.start
"""  # noqa: S608


RUN_CANDIDATES = _run_candidates_sql()


def run_for_start(*, venue: Venue, procedure: Procedure, start: datetime) -> list[Slot]:
    """The active slots a booking of `procedure` starting at `start` would take, or [].

    Fixed SQL (`rawsql`), not a queryset: it runs on every booking and reschedule, where composing
    the join cost more than the query itself."""
    day = clock.local(start).date()
    # A run of n slots of one window starts within the procedure's duration of `start` (n is the
    # duration over the slot length, rounded up): nothing later can be part of it.
    span_end = start + timedelta(minutes=procedure.duration_minutes)
    ops = connection.ops
    params = [
        procedure.pk,
        venue.pk,
        ops.adapt_datefield_value(day),
        ops.adapt_datetimefield_value(start),
        ops.adapt_datetimefield_value(span_end),
    ]
    with connection.cursor() as cursor:
        cursor.execute(RUN_CANDIDATES, params)
        rows = cursor.fetchall()
    candidates = []
    for row in rows:
        slot, window = rawsql.from_joined_row(row, Slot, ReceptionWindow)
        Slot.window.field.set_cached_value(slot, window)
        candidates.append(slot)
    for slot in candidates:
        if slot.start != start:
            continue
        needed = slots_needed(procedure, slot.window)
        same_window = [s for s in candidates if s.window_id == slot.window_id]
        run = same_window[same_window.index(slot) : same_window.index(slot) + needed]
        if len(run) == needed and all(b.start == a.end for a, b in pairwise(run)):
            return run
    return []
