"""Dates, months, times and numbers from a request: one parser per kind, nothing else parses them.

Each returns None for anything it cannot take (the caller answers 400 with its code, or a form
error); a value that parses but lies outside YEARS is refused too, so that no arithmetic on it
can overflow (9999-12-31 plus a day) or reach the year 1.
"""

from __future__ import annotations

import re
from datetime import date, datetime

YEARS = (2000, 2200)
DATE = re.compile(r"\d{4}-\d\d-\d\d", re.ASCII)
MONTH = re.compile(r"(\d{4})-(\d{1,2})", re.ASCII)
MOMENT = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d{1,6})?)?([Zz]|[+-]\d\d:\d\d)", re.ASCII)
INTEGER = re.compile(r"[+-]?\d{1,9}", re.ASCII)


def _in_years(value: date | datetime) -> bool:
    return YEARS[0] <= value.year <= YEARS[1]


def date_or_none(value: object) -> date | None:
    """`YYYY-MM-DD`."""
    if not isinstance(value, str) or not DATE.fullmatch(value):
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        return None
    return parsed if _in_years(parsed) else None


def month_or_none(value: object) -> date | None:
    """`YYYY-MM` (or `YYYY-M`), as the first day of that month."""
    match = MONTH.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or not YEARS[0] <= year <= YEARS[1]:
        return None
    return date(year, month, 1)


def moment_or_none(value: object) -> datetime | None:
    """ISO 8601 with its offset (`2026-12-14T10:00:00+09:00`); a time without one is refused."""
    if not isinstance(value, str) or not MOMENT.fullmatch(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.upper().replace(" ", "T"))
    except ValueError:  # month 13, hour 25, offset +99:99
        return None
    return parsed if parsed.tzinfo is not None and _in_years(parsed) else None


def integer_or_none(value: object, *, low: int, high: int) -> int | None:
    if not isinstance(value, str) or not INTEGER.fullmatch(value.strip()):
        return None
    number = int(value.strip())
    return number if low <= number <= high else None


CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def text(value: object, *, max_length: int) -> str:
    """Free text typed into a search box: stripped, without control characters (PostgreSQL
    refuses a NUL in any text), cut to `max_length`."""
    if not isinstance(value, str):
        return ""
    return CONTROL.sub("", value).strip()[:max_length]
