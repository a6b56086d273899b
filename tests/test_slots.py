from datetime import date, time, timedelta

import pytest
from django.core.management import call_command

from bookings.models import Booking, Slot
from bookings.slots import slots_generate, slots_generate_for_venue
from scheduler.clock import JST, at_jst, local
from tests import builders
from venues.models import ReceptionWindow, Venue

pytestmark = pytest.mark.django_db

TUESDAY = date(2026, 12, 15)
NOW = at_jst(date(2026, 12, 1), 9)


def starts(venue_code: str, day: date = TUESDAY) -> list[str]:
    return [
        f"{local(s.start):%H:%M}"
        for s in Slot.objects.filter(venue__code=venue_code, date=day, active=True).order_by("start")
    ]


def expected(first: str, last: str) -> list[str]:
    h, m = map(int, first.split(":"))
    moment = at_jst(TUESDAY, h, m)
    out = []
    while f"{moment:%H:%M}" != last:
        out.append(f"{moment:%H:%M}")
        moment += timedelta(minutes=10)
    return [*out, last]


@pytest.fixture
def generated(nagano):
    slots_generate(now=NOW)


@pytest.mark.parametrize("code", ["hokushin-centre", "toshin-centre", "chunanshin-centre"])
def test_licence_centres_offer_10_00_to_10_50_and_14_30_to_15_20(generated, code):
    assert starts(code) == expected("10:00", "10:50") + expected("14:30", "15:20")


def test_iida_offers_10_30_to_11_20_and_14_30_to_15_20(generated):
    assert starts("iida-station") == expected("10:30", "11:20") + expected("14:30", "15:20")


@pytest.mark.parametrize("code", ["nagano-chuo-station", "matsumoto-station", "maruko-koban", "ikeda-koban"])
def test_stations_and_koban_offer_9_00_to_11_20_and_13_00_to_15_50(generated, code):
    assert starts(code) == expected("09:00", "11:20") + expected("13:00", "15:50")


def test_slots_are_ten_minutes_long_with_one_seat_by_default(generated):
    slot = Slot.objects.filter(venue__code="hokushin-centre", date=TUESDAY).first()
    assert (slot.end - slot.start, slot.capacity, slot.taken) == (timedelta(minutes=10), 1, 0)
    assert local(slot.start).tzinfo is not None and slot.start.utcoffset() == timedelta(0)


def test_no_slots_on_closed_days(generated):
    assert starts("hokushin-centre", date(2026, 12, 19)) == []  # Saturday
    assert starts("hokushin-centre", date(2026, 12, 29)) == []  # year end


def test_stations_that_take_no_procedure_get_no_slots(generated):
    assert not Slot.objects.filter(venue__code__in=["nagano-minami-station", "saku-station"]).exists()


def test_generating_twice_gives_the_same_rows(nagano):
    slots_generate(now=NOW)
    before = list(Slot.objects.order_by("pk").values_list("pk", "window_id", "start", "capacity", "active"))
    reports = slots_generate(now=NOW)
    after = list(Slot.objects.order_by("pk").values_list("pk", "window_id", "start", "capacity", "active"))
    assert before == after
    assert sum(r.created + r.updated + r.deleted + r.withdrawn for r in reports) == 0


def test_slots_reach_the_horizon_and_not_beyond(nagano):
    slots_generate(now=NOW, venues=Venue.objects.filter(code="hokushin-centre"))
    # 30 days from 1 December is 31 December, and slots are made one day further (the day that
    # opens at the next midnight); 29 December–3 January are year-end days.
    assert Slot.objects.order_by("-start").first().date == date(2026, 12, 28)


def test_slots_reach_the_day_after_the_horizon_which_opens_at_the_next_midnight(nagano):
    slots_generate(now=at_jst(date(2026, 12, 14), 0, 15), venues=Venue.objects.filter(code="hokushin-centre"))
    assert Slot.objects.order_by("-start").first().date == date(2027, 1, 14)  # horizon 13 January


def test_past_slots_are_neither_created_nor_touched():
    place = builders.venue()
    now = at_jst(TUESDAY, 10, 25)
    slots_generate_for_venue(venue=place, first=TUESDAY, last=TUESDAY, now=now)
    assert starts(place.code) == ["10:30", "10:40", "10:50"]


def test_a_window_change_regenerates_free_future_slots_and_keeps_taken_ones():
    place = builders.venue(windows=(("10:00", "11:00"),))
    slots_generate_for_venue(venue=place, first=TUESDAY, last=TUESDAY, now=NOW)
    booked = Slot.objects.get(venue=place, start=at_jst(TUESDAY, 10, 20))
    Slot.objects.filter(pk=booked.pk).update(taken=1)
    window = ReceptionWindow.objects.get(venue=place)
    window.start, window.end, window.counters = time(10, 30), time(11, 30), 2
    window.save()

    slots_generate_for_venue(venue=place, first=TUESDAY, last=TUESDAY, now=NOW)

    assert starts(place.code) == ["10:30", "10:40", "10:50", "11:00", "11:10", "11:20"]
    booked.refresh_from_db()
    assert (booked.taken, booked.capacity, booked.active) == (1, 1, False)
    assert Slot.objects.get(venue=place, start=at_jst(TUESDAY, 11, 0)).capacity == 2
    assert not Slot.objects.filter(venue=place, start=at_jst(TUESDAY, 10, 0)).exists()


