"""Every write to bookings and seats. The API, the web pages, the admin and the tasks call these.

Seats are taken and freed with conditional UPDATEs (`taken < limit`, `taken > 0`) inside the same
transaction as the booking row, and the database's CHECK constraints back them up. Slot rows are
always touched in ascending primary-key order, so that two transactions never wait on each other
in a cycle. On SQLite, transactions are IMMEDIATE and a busy writer is waited for and retried.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import F

from scheduler.errors import (
    Busy,
    DuplicateBooking,
    Ineligible,
    InvalidInput,
    InvalidTransition,
    NoSuchSlot,
    NotActive,
    NotFound,
    OutsideBookingWindow,
    ProcedureNotOffered,
    SlotFull,
)
from venues.models import Procedure, Venue

from . import eligibility, notifications
from .contact import Contact
from .models import Booking, BookingEvent, Slot
from .slots import is_online_bookable, run_for_start

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
REFERENCE_LENGTH = 8
Status = Booking.Status
Channel = Booking.Channel
SEAT_HOLDING = (Status.CONFIRMED, Status.CHECKED_IN, Status.IN_SERVICE, Status.DONE, Status.NO_SHOW)


# --- Small helpers ----------------------------------------------------------------------


def retry_on_lock(func: Callable[P, R]) -> Callable[P, R]:
    """A writer that finds SQLite busy waits and tries again; never a 500 for a lock wait."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        delay = 0.05
        for attempt in range(6):
            try:
                return func(*args, **kwargs)
            except OperationalError as error:
                message = str(error).lower()
                if "locked" not in message and "busy" not in message and "deadlock" not in message:
                    raise
                logger.warning("write busy (%s), attempt %d", message, attempt + 1)
                time.sleep(delay)
                delay *= 2
        raise Busy()

    return wrapper


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(booking: Booking, token: str | None) -> bool:
    """Constant-time comparison of the token's hash with the stored one."""
    if not token or not isinstance(token, str) or len(token) > 200:
        return False
    return hmac.compare_digest(token_digest(token), booking.token_hash)


def _record(
    booking: Booking,
    *,
    before: str,
    after: str,
    now: datetime,
    actor: AbstractBaseUser | None,
    note: str = "",
) -> None:
    BookingEvent.objects.create(
        booking=booking,
        at=now,
        from_status=before,
        to_status=after,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_kind="staff" if actor is not None else ("system" if note.startswith("system") else "resident"),
        note=note[:200],
    )


def _seats_of(booking: Booking) -> list[Slot]:
    """The slots a booking holds: its first slot and the ones after it in the same window."""
    return list(
        Slot.objects.filter(
            window_id=booking.slot.window_id, start__gte=booking.start, start__lt=booking.end
        ).order_by("start")
    )


def _change_seats(*, take: Iterable[Slot], free: Iterable[Slot], online: bool) -> None:
    """Take and free seats in ascending pk order (a fixed lock order); SlotFull if one is full."""
    moves = sorted([(s.pk, +1) for s in take] + [(s.pk, -1) for s in free])
    for pk, delta in moves:
        if delta > 0:
            limit = F("capacity") - F("reserved") if online else F("capacity")
            taken = Slot.objects.filter(pk=pk, active=True, taken__lt=limit).update(taken=F("taken") + 1)
            if taken != 1:
                raise SlotFull()
        else:
            Slot.objects.filter(pk=pk, taken__gt=0).update(taken=F("taken") - 1)


def _is_duplicate_error(error: IntegrityError) -> bool:
    """The partial unique indexes on (procedure, phone) and (procedure, email), on either database."""
    message = str(error)
    return "booking_one_active" in message or any(
        f"bookings_booking.{field}" in message for field in ("phone", "email")
    )


# --- Residents and staff: book ------------------------------------------------------------


@dataclass(frozen=True)
class Created:
    booking: Booking
    token: str


def eligibility_check(*, procedure: Procedure, answers: Mapping[str, Any]) -> dict[str, bool]:
    """Raise `invalid` for missing answers and `ineligible` with reasons; return what is kept."""
    if not isinstance(answers, Mapping):
        raise InvalidInput({"answers": ["Must be an object of yes/no answers."]})
    missing = eligibility.missing_answers(procedure.code, answers)
    if missing:
        raise InvalidInput(missing)
    reasons = eligibility.reasons_against(procedure.code, answers)
    if reasons:
        raise Ineligible(reasons)
    return eligibility.kept_answers(procedure.code, answers)


