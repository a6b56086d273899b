"""Seats: the one home of what a seat is, who may take it, and how many are left.

Everything that decides or changes a seat lives here, and nowhere else:

- the run of slots a procedure takes from a start (`run_for_start`, `seats_of`);
- the bookability rule, online (cut-off, horizon, seats kept back for staff, not in the past) and
  by staff (capacity only, not over) (`check_bookable`, `seats_left`, `online_day_open`);
- taking and freeing seats (`seats_change`): one conditional `UPDATE … WHERE` per slot, in
  ascending primary-key order (a fixed lock order), the CHECK constraints of `bookings_slot`
  behind it, expired holds reclaimed lazily when a slot is found full, and the availability cache
  invalidated in the same function so that no caller can forget it;
- holds giving their seats back (`hold_give_back`, `holds_reclaim`);
- the availability read, cached (`availability`, `availability_answer`).

A seat is counted in `Slot.taken` while a booking holds it (any status but the cancelled ones) or a
hold is `live`. Nothing outside this module writes `taken` (tests/test_architecture.py).
"""

from __future__ import annotations

import functools
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any

from django.db import connection, transaction
from django.db.models import Model

from scheduler import clock, rows
from scheduler.errors import OutsideBookingWindow, SlotFull
from venues import selectors as venue_selectors
from venues.calendar import dates, overlaps_closure, venue_calendar
from venues.models import Procedure, ReceptionWindow, Venue

from . import availability_cache, statements, waitlist_wake
from .models import Booking, Hold, Slot

AVAILABILITY_MAX_DAYS = 92

# Bookings whose seats stay taken: the active ones and the visits that happened (or did not).
SEAT_HOLDING = (
    Booking.Status.CONFIRMED,
    Booking.Status.CHECKED_IN,
    Booking.Status.IN_SERVICE,
    Booking.Status.DONE,
    Booking.Status.NO_SHOW,
)


# --- The bookability rule ------------------------------------------------------------------


def online_cutoff(venue: Venue, day: date) -> datetime:
    """The moment online booking closes for slots on `day` (default: 17:00 JST the day before)."""
    cutoff_day = day - timedelta(days=venue.cutoff_days_before)
    return clock.at_jst(cutoff_day, venue.cutoff_time.hour, venue.cutoff_time.minute)


def last_bookable_day(venue: Venue, now: datetime) -> date:
    """The horizon: a whole new day opens at 00:00 JST (the venue's setting, read in `venues`)."""
    return venue_selectors.horizon_end(venue, today=clock.today(now))


def online_day_open(venue: Venue, day: date, now: datetime) -> bool:
    """Online booking takes `day` now: before its cut-off and within the horizon."""
    return now < online_cutoff(venue, day) and day <= last_bookable_day(venue, now)


def _start_open(*, start: datetime, end: datetime, now: datetime, online: bool) -> bool:
    """Online: not started yet. Staff: not over yet (a walk-in may join a slot in progress)."""
    return start > now if online else end > now


def seats_left(slot: Any, *, online: bool) -> int:
    """Seats a new booking may still take: online ones leave the staff's kept-back seats alone.

    The same condition as the take statements below (`taken < capacity - reserved` / `< capacity`)."""
    limit = slot.capacity - slot.reserved if online else slot.capacity
    return max(0, limit - slot.taken)


def is_bookable(*, venue: Venue, run: Sequence[Any], now: datetime, online: bool) -> bool:
    """The time rule alone (no seat count): may this run be booked, held or moved to now?"""
    if not run:
        return False
    first, last = run[0], run[-1]
    if not _start_open(start=first.start, end=last.end, now=now, online=online):
        return False
    return not online or online_day_open(venue, clock.local(first.start).date(), now)


def check_bookable(*, venue: Venue, run: Sequence[Any], now: datetime, online: bool) -> None:
    """`is_bookable`, as the contract's error; then the seat count as read (`slot_full`)."""
    if not is_bookable(venue=venue, run=run, now=now, online=online):
        raise OutsideBookingWindow() if online else OutsideBookingWindow("That time is over.")
    full = [slot for slot in run if seats_left(slot, online=online) == 0]
    if full and not any(_expired_holds(now=now, slot=slot).exists() for slot in full):
        raise SlotFull()  # full when read; the conditional UPDATE decides for real


