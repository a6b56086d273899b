"""The waiting list: a resident for whom nothing is free waits for a seat (docs/waitlist.md).

- `waitlist_join`: only when nothing is free in the range; the same eligibility answers and the
  same fair shares as a booking (a live entry counts like an active booking against the cap).
- `waitlist_pass`: under a per-venue lock, offers that ran out pass on (the entry leaves the line),
  ranges that ended expire, and every free bookable seat run is offered, first come first served,
  to the first waiting entry whose range covers its day. An offer IS a hold (`Hold.waitlist_entry`):
  its seats are taken like any hold's, so nobody else can take them, and it expires after
  WAITLIST_OFFER_MINUTES, never past the day's online cut-off. The conditional UPDATEs of the seat
  module decide each seat; the entry is claimed with `UPDATE … WHERE state = 'waiting'` and a row
  count; a partial unique index allows one live offer per entry.
- `waitlist_accept`: the one tap: the offer's hold becomes the booking (`services.booking_create`).
- `waitlist_leave`: the entry leaves the line (an offered seat goes back at once).

Locks, in the order every writer takes them: the venue's waiting-list lock (passes only), then the
hold row, the slot rows (ascending), the entry row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from scheduler import clock
from scheduler.errors import (
    AlreadyWaiting,
    DuplicateBooking,
    InvalidInput,
    InvalidRange,
    NoOffer,
    NotFound,
    ProcedureNotOffered,
    SeatsFree,
    SlotFull,
    TooManyBookings,
)
from scheduler.retry import retry_on_lock
from venues.models import Procedure, Venue
from venues.selectors import venue_takes

from . import notifications, seats, services, waitlist_wake
from .contact import Contact, is_mobile_phone, sms_opt_in_clean
from .models import Booking, Hold, WaitlistEntry
from .references import SECRET_MAX_LENGTH, digest, new_secret, offer_secret_for

State = WaitlistEntry.State
LOCK_CLASS = 0x5741  # "WA": pg_advisory_xact_lock(class, venue id) keys the waiting list's passes
MAX_DAYS = 92


@dataclass(frozen=True)
class Joined:
    entry: WaitlistEntry
    secret: str


@dataclass(frozen=True)
class PassReport:
    passed: int = 0
    expired: int = 0
    offered: int = 0


# --- Reads ------------------------------------------------------------------------------------


def entry_find(secret: object) -> WaitlistEntry | None:
    """The entry of this secret (the entry's own, or its offer's), whatever its state, or None."""
    if not isinstance(secret, str) or not secret or len(secret) > SECRET_MAX_LENGTH:
        return None
    hashed = digest(secret)
    entries = WaitlistEntry.objects.select_related("venue", "procedure", "booking")
    entry = entries.filter(secret_hash=hashed).first()
    if entry is None:
        held = Hold.objects.filter(secret_hash=hashed, waitlist_entry__isnull=False).values("waitlist_entry")
        entry = entries.filter(pk__in=held).first()
    return entry


def entry_offer(entry: WaitlistEntry, *, now: datetime) -> Hold | None:
    """The seat kept for the entry now, or None (no offer yet, or it has run out)."""
    if entry.state != State.OFFERED:
        return None
    hold = notifications.offer_hold(entry)
    return hold if hold is not None and hold.state == Hold.State.LIVE and hold.expires_at > now else None


def entry_position(entry: WaitlistEntry) -> int | None:
    """1 for the first in line at the venue for the procedure, or None once no longer waiting."""
    if entry.state != State.WAITING:
        return None
    ahead = WaitlistEntry.objects.filter(
        Q(created_at__lt=entry.created_at) | Q(created_at=entry.created_at, pk__lt=entry.pk),
        venue_id=entry.venue_id,
        procedure_id=entry.procedure_id,
        state=State.WAITING,
    )
    return ahead.count() + 1


def first_open_day(venue: Venue, now: datetime) -> date:
    """The first day that online booking still takes (today's cut-off passed the day before)."""
    day = clock.today(now)
    while now >= seats.online_cutoff(venue, day):
        day += timedelta(days=1)
    return day


def range_clean(
    *, venue: Venue, first_day: date | None, last_day: date | None, days: int | None, now: datetime
) -> tuple[date, date]:
    """The days waited for: `first_day`..`last_day` (one day when `last_day` is left out), or any
    day from tomorrow to `days` days from today; days online booking no longer takes are left out.
    `invalid_range` when nothing of it can still be booked online or it passes the horizon."""
    today = clock.today(now)
    if days is not None:
        if first_day is not None or last_day is not None:
            raise InvalidRange("Give first_day (and last_day), or days, not both.")
        first, last = today + timedelta(days=1), today + timedelta(days=days)
    elif first_day is not None:
        first, last = first_day, last_day or first_day
    else:
        raise InvalidRange("Give first_day (and last_day), or days.")
    if last < first:
        raise InvalidRange("last_day is before first_day.")
    if (last - first).days >= MAX_DAYS:
        raise InvalidRange(f"At most {MAX_DAYS} days.")
    horizon = seats.last_bookable_day(venue, now)
    first = max(first, first_open_day(venue, now))
    last = min(last, horizon)
    if first > last:
        raise InvalidRange("No day of that range can be booked online: it is over, or not open yet.")
    return first, last


def _same_person(contact: Contact) -> Q:
    person = Q()
    if contact.phone:
        person |= Q(phone=contact.phone)
    if contact.email:
        person |= Q(email=contact.email)
    return person or Q(pk__in=[])


# --- Join and leave -----------------------------------------------------------------------------


@retry_on_lock
def waitlist_join(
    *,
    venue: Venue,
    procedure: Procedure,
    first_day: date | None,
    last_day: date | None = None,
    days: int | None = None,
    contact: Contact,
    answers: Mapping[str, Any],
    now: datetime,
    sms_opt_in: bool = False,
    language: str = "ja",
) -> Joined:
    """Put the person in line for a seat at `venue` for `procedure` on any day of the range.

    Refused when a seat is free in the range (`seats_free`: book it instead), for the same
    answers as a booking, when the person already waits for or holds this procedure, or holds as
    many bookings and entries as one person may. Someone must be reachable when a seat frees up:
    an e-mail address, or a phone with `sms_opt_in`."""
    if not venue_takes(venue, procedure):
        raise ProcedureNotOffered()
    kept = services.eligibility_check(procedure=procedure, answers=answers)
    sms_opt_in = sms_opt_in_clean(contact=contact, sms_opt_in=sms_opt_in)  # a mobile number only
    if not contact.email and not sms_opt_in:
        raise InvalidInput(
            {
                "email": [
                    "Give an e-mail address (or a phone with sms_opt_in) to be told when a seat frees up."
                ]
            }
        )
    first, last = range_clean(venue=venue, first_day=first_day, last_day=last_day, days=days, now=now)
    free = seats.free_runs(venue=venue, procedures=[procedure], first=first, last=last, now=now)[procedure.pk]
    if free:
        raise SeatsFree(first_free=clock.local(free[0].start).isoformat())
    if services.duplicate_exists(procedure=procedure, contact=contact):
        raise DuplicateBooking()
    person = _same_person(contact)
    live = WaitlistEntry.objects.filter(person, state__in=WaitlistEntry.LIVE)
    if live.filter(procedure=procedure).exists():
        raise AlreadyWaiting()
    active = Booking.objects.filter(person, status__in=Booking.ACTIVE).count()
    if active + live.count() >= settings.PERSON_ACTIVE_BOOKINGS_MAX:
        raise TooManyBookings("This person already holds as many bookings and waiting entries as one may.")
    secret = new_secret()
    try:
        with transaction.atomic():
            entry = WaitlistEntry.objects.create(
                secret_hash=digest(secret),
                venue=venue,
                procedure=procedure,
                first_day=first,
                last_day=last,
                name=contact.name,
                phone=contact.phone,
                email=contact.email,
                sms_opt_in=bool(sms_opt_in and contact.phone),
                answers=kept,
                language=language[:5],
                created_at=now,
            )
            waitlist_wake.seats_freed(venue.pk)  # a seat freed since the check above is not missed
    except IntegrityError as error:
        if "waitlist_one_live" in str(error) or "bookings_waitlistentry." in str(error):
            raise AlreadyWaiting() from error
        raise
    return Joined(entry, secret)


@retry_on_lock
def waitlist_leave(*, secret: object, now: datetime) -> WaitlistEntry:
    """Leave the line; a seat offered meanwhile goes back at once (to the next in line). An unknown
    secret, or an entry no longer waiting or offered, is `not_found`."""
    entry = entry_find(secret)
    if entry is None or entry.state not in WaitlistEntry.LIVE:
        raise NotFound("No such waiting list entry.")
    with transaction.atomic():
        hold = notifications.offer_hold(entry)
        if hold is not None and hold.state == Hold.State.LIVE:
            seats.hold_give_back(hold=hold, state=Hold.State.RELEASED, now=now)
        left = WaitlistEntry.objects.filter(pk=entry.pk, state__in=WaitlistEntry.LIVE).update(
            state=State.CANCELLED, updated_at=now
        )
        if left != 1:
            raise NotFound("No such waiting list entry.")
    entry.state = State.CANCELLED
    return entry


# --- The one tap --------------------------------------------------------------------------------


@retry_on_lock
def waitlist_accept(*, secret: object, now: datetime) -> services.Created:
    """Book the seat offered to the entry: its hold becomes the booking, with the entry's contact
    and answers. A second tap answers with the same booking; an offer that has run out (or none
    yet) is `no_offer`."""
    entry = entry_find(secret)
    if entry is None:
        raise NotFound("No such waiting list entry.")
    hold_secret = offer_secret_for(entry.secret_hash)
    contact = Contact(name=entry.name, phone=entry.phone, email=entry.email)
    if entry.state == State.BOOKED and entry.booking is not None:
        return services.booking_create(
            venue=None, procedure=None, start=None, contact=contact, answers={}, now=now, hold=hold_secret
        )  # the same tap again: that booking, with its token
    if entry_offer(entry, now=now) is None:
        raise NoOffer()
    with transaction.atomic():
        created = services.booking_create(
            venue=None,
            procedure=None,
            start=None,
            contact=contact,
            answers=entry.answers or {},
            now=now,
            language=entry.language,
            hold=hold_secret,
            # The booking's messages go by SMS too when the entry asked (a mobile number only).
            sms_opt_in=entry.sms_opt_in and is_mobile_phone(entry.phone),
        )
        booked = WaitlistEntry.objects.filter(pk=entry.pk, state=State.OFFERED).update(
            state=State.BOOKED, booking=created.booking, updated_at=now
        )
        if booked != 1:
            raise NoOffer()  # the offer passed on meanwhile: the booking is rolled back
    return created


# --- The pass: offers run out, ranges end, free seats go to the first in line --------------------


def _lock(venue: Venue) -> None:
    """One pass per venue at a time (PostgreSQL: a transaction-level advisory lock; SQLite's
    IMMEDIATE transactions already let one writer in at a time)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_CLASS, venue.pk])


def _offers_pass_on(venue: Venue, now: datetime) -> int:
    """Offers not confirmed in time (or whose seat was reclaimed by the seat module) end: the seat
    is given back and the entry leaves the line (state `passed`); the caller then offers the seat
    to the next in line."""
    stale = (
        Hold.objects.filter(venue=venue, waitlist_entry__state=State.OFFERED)
        .filter(
            Q(state=Hold.State.LIVE, expires_at__lte=now)
            | Q(state__in=[Hold.State.EXPIRED, Hold.State.RELEASED])
        )
        .select_related("slot")
        .order_by("pk")
    )
    passed = 0
    for hold in stale:
        if hold.state == Hold.State.LIVE and not seats.hold_give_back(
            hold=hold, state=Hold.State.EXPIRED, now=now, expired_only=True
        ):
            continue  # booked at the last moment: the accept marks the entry
        passed += WaitlistEntry.objects.filter(pk=hold.waitlist_entry_id, state=State.OFFERED).update(
            state=State.PASSED, updated_at=now
        )
    return passed


def _offer_one(entry: WaitlistEntry, view: seats.SlotView, venue: Venue, now: datetime) -> str:
    """Hold the run for the entry and claim the entry (waiting → offered), in a savepoint: a seat
    taken meanwhile (`full`) or an entry that left the line meanwhile (`gone`) leaves nothing
    behind. `offered` when the seat is now kept for the entry and its message written."""
    run = seats.run_for_start(venue=venue, procedure=entry.procedure, start=view.start)
    if not run:
        return "full"
    day = clock.local(view.start).date()
    expires_at = min(
        now + timedelta(minutes=settings.WAITLIST_OFFER_MINUTES), seats.online_cutoff(venue, day)
    )
    try:
        with transaction.atomic():
            hold = seats.hold_take(
                venue=venue,
                procedure=entry.procedure,
                run=run,
                secret_hash=digest(offer_secret_for(entry.secret_hash)),
                now=now,
                expires_at=expires_at,
                waitlist_entry=entry,
            )
            claimed = WaitlistEntry.objects.filter(pk=entry.pk, state=State.WAITING).update(
                state=State.OFFERED, updated_at=now
            )
            if claimed != 1:
                raise _Gone()
            entry.state = State.OFFERED
            notifications.offer_record(entry=entry, hold=hold, now=now)
    except SlotFull:
        return "full"
    except (_Gone, IntegrityError):  # IntegrityError: a live offer for the entry exists already
        entry.state = State.CANCELLED
        return "gone"
    return "offered"


class _Gone(Exception):
    """The entry left the line (or was offered a seat) meanwhile."""


def _offer_free_seats(venue: Venue, now: datetime) -> int:
    first_open = first_open_day(venue, now)
    min_offer = timedelta(minutes=settings.WAITLIST_OFFER_MIN_MINUTES)
    entries = list(
        WaitlistEntry.objects.filter(venue=venue, state=State.WAITING, last_day__gte=first_open)
        .select_related("procedure")
        .order_by("created_at", "pk")
    )
    if not entries:
        return 0
    procedures = list({entry.procedure_id: entry.procedure for entry in entries}.values())
    first = max(first_open, min(entry.first_day for entry in entries))
    last = min(seats.last_bookable_day(venue, now), max(entry.last_day for entry in entries))
    if first > last:
        return 0
    free = {
        pk: [
            view
            for view in views
            if seats.online_cutoff(venue, clock.local(view.start).date()) - now >= min_offer
        ]
        for pk, views in seats.free_runs(
            venue=venue, procedures=procedures, first=first, last=last, now=now
        ).items()
    }  # a seat too close to the cut-off to keep for anyone stays free for everybody
    used: Counter[int] = Counter()  # seats this pass took, per slot (slots are shared by procedures)

    def left(view: seats.SlotView) -> int:
        return view.remaining - max(used[pk] for pk in view.slot_ids)

    offered = 0
    for entry in entries:
        candidates = [
            view
            for view in free[entry.procedure_id]
            if entry.first_day <= clock.local(view.start).date() <= entry.last_day and left(view) > 0
        ]
        if not candidates:
            continue
        if services.duplicate_exists(procedure=entry.procedure, contact=_contact(entry)):
            # Booked that procedure meanwhile: no seat to keep for them any more.
            WaitlistEntry.objects.filter(pk=entry.pk, state=State.WAITING).update(
                state=State.CANCELLED, updated_at=now
            )
            continue
        for view in candidates:
            if left(view) <= 0:
                continue
            outcome = _offer_one(entry, view, venue, now)
            if outcome == "offered":
                used.update(view.slot_ids)
                offered += 1
                break
            if outcome == "gone":
                break
            used.update({pk: view.remaining for pk in view.slot_ids})  # full: taken meanwhile
        if not any(left(view) > 0 for views in free.values() for view in views):
            break  # every free seat is offered: the rest of the line waits
    return offered


def _contact(entry: WaitlistEntry) -> Contact:
    return Contact(name=entry.name, phone=entry.phone, email=entry.email)


@retry_on_lock
def waitlist_pass(*, venue: Venue, now: datetime) -> PassReport:
    """The whole pass for one venue, in one transaction under its lock: offers that ran out pass
    on, entries whose days are over expire, free seats are offered to the first in line."""
    if not WaitlistEntry.objects.filter(venue=venue, state__in=WaitlistEntry.LIVE).exists():
        return PassReport()
    with waitlist_wake.quiet(), transaction.atomic():
        _lock(venue)
        passed = _offers_pass_on(venue, now)
        expired = WaitlistEntry.objects.filter(
            venue=venue, state=State.WAITING, last_day__lt=first_open_day(venue, now)
        ).update(state=State.EXPIRED, updated_at=now)
        offered = _offer_free_seats(venue, now)
    return PassReport(passed=passed, expired=expired, offered=offered)


def waitlist_sweep(*, now: datetime) -> PassReport:
    """`waitlist_pass` for every venue with someone in line (beat, every minute): nothing a lost
    wake-up missed stays unoffered for long."""
    venue_ids = (
        WaitlistEntry.objects.filter(state__in=WaitlistEntry.LIVE)
        .values_list("venue_id", flat=True)
        .distinct()
    )
    total = PassReport()
    for venue in Venue.objects.filter(pk__in=list(venue_ids)).order_by("pk"):
        report = waitlist_pass(venue=venue, now=now)
        total = PassReport(
            total.passed + report.passed, total.expired + report.expired, total.offered + report.offered
        )
    return total
