"""Dates and times as a resident reads them, in Japanese or English (one helper for pages and .ics).

Japanese: `2026年12月14日（月）10:00`; English: `Mon 14 December 2026, 10:00`.
"""

from __future__ import annotations

import time as time_module
from datetime import date, datetime, time
from urllib.parse import urlencode

from django import template
from django.db import DatabaseError
from django.utils.translation import get_language

from bookings.contact import format_phone, normalize_phone
from scheduler import clock
from venues import selectors as venue_selectors

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


@register.filter
def described(bound_field) -> str:
    """The input with `aria-describedby` naming the hint and error paragraphs `_field.html` prints
    (`<id>_helptext`, `<id>_error`), and `aria-invalid` when there is an error; only ids that exist."""
    ids = []
    if bound_field.help_text:
        ids.append(f"{bound_field.auto_id}_helptext")
    attrs = {}
    if bound_field.errors:
        ids.append(f"{bound_field.auto_id}_error")
        attrs["aria-invalid"] = "true"
    if ids:
        attrs["aria-describedby"] = " ".join(ids)
    return bound_field.as_widget(attrs=attrs)


@register.filter
def phone(value: str | None) -> str:
    """`0265-22-0110`: a stored or typed number as people write it."""
    return format_phone(value or "")


@register.filter
def tel_href(value: str | None) -> str:
    """`tel:0265220110`: digits only, which every phone dials."""
    return f"tel:{normalize_phone(value or '')}"


_INQUIRY_TTL = 300.0
_inquiry: tuple[float, list[tuple[str, str, str]]] = (0.0, [])


@register.simple_tag
def inquiry_contacts() -> list[dict[str, str]]:
    """The footer's inquiry numbers (`venues.selectors.inquiry_venues`): reference data that an
    administrator changes a few times a year, so each process reads it at most every five
    minutes instead of on every page."""
    global _inquiry
    read_at, rows = _inquiry
    if time_module.monotonic() - read_at > _INQUIRY_TTL:
        try:
            rows = [(v.name, v.name_en, v.public_phone) for v in venue_selectors.inquiry_venues()]
        except DatabaseError:  # an error page still renders while the database is away
            return []
        _inquiry = (time_module.monotonic(), rows)
    english = is_english()
    return [
        {"name": (name_en or name) if english else name, "phone": format_phone(phone), "tel": tel_href(phone)}
        for name, name_en, phone in rows
    ]


@register.filter
def map_url(venue) -> str:
    """A plain link to a map search for the venue (no script of the map's site on our pages): the
    Japanese street address when known, else the venue's name and municipality."""
    query = venue.address or f"{venue.name} {venue.city}".strip()
    return "https://www.google.com/maps/search/?" + urlencode({"api": "1", "query": query})
