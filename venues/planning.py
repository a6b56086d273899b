"""Planning of reception windows and closures: add, change, end, close, reopen.

A change reaches the future slots at once, in the same transaction, and an audit row records
before → after. Slots and bookings belong to the bookings app: it registers itself as the
`SeatPlanner` when Django starts (`bookings.apps`), so that this app never imports it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction

from scheduler import clock
from scheduler.errors import CapacityBelowTaken, InvalidInput
from scheduler.retry import retry_on_lock

from .models import Closure, Procedure, ReceptionWindow, Venue
from .selectors import slots_end
from .services import audit_record, snapshot


class SeatPlanner(Protocol):
    """What planning needs from the seats side (implemented by `bookings.planning`)."""

    def window_conflicts(self, *, window: ReceptionWindow, now: datetime, lock: bool = False) -> list[Any]:
        """Future slots holding bookings that the window's new (unsaved) settings would not keep."""

    def slots_described(self, slots: Iterable[Any]) -> str: ...

    def replan(self, *, venue: Venue, first: date, last: date, now: datetime) -> None:
        """Bring the venue's slots between the two dates in line with its windows and calendar."""

    def closure_bookings(self, *, closure: Closure, now: datetime) -> list[Any]:
        """Active bookings the closure (saved or not) covers that have not started yet."""

    def closure_cancel(
        self, *, closure: Closure, now: datetime, actor: AbstractBaseUser | None, note: str
    ) -> list[Any]:
        """Cancel those bookings as `cancelled_by_venue` (each told); the ones cancelled."""

    def closure_cancelled(self, *, closure: Closure) -> list[Any]:
        """Bookings cancelled by the venue inside the closure's days and hours."""


_planner: SeatPlanner | None = None


def seat_planner_register(planner: SeatPlanner) -> None:
    global _planner
    _planner = planner


def seat_planner() -> SeatPlanner:
    if _planner is None:
        raise ImproperlyConfigured("No seat planner registered (is the bookings app installed?).")
    return _planner


WINDOW_AUDIT_FIELDS = [
    "label",
    "weekdays",
    "start",
    "end",
    "slot_minutes",
    "counters",
    "reserved",
    "valid_from",
    "valid_until",
]
CLOSURE_AUDIT_FIELDS = ["start_date", "end_date", "start_time", "end_time", "note"]


def _validated(obj: ReceptionWindow | Closure) -> None:
    """The model's own `clean()`, as the domain's `invalid` error."""
    try:
        obj.clean()
    except ValidationError as error:
        fields = error.message_dict if hasattr(error, "error_dict") else {"non_field_errors": error.messages}
        raise InvalidInput({key: [str(m) for m in messages] for key, messages in fields.items()}) from error


def _replan(venue: Venue, first: date, last: date, now: datetime) -> None:
    """Bring the venue's future slots between `first` and `last` (as far as slots exist: the day
    after the horizon, made before it opens) up to date."""
    today = clock.today(now)
    first, last = max(first, today), min(last, slots_end(venue, today=today))
    if first <= last:
        seat_planner().replan(venue=venue, first=first, last=last, now=now)


def _window_snapshot(
    window: ReceptionWindow, procedures: Iterable[Procedure] | None = None
) -> dict[str, Any]:
    data = snapshot(window, WINDOW_AUDIT_FIELDS)
    chosen = procedures if procedures is not None else window.procedures.all()
    data["procedures"] = sorted(p.code for p in chosen)
    return data


@retry_on_lock
def window_save(
    *,
    window: ReceptionWindow,
    actor: AbstractBaseUser | None,
    now: datetime,
    procedures: Iterable[Procedure] | None = None,
    note: str = "",
) -> ReceptionWindow:
    """Add or change a reception window (counters, seats kept for staff, times, dates) and apply it
    to the future slots at once. Refused, naming the slots, when a booked slot would lose its seat."""
    _validated(window)
    procedures = list(procedures) if procedures is not None else None
    previous = ReceptionWindow.objects.filter(pk=window.pk).first() if window.pk else None
    if previous is not None and previous.venue_id != window.venue_id:
        raise InvalidInput({"venue": ["受付時間帯の会場は変更できません。"]})
    with transaction.atomic():
        before = _window_snapshot(previous) if previous else None
        if previous is not None:
            # The seats side locks the window's future slots (ascending pk, like every seat
            # change): a booking cannot take a seat between this check and the new counters.
            conflicts = seat_planner().window_conflicts(window=window, now=now, lock=True)
            if conflicts:
                raise CapacityBelowTaken(
                    "次の枠はすでに予約があり、この変更では席が足りなくなります: "
                    + seat_planner().slots_described(conflicts),
                    slots=[clock.local(s.start).isoformat() for s in conflicts],
                )
        window.save()
        if procedures is not None:
            window.procedures.set(procedures)
        today = clock.today(now)
        _replan(window.venue, today, slots_end(window.venue, today=today), now)
        after = _window_snapshot(window, procedures)
        if before != after:
            audit_record(
                actor=actor,
                venue=window.venue,
                object_type="window",
                object_id=window.pk,
                action="change" if previous else "add",
                before=before,
                after=after,
                note=note,
            )
    return window


