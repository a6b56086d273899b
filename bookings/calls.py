"""Calling checked-in residents to a counter: 呼出, 再呼出 and 不在 (issue 14, part 2).

Every call is a `Call` row: what the waiting room's display shows (the reference and the counter)
and the end of the resident's wait (check-in → first call after it). The queue's statuses do not
change here: the clerk still presses 窓口へ (bookings/queue.py, "start") when the person sits down.

The order of 呼出 (the next one): today's checked-in bookings not called since they checked in, by
the booking's start time, then by check-in time, then by id. The booked time comes first because
residents booked a time: someone early for 11:00 does not go before the 10:30 resident who checked
in a little later; among those of the same time, first come, first called.

Race-safe: two clerks pressing 呼出 at the same moment never get the same person. Each candidate
row is locked with `FOR NO KEY UPDATE SKIP LOCKED` (a row another clerk is calling right now is
passed over, never waited for) and, once locked, checked again with a fresh query (READ COMMITTED:
a call that the other clerk committed before the lock came free is seen).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import DateTimeField, Exists, Max, OuterRef, QuerySet, Subquery

from scheduler import clock
from scheduler.errors import (
    CallNotToday,
    InvalidCounter,
    InvalidTransition,
    NotCalled,
    NotCheckedIn,
    NothingWaiting,
)
from scheduler.retry import retry_on_lock
from venues.models import Venue

from .models import Booking, BookingEvent, Call, Slot
from .services import booking_lock

Status = Booking.Status
MAX_COUNTERS = 20  # counter numbers 1..20 where the day has no slots to count them from
CANDIDATES = 50  # rows looked at by one 呼出 (those locked by other clerks are passed over)
DISPLAY_CALLS = 6  # calls the waiting room's display shows


# --- Reads --------------------------------------------------------------------------------------


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    first = clock.at_jst(day)
    return first, first + timedelta(days=1)


def counters_of(*, venue: Venue, day: date) -> int:
    """How many counters the venue runs on `day`: its largest slot's seats (one per counter);
    MAX_COUNTERS where the day has no slots."""
    largest = Slot.objects.filter(venue=venue, date=day).aggregate(n=Max("capacity"))["n"]
    return min(largest, MAX_COUNTERS) if largest else MAX_COUNTERS


def counter_checked(*, venue: Venue, day: date, counter: object) -> int:
    """The counter number as an int in 1..counters_of, else InvalidCounter."""
    high = counters_of(venue=venue, day=day)
    try:
        number = int(str(counter).strip())
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= high:
        raise InvalidCounter(low=1, high=high)
    return number


def _checked_in_at() -> Subquery:
    """The time of the booking's latest check-in (an undo and a second check-in: the second)."""
    events = BookingEvent.objects.filter(booking=OuterRef("pk"), to_status=Status.CHECKED_IN)
    return Subquery(events.order_by("-at", "-id").values("at")[:1], output_field=DateTimeField())


def waiting(*, venue: Venue, day: date) -> QuerySet[Booking]:
    """Checked-in bookings of `day` not called since their check-in, in calling order."""
    first, last = _day_bounds(day)
    called = Call.objects.filter(booking=OuterRef("pk"), at__gte=OuterRef("checked_in_at"))
    return (
        Booking.objects.filter(venue=venue, start__gte=first, start__lt=last, status=Status.CHECKED_IN)
        .annotate(checked_in_at=_checked_in_at())
        .annotate(called=Exists(called))
        .filter(called=False)
        .order_by("start", "checked_in_at", "id")
    )


def last_calls(*, venue: Venue, day: date) -> dict[int, Call]:
    """The latest call of each booking of `day` (the day page's 呼出済み / 不在), in one query."""
    first, last = _day_bounds(day)
    latest: dict[int, Call] = {}
    for call in Call.objects.filter(venue=venue, booking__start__gte=first, booking__start__lt=last):
        latest[call.booking_id] = call  # ordered by (at, id): the last one wins
    return latest


def wait_of(booking: Booking) -> timedelta | None:
    """Check-in → the first call after it; None while the resident has not been called."""
    checked_in = booking.events.filter(to_status=Status.CHECKED_IN).order_by("-at", "-id").first()
    if checked_in is None:
        return None
    call = booking.calls.filter(at__gte=checked_in.at).order_by("at", "id").first()
    return call.at - checked_in.at if call else None


@dataclass(frozen=True)
class Shown:
    """One line of the display: never a name, only the reference and the counter."""

    reference: str
    counter: int
    at: datetime
    call_id: int  # the call that put the line there (a recall makes a new one: the chime again)


