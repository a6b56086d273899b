"""The counter queue: check in, to the counter, done, did not come, and undo (seats stay held)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max

from scheduler import clock
from scheduler.errors import InvalidTransition, NoShowTooEarly, NotTheVisitDay
from scheduler.retry import retry_on_lock
from venues.models import Venue

from .events import event_record
from .models import Booking, Slot
from .services import booking_lock

Status = Booking.Status

TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    # action: (from statuses, to status)
    "check_in": ((Status.CONFIRMED,), Status.CHECKED_IN),
    "start": ((Status.CONFIRMED, Status.CHECKED_IN), Status.IN_SERVICE),
    "done": ((Status.IN_SERVICE, Status.CHECKED_IN), Status.DONE),
    "no_show": ((Status.CONFIRMED,), Status.NO_SHOW),
}


# Steps that mean the person is here: only on the day of the visit (JST).
ON_THE_DAY = frozenset({"check_in", "start", "done"})


def step_refusal(*, booking: Booking, action: str, now: datetime) -> InvalidTransition | None:
    """Why the counter may not take `action` on `booking` at `now` (domain.md, "At the counter"):
    check-in only on the visit's day; "did not come" only after the slot ended plus
    NO_SHOW_AFTER_MINUTES. None when the time is right (the status is checked separately)."""
    visit_day = clock.local(booking.start).date()
    if action in ON_THE_DAY and clock.today(now) != visit_day:
        return NotTheVisitDay(visit_day=f"{visit_day.month}月{visit_day.day}日")
    if action == "no_show":
        allowed_from = booking.end + timedelta(minutes=settings.NO_SHOW_AFTER_MINUTES)
        if now < allowed_from:
            return NoShowTooEarly(allowed_from=f"{clock.local(allowed_from):%H:%M}")
    return None


@retry_on_lock
def booking_transition(
    *, booking: Booking, action: str, now: datetime, actor: AbstractBaseUser | None, note: str = ""
) -> Booking:
    """A queue step (check in, start, done, no-show); seats stay held."""
    if action not in TRANSITIONS:
        raise InvalidTransition(f"Unknown action {action!r}.")
    sources, target = TRANSITIONS[action]
    with transaction.atomic():
        current = booking_lock(booking)
        if current.status not in sources:
            raise InvalidTransition(
                f"Cannot go from {current.get_status_display()} to {Status(target).label}."
            )
        refusal = step_refusal(booking=current, action=action, now=now)
        if refusal is not None:
            raise refusal
        before = current.status
        current.status = target
        current.save(update_fields=["status", "updated_at"])
        event_record(current, before=before, after=target, now=now, actor=actor, note=note or action)
    return current


@retry_on_lock
def booking_undo(*, booking: Booking, now: datetime, actor: AbstractBaseUser | None) -> Booking:
    """Step back over the last queue step (not over a cancellation, which freed the seat)."""
    with transaction.atomic():
        current = booking_lock(booking)
        last = current.events.order_by("-at", "-id").first()
        queue_targets = {target for _, target in TRANSITIONS.values()}
        if last is None or last.to_status != current.status or current.status not in queue_targets:
            raise InvalidTransition("There is no queue step to undo.")
        before, target = current.status, last.from_status
        current.status = target
        current.save(update_fields=["status", "updated_at"])
        event_record(current, before=before, after=target, now=now, actor=actor, note="undo")
    return current


def no_shows_mark(*, venue: Venue | None = None, before: datetime, now: datetime) -> int:
    """Bookings still `confirmed` whose visit ended before `before` become `no_show`; idempotent."""
    due = Booking.objects.filter(status=Status.CONFIRMED, end__lte=before)
    if venue is not None:
        due = due.filter(venue=venue)
    count = 0
    for booking in due.iterator():
        with transaction.atomic():
            changed = Booking.objects.filter(pk=booking.pk, status=Status.CONFIRMED).update(
                status=Status.NO_SHOW, updated_at=now
            )
            if changed:
                event_record(
                    booking,
                    before=Status.CONFIRMED,
                    after=Status.NO_SHOW,
                    now=now,
                    actor=None,
                    note="system: no-show after the last window",
                )
                count += 1
    return count


def no_shows_mark_after_last_window(*, now: datetime) -> int:
    """Per venue: once its last slot of today has ended (plus a grace period), today's bookings
    still `confirmed` become `no_show`; earlier days' leftovers at any time. Idempotent."""
    today = clock.today(now)
    grace = timedelta(minutes=settings.NO_SHOW_GRACE_MINUTES)
    ends = Slot.objects.filter(date=today).values("venue_id").annotate(last=Max("end"))
    last_end = dict(ends.values_list("venue_id", "last"))
    due = Booking.objects.filter(status=Status.CONFIRMED, end__lte=now)
    venue_ids = set(due.values_list("venue_id", flat=True))
    count = 0
    for venue in Venue.objects.filter(pk__in=venue_ids):
        last = last_end.get(venue.pk)
        before = now if last is not None and now >= last + grace else clock.at_jst(today)
        count += no_shows_mark(venue=venue, before=before, now=now)
    return count
