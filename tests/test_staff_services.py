"""Staff services: counters and reserved seats, adding and ending windows, closures, walk-ins."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.contrib.auth.models import User

from bookings import services
from bookings.models import Booking, BookingEvent, Notification, Slot
from bookings.seats import availability
from scheduler.clock import at_jst, local
from scheduler.errors import CapacityBelowTaken, InvalidInput, SlotFull
from tests.admin_setup import MONDAY, TUESDAY, WEDNESDAY, book, generate
from venues import planning
from venues.models import AuditEntry, Closure, Procedure, ReceptionWindow, Venue

pytestmark = pytest.mark.django_db

NOW = at_jst(MONDAY, 12, 0)


@pytest.fixture
def iida(nagano):
    generate("iida-station")
    return Venue.objects.get(code="iida-station")


@pytest.fixture
def clerk(db):
    return User.objects.create_user("clerk", is_staff=True)


def am(venue: Venue) -> ReceptionWindow:
    return ReceptionWindow.objects.get(venue=venue, label="am")


def slot_at(venue: Venue, day, hour: int, minute: int) -> Slot:
    return Slot.objects.get(venue=venue, start=at_jst(day, hour, minute))


def active_starts(venue: Venue, day) -> list[str]:
    return [
        f"{local(s.start):%H:%M}"
        for s in Slot.objects.filter(venue=venue, date=day, active=True).order_by("start")
    ]


# --- Counters and seats kept for staff -----------------------------------------------------------


def test_more_counters_give_every_future_slot_of_the_window_more_seats_at_once(iida, clerk):
    window = am(iida)
    window.counters = 3
    planning.window_save(window=window, actor=clerk, now=NOW)
    capacities = set(Slot.objects.filter(window=window, start__gt=NOW).values_list("capacity", flat=True))
    assert capacities == {3}
    assert set(Slot.objects.filter(venue=iida, window__label="pm").values_list("capacity", flat=True)) == {1}


def test_counter_changes_leave_slots_that_already_started_alone(iida, clerk):
    started = slot_at(iida, MONDAY, 10, 30)
    window = am(iida)
    window.counters = 2
    planning.window_save(window=window, actor=clerk, now=at_jst(MONDAY, 10, 45))
    started.refresh_from_db()
    assert started.capacity == 1
    assert slot_at(iida, MONDAY, 10, 50).capacity == 2


def test_lowering_counters_below_what_is_taken_is_refused_naming_the_slots(iida, clerk):
    window = am(iida)
    window.counters = 2
    planning.window_save(window=window, actor=clerk, now=NOW)
    book("iida-station", TUESDAY, 10, 30)
    book("iida-station", TUESDAY, 10, 30)
    window.counters = 1
    with pytest.raises(CapacityBelowTaken) as refused:
        planning.window_save(window=window, actor=clerk, now=NOW)
    assert "2026-12-15 10:30（予約2件）" in str(refused.value.detail)
    assert refused.value.status == 409
    window.refresh_from_db()
    assert window.counters == 2
    assert slot_at(iida, TUESDAY, 10, 30).capacity == 2
    assert slot_at(iida, TUESDAY, 10, 40).capacity == 2


def test_lowering_counters_to_what_is_taken_is_allowed(iida, clerk):
    window = am(iida)
    window.counters = 2
    planning.window_save(window=window, actor=clerk, now=NOW)
    book("iida-station", TUESDAY, 10, 30)
    window.counters = 1
    planning.window_save(window=window, actor=clerk, now=NOW)
    assert slot_at(iida, TUESDAY, 10, 30).capacity == 1


def test_reserved_seats_are_not_offered_online_but_staff_can_use_them(iida, clerk):
    window = am(iida)
    window.counters, window.reserved = 2, 1
    planning.window_save(window=window, actor=clerk, now=NOW)
    record = Procedure.objects.get(code="record")
    day = availability(venue=iida, procedure=record, first=TUESDAY, last=TUESDAY, now=NOW)[0]
    assert day.slots[0].remaining == 1  # only the online seat counts
    book("iida-station", TUESDAY, 10, 30)
    with pytest.raises(SlotFull):
        book("iida-station", TUESDAY, 10, 30)
    staff = services.booking_create_by_staff(
        venue=iida,
        procedure=record,
        start=at_jst(TUESDAY, 10, 30),
        name="窓口 予約",
        phone="0265-00-0000",
        channel=Booking.Channel.STAFF,
        now=NOW,
        actor=clerk,
    )
    assert staff.booking.channel == "staff"
    assert slot_at(iida, TUESDAY, 10, 30).taken == 2


def test_window_changes_are_audited_with_before_and_after(iida, clerk):
    window = am(iida)
    window.counters, window.reserved = 3, 1
    planning.window_save(window=window, actor=clerk, now=NOW)
    entry = AuditEntry.objects.get(object_type="window", object_id=str(window.pk))
    assert (entry.action, entry.actor, entry.venue) == ("change", clerk, iida)
    assert (entry.before["counters"], entry.after["counters"]) == (1, 3)
    assert (entry.before["reserved"], entry.after["reserved"]) == (0, 1)


def test_saving_a_window_unchanged_writes_no_audit_row(iida, clerk):
    planning.window_save(window=am(iida), actor=clerk, now=NOW)
    assert not AuditEntry.objects.exists()


# --- Adding and ending windows from a date ---------------------------------------------------------


def test_a_window_added_from_a_date_offers_slots_from_that_date(iida, clerk):
    window = ReceptionWindow(
        venue=iida, label="noon", start=time(12, 0), end=time(12, 30), counters=2, valid_from=WEDNESDAY
    )
    planning.window_save(window=window, actor=clerk, now=NOW, procedures=iida.procedures.all())
    assert "12:00" not in active_starts(iida, TUESDAY)
    assert active_starts(iida, WEDNESDAY)[6:9] == ["12:00", "12:10", "12:20"]
    assert set(window.procedures.values_list("code", flat=True)) == set(
        iida.procedures.values_list("code", flat=True)
    )
    assert AuditEntry.objects.get(object_type="window", object_id=str(window.pk)).action == "add"


def test_ending_a_window_from_a_date_removes_its_free_slots_from_that_date(iida, clerk):
    planning.window_end(window=am(iida), first_day_without=WEDNESDAY, actor=clerk, now=NOW)
    assert active_starts(iida, TUESDAY)[0] == "10:30"
    assert active_starts(iida, WEDNESDAY) == ["14:30", "14:40", "14:50", "15:00", "15:10", "15:20"]
    assert am(iida).valid_until == TUESDAY


def test_ending_a_window_over_a_booked_slot_is_refused(iida, clerk):
    book("iida-station", WEDNESDAY, 11, 0)
    with pytest.raises(CapacityBelowTaken) as refused:
        planning.window_end(window=am(iida), first_day_without=WEDNESDAY, actor=clerk, now=NOW)
    assert "2026-12-16 11:00" in str(refused.value.detail)
    assert am(iida).valid_until is None
    assert "10:30" in active_starts(iida, WEDNESDAY)


def test_an_invalid_window_is_refused_as_invalid_input(iida, clerk):
    window = am(iida)
    window.reserved = 5
    with pytest.raises(InvalidInput):
        planning.window_save(window=window, actor=clerk, now=NOW)


# --- Closures -------------------------------------------------------------------------------------


def test_closing_a_day_cancels_its_bookings_frees_the_seats_and_withdraws_the_slots(iida, clerk):
    by_mail = book("iida-station", TUESDAY, 10, 30, email="a@example.jp")
    by_phone = book("iida-station", TUESDAY, 14, 30)
    other_day = book("iida-station", WEDNESDAY, 10, 30)
    closure = Closure(venue=iida, start_date=TUESDAY, end_date=TUESDAY, note="設備点検のため")
    result = planning.closure_save(closure=closure, actor=clerk, now=NOW)

    assert {b.pk for b in result.cancelled} == {by_mail.pk, by_phone.pk}
    assert [b.pk for b in result.to_phone] == [by_phone.pk]
    for booking in (by_mail, by_phone):
        booking.refresh_from_db()
        assert booking.status == Booking.Status.CANCELLED_BY_VENUE
    other_day.refresh_from_db()
    assert other_day.status == Booking.Status.CONFIRMED
    assert active_starts(iida, TUESDAY) == []
    assert not Slot.objects.filter(venue=iida, date=TUESDAY, taken__gt=0).exists()
    event = BookingEvent.objects.filter(booking=by_mail).last()
    assert (event.to_status, event.actor, event.note) == ("cancelled_by_venue", clerk, "設備点検のため")
    told = Notification.objects.filter(kind="cancelled_by_venue")
    assert [n.booking_id for n in told] == [by_mail.pk]


def test_closing_an_afternoon_keeps_the_morning(iida, clerk):
    morning = book("iida-station", TUESDAY, 11, 0)
    afternoon = book("iida-station", TUESDAY, 15, 0)
    closure = Closure(
        venue=iida,
        start_date=TUESDAY,
        end_date=TUESDAY,
        start_time=time(13, 0),
        end_time=time(17, 0),
        note="午後休",
    )
    result = planning.closure_save(closure=closure, actor=clerk, now=NOW)
    assert [b.pk for b in result.cancelled] == [afternoon.pk]
    morning.refresh_from_db()
    assert morning.status == Booking.Status.CONFIRMED
    assert active_starts(iida, TUESDAY) == ["10:30", "10:40", "10:50", "11:00", "11:10", "11:20"]
    record = Procedure.objects.get(code="record")
    offered = availability(venue=iida, procedure=record, first=TUESDAY, last=TUESDAY, now=NOW)[0]
    assert [f"{local(s.start):%H:%M}" for s in offered.slots][-1] == "11:20"


def test_a_closure_over_a_range_covers_every_day_of_it(iida, clerk):
    planning.closure_save(
        closure=Closure(venue=iida, start_date=TUESDAY, end_date=WEDNESDAY), actor=clerk, now=NOW
    )
    assert active_starts(iida, TUESDAY) == active_starts(iida, WEDNESDAY) == []
    assert active_starts(iida, TUESDAY + timedelta(days=2))  # Thursday stays open


def test_a_closure_does_not_cancel_a_visit_that_has_already_started(iida, clerk):
    started = book("iida-station", TUESDAY, 10, 30)
    later = book("iida-station", TUESDAY, 10, 50)
    result = planning.closure_save(
        closure=Closure(venue=iida, start_date=TUESDAY, end_date=TUESDAY),
        actor=clerk,
        now=at_jst(TUESDAY, 10, 35),
    )
    assert [b.pk for b in result.cancelled] == [later.pk]
    started.refresh_from_db()
    assert started.status == Booking.Status.CONFIRMED


def test_widening_a_closure_cancels_the_newly_covered_bookings_and_audits_the_change(iida, clerk):
    book("iida-station", TUESDAY, 10, 30)
    closure = Closure(
        venue=iida, start_date=TUESDAY, end_date=TUESDAY, start_time=time(14, 0), end_time=time(17, 0)
    )
    planning.closure_save(closure=closure, actor=clerk, now=NOW)
    closure.start_time = time(9, 0)
    result = planning.closure_save(closure=closure, actor=clerk, now=NOW)
    assert len(result.cancelled) == 1
    entries = AuditEntry.objects.filter(object_type="closure", object_id=str(closure.pk)).order_by("id")
    assert [e.action for e in entries] == ["add", "change"]
    assert (entries[1].before["start_time"], entries[1].after["start_time"]) == ("14:00", "09:00")
    assert "1件" in entries[1].note


def test_removing_a_closure_brings_the_slots_back_but_not_the_cancelled_bookings(iida, clerk):
    booking = book("iida-station", TUESDAY, 10, 30)
    closure = Closure(venue=iida, start_date=TUESDAY, end_date=TUESDAY, note="臨時休業")
    planning.closure_save(closure=closure, actor=clerk, now=NOW)
    pk = closure.pk
    planning.closure_remove(closure=closure, actor=clerk, now=NOW)
    assert not Closure.objects.filter(pk=pk).exists()
    assert active_starts(iida, TUESDAY)[0] == "10:30"
    assert slot_at(iida, TUESDAY, 10, 30).taken == 0
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED_BY_VENUE
    removal = AuditEntry.objects.get(object_type="closure", object_id=str(pk), action="remove")
    assert removal.before["note"] == "臨時休業" and removal.after is None


# --- Walk-ins and staff bookings ---------------------------------------------------------------


def test_a_walk_in_takes_a_free_seat_today_without_contact_details(iida, clerk):
    created = services.booking_create_by_staff(
        venue=iida,
        procedure=Procedure.objects.get(code="erase"),
        start=at_jst(TUESDAY, 10, 40),
        name="当日 一郎",
        channel=Booking.Channel.WALK_IN,
        now=at_jst(TUESDAY, 10, 35),
        actor=clerk,
    )
    assert (created.booking.channel, created.booking.phone) == ("walk_in", "")
    assert created.booking.events.get().actor == clerk


def test_a_walk_in_into_a_full_slot_is_refused(iida, clerk):
    book("iida-station", TUESDAY, 10, 40)
    with pytest.raises(SlotFull):
        services.booking_create_by_staff(
            venue=iida,
            procedure=Procedure.objects.get(code="erase"),
            start=at_jst(TUESDAY, 10, 40),
            name="当日 一郎",
            channel=Booking.Channel.WALK_IN,
            now=at_jst(TUESDAY, 10, 35),
            actor=clerk,
        )
    assert slot_at(iida, TUESDAY, 10, 40).taken == 1


def test_a_walk_in_is_for_today_only(iida, clerk):
    with pytest.raises(InvalidInput):
        services.booking_create_by_staff(
            venue=iida,
            procedure=Procedure.objects.get(code="erase"),
            start=at_jst(WEDNESDAY, 10, 40),
            name="明日 来る",
            channel=Booking.Channel.WALK_IN,
            now=at_jst(TUESDAY, 10, 35),
            actor=clerk,
        )


def test_a_staff_booking_ignores_the_online_cutoff_but_needs_a_way_to_reach_the_person(iida, clerk):
    after_cutoff = at_jst(MONDAY, 18, 0)  # online booking for Tuesday closed at 17:00
    arguments = {
        "venue": iida,
        "procedure": Procedure.objects.get(code="record"),
        "start": at_jst(TUESDAY, 14, 30),
        "name": "電話 予約",
        "channel": Booking.Channel.STAFF,
        "now": after_cutoff,
        "actor": clerk,
    }
    with pytest.raises(InvalidInput):
        services.booking_create_by_staff(**arguments)
    created = services.booking_create_by_staff(**arguments, phone="090-1111-2222")
    assert (created.booking.channel, created.booking.phone) == ("staff", "09011112222")