def hold_expiry(*, venue: Venue, start: datetime, now: datetime) -> datetime:
    """A hold lasts the venue's hold time, never past the online cut-off of its day."""
    return min(now + timedelta(minutes=venue.hold_minutes), online_cutoff(venue, clock.local(start).date()))


# --- Runs of slots ---------------------------------------------------------------------------


def slots_needed(procedure: Procedure, slot_minutes: int) -> int:
    """A procedure longer than the slot length takes consecutive slots."""
    return max(1, math.ceil(procedure.duration_minutes / slot_minutes))


def _is_run(run: Sequence[Any], needed: int) -> bool:
    return len(run) == needed and all(b.start == a.end for a, b in pairwise(run))


def _run_candidates_sql(extra: str = "") -> str:
    slot, window = Slot._meta, ReceptionWindow._meta
    through = ReceptionWindow.procedures.through._meta
    return f"""
SELECT {rows.columns(Slot, "s")}, w.slot_minutes{extra}
FROM {slot.db_table} AS s
JOIN {window.db_table} AS w ON w.id = s.window_id
JOIN {through.db_table} AS wp
  ON wp.{through.get_field("receptionwindow").column} = s.window_id
 AND wp.{through.get_field("procedure").column} = %s
WHERE s.venue_id = %s AND s.date = %s AND s.active AND s.start >= %s AND s.start < %s
ORDER BY s.window_id, s.start
"""  # noqa: S608


# A cursor, not a queryset: it runs on every booking, hold and reschedule. In-process, the
# equivalent queryset (join, `procedures` filter, select_related) cost 3.9x as much per call on
# PostgreSQL and 6.0x on SQLite as `Manager.raw()` did, measured in one run of bench/seat_reads.py
# (2026-12-01: 3.35 ms against 0.87 ms at a yardstick of ~26 us), composing and compiling it being
# most of its cost; the rows are now built by `scheduler.rows`, cheaper again than `raw()`.
RUN_CANDIDATES = _run_candidates_sql()


def run_for_start(*, venue: Venue, procedure: Procedure, start: datetime) -> list[Slot]:
    """The active slots a visit for `procedure` starting at `start` takes, in order, or []."""
    return run_for_start_with(venue=venue, procedure=procedure, start=start)[0]


@functools.cache
def _run_candidates_with(columns: tuple[tuple[str, str], ...]) -> str:
    return _run_candidates_sql("".join(f", {sql}\n    AS {name}" for name, sql in columns))


def run_for_start_with(
    *,
    venue: Venue,
    procedure: Procedure,
    start: datetime,
    columns: Mapping[str, str] | None = None,
    params: Sequence[Any] = (),
) -> tuple[list[Slot], dict[str, Any] | None]:
    """`run_for_start`, and more answers read by the same statement: `columns` maps a name to an
    uncorrelated scalar subquery (evaluated once, whatever the rows), `params` its parameters in
    order. The answers are None when no slot was a candidate (no row came back to carry them).
    One round trip less on every booking: a round trip costs PostgreSQL about 40 µs of CPU."""
    # A run of n slots of one window starts within the procedure's duration of `start`.
    span_end = start + timedelta(minutes=procedure.duration_minutes)
    ops = connection.ops
    params = [
        *params,
        procedure.pk,
        venue.pk,
        ops.adapt_datefield_value(clock.local(start).date()),
        ops.adapt_datetimefield_value(start),
        ops.adapt_datetimefield_value(span_end),
    ]
    columns = columns or {}
    sql = _run_candidates_with(tuple(columns.items())) if columns else RUN_CANDIDATES
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    split = rows.width(Slot)
    by_window: dict[int, list[Slot]] = defaultdict(list)
    for row in found:
        slot = rows.instance(Slot, row[:split])
        slot.window_slot_minutes = row[split]
        by_window[slot.window_id].append(slot)
    answers = dict(zip(columns, found[0][split + 1 :], strict=True)) if found else None
    for slots in by_window.values():
        if slots[0].start != start:
            continue
        needed = slots_needed(procedure, slots[0].window_slot_minutes)
        run = slots[:needed]
        if _is_run(run, needed):
            return run, answers
    return [], answers


