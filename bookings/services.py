"""The life of a booking: book (online, by staff, from a hold), look up, cancel, reschedule.

Seats are taken, freed and passed on by `bookings.seats` inside the same transaction as the
booking row; the database's CHECK constraints back it up. The API, the web pages, the admin and
the tasks call these functions and decide nothing on their own.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from scheduler.errors import (
    Busy,
    DuplicateBooking,
    Ineligible,
    InvalidInput,
    NoSuchSlot,
    NotActive,
    NotFound,
    OutsideBookingWindow,
    ProcedureNotOffered,
    TooManyBookings,
)
from scheduler.retry import retry_on_lock
from venues.models import Procedure, Venue

from . import eligibility, notifications, rules, seats
from .contact import Contact, contact_clean, normalize_email, normalize_phone, sms_opt_in_clean
from .events import booking_counted, event_new, event_record
from .holds import hold_find
from .models import Booking, Hold
from .references import (
    digest,
    new_reference,
    new_secret,
    reference_clean,
    secret_matches,
    token_for_hold,
)

Status = Booking.Status
Channel = Booking.Channel


def _is_duplicate_error(error: IntegrityError) -> bool:
    """The partial unique indexes on (procedure, phone) and (procedure, email), on either database."""
    message = str(error)
    return "booking_one_active" in message or any(
        f"bookings_booking.{field}" in message for field in ("phone", "email")
    )


# --- Residents and staff: book ------------------------------------------------------------


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


# The questions every booking asks of the database besides its seats, as uncorrelated scalar
# subqueries: asked alone (`_offered_and_duplicate`), or as more columns of the run's read
# (`seats.run_for_start_with`), which evaluates each once whatever the rows.
# Each EXISTS repeats the predicate of its partial unique index (booking_one_active_per_phone,
# …_per_email) in literals: a prepared statement's generic plan then still uses the index, which a
# condition on the parameters (`%s <> ''`) prevented (a scan of the table, seen in pg_stat_statements).
CHECKS = {
    # The venue still active too: the venue read before may be a few seconds old
    # (venues.selectors.venue_and_procedure).
    "offered": """EXISTS (SELECT 1 FROM venues_venue_procedures t JOIN venues_venue v ON v.id = t.venue_id
               WHERE t.venue_id = %s AND t.procedure_id = %s AND v.is_active)""",
    "duplicate": """(EXISTS (SELECT 1 FROM bookings_booking
               WHERE procedure_id = %s AND phone = %s AND NOT phone = ''
                 AND status IN ('confirmed', 'checked_in', 'in_service'))  -- ACTIVE
       OR EXISTS (SELECT 1 FROM bookings_booking
                  WHERE procedure_id = %s AND email = %s AND NOT email = ''
                    AND status IN ('confirmed', 'checked_in', 'in_service')))""",
    "person_active": """((SELECT COUNT(*) FROM bookings_booking
        WHERE ((phone = %s AND NOT phone = '') OR (email = %s AND NOT email = ''))
          AND status IN ('confirmed', 'checked_in', 'in_service'))  -- for the per-person cap
       + (SELECT COUNT(*) FROM bookings_waitlistentry
          WHERE ((phone = %s AND NOT phone = '') OR (email = %s AND NOT email = ''))
            AND state IN ('waiting', 'offered')  -- WaitlistEntry.LIVE: the cap counts them too,
            AND NOT procedure_id = %s))          -- but not the wait this booking may end""",
}
# PostgreSQL: the new booking's id, drawn in the same statement, so that the booking and its rows
# can be written in one statement after it (`seats.seats_take_writing`). A booking refused
# afterwards leaves a gap in the ids, nothing else. A subquery: drawn once, however many rows.
# The sequence by its name, `'…'::regclass` (resolved when the statement is prepared), the name
# PostgreSQL gave it with the table (tests/test_booking_statements.py checks that it still has
# it): `pg_get_serial_sequence()` in the statement is a stable function, which a prepared plan
# ran, with its catalogue look-ups, on every booking.
BOOKING_ID_SEQUENCE = f"{Booking._meta.db_table}_id_seq"
CHECKS_DRAWING_ID = {**CHECKS, "next_id": f"(SELECT nextval('{BOOKING_ID_SEQUENCE}'::regclass))"}
OFFERED_AND_DUPLICATE = "SELECT " + ", ".join(f"{sql}\n    AS {name}" for name, sql in CHECKS.items())


@dataclass(frozen=True)
class Checks:
    offered: bool  # the venue takes the procedure
    duplicate: bool  # this person (same phone or same email) holds an active booking of it
    person_active: int  # their active bookings of any procedure, and their waits for another one
    next_id: int | None = None  # PostgreSQL: the new booking's id, when drawn


def _checks_params(*, venue: Venue, procedure: Procedure, contact: Contact) -> list[Any]:
    phone, email = contact.phone, contact.email
    params = [venue.pk, procedure.pk, procedure.pk, phone, procedure.pk, email, phone, email]
    return [*params, phone, email, procedure.pk]


def _offered_and_duplicate(*, venue: Venue, procedure: Procedure, contact: Contact) -> Checks:
    """The booking's `Checks` (the per-person cap of domain.md, "Fair shares", among them), asked
    alone: for a booking from a hold, whose seats are known."""
    with connection.cursor() as cursor:
        params = _checks_params(venue=venue, procedure=procedure, contact=contact)
        cursor.execute(OFFERED_AND_DUPLICATE, params)
        offered, duplicate, active = cursor.fetchone()
    return Checks(bool(offered), bool(duplicate), int(active))


def _run_and_checks(
    *, venue: Venue, procedure: Procedure, start: datetime, contact: Contact
) -> tuple[list, Checks]:
    """The run of slots at `start`, and the booking's `Checks` with the new booking's id drawn
    on PostgreSQL: one statement, on every booking made at a start."""
    columns = CHECKS_DRAWING_ID if connection.vendor == "postgresql" else CHECKS
    run, answers = seats.run_for_start_with(
        venue=venue,
        procedure=procedure,
        start=start,
        columns=columns,
        params=_checks_params(venue=venue, procedure=procedure, contact=contact),
    )
    if answers is None:  # no slot near that time: asked alone, to tell which error it is
        return run, _offered_and_duplicate(venue=venue, procedure=procedure, contact=contact)
    offered, duplicate, person_active = answers["offered"], answers["duplicate"], answers["person_active"]
    return run, Checks(bool(offered), bool(duplicate), int(person_active), answers.get("next_id"))


@dataclass(frozen=True)
class Created:
    booking: Booking
    token: str
    replayed: bool = False  # the same confirm again (a double tap, a retry): nothing new was written


def _hold_for_booking(
    secret: str, *, venue: Venue | None, procedure: Procedure | None, start: datetime | None
) -> Hold:
    """The hold a booking is made from; what the request names besides must match it."""
    held = hold_find(secret)
    if held is None:
        raise InvalidInput({"hold": ["No such hold."]})
    named = {
        "venue": (venue, held.venue),
        "procedure": (procedure, held.procedure),
        "start": (start, held.start),
    }
    wrong = {
        key: ["Does not match the hold."] for key, (given, own) in named.items() if given not in (None, own)
    }
    if wrong:
        raise InvalidInput(wrong)
    return held


def _replay(held: Hold, secret: str, contact: Contact) -> Created:
    """The booking this hold already became, for the same person: shown again, with its token."""
    booking = held.booking
    same = booking is not None and (booking.phone, booking.email, booking.name) == (
        contact.phone,
        contact.email,
        contact.name,
    )
    if not same:
        raise NotFound("No such hold.")
    return Created(booking, token_for_hold(secret), replayed=True)


def _written_at_once(booking: Booking, *, token: str, run: list, now: datetime, actor) -> bool:
    """PostgreSQL: the booking, its event and its outbox rows, and its seats, in one statement.
    False when a seat was full: nothing is written, and the caller goes the ORM way, whose
    `seats_change` gives back the seats of expired holds and raises `slot_full` for real."""
    event = event_new(booking, before="", after=Status.CONFIRMED, now=now, actor=actor)
    outbox = notifications.rows(booking=booking, kind="confirmed", token=token, now=now)
    online = booking.channel == Channel.ONLINE
    written = seats.seats_take_writing(
        venue=booking.venue, take=run, online=online, first=booking, then=[event, *outbox]
    )
    if written is None:
        return False
    booking._state.adding = False
    for row, pk in zip([event, *outbox], written[1:], strict=True):
        row.pk = pk
        row._state.adding = False
    for row in outbox:
        notifications.wake(row.pk)
    booking_counted(booking)
    return True


@retry_on_lock
def booking_create(
    *,
    venue: Venue | None,
    procedure: Procedure | None,
    start: datetime | None,
    contact: Contact,
    answers: Mapping[str, Any],
    now: datetime,
    channel: str = Channel.ONLINE,
    actor: AbstractBaseUser | None = None,
    language: str = "ja",
    hold: str | None = None,
    sms_opt_in: bool = False,
) -> Created:
    """Take one seat (or a run of seats), or the seats of a hold, and write the booking.

    Online bookings keep to the online rule of `seats`; staff bookings and walk-ins to the
    capacity alone. A hold's seats pass to the booking without a second seat being taken; a hold
    that was given back meanwhile books its time only if a seat is still free."""
    online = channel == Channel.ONLINE
    texted = sms_opt_in_clean(contact=contact, sms_opt_in=sms_opt_in)
    held = None
    if hold is not None:
        held = _hold_for_booking(hold, venue=venue, procedure=procedure, start=start)
        venue, procedure, start = held.venue, held.procedure, held.start
        if held.state == Hold.State.USED:
            return _replay(held, hold, contact)
    if venue is None or procedure is None or start is None:
        raise InvalidInput({"start": ["Give a venue, a procedure and a start, or a hold."]})
    if held is not None:
        checks = _offered_and_duplicate(venue=venue, procedure=procedure, contact=contact)
    else:
        run, checks = _run_and_checks(venue=venue, procedure=procedure, start=start, contact=contact)
    if not checks.offered:
        raise ProcedureNotOffered()
    kept = eligibility_check(procedure=procedure, answers=answers) if online else dict(answers or {})
    if held is not None:
        run = seats.seats_of(window_id=held.slot.window_id, start=held.start, end=held.end)
        if len(run) != held.slot_count or not all(slot.active for slot in run):
            raise NoSuchSlot()
        if not seats.is_bookable(venue=venue, run=run, now=now, online=online):
            raise OutsideBookingWindow()
        if held.state != Hold.State.LIVE:
            seats.check_bookable(venue=venue, run=run, now=now, online=online)
    else:
        if not run:
            raise NoSuchSlot()
        seats.check_bookable(venue=venue, run=run, now=now, online=online)
    if checks.duplicate:
        raise DuplicateBooking()
    if online and checks.person_active >= settings.PERSON_ACTIVE_BOOKINGS_MAX:
        raise TooManyBookings()  # fair shares: one person, a few seats (staff may book beyond it)
    next_id = checks.next_id

    token = token_for_hold(hold) if held is not None else new_secret()
    for _attempt in range(5):
        reference = new_reference()
        try:
            booking = Booking(
                pk=next_id,
                reference=reference,
                token_hash=digest(token),
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
                sms_opt_in=texted,
            )
            if next_id is not None and _written_at_once(booking, token=token, run=run, now=now, actor=actor):
                return Created(booking, token)
            with transaction.atomic():
                booking.save(force_insert=True)
                event_record(booking, before="", after=Status.CONFIRMED, now=now, actor=actor)
                notifications.record(booking=booking, kind="confirmed", token=token, now=now)
                # The seats last: their rows stay locked only until the commit, however long the
                # rest took; a full slot rolls the whole booking back.
                if held is None or not seats.hold_pass_to_booking(hold=held, booking=booking):
                    seats.seats_change(venue=venue, take=run, online=online, now=now)
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
    if booking is None or not secret_matches(booking.token_hash, token):
        raise NotFound()
    return booking


def booking_get_for_contact(*, reference: str, phone_or_email: str) -> Booking:
    """Look up by reference plus the phone or email it was booked with."""
    cleaned = reference_clean(reference)
    booking = (
        Booking.objects.select_related("venue", "procedure", "slot").filter(reference=cleaned).first()
        if cleaned
        else None
    )
    given = phone_or_email.strip() if isinstance(phone_or_email, str) and "\x00" not in phone_or_email else ""
    if booking is None or not given or booking.erased_at:
        raise NotFound()
    # Compared as bytes: `compare_digest` refuses non-ASCII text (a TypeError, a 500).
    if "@" in given:
        ok = bool(booking.email) and hmac.compare_digest(
            normalize_email(given).encode(), booking.email.encode()
        )
    else:
        ok = bool(booking.phone) and hmac.compare_digest(
            normalize_phone(given).encode(), booking.phone.encode()
        )
    if not ok:
        raise NotFound()
    return booking


def booking_lock(booking: Booking) -> Booking:
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
        current = booking_lock(booking)
        if current.status != Status.CONFIRMED:
            raise NotActive()
        if actor is None and not rules.may_change_online(current, now):
            raise OutsideBookingWindow("The visit has already started; it can no longer be cancelled online.")
        seats.seats_change(venue=current.venue, free=seats.seats_of_booking(current), online=False, now=now)
        current.status = Status.CANCELLED
        current.save(update_fields=["status", "updated_at"])
        event_record(
            current, before=Status.CONFIRMED, after=Status.CANCELLED, now=now, actor=actor, note=note
        )
        notifications.record(booking=current, kind="cancelled", now=now)
    return current


def _reschedule_hold(secret: str, current: Booking, now: datetime) -> Hold | None:
    """The hold a move is confirmed with (same venue and procedure), or None when it already moved
    this booking there (a repeated confirm)."""
    held = hold_find(secret)
    if held is None or (held.venue_id, held.procedure_id) != (current.venue_id, current.procedure_id):
        raise NotFound("No such hold.")
    if held.state == Hold.State.USED:
        if held.booking_id == current.pk and current.start == held.start:
            return None
        raise NotFound("No such hold.")
    return held


@retry_on_lock
def booking_reschedule(
    *,
    booking: Booking,
    now: datetime,
    start: datetime | None = None,
    hold: str | None = None,
    actor: AbstractBaseUser | None = None,
) -> Booking:
    """Move to another time at the same venue for the same procedure, atomically: the new seats
    are taken (or passed on from the hold chosen for the move) and the old ones freed, or nothing
    changes."""
    online = actor is None
    with transaction.atomic():
        current = booking_lock(booking)
        if current.status != Status.CONFIRMED:
            raise NotActive()
        if online and not rules.may_change_online(current, now):
            raise OutsideBookingWindow("The visit has already started.")
        held = None
        if hold is not None:
            held = _reschedule_hold(hold, current, now)
            if held is None:
                return current
            run = seats.seats_of(window_id=held.slot.window_id, start=held.start, end=held.end)
            if len(run) != held.slot_count:
                raise NoSuchSlot()
        else:
            if start is None:
                raise InvalidInput({"start": ["Give the new start."]})
            if current.start == start:
                return current
            run = seats.run_for_start(venue=current.venue, procedure=current.procedure, start=start)
            if not run:
                raise NoSuchSlot()
        if not seats.is_bookable(venue=current.venue, run=run, now=now, online=online):
            raise OutsideBookingWindow() if online else OutsideBookingWindow("That time is over.")
        old_seats = seats.seats_of_booking(current)
        if held is not None and seats.hold_pass_to_booking(hold=held, booking=current):
            seats.seats_change(venue=current.venue, free=old_seats, online=online, now=now)
        else:
            seats.seats_change(venue=current.venue, take=run, free=old_seats, online=online, now=now)
        old_start = current.start
        current.slot, current.slot_count = run[0], len(run)
        current.start, current.end = run[0].start, run[-1].end
        current.save(update_fields=["slot", "slot_count", "start", "end", "updated_at"])
        event_record(
            current,
            before=Status.CONFIRMED,
            after=Status.CONFIRMED,
            now=now,
            actor=actor,
            note=f"rescheduled from {old_start.isoformat()}",
        )
        notifications.record(booking=current, kind="rescheduled", now=now)
    return current


# --- Staff ------------------------------------------------------------------------------------


def booking_cancel_by_venue(
    *, booking: Booking, now: datetime, actor: AbstractBaseUser | None, note: str
) -> bool:
    """Cancel because the venue closed; the seat is freed and the person is to be told."""
    with transaction.atomic():
        current = booking_lock(booking)
        if current.status not in Booking.ACTIVE:
            return False
        before = current.status
        seats.seats_change(venue=current.venue, free=seats.seats_of_booking(current), online=False, now=now)
        current.status = Status.CANCELLED_BY_VENUE
        current.save(update_fields=["status", "updated_at"])
        event_record(current, before=before, after=Status.CANCELLED_BY_VENUE, now=now, actor=actor, note=note)
        notifications.record(booking=current, kind="cancelled_by_venue", now=now, note=note)
    return True


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
    if channel == Channel.WALK_IN and not rules.walk_in_allowed(start=start, now=now):
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
