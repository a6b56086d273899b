"""Any sequence of book / cancel / reschedule keeps every seat counter equal to the bookings it holds."""

from datetime import date

import pytest
from django.db import transaction
from django.db.models import Count, Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookings import seats, services
from bookings.contact import contact_clean
from bookings.models import Slot
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from scheduler.errors import DuplicateBooking, NotActive, SlotFull
from tests import builders
from venues.models import Procedure

pytestmark = pytest.mark.django_db
NOW = at_jst(date(2026, 12, 1), 9)
PEOPLE = 6

operations = st.lists(
    st.one_of(
        st.tuples(st.just("book"), st.integers(0, 4), st.integers(0, PEOPLE - 1)),
        st.tuples(st.just("cancel"), st.integers(0, 30), st.just(0)),
        st.tuples(st.just("reschedule"), st.integers(0, 30), st.integers(0, 4)),
    ),
    min_size=1,
    max_size=30,
)


@pytest.fixture
def desk(db):
    """Five slots on Monday 14 December: three with two seats (10:00–10:30), two with one (14:00–14:20)."""
    place = builders.venue(
        code="prop-centre", procedures=("erase",), counters=2, windows=(("10:00", "10:30"),)
    )
    builders.window(place, "14:00", "14:20", counters=1)
    slots_generate(now=NOW, venues=[place], days=13)
    slots = list(Slot.objects.filter(date=date(2026, 12, 14)).order_by("start"))
    assert [s.capacity for s in slots] == [2, 2, 2, 1, 1]
    return place, Procedure.objects.get(code="erase"), slots


def assert_counters_hold() -> None:
    for slot in Slot.objects.annotate(
        holding=Count("bookings", filter=Q(bookings__status__in=seats.SEAT_HOLDING))
    ):
        assert slot.taken == slot.holding, slot
        assert 0 <= slot.taken <= slot.capacity, slot


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_counters_always_equal_active_bookings_and_never_pass_capacity(desk, ops):
    place, erase, slots = desk
    with transaction.atomic():  # each example starts from empty slots
        bookings: list = []  # [booking, slot index, person, active]
        for action, first, second in ops:
            if action == "book":
                slot, person = first, second
                holds = any(b[2] == person and b[3] for b in bookings)
                full = sum(1 for b in bookings if b[1] == slot and b[3]) >= slots[slot].capacity
                try:
                    created = services.booking_create(
                        venue=place,
                        procedure=erase,
                        start=slots[slot].start,
                        contact=contact_clean(name="利用者", phone=f"09000000{person:03d}"),
                        answers={},
                        now=NOW,
                    )
                    outcome = "ok"
                    bookings.append([created.booking, slot, person, True])
                except (DuplicateBooking, SlotFull) as refused:
                    outcome = refused.code
                # A full slot answers first: it tells a stranger nothing about who holds what.
                assert outcome == ("slot_full" if full else "duplicate_booking" if holds else "ok")
            elif bookings:
                entry = bookings[first % len(bookings)]
                booking, at, _person, active = entry
                target = second
                if not active:
                    expected = "not_active"
                elif action == "cancel" or target == at:
                    expected = "ok"
                else:
                    taken = sum(1 for b in bookings if b[1] == target and b[3])
                    expected = "ok" if taken < slots[target].capacity else "slot_full"
                try:
                    if action == "cancel":
                        services.booking_cancel(booking=booking, now=NOW)
                    else:
                        services.booking_reschedule(booking=booking, start=slots[target].start, now=NOW)
                    outcome = "ok"
                except (NotActive, SlotFull) as refused:
                    outcome = refused.code
                assert outcome == expected
                if outcome == "ok" and action == "cancel":
                    entry[3] = False
                elif outcome == "ok":
                    entry[1] = target
            assert_counters_hold()
        transaction.set_rollback(True)
