"""Statistics for administrators (issue 14, part 3): pure reads, in a fixed number of queries.

`statistics_for` answers, for some venues (and optionally one procedure) over a range of days cut
into days, weeks or months: bookings by channel, cancellations (by the resident, by the venue),
no-shows and their rate, seat use, lead time, waiting and service times (median, p90), the
busiest weekdays and hours, and (when asked) a ranking of the venues.

Two queries whatever the range: one row per booking (with the times of its check-in, service
start, end of service, first call and creation, aggregated in the database) and one row per venue
and day of the seats offered. Everything else is counted in Python, which keeps the figures the
same on SQLite and PostgreSQL (no time-zone arithmetic in SQL: the JST day, weekday and hour of a
visit come from `scheduler.clock.local`). The definitions are in docs/statistics.md.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import NotSupportedError, connections
from django.db.models import FilteredRelation, FloatField, Func, Max, Min, Q, Sum
from django.db.models.functions import Coalesce

from scheduler import clock
from venues.models import Procedure, Venue

from .models import Booking, Call, Slot

Status = Booking.Status
Channel = Booking.Channel
PERIODS = ("day", "week", "month")
CAME = frozenset({Status.CHECKED_IN, Status.IN_SERVICE, Status.DONE})
DEFAULT_HOURS = range(9, 17)  # the heat table's hours when there is nothing to show


# --- Results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """A duration's count, median and 90th percentile (the unit is in the field's name)."""

    count: int = 0
    median: float | None = None
    p90: float | None = None


@dataclass(frozen=True)
class Figures:
    bookings: int = 0  # every booking for a visit in the period, whatever became of it
    online: int = 0
    staff: int = 0
    walk_in: int = 0
    cancelled_by_resident: int = 0  # 取消: by the resident (online, or by a clerk on their behalf)
    cancelled_by_venue: int = 0  # 会場都合の取消 (a closure)
    due: int = 0  # visits whose outcome is known or should be: came, no-show, or ended by `now`
    came: int = 0  # checked in, in service or done
    no_shows: int = 0
    seats_used: int = 0  # seats of bookings not cancelled (a no-show's seat was used up too)
    seats_offered: int = 0  # seats of the active slots
    lead_hours: Spread = field(default_factory=Spread)  # booking made → start (not cancelled)
    waiting_minutes: Spread = field(default_factory=Spread)  # check-in → first call (or service)
    service_minutes: Spread = field(default_factory=Spread)  # service start → done

    @property
    def cancelled(self) -> int:
        return self.cancelled_by_resident + self.cancelled_by_venue

    @property
    def kept(self) -> int:
        """Bookings not cancelled."""
        return self.bookings - self.cancelled

    @property
    def no_show_rate(self) -> float | None:
        return self.no_shows / self.due if self.due else None

    @property
    def seat_use(self) -> float | None:
        return self.seats_used / self.seats_offered if self.seats_offered else None


@dataclass(frozen=True)
class PeriodRow:
    first: date  # the period's first day inside the range (a week or month is cut at its ends)
    last: date
    figures: Figures


@dataclass(frozen=True)
class VenueRow:
    venue: Venue
    figures: Figures


@dataclass(frozen=True)
class Busiest:
    """Visits (bookings neither cancelled nor missed) by JST weekday (0 = Monday) and hour."""

    hours: list[int]
    cells: list[list[int]]  # [weekday][index in hours]
    by_weekday: list[int]
    by_hour: list[int]

    @property
    def peak(self) -> int:
        return max((n for row in self.cells for n in row), default=0)


@dataclass(frozen=True)
class Statistics:
    venues: list[Venue]
    procedure: Procedure | None
    first: date
    last: date
    period: str
    rows: list[PeriodRow]
    totals: Figures
    busiest: Busiest
    ranking: list[VenueRow]  # by bookings kept, then seat use; empty unless asked for


# --- Counting -----------------------------------------------------------------------------------


def percentile(ordered: Sequence[float], share: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default, PostgreSQL's percentile_cont)."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * share
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def spread(values: list[float]) -> Spread:
    ordered = sorted(values)
    return Spread(len(ordered), percentile(ordered, 0.5), percentile(ordered, 0.9))


class _Tally:
    """Counts of one period, one venue or the whole range while the rows go by."""

    __slots__ = (
        "by_channel",
        "by_resident",
        "by_venue",
        "came",
        "due",
        "lead",
        "no_shows",
        "offered",
        "service",
        "used",
        "waiting",
    )

    def __init__(self) -> None:
        self.by_channel = {Channel.ONLINE: 0, Channel.STAFF: 0, Channel.WALK_IN: 0}
        self.by_resident = self.by_venue = self.came = self.due = self.no_shows = 0
        self.used = self.offered = 0
        self.lead: list[float] = []
        self.waiting: list[float] = []
        self.service: list[float] = []

    def add(self, other: _Tally) -> None:
        for channel, n in other.by_channel.items():
            self.by_channel[channel] = self.by_channel.get(channel, 0) + n
        self.by_resident += other.by_resident
        self.by_venue += other.by_venue
        self.came += other.came
        self.due += other.due
        self.no_shows += other.no_shows
        self.used += other.used
        self.offered += other.offered
        self.lead += other.lead
        self.waiting += other.waiting
        self.service += other.service

    def figures(self) -> Figures:
        return Figures(
            bookings=sum(self.by_channel.values()),
            online=self.by_channel[Channel.ONLINE],
            staff=self.by_channel[Channel.STAFF],
            walk_in=self.by_channel[Channel.WALK_IN],
            cancelled_by_resident=self.by_resident,
            cancelled_by_venue=self.by_venue,
            due=self.due,
            came=self.came,
            no_shows=self.no_shows,
            seats_used=self.used,
            seats_offered=self.offered,
            lead_hours=spread(self.lead),
            waiting_minutes=spread(self.waiting),
            service_minutes=spread(self.service),
        )


def period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _periods(first: date, last: date, period: str) -> list[tuple[date, date]]:
    """(first, last) of each period that meets the range, cut at the range's ends."""
    out = []
    start = period_start(first, period)
    while start <= last:
        if period == "week":
            end = start + timedelta(days=6)
        elif period == "month":
            end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
        else:
            end = start
        out.append((max(start, first), min(end, last)))
        start = end + timedelta(days=1)
    return out