def test_more_counters_raise_the_capacity_of_future_slots():
    place = builders.venue()
    slots_generate_for_venue(venue=place, first=TUESDAY, last=TUESDAY, now=NOW)
    ReceptionWindow.objects.filter(venue=place).update(counters=3)
    report = slots_generate_for_venue(venue=place, first=TUESDAY, last=TUESDAY, now=NOW)
    assert report.updated == 6
    assert set(Slot.objects.filter(venue=place).values_list("capacity", flat=True)) == {3}


def test_a_closure_removes_the_free_slots_of_that_day():
    place = builders.venue()
    slots_generate_for_venue(venue=place, first=TUESDAY, last=TUESDAY + timedelta(days=1), now=NOW)
    builders.closure(place, TUESDAY, note="臨時休業")
    slots_generate_for_venue(venue=place, first=TUESDAY, last=TUESDAY + timedelta(days=1), now=NOW)
    assert starts(place.code) == []
    assert len(starts(place.code, TUESDAY + timedelta(days=1))) == 6


def test_a_part_day_closure_removes_only_the_slots_it_overlaps():
    place = builders.venue(windows=(("10:00", "11:00"), ("14:30", "15:30")))
    builders.closure(place, TUESDAY, start_time=time(10, 25), end_time=time(16, 0))
    slots_generate_for_venue(venue=place, first=TUESDAY, last=TUESDAY, now=NOW)
    assert starts(place.code) == ["10:00", "10:10"]


def test_a_closed_slot_with_a_booking_is_withdrawn_not_deleted():
    place = builders.venue()
    slots_generate_for_venue(venue=place, first=TUESDAY, last=TUESDAY, now=NOW)
    slot = Slot.objects.filter(venue=place).first()
    Slot.objects.filter(pk=slot.pk).update(taken=1)
    Booking.objects.create(
        reference="ABCDEFGH",
        token_hash="x",
        venue=place,
        procedure=place.procedures.first(),
        slot=slot,
        start=slot.start,
        end=slot.end,
        name="n",
        phone="0260000000",
    )
    builders.closure(place, TUESDAY)
    slots_generate_for_venue(venue=place, first=TUESDAY, last=TUESDAY, now=NOW)
    slot.refresh_from_db()
    assert (slot.active, slot.taken, slot.capacity) == (False, 1, 1)
    assert Slot.objects.filter(venue=place).count() == 1


def test_removing_the_closure_brings_the_slots_back():
    place = builders.venue()
    closed = builders.closure(place, TUESDAY)
    slots_generate_for_venue(venue=place, first=TUESDAY, last=TUESDAY, now=NOW)
    assert starts(place.code) == []
    closed.delete()
    slots_generate_for_venue(venue=place, first=TUESDAY, last=TUESDAY, now=NOW)
    assert len(starts(place.code)) == 6


def test_a_window_ending_from_a_date_stops_its_slots_from_that_date():
    place = builders.venue()
    ReceptionWindow.objects.filter(venue=place).update(valid_until=TUESDAY)
    slots_generate_for_venue(venue=place, first=TUESDAY, last=TUESDAY + timedelta(days=1), now=NOW)
    assert len(starts(place.code)) == 6
    assert starts(place.code, TUESDAY + timedelta(days=1)) == []


def test_the_database_refuses_more_taken_seats_than_capacity():
    from django.db import IntegrityError, transaction

    place = builders.venue()
    slots_generate_for_venue(venue=place, first=TUESDAY, last=TUESDAY, now=NOW)
    slot = Slot.objects.filter(venue=place).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Slot.objects.filter(pk=slot.pk).update(taken=2)


def test_the_database_refuses_negative_taken_seats():
    from django.db import IntegrityError, transaction
    from django.db.models import F

    place = builders.venue()
    slots_generate_for_venue(venue=place, first=TUESDAY, last=TUESDAY, now=NOW)
    slot = Slot.objects.filter(venue=place).first()
    with pytest.raises((IntegrityError,)), transaction.atomic():
        Slot.objects.filter(pk=slot.pk).update(taken=F("taken") - 1)


def test_generate_slots_command_shows_progress_per_venue_with_v_2(nagano, capsys, settings):
    settings.CLOCK_NOW = NOW.isoformat()
    call_command("generate_slots", "--days", "3", verbosity=2)
    out = capsys.readouterr().out
    assert "[1/31] hokushin-centre:" in out and "[31/31]" in out
    assert "generate_slots:" in out
    assert Slot.objects.filter(date__gt=date(2026, 12, 4)).count() == 0


def test_jst_dates_are_stored_for_slots(generated):
    slot = Slot.objects.filter(venue__code="hokushin-centre").order_by("start").first()
    assert slot.date == slot.start.astimezone(JST).date()
