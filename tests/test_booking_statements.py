"""The booking's statements: on PostgreSQL the seats, the booking, its event and its outbox rows
are one statement (bookings/statements.py, `seats.seats_take_writing`); on SQLite the ORM path.
Either way a booking is all or nothing, and what it writes is the same."""

from __future__ import annotations

from datetime import date

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from bookings import seats, services
from bookings.contact import contact_clean
from bookings.models import Booking, BookingEvent, Notification, Slot
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from scheduler.errors import SlotFull
from scheduler.sealing import unseal
from tests import builders
from venues.models import Procedure, Venue
from venues.selectors import venue_and_procedure

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
postgres_only = pytest.mark.skipif(
    not ON_POSTGRES, reason="needs PostgreSQL: DATABASE_URL is not a PostgreSQL database (CI sets one)"
)
MONDAY = date(2026, 12, 14)
ANSWERS = {"card_valid": True, "chip_ok": True, "licence_suspended": False}

pytestmark = pytest.mark.django_db


@pytest.fixture
def centre(travel):
    place = builders.venue(windows=(("10:00", "11:00"),), counters=2)
    now = travel(2026, 12, 1, 9, 0)
    slots_generate(now=now, venues=[place], days=13)
    return place, now


def book(place: Venue, now, *, start=None, code="record", phone="090-1234-0000", sms=False, procedure=None):
    return services.booking_create(
        venue=place,
        procedure=procedure or Procedure.objects.get(code=code),
        start=start or at_jst(MONDAY, 10, 0),
        contact=contact_clean(name="長野 花子", phone=phone, email=f"hanako{phone[-4:]}@example.jp"),
        answers=ANSWERS,
        now=now,
        sms_opt_in=sms,
    )


@postgres_only
@pytest.mark.django_db(transaction=True)  # autocommit, as a request runs (no test transaction around it)
def test_a_booking_on_postgresql_is_one_read_and_one_write_without_begin_or_commit(centre, settings):
    settings.OUTBOX_WAKE = "notify"  # the production default: the trigger wakes the listener
    place, now = centre
    record = Procedure.objects.get(code="record")
    with CaptureQueriesContext(connection) as queries:
        created = book(place, now, procedure=record)
    statements = [query["sql"].lstrip().split(None, 1)[0].upper() for query in queries.captured_queries]
    assert statements == ["SELECT", "WITH"], statements
    booking = Booking.objects.get(pk=created.booking.pk)
    assert (booking.reference, booking.status, booking.phone) == (
        created.booking.reference,
        "confirmed",
        "09012340000",
    )
    slot = Slot.objects.get(venue=place, start=at_jst(MONDAY, 10, 0))
    assert slot.taken == 1
    event = BookingEvent.objects.get(booking=booking)
    assert (event.from_status, event.to_status, event.actor_kind) == ("", "confirmed", "resident")
    mail = Notification.objects.get(booking=booking)
    assert (mail.kind, mail.to_address, mail.state) == ("confirmed", "hanako0000@example.jp", "pending")
    assert unseal(mail.token_sealed) == created.token  # the confirmation can carry the manage link
    assert mail.pk == Notification.objects.latest("pk").pk and created.booking.pk == booking.pk


def test_a_booking_with_sms_writes_the_email_and_the_sms_rows_once_each(centre, settings):
    settings.SMS_URL = "console://"
    place, now = centre
    created = book(place, now, sms=True)
    rows = Notification.objects.filter(booking=created.booking).order_by("channel")
    assert [(row.channel, row.to_address) for row in rows] == [
        ("email", "hanako0000@example.jp"),
        ("sms", "09012340000"),
    ]
    assert rows.get(channel="sms").dedupe_key == f"sms:confirmed:{created.booking.pk}"


