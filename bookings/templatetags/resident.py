"""Dates and times as a resident reads them, in Japanese or English (one helper for pages and .ics).

Japanese: `2026年12月14日（月）10:00`; English: `Mon 14 December 2026, 10:00`.
"""

from __future__ import annotations

from datetime import date, datetime, time

from django import template
from django.utils.translation import get_language

from scheduler import clock

register = template.Library()

WEEKDAYS_JA = "月火水木金土日"
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def is_english(language: str | None = None) -> bool:
    return (language or get_language() or "ja").startswith("en")


def _as_local(value: datetime | date) -> datetime | date:
    if isinstance(value, datetime):
        return clock.local(value)
    return value


def format_day(value: datetime | date, language: str | None = None) -> str:
    """`2026年12月14日（月）` / `Mon 14 December 2026` (a datetime is read in Japan time)."""
    day = _as_local(value)
    if is_english(language):
        return f"{WEEKDAYS_EN[day.weekday()]} {day.day} {MONTHS_EN[day.month - 1]} {day.year}"
    return f"{day.year}年{day.month}月{day.day}日（{WEEKDAYS_JA[day.weekday()]}）"


def format_time(value: datetime | time) -> str:
    moment = clock.local(value) if isinstance(value, datetime) else value
    return f"{moment.hour}:{moment.minute:02d}"


def format_when(value: datetime, language: str | None = None) -> str:
    """`2026年12月14日（月）10:00` / `Mon 14 December 2026, 10:00`."""
    separator = ", " if is_english(language) else ""
    return f"{format_day(value, language)}{separator}{format_time(value)}"


def format_month(value: date, language: str | None = None) -> str:
    if is_english(language):
        return f"{MONTHS_EN[value.month - 1]} {value.year}"
    return f"{value.year}年{value.month}月"


def format_short_day(value: date, language: str | None = None) -> str:
    """`12月14日（月）` / `Mon 14 Dec`: for lists inside one month."""
    if is_english(language):
        return f"{WEEKDAYS_EN[value.weekday()]} {value.day} {MONTHS_EN[value.month - 1][:3]}"
    return f"{value.month}月{value.day}日（{WEEKDAYS_JA[value.weekday()]}）"


def weekday_names(language: str | None = None) -> list[str]:
    return list(WEEKDAYS_EN) if is_english(language) else list(WEEKDAYS_JA)


@register.filter
def when(value: datetime | None) -> str:
    return format_when(value) if value else ""


@register.filter
def day(value: datetime | date | None) -> str:
    return format_day(value) if value else ""


@register.filter
def short_day(value: date | None) -> str:
    return format_short_day(value) if value else ""


@register.filter
def hm(value: datetime | time | None) -> str:
    return format_time(value) if value else ""


@register.filter
def month_label(value: date | None) -> str:
    return format_month(value) if value else ""


@register.filter
def iso(value: datetime) -> str:
    """Japan time with its offset, as the forms send it back (`2026-12-14T10:00:00+09:00`)."""
    return clock.local(value).isoformat()


@register.filter
def localized(obj: object, field: str) -> str:
    """`obj.<field>_en` in English when it is filled in, else `obj.<field>`."""
    if is_english():
        english = getattr(obj, f"{field}_en", "")
        if english:
            return english
    return getattr(obj, field, "")