def seats_of(*, window_id: int, start: datetime, end: datetime) -> list[Slot]:
    """The slots a booking or a hold covers: from its start to its end in its window."""
    return list(Slot.objects.filter(window_id=window_id, start__gte=start, start__lt=end).order_by("start"))


def seats_of_booking(booking: Booking) -> list[Slot]:
    return seats_of(window_id=booking.slot.window_id, start=booking.start, end=booking.end)


# --- Taking and freeing seats ----------------------------------------------------------------

# The seat statements. Only this module runs them (an architecture test scans for them).
TAKE_ONLINE_SEAT = (
    "UPDATE bookings_slot SET taken = taken + 1 WHERE id = %s AND active AND taken < capacity - reserved"
)
TAKE_ANY_SEAT = "UPDATE bookings_slot SET taken = taken + 1 WHERE id = %s AND active AND taken < capacity"
FREE_SEAT = "UPDATE bookings_slot SET taken = taken - 1 WHERE id = %s AND taken > 0"


def seats_change(
    *,
    venue: Venue | int,
    take: Iterable[Slot] = (),
    free: Iterable[Slot] = (),
    online: bool,
    now: datetime,
) -> None:
    """Take and free seats in ascending pk order; `SlotFull` (and the caller's rollback) if one is
    full. Call inside the transaction that writes the booking or hold the seats belong to.

    Each seat is one conditional UPDATE: it waits for a concurrent writer of the same row, then
    re-checks its condition, so that two transactions never take the last seat. A slot found full
    first gives back the seats of its expired holds, in this transaction, and is tried once more:
    nobody is refused because of a hold that has run out."""
    moves = sorted([(s.pk, +1) for s in take] + [(s.pk, -1) for s in free])
    if not moves:
        return
    availability_cache.venue_changed(venue)
    if any(delta < 0 for _pk, delta in moves):
        waitlist_wake.seats_freed(venue.pk if isinstance(venue, Venue) else venue)
    by_pk = {s.pk: s for s in take}
    with connection.cursor() as cursor:
        for pk, delta in moves:
            if delta < 0:
                cursor.execute(FREE_SEAT, [pk])
                continue
            statement = TAKE_ONLINE_SEAT if online else TAKE_ANY_SEAT
            cursor.execute(statement, [pk])
            if cursor.rowcount == 1:
                continue
            if holds_reclaim(now=now, slot=by_pk[pk]) == 0:
                raise SlotFull()
            cursor.execute(statement, [pk])
            if cursor.rowcount != 1:
                raise SlotFull()


# The same conditions for a whole run in one statement (`seats_take_writing`), one parameter per
# slot: with `= ANY(array)` the planner cannot know the array's length from a generic plan and
# plans the statement anew each time (measured: 2.8x its database CPU). An index scan over the
# list visits the keys in ascending order: the same lock order as `seats_change`.
def _take_seats(online: bool, count: int) -> str:
    limit = "capacity - reserved" if online else "capacity"
    slots = ", ".join(["%s"] * count)
    return (
        f"UPDATE bookings_slot SET taken = taken + 1"  # noqa: S608 (placeholders and fixed text only)
        f" WHERE id IN ({slots}) AND active AND taken < {limit} RETURNING id"
    )


