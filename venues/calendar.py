"""Open or closed, and why: the one place that decides a venue's days."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays
from django.utils.translation import get_language

from scheduler import clock

from .models import Closure, Venue

WEEKEND = "weekend"
HOLIDAY = "holiday"
YEAR_END = "year_end"
CLOSURE = "closure"


@dataclass(frozen=True)
class DayStatus:
    date: date
    open: bool
    reason: str | None = None
    note: str = ""
    # Part-day closures that leave the day open (their slots are withdrawn).
    partial_closures: tuple[Closure, ...] = ()


@lru_cache(maxsize=64)
def _holidays_for(year: int, language: str) -> dict[date, str]:
    return dict(holidays.Japan(years=year, language=language))


def holiday_name(day: date) -> str | None:
    """Japanese national, substitute (振替休日) and citizens' (国民の休日) holidays."""
    language = "en_US" if (get_language() or "ja").startswith("en") else "ja"
    return _holidays_for(day.year, language).get(day)


def is_year_end(day: date) -> bool:
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


def year_end_note() -> str:
    return "Year-end holidays" if (get_language() or "ja").startswith("en") else "年末年始"


def weekend_note(day: date) -> str:
    if (get_language() or "ja").startswith("en"):
        return "Saturday" if day.weekday() == 5 else "Sunday"
    return "土曜日" if day.weekday() == 5 else "日曜日"


def day_status(day: date, closures: Iterable[Closure] = ()) -> DayStatus:
    """Why a day is closed, in order of what a resident would find most telling."""
    if is_year_end(day):
        return DayStatus(day, False, YEAR_END, year_end_note())
    name = holiday_name(day)
    if name:
        return DayStatus(day, False, HOLIDAY, name)
    if day.weekday() >= 5:
        return DayStatus(day, False, WEEKEND, weekend_note(day))
    covering = [c for c in closures if c.covers(day)]
    whole = [c for c in covering if c.is_whole_day]
    if whole:
        return DayStatus(day, False, CLOSURE, whole[0].note)
    partial = tuple(c for c in covering if not c.is_whole_day)
    note = " / ".join(c.note for c in partial if c.note)
    return DayStatus(day, True, None, note, partial)


def closures_between(venue: Venue, first: date, last: date) -> list[Closure]:
    """One query for every closure that touches the range."""
    return list(
        Closure.objects.filter(venue=venue, start_date__lte=last, end_date__gte=first).order_by(
            "start_date", "start_time"
        )
    )


def closure_covers(closure: Closure, start: datetime, end: datetime) -> bool:
    """Does the closure (whole day or part of one) cover any of `start`–`end`?"""
    day = clock.local(start).date()
    if not closure.start_date <= day <= closure.end_date:
        return False
    if closure.start_time is None or closure.end_time is None:
        return True
    closed_from = clock.at_jst(day, closure.start_time.hour, closure.start_time.minute)
    closed_to = clock.at_jst(day, closure.end_time.hour, closure.end_time.minute)
    return start < closed_to and closed_from < end


def overlaps_closure(start: datetime, end: datetime, closures: Iterable[Closure]) -> bool:
    return any(closure_covers(closure, start, end) for closure in closures)


def dates(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def venue_calendar(venue: Venue, first: date, last: date) -> list[DayStatus]:
    """Every day of the range with its status, in two queries at most."""
    closures = closures_between(venue, first, last)
    return [day_status(day, closures) for day in dates(first, last)]