def display_version(*, venue: Venue, now: datetime) -> int:
    """The newest call of the venue today (0 for none): calls are only ever added, so the display
    needs a new list exactly when this changes. One query on the (venue, at) index."""
    first, last = _day_bounds(clock.today(now))
    newest = (
        Call.objects.filter(venue=venue, at__gte=first, at__lt=last).order_by("-at", "-id").values("id")[:1]
    )
    return newest[0]["id"] if newest else 0


def display_calls(*, venue: Venue, now: datetime, limit: int = DISPLAY_CALLS) -> list[Shown]:
    """Today's last `limit` residents called (newest first): each booking once, by its latest call,
    and not when that was 不在 (the person did not come forward: the line goes)."""
    first, last = _day_bounds(clock.today(now))
    calls = (
        Call.objects.filter(venue=venue, at__gte=first, at__lt=last)
        .select_related("booking")
        .only("id", "counter", "kind", "at", "booking__reference")
        .order_by("-at", "-id")[:200]
    )
    shown: list[Shown] = []
    seen: set[int] = set()
    for call in calls:
        if call.booking_id in seen:
            continue
        seen.add(call.booking_id)
        if call.kind != Call.Kind.NOT_HERE:
            shown.append(Shown(call.booking.reference, call.counter, call.at, call.pk))
        if len(shown) == limit:
            break
    return shown


# --- Writes -------------------------------------------------------------------------------------


def _refusal(booking: Booking, now: datetime) -> InvalidTransition | None:
    if clock.local(booking.start).date() != clock.today(now):
        return CallNotToday()
    if booking.status != Status.CHECKED_IN:
        return NotCheckedIn()
    return None


def _record(
    booking: Booking, *, counter: int, kind: str, now: datetime, actor: AbstractBaseUser | None
) -> Call:
    call = Call.objects.create(
        booking=booking,
        venue_id=booking.venue_id,
        counter=counter,
        kind=kind,
        at=now,
        actor=actor if actor is not None and actor.is_authenticated else None,
    )
    booking.save(update_fields=["updated_at"])  # the day pages of the other counters reload
    return call


@retry_on_lock
def call_next(*, venue: Venue, counter: int, now: datetime, actor: AbstractBaseUser | None) -> Call:
    """呼出: the next waiting resident of today to `counter`; NothingWaiting when nobody is."""
    today = clock.today(now)
    counter = counter_checked(venue=venue, day=today, counter=counter)
    with transaction.atomic():
        for pk in list(waiting(venue=venue, day=today).values_list("pk", flat=True)[:CANDIDATES]):
            mine = Booking.objects.select_for_update(no_key=True, skip_locked=True).filter(pk=pk)
            if not mine.values_list("pk"):
                continue  # another clerk is calling (or moving) this one right now
            if not waiting(venue=venue, day=today).filter(pk=pk).exists():
                continue  # called meanwhile: the other clerk committed before the lock came free
            booking = Booking.objects.get(pk=pk)
            return _record(booking, counter=counter, kind=Call.Kind.CALL, now=now, actor=actor)
    raise NothingWaiting()


@retry_on_lock
def call_booking(*, booking: Booking, counter: int, now: datetime, actor: AbstractBaseUser | None) -> Call:
    """呼出 of one checked-in resident of today (also one marked 不在 who came back)."""
    counter = counter_checked(venue=booking.venue, day=clock.today(now), counter=counter)
    with transaction.atomic():
        current = booking_lock(booking)
        if (refusal := _refusal(current, now)) is not None:
            raise refusal
        return _record(current, counter=counter, kind=Call.Kind.CALL, now=now, actor=actor)


def _last_call(booking: Booking) -> Call | None:
    return booking.calls.order_by("-at", "-id").first()


@retry_on_lock
def recall(*, booking: Booking, now: datetime, actor: AbstractBaseUser | None) -> Call:
    """再呼出: the same resident to the same counter as the last call."""
    with transaction.atomic():
        current = booking_lock(booking)
        if (refusal := _refusal(current, now)) is not None:
            raise refusal
        last = _last_call(current)
        if last is None:
            raise NotCalled()
        return _record(current, counter=last.counter, kind=Call.Kind.RECALL, now=now, actor=actor)


@retry_on_lock
def not_here(*, booking: Booking, now: datetime, actor: AbstractBaseUser | None) -> Call:
    """不在: the resident called did not come forward; the display drops the line. They stay
    checked in (and out of 呼出's order): when they come back, the clerk calls them by the row."""
    with transaction.atomic():
        current = booking_lock(booking)
        if (refusal := _refusal(current, now)) is not None:
            raise refusal
        last = _last_call(current)
        if last is None:
            raise NotCalled()
        if last.kind == Call.Kind.NOT_HERE:
            raise InvalidTransition("Already marked not here.")
        return _record(current, counter=last.counter, kind=Call.Kind.NOT_HERE, now=now, actor=actor)