def seats_take_writing(
    *, venue: Venue, take: Sequence[Slot], online: bool, first: Model, then: Sequence[Model] = ()
) -> list[int] | None:
    """PostgreSQL: take every seat of `take` and write `first` (a booking) and `then` (its rows)
    in one statement (`bookings.statements`): one round trip in autocommit for a one-slot run, a
    transaction (or a savepoint) around it otherwise. The ids of the rows written, in order; None
    when a seat was found full, with nothing written: the caller then goes the way of
    `seats_change`, which gives back the seats of expired holds and decides for real."""
    ids = sorted(slot.pk for slot in take)
    sql, params = statements.gated_inserts(
        gate=_take_seats(online, len(ids)),
        gate_params=ids,
        needed=len(ids),
        first=first,
        then=then,
    )
    guarded = len(ids) > 1 or connection.in_atomic_block
    with transaction.atomic() if guarded else nullcontext(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        taken, *written = cursor.fetchone()
        if taken != len(ids):
            if taken:
                transaction.set_rollback(True)  # some seats of the run, not all: none
            return None
    availability_cache.venue_changed(venue)
    return written


def hold_take(
    *,
    venue: Venue,
    procedure: Procedure,
    run: Sequence[Slot],
    secret_hash: str,
    now: datetime,
    replacing: Hold | None = None,
    expires_at: datetime | None = None,
    waitlist_entry: Any = None,
) -> Hold:
    """Write a live hold on `run` and take its seats, in the caller's transaction; the hold it
    replaces (the same person's previous choice) gives its seats back in the same ordered pass.
    A waiting list's offer says its own expiry (`bookings.waitlist`)."""
    freed: list[Slot] = []
    if replacing is not None and Hold.objects.filter(pk=replacing.pk, state=Hold.State.LIVE).update(
        state=Hold.State.RELEASED
    ):
        freed = seats_of(window_id=replacing.slot.window_id, start=replacing.start, end=replacing.end)
    hold = Hold.objects.create(
        secret_hash=secret_hash,
        venue=venue,
        procedure=procedure,
        slot=run[0],
        slot_count=len(run),
        start=run[0].start,
        end=run[-1].end,
        expires_at=expires_at or hold_expiry(venue=venue, start=run[0].start, now=now),
        created_at=now,
        waitlist_entry=waitlist_entry,
    )
    if replacing is not None and replacing.venue_id != venue.pk:
        seats_change(venue=replacing.venue_id, free=freed, online=False, now=now)
        freed = []
    seats_change(venue=venue, take=run, free=freed, online=True, now=now)
    return hold


def hold_pass_to_booking(*, hold: Hold, booking: Booking) -> bool:
    """A live hold's seats become the booking's (no seat count changes). False if it is no longer
    live (its seats were given back meanwhile: the booking must take seats of its own); it is
    recorded as used by the booking all the same, so that a repeated confirm finds that booking."""
    used = {"state": Hold.State.USED, "booking": booking}
    if Hold.objects.filter(pk=hold.pk, state=Hold.State.LIVE).update(**used):
        return True
    Hold.objects.filter(pk=hold.pk, state__in=[Hold.State.EXPIRED, Hold.State.RELEASED]).update(**used)
    return False


def hold_give_back(*, hold: Hold, state: str, now: datetime, expired_only: bool = False) -> bool:
    """End a live hold (`released` or `expired`) and free its seats, in the caller's transaction.

    A conditional UPDATE on the hold's row decides, so that a hold is given back at most once and
    never after a booking used it (the same row's `live → used` wins or loses against this)."""
    ended = Hold.objects.filter(pk=hold.pk, state=Hold.State.LIVE)
    if expired_only:
        ended = ended.filter(expires_at__lte=now)
    if ended.update(state=state) != 1:
        return False
    seats = seats_of(window_id=hold.slot.window_id, start=hold.start, end=hold.end)
    seats_change(venue=hold.venue_id, free=seats, online=False, now=now)
    return True


def _expired_holds(*, now: datetime, slot: Slot | None = None):
    """Live holds past their time (covering `slot`, if given): their seats are to be given back."""
    expired = Hold.objects.filter(state=Hold.State.LIVE, expires_at__lte=now)
    if slot is None:
        return expired
    return expired.filter(slot__window_id=slot.window_id, start__lte=slot.start, end__gt=slot.start)


def holds_reclaim(*, now: datetime, slot: Slot | None = None, limit: int | None = None) -> int:
    """Give back the seats of live holds that have expired: those covering `slot`, or all of them
    (oldest first, at most `limit`). Returns how many holds were reclaimed."""
    expired = _expired_holds(now=now, slot=slot).select_related("slot").order_by("expires_at", "pk")
    if limit is not None:
        expired = expired[:limit]
    return sum(
        hold_give_back(hold=hold, state=Hold.State.EXPIRED, now=now, expired_only=True) for hold in expired
    )


# --- Availability --------------------------------------------------------------------------


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


def _runs(rows: list[_Row], needed: int, online: bool) -> Iterator[tuple[_Row, _Row, int, tuple[int, ...]]]:
    """Each slot that can start a run of `needed` back-to-back slots of its window."""
    for index, first in enumerate(rows):
        run = rows[index : index + needed]
        if needed > 1 and not _is_run(run, needed):
            continue
        remaining = min(seats_left(s, online=online) for s in run)
        yield first, run[-1], remaining, tuple(s.pk for s in run)


def _compute_many(
    *, venue: Venue, procedures: Sequence[Procedure], first: date, last: date, now: datetime, online: bool
) -> tuple[dict[int, list[DayAvailability]], datetime]:
    """Per procedure: the open days of the range with their bookable slots (full ones too); and the
    first moment after `now` at which time alone changes the answer (next slot start or end,
    cut-off, midnight). One calendar, one window and one slot read for all the procedures."""
    calendar = {status.date: status for status in venue_calendar(venue, first, last)}
    wanted = {procedure.pk for procedure in procedures}
    windows = list(
        ReceptionWindow.objects.filter(venue=venue, procedures__in=wanted)
        .distinct()
        .prefetch_related("procedures")
    )
    rows = Slot.objects.filter(
        venue=venue, window__in=[w.pk for w in windows], date__gte=first, date__lte=last, active=True
    )
    rows = rows.filter(start__gt=now) if online else rows.filter(end__gt=now)
    by_window_day: dict[tuple[int, date], list[_Row]] = defaultdict(list)
    valid_until = clock.at_jst(clock.today(now) + timedelta(days=1))
    values = rows.order_by("start").values_list(
        "id", "window_id", "date", "start", "end", "capacity", "reserved", "taken"
    )
    for pk, window_id, day, start, end, capacity, reserved, taken in values:
        by_window_day[(window_id, day)].append(_Row(pk, start, end, capacity, reserved, taken))
        valid_until = min(valid_until, start if online else end)  # the row leaves the answer then

    result: dict[int, list[DayAvailability]] = {}
    for procedure in procedures:
        own = [w for w in windows if any(p.pk == procedure.pk for p in w.procedures.all())]
        days: list[DayAvailability] = []
        for day in dates(first, last):
            status = calendar[day]
            applicable = [w for w in own if w.applies_on(day)]
            if not status.open or not applicable:
                continue
            views: list[SlotView] = []
            if online and now < online_cutoff(venue, day):
                valid_until = min(valid_until, online_cutoff(venue, day))
            if not online or online_day_open(venue, day, now):
                for window in applicable:
                    needed = slots_needed(procedure, window.slot_minutes)
                    for first_row, last_row, remaining, ids in _runs(
                        by_window_day[(window.pk, day)], needed, online
                    ):
                        if overlaps_closure(first_row.start, last_row.end, status.partial_closures):
                            continue
                        views.append(SlotView(first_row.start, last_row.end, remaining, ids))
                if len(applicable) > 1:
                    views.sort(key=lambda view: view.start)
            days.append(DayAvailability(day, views))
        result[procedure.pk] = days
    return result, valid_until


def _compute(
    *, venue: Venue, procedure: Procedure, first: date, last: date, now: datetime, online: bool
) -> tuple[list[DayAvailability], datetime]:
    by_procedure, valid_until = _compute_many(
        venue=venue, procedures=[procedure], first=first, last=last, now=now, online=online
    )
    return by_procedure[procedure.pk], valid_until


def availability_by_procedure(
    *,
    venue: Venue,
    procedures: Sequence[Procedure],
    first: date,
    last: date,
    now: datetime,
    online: bool = True,
) -> dict[int, list[DayAvailability]]:
    """`availability` for several procedures at once (the clerk's seat pickers), by procedure id."""
    return availability_cache.cached_answer(
        venue_code=venue.code,
        parts=(
            "days",
            tuple(sorted(p.code for p in procedures)),
            first.isoformat(),
            last.isoformat(),
            online,
        ),
        now=now,
        compute=lambda: _compute_many(
            venue=venue, procedures=procedures, first=first, last=last, now=now, online=online
        ),
    )


def availability(
    *, venue: Venue, procedure: Procedure, first: date, last: date, now: datetime, online: bool = True
) -> list[DayAvailability]:
    """The days and times a resident (`online`) or a clerk may book, from the cache when no seat,
    window or closure of the venue has changed since (see `availability_cache`)."""
    return availability_by_procedure(
        venue=venue, procedures=[procedure], first=first, last=last, now=now, online=online
    )[procedure.pk]


def bookable_days(*, venue: Venue, procedure: Procedure, now: datetime) -> list[DayAvailability]:
    """Online availability from today to the end of the horizon."""
    today = clock.today(now)
    return availability(
        venue=venue, procedure=procedure, first=today, last=last_bookable_day(venue, now), now=now
    )


def render_days(days: Iterable[DayAvailability]) -> list[dict[str, Any]]:
    """The `days` of the availability response (JSON-ready)."""
    return [
        {
            "date": day.date.isoformat(),
            "slots": [
                {
                    "start": clock.local(view.start).isoformat(),
                    "end": clock.local(view.end).isoformat(),
                    "remaining": view.remaining,
                }
                for view in day.slots
            ],
        }
        for day in days
    ]


def availability_answer(
    *,
    venue_code: str,
    procedure_code: str | None,
    raw_from: str | None,
    raw_to: str | None,
    now: datetime,
) -> bytes:
    """The API's availability body, kept rendered: a hit neither queries, parses nor renders.

    Keyed by what the request names; errors (unknown codes, bad dates) are raised by the full
    validation of a miss and never stored."""

    def compute() -> tuple[bytes, datetime]:
        place = venue_selectors.venue_get(venue_code)
        procedure = venue_selectors.offered_procedure_get(place, procedure_code)
        today = clock.today(now)
        first, last = venue_selectors.date_range(
            raw_from,
            raw_to,
            default_from=today,
            default_to=last_bookable_day(place, now),
            max_days=AVAILABILITY_MAX_DAYS,
        )
        days, valid_until = _compute(
            venue=place, procedure=procedure, first=first, last=last, now=now, online=True
        )
        body = {"venue": place.code, "procedure": procedure.code, "days": render_days(days)}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(), valid_until

    shape = venue_selectors.CODE_SHAPE
    if not (
        isinstance(procedure_code, str) and shape.fullmatch(venue_code) and shape.fullmatch(procedure_code)
    ):
        return compute()[0]  # malformed: raises the contract's errors, nothing is cached
    return availability_cache.cached_answer(
        venue_code=venue_code,
        parts=api_answer_parts(procedure_code, raw_from, raw_to, clock.today(now)),
        now=now,
        compute=compute,
    )


def api_answer_parts(procedure_code: str, raw_from: str | None, raw_to: str | None, today: date) -> tuple:
    """What the API's answer is kept under, besides the venue: what the request names, and today
    (the defaults of `from` and `to` depend on it)."""
    return ("api", procedure_code, raw_from, raw_to, today.isoformat())


def free_runs(
    *, venue: Venue, procedures: Sequence[Procedure], first: date, last: date, now: datetime
) -> dict[int, list[SlotView]]:
    """By procedure id: the runs that can be booked online now with a seat left, in time order,
    read from the database (never the cache: the waiting list offers them under its lock)."""
    by_procedure, _valid_until = _compute_many(
        venue=venue, procedures=procedures, first=first, last=last, now=now, online=True
    )
    return {
        pk: [view for day in days for view in day.slots if view.remaining > 0]
        for pk, days in by_procedure.items()
    }


def several_counters(*, venue: Venue, day: date) -> bool:
    """Does some slot of that day offer more than one seat? Then the pages say how many are left
    at each time (with a single counter "free" already says it all)."""
    return Slot.objects.filter(venue=venue, date=day, active=True, capacity__gt=1).exists()


def nearest_free(
    *,
    venue: Venue,
    procedure: Procedure,
    wanted: datetime,
    now: datetime,
    exclude: Iterable[datetime] = (),
    count: int = 6,
) -> list[SlotView]:
    """The free online times closest to the one that was wanted, in time order."""
    skip = {wanted, *exclude}
    free = [
        slot
        for day in bookable_days(venue=venue, procedure=procedure, now=now)
        for slot in day.slots
        if slot.remaining > 0 and slot.start not in skip
    ]
    free.sort(key=lambda slot: abs((slot.start - wanted).total_seconds()))
    return sorted(free[:count], key=lambda slot: slot.start)
