"""The booking's calendar file (bookings/ics.py) is written as text: it must be what the
`icalendar` package itself writes for the same booking, byte for byte, and read back by it."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import translation
from icalendar import Calendar, Event

from bookings import services
from bookings.contact import contact_clean
from bookings.ics import PRODID, _location, booking_ics, description, summary, uid
from bookings.links import lookup_url
from bookings.models import Booking
from bookings.slots import slots_generate
from scheduler import clock
from scheduler.clock import at_jst
from tests import builders
from venues.models import Procedure

pytestmark = pytest.mark.django_db
MONDAY = date(2026, 12, 14)
ANSWERS = {"card_valid": True, "chip_ok": True, "licence_suspended": False}


def by_icalendar(booking: Booking) -> bytes:
    """The file as bookings/ics.py built it with `icalendar` until 2026-12-07 (the texts it
    holds are the module's own: what is compared is how they are written)."""
    language = "en" if booking.language.startswith("en") else "ja"
    with translation.override(language):
        calendar = Calendar()
        calendar.add("prodid", PRODID)
        calendar.add("version", "2.0")
        calendar.add("calscale", "GREGORIAN")
        calendar.add("method", "PUBLISH")
        event = Event()
        event.add("uid", uid(booking))
        event.add("dtstamp", clock.now())
        event.add("dtstart", booking.start)
        event.add("dtend", booking.end)
        event.add("sequence", booking.events.count())
        event.add("summary", summary(booking))
        event.add("location", _location(booking))
        event.add("description", description(booking))
        event.add("url", lookup_url())
        event.add("status", "CONFIRMED" if booking.is_active else "CANCELLED")
        calendar.add_component(event)
    return calendar.to_ical()


@pytest.fixture
def booked(travel):
    place = builders.venue(windows=(("10:00", "11:00"),), procedures=("record", "re-record", "erase"))
    place.name = place.name_en = "長野中央警察署;本館, 2階 \\ 窓口"  # what TEXT escapes: ; , \\
    place.address = "長野市大字南長野字幅下692-2（県庁東側）" * 2  # long: folded over several lines
    place.save()
    now = travel(2026, 12, 1, 9, 0)
    slots_generate(now=now, venues=[place], days=13)

    def make(code: str, language: str, minute: int) -> Booking:
        created = services.booking_create(
            venue=place,
            procedure=Procedure.objects.get(code=code),
            start=at_jst(MONDAY, 10, minute),
            contact=contact_clean(name="長野 花子", phone=f"090-1234-{minute:04d}", email=""),
            answers=ANSWERS,
            now=now,
            language=language,
        )
        return Booking.objects.select_related("venue", "procedure").get(pk=created.booking.pk)

    return make


@pytest.mark.parametrize(("code", "language"), [("record", "ja"), ("re-record", "en"), ("erase", "ja")])
def test_the_calendar_file_is_what_icalendar_writes_for_the_same_booking(booked, code, language):
    booking = booked(code, language, {"record": 0, "re-record": 10, "erase": 20}[code])
    written = booking_ics(booking)
    assert written == by_icalendar(booking)
    assert all(len(line) <= 75 for line in written.split(b"\r\n"))  # octets, folding included
    event = Calendar.from_ical(written).walk("VEVENT")[0]
    assert str(event["location"]) == _location(booking)
    assert event.decoded("dtstart") == booking.start and str(event["status"]) == "CONFIRMED"


def test_a_cancelled_booking_s_file_says_so_under_the_same_uid(booked):
    booking = booked("record", "ja", 30)
    first = Calendar.from_ical(booking_ics(booking)).walk("VEVENT")[0]
    services.booking_cancel(booking=booking, now=clock.now())
    booking = Booking.objects.select_related("venue", "procedure").get(pk=booking.pk)
    assert booking_ics(booking) == by_icalendar(booking)
    again = Calendar.from_ical(booking_ics(booking)).walk("VEVENT")[0]
    assert (str(again["uid"]), str(again["status"])) == (str(first["uid"]), "CANCELLED")
    assert int(again["sequence"]) == int(first["sequence"]) + 1