def test_a_two_slot_visit_whose_second_slot_is_full_takes_neither_seat(travel, monkeypatch):
    """The seats' own statement decides (here the read before it is made to see them free, as
    when the second seat goes between the read and the write): the first seat is given back."""
    place = builders.venue(procedures=("onestop",), windows=(("10:00", "11:00"),))
    Procedure.objects.filter(code="onestop").update(duration_minutes=20)
    now = travel(2026, 12, 1, 9, 0)
    slots_generate(now=now, venues=[place], days=13)
    first, second = Slot.objects.filter(venue=place, date=MONDAY).order_by("start")[:2]
    Slot.objects.filter(pk=second.pk).update(taken=second.capacity)
    monkeypatch.setattr(seats, "check_bookable", lambda **_: None)
    with pytest.raises(SlotFull):
        book(place, now, code="onestop")
    first.refresh_from_db()
    assert first.taken == 0
    assert not Booking.objects.exists() and not Notification.objects.exists()


def test_a_booking_in_a_transaction_that_is_rolled_back_leaves_nothing(centre):
    place, now = centre
    with transaction.atomic():
        book(place, now)
        transaction.set_rollback(True)
    assert not Booking.objects.exists() and not Notification.objects.exists()
    assert Slot.objects.get(venue=place, start=at_jst(MONDAY, 10, 0)).taken == 0


def test_a_full_slot_refuses_the_next_person_and_writes_nothing(centre):
    place, now = centre
    book(place, now, phone="090-1111-2222")
    book(place, now, phone="090-3333-4444")  # two counters: the last seat
    with pytest.raises(SlotFull):
        book(place, now, phone="090-5555-6666")
    assert Booking.objects.count() == 2 and Notification.objects.count() == 2
    assert Slot.objects.get(venue=place, start=at_jst(MONDAY, 10, 0)).taken == 2


def test_the_venue_and_procedure_of_a_booking_are_read_as_the_orm_reads_them(centre):
    place, _ = centre
    venue, procedure = venue_and_procedure(place.code, "record")
    fields = [field.attname for field in Venue._meta.concrete_fields]
    assert [getattr(venue, name) for name in fields] == [getattr(place, name) for name in fields]
    expected = Procedure.objects.get(code="record")
    fields = [field.attname for field in Procedure._meta.concrete_fields]
    assert [getattr(procedure, name) for name in fields] == [getattr(expected, name) for name in fields]
    assert venue_and_procedure(place.code, "nope") == (venue, None)
    assert venue_and_procedure("nope", "record") == (None, procedure)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_booking_written_in_one_statement_holds_what_the_orm_would_have_written(centre, monkeypatch):
    """The one statement prepares most values as the attributes hold them (`statements.AS_HELD`):
    every column of the booking, its event and its e-mail equals the ORM path's, but for what
    differs by nature (ids, reference, token, the moments of writing, the contact)."""
    place, now = centre
    at_once = book(place, now, phone="090-1111-2222").booking
    monkeypatch.setattr(services, "_written_at_once", lambda *args, **kwargs: False)
    by_orm = book(place, now, phone="090-3333-4444").booking
    own = {"id", "reference", "token_hash", "phone", "email", "created_at", "updated_at", "booking_id"}
    own |= {"dedupe_key", "to_address", "token_sealed", "subject"}

    def columns(model, booking):
        row = model.objects.filter(**({"pk": booking.pk} if model is Booking else {"booking": booking}))
        (found,) = row.values()
        return {key: value for key, value in found.items() if key not in own}

    for model in (Booking, BookingEvent, Notification):
        assert columns(model, at_once) == columns(model, by_orm), model.__name__
    first, second = (Notification.objects.get(booking=b) for b in (at_once, by_orm))
    assert first.subject.replace(at_once.reference, "?") == second.subject.replace(by_orm.reference, "?")


@postgres_only
def test_the_booking_id_sequence_is_the_one_the_booking_statement_names():
    """The booking's read draws the id from `services.BOOKING_ID_SEQUENCE` by name: the name the
    table's own id sequence has (a renamed table keeps its old sequence name)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Booking._meta.db_table])
        (sequence,) = cursor.fetchone()
    assert sequence.split(".")[-1].strip('"') == services.BOOKING_ID_SEQUENCE
