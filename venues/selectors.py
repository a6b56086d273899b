"""Reads of where-and-when data, raising the contract's errors for unknown codes."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet

from scheduler import clock, parsing, rows
from scheduler.errors import InvalidRange, ProcedureNotOffered, UnknownProcedure, UnknownVenue

from .models import Procedure, Venue

CODE_SHAPE = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")  # as `code_validator`: nothing else is looked up


def public_venues() -> QuerySet[Venue]:
    """Venues a resident can book at least one procedure at (api.md): active, and taking one.
    A station that takes none (長野南, 佐久, 塩尻) is kept only as a koban's parent station."""
    takes = Venue.procedures.through.objects.filter(venue_id=OuterRef("pk"))
    return Venue.objects.filter(Exists(takes), is_active=True)


def venue_get(code: str) -> Venue:
    """A public venue by its code, else `unknown_venue`."""
    if not CODE_SHAPE.fullmatch(str(code)):  # e.g. a NUL byte, which PostgreSQL refuses (a 500)
        raise UnknownVenue()
    venue = public_venues().filter(code=str(code)).first()
    if venue is None:
        raise UnknownVenue()
    return venue


def procedure_get(code: str | None) -> Procedure:
    if not code:
        raise UnknownProcedure("Give a procedure code (?procedure=…).")
    if not CODE_SHAPE.fullmatch(str(code)):
        raise UnknownProcedure()
    procedure = Procedure.objects.filter(code=str(code)).first()
    if procedure is None:
        raise UnknownProcedure()
    return procedure


# A public venue (as `public_venues`) and a procedure by their codes, in one row (NULLs where a
# code is unknown).
VENUE_AND_PROCEDURE = (
    f"SELECT {rows.columns(Venue, 'v')}, {rows.columns(Procedure, 'p')} FROM (SELECT 1) AS one "  # noqa: S608
    f"LEFT JOIN {Venue._meta.db_table} v ON v.code = %s AND v.is_active AND EXISTS "
    f"(SELECT 1 FROM {Venue.procedures.through._meta.db_table} t WHERE t.venue_id = v.id) "
    f"LEFT JOIN {Procedure._meta.db_table} p ON p.code = %s"
)


# The rows of `venue_and_procedure` this process read lately, by codes: (read until, row).
# Only rows naming a venue and a procedure that exist are kept (so the codes a request can make
# up never fill it), every save or delete of a venue, a procedure or a venue's procedures
# forgets them all (`forget_kept`, connected in VenuesConfig.ready), and another process's change
# is seen within REFERENCE_CACHE_SECONDS. What must be exact at once is asked again by the
# booking's own statement: whether the venue is active and takes the procedure
# (bookings.services.CHECKS["offered"]); seats, windows and closures are never kept.
_kept: dict[tuple[str, str], tuple[float, tuple]] = {}
KEPT_MAX = 1000


def venue_and_procedure(venue_code: str, procedure_code: str) -> tuple[Venue | None, Procedure | None]:
    """The public venue and the procedure of these codes (None where unknown), in one statement
    on every booking and hold, unless this process read them in the last REFERENCE_CACHE_SECONDS:
    a statement less for the database, the one part that does not scale out (docs/deploy.md).
    Raw SQL, not querysets: two `.filter(...).first()` cost 2.5x as much per call on PostgreSQL
    (3.3x on SQLite) as two raw statements, measured in one run of bench/seat_reads.py
    (2026-12-01); one statement instead of two saves a round trip more."""
    key = (str(venue_code), str(procedure_code))
    split = rows.width(Venue)
    kept = _kept.get(key)
    if kept is not None and kept[0] > time.monotonic():
        row = kept[1]
    else:
        with connection.cursor() as cursor:
            cursor.execute(VENUE_AND_PROCEDURE, list(key))
            row = cursor.fetchone()
        seconds = settings.REFERENCE_CACHE_SECONDS
        if seconds > 0 and row[0] is not None and row[split] is not None:
            if len(_kept) >= KEPT_MAX:
                _kept.clear()
            _kept[key] = (time.monotonic() + seconds, row)
    return rows.instance(Venue, row[:split]), rows.instance(Procedure, row[split:])


def forget_kept(**_: object) -> None:
    """A venue, a procedure or what a venue takes changed: read them afresh."""
    _kept.clear()


def venue_takes(venue: Venue, procedure: Procedure) -> bool:
    """The venue is open to the public (still: `venue` may be a kept row) and takes the procedure."""
    return Venue.procedures.through.objects.filter(
        venue_id=venue.pk, procedure_id=procedure.pk, venue__is_active=True
    ).exists()


def offered_procedure_get(venue: Venue, code: str | None) -> Procedure:
    """`procedure_get`, and whether the venue takes it, in one query."""
    if not code or not CODE_SHAPE.fullmatch(str(code)):
        return procedure_get(code)  # raises the same errors
    offered = Venue.procedures.through.objects.filter(venue_id=venue.pk, procedure_id=OuterRef("pk"))
    procedure = Procedure.objects.filter(code=str(code)).annotate(offered=Exists(offered)).first()
    if procedure is None:
        raise UnknownProcedure()
    if not procedure.offered:
        raise ProcedureNotOffered()
    return procedure


def inquiry_venues() -> list[Venue]:
    """Where a resident phones with a question (the footer of every page): the licence centres
    whose number an administrator confirmed (`Venue.public_phone`)."""
    centres = (
        Venue.objects.filter(kind=Venue.Kind.LICENCE_CENTRE).exclude(phone="").order_by("sort_order", "code")
    )
    return [venue for venue in centres if venue.public_phone]


def venue_list(*, procedure: Procedure | None = None) -> QuerySet[Venue]:
    venues = public_venues().select_related("parent").prefetch_related("procedures")
    if procedure is not None:
        venues = venues.filter(procedures=procedure)
    return venues.order_by("sort_order", "code")


def horizon_end(venue: Venue, *, today: date | None = None) -> date:
    """The last day online booking takes today: a whole new day opens at each 00:00 JST."""
    return (today or clock.today()) + timedelta(days=venue.horizon_days)


def slots_end(venue: Venue, *, today: date | None = None) -> date:
    """The last day whose slots exist today: the day after the horizon, which opens at the next
    00:00 JST. Its slots are made a day early (not bookable online yet: staff may book them), so
    that every seat of it is there at the moment it opens, not when the nightly roll (00:15) runs."""
    return horizon_end(venue, today=today) + timedelta(days=1)


def parse_date(value: str | None, name: str) -> date | None:
    if value in (None, ""):
        return None
    parsed = parsing.date_or_none(value)
    return parsed if parsed is not None else _bad(name)


def _bad(name: str) -> date:
    first, last = parsing.YEARS
    raise InvalidRange(f"`{name}` must be a date written YYYY-MM-DD, in the years {first} to {last}.")


def date_range(
    raw_from: str | None, raw_to: str | None, *, default_from: date, default_to: date, max_days: int
) -> tuple[date, date]:
    first = parse_date(raw_from, "from") or default_from
    last = parse_date(raw_to, "to") or default_to
    if last < first:
        raise InvalidRange("`to` comes before `from`.")
    if (last - first).days + 1 > max_days:
        raise InvalidRange(f"At most {max_days} days per request.")
    return first, last
