"""Shared set-up for the admin tests: staff users in their roles, slots and bookings made by services."""

from __future__ import annotations

from datetime import date, datetime

from django.contrib.auth.models import Group, User

from bookings import services
from bookings.contact import Contact, normalize_phone
from bookings.models import Booking
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from venues.models import Procedure, StaffMembership, Venue
from venues.scoping import ADMIN_GROUP, STAFF_GROUP

MONDAY = date(2026, 12, 14)
TUESDAY = date(2026, 12, 15)  # the day the queue runs
WEDNESDAY = date(2026, 12, 16)
GENERATED_AT = at_jst(MONDAY, 8, 0)
BOOKED_AT = at_jst(MONDAY, 10, 0)  # before the online cut-off for Tuesday
RECORD_ANSWERS = {"card_valid": True, "chip_ok": True, "licence_suspended": False}
PASSWORD = "a-long-test-password-42"


def generate(*codes: str, now: datetime = GENERATED_AT) -> None:
    slots_generate(now=now, venues=Venue.objects.filter(code__in=codes), days=10)


def staff_user(username: str, *venue_codes: str, admin: bool = False) -> User:
    """A staff account in its group (会場職員 or 県管理者), attached to `venue_codes`."""
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=ADMIN_GROUP if admin else STAFF_GROUP))
    for code in venue_codes:
        StaffMembership.objects.create(user=user, venue=Venue.objects.get(code=code))
    return user


_phones = iter(range(10_000_000, 99_999_999))


def book(
    venue_code: str,
    day: date,
    hour: int,
    minute: int,
    *,
    name: str = "山田 太郎",
    phone: str | None = None,
    email: str = "",
    procedure: str = "record",
    now: datetime = BOOKED_AT,
    channel: str = Booking.Channel.ONLINE,
) -> Booking:
    """A booking made through `services.booking_create`, as a resident (or staff) would."""
    digits = normalize_phone(phone) if phone is not None else f"090{next(_phones)}"
    contact = Contact(name=name, phone=digits, email=email)
    created = services.booking_create(
        venue=Venue.objects.get(code=venue_code),
        procedure=Procedure.objects.get(code=procedure),
        start=at_jst(day, hour, minute),
        contact=contact,
        answers=RECORD_ANSWERS if procedure == "record" else {},
        now=now,
        channel=channel,
    )
    return created.booking