class Epoch(Func):
    """A moment as seconds since 1970-01-01 UTC (a float), worked out by the database: no Python
    datetime is built for each of the year's thousands of rows (the bench: docs/statistics.md)."""

    output_field = FloatField()
    arity = 1

    def as_sql(self, compiler, connection, **extra):  # pragma: no cover - SQLite and PostgreSQL only
        raise NotSupportedError(f"Epoch is not written for {connection.vendor}.")

    def as_sqlite(self, compiler, connection, **extra):
        template = "((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        return Func.as_sql(self, compiler, connection, template=template, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        template = "EXTRACT(EPOCH FROM %(expressions)s)::double precision"
        return Func.as_sql(self, compiler, connection, template=template, **extra)


class _Tallies:
    """One tally per (period, venue) while the rows go by; periods, venues and the whole range are
    their sums."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[int, int], _Tally] = {}

    def get(self, period: int, venue: int) -> _Tally:
        tally = self.by_key.get((period, venue))
        if tally is None:
            tally = self.by_key[(period, venue)] = _Tally()
        return tally

    def summed(self, part: int) -> dict[int, _Tally]:
        """Sums by period (part 0) or by venue (part 1), in one pass."""
        out: dict[int, _Tally] = {}
        for key, tally in self.by_key.items():
            out.setdefault(key[part], _Tally()).add(tally)
        return out

    def total(self) -> _Tally:
        total = _Tally()
        for tally in self.by_key.values():
            total.add(tally)
        return total


def _booking_rows(bookings):
    """Per booking: venue, status, channel, seats, and its moments in epoch seconds (start, end,
    made, last check-in, last service start, last done, first call)."""
    return (
        bookings.order_by()
        .values("pk")  # GROUP BY the booking's key (and the few columns read), not every column
        .alias(first_calls=FilteredRelation("calls", condition=Q(calls__kind=Call.Kind.CALL)))
        .annotate(
            start_s=Epoch(Min("start")),
            end_s=Epoch(Min("end")),
            made_s=Epoch(Coalesce(Min("events__at", filter=Q(events__from_status="")), Min("created_at"))),
            checked_s=Epoch(Max("events__at", filter=Q(events__to_status=Status.CHECKED_IN))),
            started_s=Epoch(Max("events__at", filter=Q(events__to_status=Status.IN_SERVICE))),
            finished_s=Epoch(Max("events__at", filter=Q(events__to_status=Status.DONE))),
            called_s=Epoch(Min("first_calls__at")),
        )
        .values_list(
            "venue_id",
            "status",
            "channel",
            "slot_count",
            "start_s",
            "end_s",
            "made_s",
            "checked_s",
            "started_s",
            "finished_s",
            "called_s",
        )
    )


def _fetched(queryset) -> list[tuple]:
    """The rows of a values_list queryset straight from the cursor: its columns are numbers and
    codes that need none of Django's per-value converters (a third of the time, for a year)."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def statistics_for(
    *,
    venues: Sequence[Venue],
    procedure: Procedure | None = None,
    first: date,
    last: date,
    period: str,
    now: datetime,
    ranking: bool = False,
) -> Statistics:
    """The figures of `venues` (already scoped to what the user may see) for visits from `first` to
    `last` (JST days, both included), per `period` ("day", "week" or "month"). Two queries."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}")
    venue_ids = [venue.pk for venue in venues]
    spans = _periods(first, last, period)
    # Days as numbers since 1970-01-01 (JST), each mapped to its period's row. Japan keeps no
    # summer time, so one offset (read from the zone) holds for the whole range.
    offset = clock.JST.utcoffset(datetime(first.year, first.month, first.day)).total_seconds()
    epoch_day = date(1970, 1, 1).toordinal()
    row_of_day: dict[int, int] = {}
    for i, (span_first, span_last) in enumerate(spans):
        for n in range(span_first.toordinal() - epoch_day, span_last.toordinal() - epoch_day + 1):
            row_of_day[n] = i
    tallies = _Tallies()
    heat: dict[tuple[int, int], int] = {}
    now_s = now.timestamp()

    bookings = Booking.objects.filter(
        venue_id__in=venue_ids,
        start__gte=clock.at_jst(first),
        start__lt=clock.at_jst(last + timedelta(days=1)),
    )
    slots = Slot.objects.filter(venue_id__in=venue_ids, date__gte=first, date__lte=last, active=True)
    if procedure is not None:
        bookings = bookings.filter(procedure=procedure)
        slots = slots.filter(window__procedures=procedure)
    cancelled_kinds = (Status.CANCELLED, Status.CANCELLED_BY_VENUE)
    for venue_id, status, channel, seats, start_s, end_s, made_s, *moments in _fetched(
        _booking_rows(bookings)
    ):
        checked_s, started_s, finished_s, called_s = moments
        local_s = round(start_s) + offset  # SQLite's julianday is a float: 10:00 may come as 9:59:59.99
        day = int(local_s // 86400)
        tally = tallies.get(row_of_day[day], venue_id if ranking else 0)
        tally.by_channel[channel] = tally.by_channel.get(channel, 0) + 1
        if status in cancelled_kinds:
            if status == Status.CANCELLED:
                tally.by_resident += 1
            else:
                tally.by_venue += 1
            continue
        tally.used += seats
        tally.lead.append(max(0.0, (start_s - made_s) / 3600) if made_s is not None else 0.0)
        if status == Status.NO_SHOW:
            tally.no_shows += 1
            tally.due += 1
            continue
        key = ((day + 3) % 7, int(local_s % 86400 // 3600))  # 1970-01-01 was a Thursday
        heat[key] = heat.get(key, 0) + 1
        if status not in CAME:
            tally.due += end_s <= now_s
            continue
        tally.came += 1
        tally.due += 1
        if checked_s is not None:
            # The wait ends at the first call after the check-in, or (no call) when service began.
            if called_s is not None and called_s >= checked_s:
                tally.waiting.append((called_s - checked_s) / 60)
            elif started_s is not None and started_s >= checked_s:
                tally.waiting.append((started_s - checked_s) / 60)
        if started_s is not None and finished_s is not None and finished_s >= started_s:
            tally.service.append((finished_s - started_s) / 60)

    for venue_id, day, offered in (
        slots.values("venue_id", "date")
        .annotate(seats=Sum("capacity"))
        .values_list("venue_id", "date", "seats")
    ):
        tallies.get(row_of_day[day.toordinal() - epoch_day], venue_id if ranking else 0).offered += (
            offered or 0
        )

    hours_seen = {hour for _weekday, hour in heat}
    hours = list(range(min(hours_seen), max(hours_seen) + 1)) if hours_seen else list(DEFAULT_HOURS)
    cells = [[heat.get((weekday, hour), 0) for hour in hours] for weekday in range(7)]
    busiest = Busiest(
        hours=hours,
        cells=cells,
        by_weekday=[sum(row) for row in cells],
        by_hour=[sum(row[i] for row in cells) for i in range(len(hours))],
    )
    by_period = tallies.summed(0)
    ranked = []
    if ranking:
        by_venue = tallies.summed(1)
        ranked = [VenueRow(venue, by_venue.get(venue.pk, _Tally()).figures()) for venue in venues]
        ranked.sort(key=lambda row: (-row.figures.kept, -(row.figures.seat_use or 0), row.venue.sort_order))
    return Statistics(
        venues=list(venues),
        procedure=procedure,
        first=first,
        last=last,
        period=period,
        rows=[PeriodRow(a, b, by_period.get(i, _Tally()).figures()) for i, (a, b) in enumerate(spans)],
        totals=tallies.total().figures(),
        busiest=busiest,
        ranking=ranked,
    )
