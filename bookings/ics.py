"""An iCalendar (.ics) file of a booking: for "add to calendar" on the pages and for the emails.

The file carries the reference and what to bring, never the manage token. It is written in the
booking's language; a cancelled booking gives the same UID with STATUS:CANCELLED so that a
calendar that imported it can drop the event.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from icalendar import Calendar, Event

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
        calendar = Calendar()
        calendar.add("prodid", PRODID)
        calendar.add("version", "2.0")
        calendar.add("calscale", "GREGORIAN")
        calendar.add("method", "PUBLISH")

        event = Event()
        host = urlsplit(settings.SITE_URL).hostname or "localhost"
        event.add("uid", f"{booking.reference}@{host}")
        event.add("dtstamp", clock.now())
        event.add("dtstart", booking.start)
        event.add("dtend", booking.end)
        event.add("sequence", booking.events.count() if sequence is None else sequence)
        event.add("summary", f"{booking.procedure.display_name} — {booking.venue.display_name}")
        event.add("location", _location(booking))
        lines = [
            _("予約番号: %(reference)s") % {"reference": booking.reference},
            "",
            _("持ち物"),
            *[f"- {item}" for item in what_to_bring(booking.procedure.code)],
            "",
            _("予約の確認・変更・取消: %(url)s") % {"url": lookup_url()},
        ]
        event.add("description", "\n".join(str(line) for line in lines))
        event.add("url", lookup_url())
        event.add("status", "CONFIRMED" if booking.is_active else "CANCELLED")
        calendar.add_component(event)
    return calendar.to_ical()
