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
from datetime import date, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Q

from scheduler import clock
from scheduler.errors import (
    Busy,
    CapacityBelowTaken,
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
from venues.models import Closure, Procedure, ReceptionWindow, Venue
from venues.services import audit_record, snapshot

from . import availability_cache, eligibility, notifications
from .contact import Contact, contact_clean
from .models import Booking, BookingEvent, Slot
from .slots import is_online_bookable, run_for_start, slot_starts, slots_generate_for_venue

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


def token_matches(booking: Booking | None, token: str | None) -> bool:
    """Constant-time comparison of the token's hash with the stored one (no booking: same work, False)."""
    if not token or not isinstance(token, str) or len(token) > 200:
        return False
    digest = token_digest(token)
    return hmac.compare_digest(digest, booking.token_hash if booking is not None else "0" * len(digest))


def reference_clean(reference: object) -> str | None:
    """A well-formed reference (upper-cased), or None; nothing malformed reaches the database."""
    if not isinstance(reference, str):
        return None
    cleaned = reference.strip().upper()
    if len(cleaned) != REFERENCE_LENGTH or any(char not in REFERENCE_ALPHABET for char in cleaned):
        return None
    return cleaned


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


# The seat statements, in SQL as they run on every booking (the ORM cost more than the query).
TAKE_ONLINE_SEAT = (
    "UPDATE bookings_slot SET taken = taken + 1 WHERE id = %s AND active AND taken < capacity - reserved"
)
TAKE_ANY_SEAT = "UPDATE bookings_slot SET taken = taken + 1 WHERE id = %s AND active AND taken < capacity"
FREE_SEAT = "UPDATE bookings_slot SET taken = taken - 1 WHERE id = %s AND taken > 0"


def _change_seats(*, take: Iterable[Slot], free: Iterable[Slot], online: bool, venue: Venue) -> None:
    """Take and free seats in ascending pk order (a fixed lock order); SlotFull if one is full.

    Each seat is one conditional UPDATE: it waits for a concurrent writer of the same row, then
    re-checks the condition, so that two bookings never take the last seat.
    """
    moves = sorted([(s.pk, +1) for s in take] + [(s.pk, -1) for s in free])
    availability_cache.venue_changed(venue)  # cached availability shows the new seats (one venue)
    with connection.cursor() as cursor:
        for pk, delta in moves:
            if delta > 0:
                cursor.execute(TAKE_ONLINE_SEAT if online else TAKE_ANY_SEAT, [pk])
                if cursor.rowcount != 1:
                    raise SlotFull()
            else:
                cursor.execute(FREE_SEAT, [pk])


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


def _same_person_active(*, procedure: Procedure, contact: Contact, exclude_pk: int | None = None):
    """Active bookings of `procedure` with the same phone or the same email, or None (no contact)."""
    person = Q()
    if contact.phone:
        person |= Q(phone=contact.phone)
    if contact.email:
        person |= Q(email=contact.email)
    if not person:
        return None
    active = Booking.objects.filter(person, procedure=procedure, status__in=Booking.ACTIVE)
    return active.exclude(pk=exclude_pk) if exclude_pk else active


def duplicate_exists(*, procedure: Procedure, contact: Contact, exclude_pk: int | None = None) -> bool:
    same = _same_person_active(procedure=procedure, contact=contact, exclude_pk=exclude_pk)
    return same is not None and same.exists()


# Each EXISTS repeats the predicate of its partial unique index (booking_one_active_per_phone,
# …_per_email) in literals: a prepared statement's generic plan then still uses the index, which a
# condition on the parameters (`%s <> ''`) prevented (a scan of the table, seen in pg_stat_statements).
OFFERED_AND_DUPLICATE = """
SELECT EXISTS (SELECT 1 FROM venues_venue_procedures WHERE venue_id = %s AND procedure_id = %s),
       EXISTS (SELECT 1 FROM bookings_booking
               WHERE procedure_id = %s AND phone = %s AND NOT phone = ''
                 AND status IN ('confirmed', 'checked_in', 'in_service'))  -- ACTIVE
       OR EXISTS (SELECT 1 FROM bookings_booking
                  WHERE procedure_id = %s AND email = %s AND NOT email = ''
                    AND status IN ('confirmed', 'checked_in', 'in_service'))
"""


def _offered_and_duplicate(*, venue: Venue, procedure: Procedure, contact: Contact) -> tuple[bool, bool]:
    """Does the venue take the procedure, and does this person already hold an active booking of it
    (same phone or same email, as `duplicate_exists`)? One query, on every booking."""
    phone, email = contact.phone, contact.email
    params = [venue.pk, procedure.pk, procedure.pk, phone, procedure.pk, email]
    with connection.cursor() as cursor:
        cursor.execute(OFFERED_AND_DUPLICATE, params)
        offered, duplicate = cursor.fetchone()
    return bool(offered), bool(duplicate)


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
    offered, duplicate = _offered_and_duplicate(venue=venue, procedure=procedure, contact=contact)
    if not offered:
        raise ProcedureNotOffered()
    kept = eligibility_check(procedure=procedure, answers=answers) if online else dict(answers or {})
    run = run_for_start(venue=venue, procedure=procedure, start=start)
    if not run:
        raise NoSuchSlot()
    if online and not is_online_bookable(venue, run[0].start, now):
        raise OutsideBookingWindow()
    if not online and run[-1].end <= now:
        raise OutsideBookingWindow("That time is over.")
    if duplicate:
        raise DuplicateBooking()
    if any(slot.taken >= (slot.capacity - slot.reserved if online else slot.capacity) for slot in run):
        raise SlotFull()  # already full when read: no transaction needed (the UPDATE below decides)

    token = secrets.token_urlsafe(32)
    for _attempt in range(5):
        reference = new_reference()
        try:
            with transaction.atomic():
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
                # The seat last: its row stays locked only until the commit, however long the rest
                # took; a full slot rolls the whole booking back.
                _change_seats(take=run, free=(), online=online, venue=venue)
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
    cleaned = reference_clean(reference)
    booking = (
        Booking.objects.select_related("venue", "procedure", "slot").filter(reference=cleaned).first()
        if cleaned
        else None
    )
    if not token_matches(booking, token) or booking is None:
        raise NotFound()
    return booking


def booking_get_for_contact(*, reference: str, phone_or_email: str) -> Booking:
    """Look up by reference plus the phone or email it was booked with."""
    from .contact import normalize_email, normalize_phone

    cleaned = reference_clean(reference)
    booking = (
        Booking.objects.select_related("venue", "procedure", "slot").filter(reference=cleaned).first()
        if cleaned
        else None
    )
    given = phone_or_email.strip() if isinstance(phone_or_email, str) and "\x00" not in phone_or_email else ""
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
    """Lock the booking row alone, then read it afresh with its slot, venue and procedure.

    Not one `SELECT … FOR UPDATE` with joins: that locks the joined slot and venue rows too (out of
    the ascending slot order: deadlocks; and every insert that references the venue waits), and on
    PostgreSQL a row moved to another slot meanwhile drops out of the join (DoesNotExist)."""
    if not Booking.objects.select_for_update(no_key=True).filter(pk=booking.pk).values_list("pk"):
        raise NotFound()  # gone meanwhile (e.g. erased): the same 404 as an unknown reference
    return Booking.objects.select_related("slot", "venue", "procedure").get(pk=booking.pk)


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
        _change_seats(take=(), free=_seats_of(current), online=False, venue=current.venue)
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
        _change_seats(take=run, free=old_seats, online=online, venue=current.venue)
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
        _change_seats(take=(), free=_seats_of(current), online=False, venue=current.venue)
        current.status = Status.CANCELLED_BY_VENUE
        current.save(update_fields=["status", "updated_at"])
        _record(current, before=before, after=Status.CANCELLED_BY_VENUE, now=now, actor=actor, note=note)
        notifications.record(booking=current, kind="cancelled_by_venue", now=now, note=note)
    return True


# --- Background work: no-shows after the day's last window, data retention ----------------------


def no_shows_mark_after_last_window(*, now: datetime) -> int:
    """Per venue: once its last slot of today has ended (plus a grace period), today's bookings
    still `confirmed` become `no_show`; earlier days' leftovers at any time. Idempotent."""
    from datetime import timedelta

    from django.conf import settings
    from django.db.models import Max

    from scheduler import clock

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


def personal_data_erase(*, before: datetime, now: datetime) -> int:
    """Blank name, phone, email and answers of bookings that started before `before`, and the
    copies in their notifications; the anonymous row stays for statistics. Idempotent."""
    from .models import Notification

    ids = list(Booking.objects.filter(start__lt=before, erased_at__isnull=True).values_list("pk", flat=True))
    for index in range(0, len(ids), 500):
        chunk = ids[index : index + 500]
        with transaction.atomic():
            Booking.objects.filter(pk__in=chunk, erased_at__isnull=True).update(
                name="", phone="", email="", answers={}, erased_at=now, updated_at=now
            )
            unsent = [Notification.State.PENDING, Notification.State.SENDING, Notification.State.FAILED]
            Notification.objects.filter(booking_id__in=chunk, state__in=unsent).update(
                state=Notification.State.SKIPPED, next_attempt_at=None
            )
            Notification.objects.filter(booking_id__in=chunk).update(
                to_address="", body_text="", body_html="", last_error=""
            )
    return len(ids)


# --- Staff: windows, counters, closures, walk-ins and staff bookings ----------------------------
# A change to a window or a closure reaches the future slots at once: they are regenerated from the
# windows and the calendar in the same transaction, and an audit row records before → after.

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


def _regenerate(venue: Venue, first: date, last: date, now: datetime) -> None:
    """Bring the venue's future slots between `first` and `last` (within its horizon) up to date."""
    today = clock.today(now)
    first, last = max(first, today), min(last, today + timedelta(days=venue.horizon_days))
    if first <= last:
        slots_generate_for_venue(venue=venue, first=first, last=last, now=now)


def slots_described(slots: Iterable[Slot]) -> str:
    return "、".join(f"{clock.local(s.start):%Y-%m-%d %H:%M}（予約{s.taken}件）" for s in slots)


def window_conflicts(
    *, window: ReceptionWindow, now: datetime, slots: Iterable[Slot] | None = None
) -> list[Slot]:
    """Future slots of the window that hold bookings its new settings (unsaved) would not keep:
    fewer counters than seats taken, or the slot's time no longer in the window."""
    if window.pk is None:
        return []
    if slots is None:
        slots = Slot.objects.filter(window_id=window.pk, start__gt=now).order_by("start")
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
            # Lock the window's future slots (ascending pk, like every seat change): a booking
            # cannot take a seat between this check and the new counters.
            held = list(
                Slot.objects.select_for_update().filter(window_id=window.pk, start__gt=now).order_by("pk")
            )
            conflicts = window_conflicts(window=window, now=now, slots=held)
            if conflicts:
                raise CapacityBelowTaken(
                    "次の枠はすでに予約があり、この変更では席が足りなくなります: "
                    + slots_described(conflicts),
                    slots=[clock.local(s.start).isoformat() for s in conflicts],
                )
        window.save()
        if procedures is not None:
            window.procedures.set(procedures)
        today = clock.today(now)
        _regenerate(window.venue, today, today + timedelta(days=window.venue.horizon_days), now)
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
    cancelled: list[Booking]

    @property
    def to_phone(self) -> list[Booking]:
        """Cancelled people who left no email address: staff must call them."""
        return [booking for booking in self.cancelled if not booking.email]


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
    if closure.is_whole_day:
        return list(candidates)
    covered = []
    for booking in candidates:
        day = clock.local(booking.start).date()
        closed_from = clock.at_jst(day, closure.start_time.hour, closure.start_time.minute)
        closed_to = clock.at_jst(day, closure.end_time.hour, closure.end_time.minute)
        if booking.start < closed_to and closed_from < booking.end:
            covered.append(booking)
    return covered


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
        cancelled = [
            booking.pk
            for booking in closure_bookings(closure=closure, now=now)
            if booking_cancel_by_venue(booking=booking, now=now, actor=actor, note=reason)
        ]
        first = min(closure.start_date, previous.start_date) if previous else closure.start_date
        last = max(closure.end_date, previous.end_date) if previous else closure.end_date
        _regenerate(closure.venue, first, last, now)
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
    bookings = list(
        Booking.objects.filter(pk__in=cancelled).select_related("procedure").order_by("start", "id")
    )
    return ClosureResult(closure, bookings)


@retry_on_lock
def closure_remove(*, closure: Closure, actor: AbstractBaseUser | None, now: datetime) -> None:
    """Reopen: the slots come back; bookings it cancelled stay cancelled (the people were told)."""
    with transaction.atomic():
        pk, venue = closure.pk, closure.venue
        before = snapshot(closure, CLOSURE_AUDIT_FIELDS)
        Closure.objects.filter(pk=pk).delete()
        _regenerate(venue, closure.start_date, closure.end_date, now)
        audit_record(
            actor=actor,
            venue=venue,
            object_type="closure",
            object_id=pk,
            action="remove",
            before=before,
            after=None,
        )


def booking_create_by_staff(
    *,
    venue: Venue,
    procedure: Procedure,
    start: datetime,
    name: str,
    phone: str = "",
    email: str = "",
    channel: str,
    now: datetime,
    actor: AbstractBaseUser | None,
    language: str = "ja",
) -> Created:
    """A walk-in (today, no contact needed) or a staff booking (any future seat, reachable person).

    Both ignore the online window rules and may use the seats kept back for staff, never more than
    the capacity (`booking_create` takes the seat).
    """
    if channel not in (Channel.STAFF, Channel.WALK_IN):
        raise InvalidInput({"channel": ["職員予約か当日受付を選んでください。"]})
    contact = contact_clean(name=name, phone=phone, email=email, require_reach=channel == Channel.STAFF)
    if channel == Channel.WALK_IN and clock.local(start).date() != clock.today(now):
        raise InvalidInput({"start": ["当日受付は今日の枠にだけ入れられます。"]})
    return booking_create(
        venue=venue,
        procedure=procedure,
        start=start,
        contact=contact,
        answers={},
        now=now,
        channel=channel,
        actor=actor,
        language=language,
    )