def duplicate_exists(*, procedure: Procedure, contact: Contact, exclude_pk: int | None = None) -> bool:
    if not contact.phone and not contact.email:
        return False
    active = Booking.objects.filter(procedure=procedure, status__in=Booking.ACTIVE)
    if exclude_pk:
        active = active.exclude(pk=exclude_pk)
    same_phone = active.filter(phone=contact.phone).exists() if contact.phone else False
    return same_phone or (active.filter(email=contact.email).exists() if contact.email else False)


@retry_on_lock
def booking_create(
    *,
    venue: Venue,
    procedure: Procedure,
    start: datetime,
    contact: Contact,
    answers: Mapping[str, Any],
    now: datetime,
    channel: str = Channel.ONLINE,
    actor: AbstractBaseUser | None = None,
    language: str = "ja",
) -> Created:
    """Take one seat (or a run of seats) and write the booking, in one transaction.

    Online bookings keep to the cut-off, the horizon and the seats kept back for staff; staff
    bookings and walk-ins ignore those but never the capacity.
    """
    online = channel == Channel.ONLINE
    if not venue.procedures.filter(pk=procedure.pk).exists():
        raise ProcedureNotOffered()
    kept = eligibility_check(procedure=procedure, answers=answers) if online else dict(answers or {})
    run = run_for_start(venue=venue, procedure=procedure, start=start)
    if not run:
        raise NoSuchSlot()
    if online and not is_online_bookable(venue, run[0].start, now):
        raise OutsideBookingWindow()
    if not online and run[-1].end <= now:
        raise OutsideBookingWindow("That time is over.")
    if duplicate_exists(procedure=procedure, contact=contact):
        raise DuplicateBooking()

    token = secrets.token_urlsafe(32)
    for _attempt in range(5):
        reference = new_reference()
        try:
            with transaction.atomic():
                _change_seats(take=run, free=(), online=online)
                booking = Booking.objects.create(
                    reference=reference,
                    token_hash=token_digest(token),
                    venue=venue,
                    procedure=procedure,
                    slot=run[0],
                    slot_count=len(run),
                    start=run[0].start,
                    end=run[-1].end,
                    channel=channel,
                    name=contact.name,
                    phone=contact.phone,
                    email=contact.email,
                    answers=kept,
                    language=language[:5],
                )
                _record(booking, before="", after=Status.CONFIRMED, now=now, actor=actor)
                notifications.record(booking=booking, kind="confirmed", token=token, now=now)
            return Created(booking, token)
        except IntegrityError as error:
            if _is_duplicate_error(error):
                raise DuplicateBooking() from error
            if Booking.objects.filter(reference=reference).exists():
                continue  # a reference collision: draw another
            raise
    raise Busy("Could not allocate a booking reference.")


# --- Residents: look up, cancel, reschedule -------------------------------------------------


def booking_get_for_token(*, reference: str, token: str | None) -> Booking:
    """Unknown reference and wrong token are the same 404."""
    reference = (reference or "").strip().upper()[: REFERENCE_LENGTH + 2]
    booking = Booking.objects.select_related("venue", "procedure", "slot").filter(reference=reference).first()
    if booking is None or not token_matches(booking, token):
        raise NotFound()
    return booking


def booking_get_for_contact(*, reference: str, phone_or_email: str) -> Booking:
    """Look up by reference plus the phone or email it was booked with."""
    from .contact import normalize_email, normalize_phone

    reference = (reference or "").strip().upper()[: REFERENCE_LENGTH + 2]
    booking = Booking.objects.select_related("venue", "procedure", "slot").filter(reference=reference).first()
    given = (phone_or_email or "").strip()
    if booking is None or not given or booking.erased_at:
        raise NotFound()
    if "@" in given:
        ok = bool(booking.email) and hmac.compare_digest(normalize_email(given), booking.email)
    else:
        ok = bool(booking.phone) and hmac.compare_digest(normalize_phone(given), booking.phone)
    if not ok:
        raise NotFound()
    return booking


def _lock(booking: Booking) -> Booking:
    return Booking.objects.select_for_update().select_related("slot", "venue", "procedure").get(pk=booking.pk)


@retry_on_lock
def booking_cancel(
    *, booking: Booking, now: datetime, actor: AbstractBaseUser | None = None, note: str = ""
) -> Booking:
    """Free the seat at once; a second cancel is `not_active`. Residents may cancel until the start."""
    with transaction.atomic():
        current = _lock(booking)
        if current.status != Status.CONFIRMED:
            raise NotActive()
        if actor is None and current.start <= now:
            raise OutsideBookingWindow("The visit has already started; it can no longer be cancelled online.")
        _change_seats(take=(), free=_seats_of(current), online=False)
        current.status = Status.CANCELLED
        current.save(update_fields=["status", "updated_at"])
        _record(current, before=Status.CONFIRMED, after=Status.CANCELLED, now=now, actor=actor, note=note)
        notifications.record(booking=current, kind="cancelled", now=now)
    return current


