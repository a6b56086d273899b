"""Holds: a seat kept for a resident while they fill in the form (`../shared/spec/domain.md`).

Taking a hold takes its seats at once (`seats.hold_take`), so availability shows them taken for
everyone else; confirming passes them to the booking (`services.booking_create(hold=…)`); going
back frees them at once (`hold_release`), and an expired hold gives them back lazily (the next
hold or booking that finds the slot full) or by the periodic `holds_expire`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from scheduler import metrics
from scheduler.errors import NoSuchSlot, NotFound, OutsideBookingWindow, ProcedureNotOffered
from scheduler.retry import retry_on_lock
from venues.models import Procedure, Venue
from venues.selectors import venue_takes

from . import seats
from .models import Hold
from .references import SECRET_MAX_LENGTH, digest, new_secret

HOLDS_EXPIRE_BATCH = 200


@dataclass(frozen=True)
class HeldSeat:
    hold: Hold
    secret: str


def hold_find(secret: object) -> Hold | None:
    """The hold of this secret, whatever its state, or None (nothing malformed is looked up)."""
    if not isinstance(secret, str) or not secret or len(secret) > SECRET_MAX_LENGTH:
        return None
    return (
        Hold.objects.select_related("venue", "procedure", "slot").filter(secret_hash=digest(secret)).first()
    )


def hold_live(hold: Hold | None, *, now: datetime) -> bool:
    """The hold still keeps its seat for its holder."""
    return hold is not None and hold.state == Hold.State.LIVE and hold.expires_at > now


@retry_on_lock
def hold_create(
    *,
    venue: Venue,
    procedure: Procedure,
    start: datetime,
    now: datetime,
    replaces: str | None = None,
) -> HeldSeat:
    """Hold the seat (or run of seats) of `procedure` at `start`, by the online rule.

    `replaces` is the secret of the holder's previous hold: it is given back in the same
    transaction (one hold at a time), or kept as it is when it already holds this very time."""
    if not venue_takes(venue, procedure):
        raise ProcedureNotOffered()
    previous = hold_find(replaces) if replaces else None
    if previous is not None and previous.state != Hold.State.LIVE:
        previous = None
    if (
        previous is not None
        and previous.expires_at > now
        and (previous.venue_id, previous.procedure_id, previous.start) == (venue.pk, procedure.pk, start)
    ):
        return HeldSeat(previous, replaces or "")
    run = seats.run_for_start(venue=venue, procedure=procedure, start=start)
    if not run:
        raise NoSuchSlot()
    if previous is None:
        seats.check_bookable(venue=venue, run=run, now=now, online=True)
    elif not seats.is_bookable(venue=venue, run=run, now=now, online=True):
        raise OutsideBookingWindow()  # the previous hold's seat may be this run's: count them later
    secret = new_secret()
    with transaction.atomic():
        hold = seats.hold_take(
            venue=venue, procedure=procedure, run=run, secret_hash=digest(secret), now=now, replacing=previous
        )
        transaction.on_commit(metrics.hold_taken, robust=True)
    return HeldSeat(hold, secret)


@retry_on_lock
def hold_release(*, secret: object, now: datetime) -> None:
    """Give the seat back at once; an unknown, used or expired hold is `not_found`."""
    hold = hold_find(secret)
    if not hold_live(hold, now=now):
        raise NotFound("No such hold.")
    with transaction.atomic():
        if not seats.hold_give_back(hold=hold, state=Hold.State.RELEASED, now=now):
            raise NotFound("No such hold.")


def holds_expire(*, now: datetime, progress: Callable[[int], None] | None = None) -> int:
    """Give back the seats of every expired hold, in batches (each its own transaction)."""
    total = 0
    while True:
        with transaction.atomic():
            count = seats.holds_reclaim(now=now, limit=HOLDS_EXPIRE_BATCH)
        total += count
        if progress:
            progress(total)
        if count < HOLDS_EXPIRE_BATCH:
            return total
