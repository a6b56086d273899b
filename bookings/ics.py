"""An iCalendar (.ics) file of a booking: for "add to calendar" on the pages and for the emails.

The file carries the reference and what to bring, never the manage token. It is written in the
booking's language; a cancelled booking gives the same UID with STATUS:CANCELLED so that a
calendar that imported it can drop the event.

Written here as text (RFC 5545: TEXT escaping, UTC times, lines folded at 75 octets), not built
with the `icalendar` package: its component building and line folding were 37% of the outbox
sender's CPU per confirmation (cProfile of a sweep of 300, 2026-12-07), for a file of one fixed
shape. tests/test_calendar_file.py checks the text byte for byte against `icalendar`'s own
output for the same booking, and parses it back with `icalendar`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from scheduler import clock

from .guidance import what_to_bring
from .links import lookup_url
from .models import Booking

PRODID = "-//Nagano My Number licence counter booking//JA"


def _location(booking: Booking) -> str:
    venue = booking.venue
    place = venue.address or venue.city
    return f"{venue.display_name}, {place}" if place else venue.display_name


def booking_ics(booking: Booking, *, sequence: int | None = None) -> bytes:
    """The booking as one VEVENT (UTC times), in `booking.language`. SEQUENCE is the number of its
    status changes (`sequence` when the caller read it already: the outbox reads it per batch)."""
    language = "en" if (booking.language or "ja").startswith("en") else "ja"
    with translation.override(language):
        # icalendar's order: its canonical order for each component, then the other names sorted.
        properties = [
            ("BEGIN", "VCALENDAR"),
            ("VERSION", "2.0"),
            ("PRODID", _text(PRODID)),
            ("CALSCALE", "GREGORIAN"),
            ("METHOD", "PUBLISH"),
            ("BEGIN", "VEVENT"),
            ("SUMMARY", _text(summary(booking))),
            ("DTSTART", _utc(booking.start)),
            ("DTEND", _utc(booking.end)),
            ("DTSTAMP", _utc(clock.now())),
            ("UID", _text(uid(booking))),
            ("SEQUENCE", str(booking.events.count() if sequence is None else sequence)),
            ("DESCRIPTION", _text(description(booking))),
            ("LOCATION", _text(_location(booking))),
            ("STATUS", "CONFIRMED" if booking.is_active else "CANCELLED"),
            ("URL", lookup_url()),
            ("END", "VEVENT"),
            ("END", "VCALENDAR"),
        ]
    return "".join(_folded(f"{name}:{value}") + "\r\n" for name, value in properties).encode()


def uid(booking: Booking) -> str:
    return f"{booking.reference}@{urlsplit(settings.SITE_URL).hostname or 'localhost'}"


def summary(booking: Booking) -> str:
    return f"{booking.procedure.display_name} — {booking.venue.display_name}"


def description(booking: Booking) -> str:
    """The reference, what to bring and where to change the booking (in the active language)."""
    lines = [
        _("予約番号: %(reference)s") % {"reference": booking.reference},
        "",
        _("持ち物"),
        *[f"- {item}" for item in what_to_bring(booking.procedure.code)],
        "",
        _("予約の確認・変更・取消: %(url)s") % {"url": lookup_url()},
    ]
    return "\n".join(str(line) for line in lines)


def _text(value: str) -> str:
    """A TEXT value escaped (RFC 5545, 3.3.11), line ends as `\\n`, as `icalendar` writes it."""
    value = value.replace("\\N", "\n").replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _folded(line: str, limit: int = 75) -> str:
    """A content line folded before it reaches `limit` octets (RFC 5545, 3.1), never inside a
    character, and never right after a backslash or a caret (their escape stays on one line),
    as `icalendar` folds it. Most lines are short: one look at their length."""
    if len(line.encode()) < limit:
        return line
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for char in line:
        width = len(char.encode())
        if current and size + width >= limit:
            if len(current) > 1 and current[-1] in "\\^":
                carried = current.pop()
                parts.append("".join(current))
                current, size = [carried], len(carried.encode())
            else:
                parts.append("".join(current))
                current, size = [], 0
        current.append(char)
        size += width
    parts.append("".join(current))
    return "\r\n ".join(parts)