def window_end(
    *, window: ReceptionWindow, first_day_without: date, actor: AbstractBaseUser | None, now: datetime
) -> ReceptionWindow:
    """The window no longer applies from `first_day_without` (its last day is the day before)."""
    window.valid_until = first_day_without - timedelta(days=1)
    return window_save(window=window, actor=actor, now=now, note=f"{first_day_without.isoformat()}から終了")


@dataclass(frozen=True)
class ClosureResult:
    closure: Closure
    cancelled: list[Any]  # bookings

    @property
    def to_phone(self) -> list[Any]:
        """Cancelled people who left no email address: staff must call them."""
        return [booking for booking in self.cancelled if not booking.email]


def closure_bookings(*, closure: Closure, now: datetime) -> list[Any]:
    """The bookings a closure would cancel (for the confirmation page before it is saved)."""
    return seat_planner().closure_bookings(closure=closure, now=now)


def closure_people_to_phone(*, closure: Closure) -> list[Any]:
    """The people whose bookings the closure cancelled and who left no e-mail address: staff
    phone them (kept on the closure's page until it is removed)."""
    if closure.pk is None:
        return []
    return [booking for booking in seat_planner().closure_cancelled(closure=closure) if not booking.email]


def window_conflicts(*, window: ReceptionWindow, now: datetime) -> list[Any]:
    return seat_planner().window_conflicts(window=window, now=now)


def slots_described(slots: Iterable[Any]) -> str:
    return seat_planner().slots_described(slots)


@retry_on_lock
def closure_save(*, closure: Closure, actor: AbstractBaseUser | None, now: datetime) -> ClosureResult:
    """Add or change a closure: free future seats inside it disappear, bookings inside it become
    `cancelled_by_venue` (each with its outbox row), and the change is audited."""
    _validated(closure)
    previous = Closure.objects.filter(pk=closure.pk).first() if closure.pk else None
    if previous is not None and previous.venue_id != closure.venue_id:
        raise InvalidInput({"venue": ["休業の会場は変更できません。"]})
    reason = closure.note or "会場の都合による休業"
    with transaction.atomic():
        before = snapshot(previous, CLOSURE_AUDIT_FIELDS) if previous else None
        closure.save()
        cancelled = seat_planner().closure_cancel(closure=closure, now=now, actor=actor, note=reason)
        first = min(closure.start_date, previous.start_date) if previous else closure.start_date
        last = max(closure.end_date, previous.end_date) if previous else closure.end_date
        _replan(closure.venue, first, last, now)
        after = snapshot(closure, CLOSURE_AUDIT_FIELDS)
        if before != after or cancelled:
            audit_record(
                actor=actor,
                venue=closure.venue,
                object_type="closure",
                object_id=closure.pk,
                action="change" if previous else "add",
                before=before,
                after=after,
                note=f"予約{len(cancelled)}件を会場都合で取消" if cancelled else "",
            )
    return ClosureResult(closure, cancelled)


@retry_on_lock
def closure_remove(*, closure: Closure, actor: AbstractBaseUser | None, now: datetime) -> None:
    """Reopen: the slots come back; bookings it cancelled stay cancelled (the people were told)."""
    with transaction.atomic():
        pk, venue = closure.pk, closure.venue
        before = snapshot(closure, CLOSURE_AUDIT_FIELDS)
        Closure.objects.filter(pk=pk).delete()
        _replan(venue, closure.start_date, closure.end_date, now)
        audit_record(
            actor=actor,
            venue=venue,
            object_type="closure",
            object_id=pk,
            action="remove",
            before=before,
            after=None,
        )
