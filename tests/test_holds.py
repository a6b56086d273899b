"""Holds: a seat kept while the form is filled in, through the API of api.md 1.1 and the services."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import pytest
from rest_framework.test import APIClient

from bookings import holds, seats, services, tasks
from bookings.contact import contact_clean
from bookings.models import Booking, Hold, Slot
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from scheduler.errors import NotFound, SlotFull
from tests import builders
from tests.seat_checks import seat_mismatches
from venues.models import Procedure

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 12, 14)
TEN = "2026-12-14T10:00:00+09:00"
ANSWERS = {"card_valid": True, "chip_ok": True, "licence_suspended": False}
CONTACT = {"name": "長野 太郎", "phone": "026-000-0000", "email": "taro@example.jp"}


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def centre(db, travel):
    """One counter, 10:00–11:00 (six slots), seen on Tuesday 1 December 2026 at 09:00 JST."""
    place = builders.venue(code="hold-centre", procedures=("record", "erase"))
    slots_generate(now=travel(2026, 12, 1, 9, 0), venues=[place])
    return place


def hold_body(**overrides):
    return {"venue": "hold-centre", "procedure": "record", "start": TEN, **overrides}


def remaining_at(api, start: str = TEN) -> int:
    days = api.get("/api/v1/venues/hold-centre/availability/?procedure=record").json()["days"]
    return next(s["remaining"] for d in days for s in d["slots"] if s["start"] == start)


def taken_at(hour: int, minute: int) -> int:
    return Slot.objects.get(venue__code="hold-centre", start=at_jst(MONDAY, hour, minute)).taken


def test_a_hold_takes_the_seat_at_once_for_everyone_else(api, centre):
    assert remaining_at(api) == 1
    response = api.post("/api/v1/holds/", hold_body(), format="json")
    assert response.status_code == 201
    data = response.json()
    assert set(data) == {"hold", "venue", "procedure", "start", "end", "expires_at"}
    assert (data["venue"], data["procedure"], data["start"]) == ("hold-centre", "record", TEN)
    assert data["end"] == "2026-12-14T10:10:00+09:00"
    assert data["expires_at"] == "2026-12-01T09:10:00+09:00"  # the venue's 10 minutes
    assert remaining_at(api) == 0
    other = api.post("/api/v1/bookings/", {**hold_body(), **CONTACT, "answers": ANSWERS}, format="json")
    assert other.status_code == 409 and other.json()["code"] == "slot_full"
    again = api.post("/api/v1/holds/", hold_body(), format="json")
    assert again.status_code == 409 and again.json()["code"] == "slot_full"


def test_the_hold_secret_has_at_least_128_bits_and_is_stored_only_as_a_hash(api, centre):
    secret = api.post("/api/v1/holds/", hold_body(), format="json").json()["hold"]
    assert len(secret) >= 22  # 128 bits in URL-safe base64
    stored = Hold.objects.get()
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(list(Hold.objects.values()))


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"start": "2026-12-14T10:05:00+09:00"}, 400, "no_such_slot"),
        ({"start": "2026-12-01T10:00:00+09:00"}, 400, "outside_booking_window"),  # past the cut-off
        ({"procedure": "one-stop"}, 400, "procedure_not_offered"),
        ({"venue": "no-such-venue"}, 400, "invalid"),
        ({"start": "tomorrow"}, 400, "invalid"),
    ],
)
def test_a_hold_is_refused_for_the_same_reasons_as_a_booking(api, centre, overrides, status, code):
    Procedure.objects.get_or_create(code="one-stop", defaults={"name": "o", "name_en": "o"})
    response = api.post("/api/v1/holds/", hold_body(**overrides), format="json")
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert Hold.objects.count() == 0


def test_deleting_a_hold_frees_its_seat_at_once_and_a_second_delete_is_not_found(api, centre):
    secret = api.post("/api/v1/holds/", hold_body(), format="json").json()["hold"]
    assert api.delete(f"/api/v1/holds/{secret}/").status_code == 204
    assert remaining_at(api) == 1 and taken_at(10, 0) == 0
    again = api.delete(f"/api/v1/holds/{secret}/")
    assert again.status_code == 404 and again.json()["code"] == "not_found"
    assert api.delete("/api/v1/holds/made-up/").status_code == 404


def test_booking_with_a_hold_uses_its_seat_without_taking_a_second(api, centre):
    secret = api.post("/api/v1/holds/", hold_body(), format="json").json()["hold"]
    response = api.post("/api/v1/bookings/", {"hold": secret, **CONTACT, "answers": ANSWERS}, format="json")
    assert response.status_code == 201
    data = response.json()
    assert (data["venue"], data["procedure"], data["start"], data["status"]) == (
        "hold-centre",
        "record",
        TEN,
        "confirmed",
    )
    assert taken_at(10, 0) == 1
    assert Hold.objects.get().state == Hold.State.USED
    assert Hold.objects.get().booking.reference == data["reference"]
    assert api.delete(f"/api/v1/holds/{secret}/").status_code == 404  # used up
    assert seat_mismatches() == []


def test_the_same_hold_booked_again_by_the_same_person_answers_with_the_one_booking(api, centre):
    secret = api.post("/api/v1/holds/", hold_body(), format="json").json()["hold"]
    payload = {"hold": secret, **CONTACT, "answers": ANSWERS}
    first = api.post("/api/v1/bookings/", payload, format="json").json()
    again = api.post("/api/v1/bookings/", payload, format="json")
    assert again.status_code == 201
    assert (again.json()["reference"], again.json()["token"]) == (first["reference"], first["token"])
    assert Booking.objects.count() == 1 and taken_at(10, 0) == 1
    looked_up = api.get(f"/api/v1/bookings/{first['reference']}/", HTTP_X_BOOKING_TOKEN=first["token"])
    assert looked_up.status_code == 200
    stranger = api.post("/api/v1/bookings/", {**payload, "name": "別人"}, format="json")
    assert stranger.status_code == 404


def test_a_booking_naming_another_time_than_its_hold_is_invalid(api, centre):
    secret = api.post("/api/v1/holds/", hold_body(), format="json").json()["hold"]
    response = api.post(
        "/api/v1/bookings/",
        {"hold": secret, "start": "2026-12-14T10:10:00+09:00", **CONTACT, "answers": ANSWERS},
        format="json",
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert "start" in response.json()["fields"]
    assert Booking.objects.count() == 0 and Hold.objects.get().state == Hold.State.LIVE


def test_a_booking_without_a_hold_still_needs_venue_procedure_and_start(api, centre):
    response = api.post("/api/v1/bookings/", {**CONTACT, "answers": ANSWERS}, format="json")
    assert response.status_code == 400
    assert set(response.json()["fields"]) >= {"venue", "procedure", "start"}


# --- Expiry --------------------------------------------------------------------------------


def test_an_expired_hold_gives_its_seat_to_the_next_booking_in_the_same_transaction(api, centre, travel):
    api.post("/api/v1/holds/", hold_body(), format="json")
    travel(2026, 12, 1, 9, 10)  # the hold has just run out; nobody swept it yet
    assert Hold.objects.get().state == Hold.State.LIVE and taken_at(10, 0) == 1
    response = api.post("/api/v1/bookings/", {**hold_body(), **CONTACT, "answers": ANSWERS}, format="json")
    assert response.status_code == 201
    assert Hold.objects.get().state == Hold.State.EXPIRED
    assert taken_at(10, 0) == 1 and seat_mismatches() == []


def test_an_expired_hold_gives_its_seat_to_the_next_hold_too(api, centre, travel):
    api.post("/api/v1/holds/", hold_body(), format="json")
    travel(2026, 12, 1, 9, 11)
    assert api.post("/api/v1/holds/", hold_body(), format="json").status_code == 201
    assert sorted(Hold.objects.values_list("state", flat=True)) == ["expired", "live"]
    assert taken_at(10, 0) == 1


def test_the_periodic_task_frees_expired_holds_so_that_availability_shows_them_again(api, centre, travel):
    api.post("/api/v1/holds/", hold_body(), format="json")
    travel(2026, 12, 1, 9, 5)
    assert tasks.holds_expire() == 0 and remaining_at(api) == 0  # not yet
    travel(2026, 12, 1, 9, 10)
    assert tasks.holds_expire() == 1
    assert remaining_at(api) == 1 and taken_at(10, 0) == 0
    assert tasks.holds_expire() == 0  # idempotent


def test_a_hold_confirmed_after_expiry_books_its_seat_if_it_is_still_free(api, centre, travel):
    secret = api.post("/api/v1/holds/", hold_body(), format="json").json()["hold"]
    travel(2026, 12, 1, 9, 30)
    tasks.holds_expire()
    response = api.post("/api/v1/bookings/", {"hold": secret, **CONTACT, "answers": ANSWERS}, format="json")
    assert response.status_code == 201 and response.json()["start"] == TEN
    assert taken_at(10, 0) == 1 and seat_mismatches() == []


def test_a_hold_confirmed_after_expiry_is_slot_full_once_someone_else_took_the_seat(api, centre, travel):
    secret = api.post("/api/v1/holds/", hold_body(), format="json").json()["hold"]
    travel(2026, 12, 1, 9, 30)
    other = {**hold_body(), "name": "別人", "phone": "0261111111", "email": "", "answers": ANSWERS}
    assert api.post("/api/v1/bookings/", other, format="json").status_code == 201
    response = api.post("/api/v1/bookings/", {"hold": secret, **CONTACT, "answers": ANSWERS}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "slot_full"
    assert Booking.objects.count() == 1 and taken_at(10, 0) == 1


def test_a_hold_never_outlasts_the_online_cut_off(api, centre, travel):
    travel(2026, 12, 13, 16, 55)  # the day before Monday 14th, 5 minutes before the cut-off
    data = api.post("/api/v1/holds/", hold_body(), format="json").json()
    assert data["expires_at"] == "2026-12-13T17:00:00+09:00"


def test_the_hold_time_is_a_setting_of_the_venue(api, centre):
    centre.hold_minutes = 25
    centre.save()
    data = api.post("/api/v1/holds/", hold_body(), format="json").json()
    assert data["expires_at"] == "2026-12-01T09:25:00+09:00"


# --- A procedure that takes two slots ------------------------------------------------------


@pytest.fixture
def long_procedure(centre):
    """A 20-minute procedure at the same venue: it takes two consecutive 10-minute slots."""
    procedure = builders.procedure("long-visit", duration=20)
    centre.procedures.add(procedure)
    centre.windows.get().procedures.add(procedure)
    return procedure


def test_a_hold_on_a_two_slot_procedure_takes_and_frees_both_slots(centre, long_procedure):
    now = at_jst(date(2026, 12, 1), 9)
    held = holds.hold_create(venue=centre, procedure=long_procedure, start=at_jst(MONDAY, 10, 0), now=now)
    assert held.hold.end == at_jst(MONDAY, 10, 20) and held.hold.slot_count == 2
    assert (taken_at(10, 0), taken_at(10, 10), taken_at(10, 20)) == (1, 1, 0)
    days = seats.availability(venue=centre, procedure=long_procedure, first=MONDAY, last=MONDAY, now=now)
    starts = {clock_hm(v.start): v.remaining for v in days[0].slots}
    assert starts["10:00"] == 0 and starts["10:10"] == 0 and starts["10:20"] == 1
    holds.hold_release(secret=held.secret, now=now)
    assert (taken_at(10, 0), taken_at(10, 10)) == (0, 0)


def test_a_two_slot_hold_becomes_a_two_slot_booking_and_expires_from_both_slots(
    centre, long_procedure, travel
):
    now = at_jst(date(2026, 12, 1), 9)
    first = holds.hold_create(venue=centre, procedure=long_procedure, start=at_jst(MONDAY, 10, 0), now=now)
    created = services.booking_create(
        venue=None,
        procedure=None,
        start=None,
        hold=first.secret,
        contact=contact_clean(**CONTACT),
        answers={},
        now=now,
    )
    assert created.booking.slot_count == 2 and (taken_at(10, 0), taken_at(10, 10)) == (1, 1)
    second = holds.hold_create(venue=centre, procedure=long_procedure, start=at_jst(MONDAY, 10, 20), now=now)
    assert second.hold.slot_count == 2
    holds.holds_expire(now=now + timedelta(minutes=10))
    assert (taken_at(10, 20), taken_at(10, 30)) == (0, 0)
    assert seat_mismatches() == []


def test_a_resident_holds_one_seat_at_a_time_when_they_choose_again(centre):
    now = at_jst(date(2026, 12, 1), 9)
    record = Procedure.objects.get(code="record")
    first = holds.hold_create(venue=centre, procedure=record, start=at_jst(MONDAY, 10, 0), now=now)
    second = holds.hold_create(
        venue=centre, procedure=record, start=at_jst(MONDAY, 10, 30), now=now, replaces=first.secret
    )
    assert (taken_at(10, 0), taken_at(10, 30)) == (0, 1)
    assert Hold.objects.get(pk=first.hold.pk).state == Hold.State.RELEASED
    same = holds.hold_create(
        venue=centre, procedure=record, start=at_jst(MONDAY, 10, 30), now=now, replaces=second.secret
    )
    assert same.hold.pk == second.hold.pk and taken_at(10, 30) == 1  # choosing it again keeps it


def test_a_hold_for_a_full_time_leaves_the_previous_choice_held(centre):
    now = at_jst(date(2026, 12, 1), 9)
    record = Procedure.objects.get(code="record")
    first = holds.hold_create(venue=centre, procedure=record, start=at_jst(MONDAY, 10, 0), now=now)
    holds.hold_create(venue=centre, procedure=record, start=at_jst(MONDAY, 10, 30), now=now)
    with pytest.raises(SlotFull):
        holds.hold_create(
            venue=centre, procedure=record, start=at_jst(MONDAY, 10, 30), now=now, replaces=first.secret
        )
    assert Hold.objects.get(pk=first.hold.pk).state == Hold.State.LIVE and taken_at(10, 0) == 1


def test_releasing_an_unknown_hold_is_not_found(centre):
    with pytest.raises(NotFound):
        holds.hold_release(secret="nothing", now=at_jst(date(2026, 12, 1), 9))


def clock_hm(moment) -> str:
    from scheduler.clock import local

    return f"{local(moment):%H:%M}"