@retry_on_lock
def booking_reschedule(
    *, booking: Booking, start: datetime, now: datetime, actor: AbstractBaseUser | None = None
) -> Booking:
    """Take the new seat and free the old one atomically; same venue and procedure."""
    online = actor is None
    with transaction.atomic():
        current = _lock(booking)
        if current.status != Status.CONFIRMED:
            raise NotActive()
        if current.start == start:
            return current
        run = run_for_start(venue=current.venue, procedure=current.procedure, start=start)
        if not run:
            raise NoSuchSlot()
        if online and not is_online_bookable(current.venue, run[0].start, now):
            raise OutsideBookingWindow()
        if not online and run[-1].end <= now:
            raise OutsideBookingWindow("That time is over.")
        if online and current.start <= now:
            raise OutsideBookingWindow("The visit has already started.")
        old_seats = _seats_of(current)
        _change_seats(take=run, free=old_seats, online=online)
        old_start = current.start
        current.slot, current.slot_count = run[0], len(run)
        current.start, current.end = run[0].start, run[-1].end
        current.save(update_fields=["slot", "slot_count", "start", "end", "updated_at"])
        _record(
            current,
            before=Status.CONFIRMED,
            after=Status.CONFIRMED,
            now=now,
            actor=actor,
            note=f"rescheduled from {old_start.isoformat()}",
        )
        notifications.record(booking=current, kind="rescheduled", now=now)
    return current


# --- Staff: the day's queue ------------------------------------------------------------------

TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    # action: (from statuses, to status)
    "check_in": ((Status.CONFIRMED,), Status.CHECKED_IN),
    "start": ((Status.CONFIRMED, Status.CHECKED_IN), Status.IN_SERVICE),
    "done": ((Status.IN_SERVICE, Status.CHECKED_IN), Status.DONE),
    "no_show": ((Status.CONFIRMED,), Status.NO_SHOW),
}


@retry_on_lock
def booking_transition(
    *, booking: Booking, action: str, now: datetime, actor: AbstractBaseUser | None, note: str = ""
) -> Booking:
    """A queue step (check in, start, done, no-show); seats stay held."""
    if action not in TRANSITIONS:
        raise InvalidTransition(f"Unknown action {action!r}.")
    sources, target = TRANSITIONS[action]
    with transaction.atomic():
        current = _lock(booking)
        if current.status not in sources:
            raise InvalidTransition(
                f"Cannot go from {current.get_status_display()} to {Status(target).label}."
            )
        before = current.status
        current.status = target
        current.save(update_fields=["status", "updated_at"])
        _record(current, before=before, after=target, now=now, actor=actor, note=note or action)
    return current


@retry_on_lock
def booking_undo(*, booking: Booking, now: datetime, actor: AbstractBaseUser | None) -> Booking:
    """Step back over the last queue step (not over a cancellation, which freed the seat)."""
    with transaction.atomic():
        current = _lock(booking)
        last = current.events.order_by("-at", "-id").first()
        queue_targets = {target for _, target in TRANSITIONS.values()}
        if last is None or last.to_status != current.status or current.status not in queue_targets:
            raise InvalidTransition("There is no queue step to undo.")
        before, target = current.status, last.from_status
        current.status = target
        current.save(update_fields=["status", "updated_at"])
        _record(current, before=before, after=target, now=now, actor=actor, note="undo")
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
                _record(
                    booking,
                    before=Status.CONFIRMED,
                    after=Status.NO_SHOW,
                    now=now,
                    actor=None,
                    note="system: no-show after the last window",
                )
                count += 1
    return count


def booking_cancel_by_venue(
    *, booking: Booking, now: datetime, actor: AbstractBaseUser | None, note: str
) -> bool:
    """Cancel because the venue closed; the seat is freed and the person is to be told."""
    with transaction.atomic():
        current = _lock(booking)
        if current.status not in Booking.ACTIVE:
            return False
        before = current.status
        _change_seats(take=(), free=_seats_of(current), online=False)
        current.status = Status.CANCELLED_BY_VENUE
        current.save(update_fields=["status", "updated_at"])
        _record(current, before=before, after=Status.CANCELLED_BY_VENUE, now=now, actor=actor, note=note)
        notifications.record(booking=current, kind="cancelled_by_venue", now=now, note=note)
    return True
