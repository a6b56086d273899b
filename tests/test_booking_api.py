"""The booking endpoints of the public contract: book, look up, reschedule, cancel, and every error."""

from datetime import date

import pytest
from rest_framework.test import APIClient

from bookings.models import Booking, BookingEvent, Slot
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from tests import builders
from venues.models import Venue

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 12, 14)
TEN = "2026-12-14T10:00:00+09:00"
TEN_TEN = "2026-12-14T10:10:00+09:00"
ALL_GOOD = {
    "card_valid": True,
    "chip_ok": True,
    "licence_suspended": False,
    "card_only": True,
    "signature_cert_valid": True,
    "knows_signature_pin": True,
}


@pytest.fixture
def api():
    return APIClient()


PROCEDURES = ("record", "holding-change", "erase", "re-record", "one-stop", "portal-link")


@pytest.fixture
def centre(db, travel):
    """A licence centre like Hokushin's (all six procedures, 10:00–11:00 and 14:30–15:30, one
    counter) with its slots, seen on Tuesday 1 December 2026 at 09:00 JST."""
    place = builders.venue(
        code="hokushin-centre", procedures=PROCEDURES, windows=(("10:00", "11:00"), ("14:30", "15:30"))
    )
    slots_generate(now=travel(2026, 12, 1, 9, 0), venues=[place])
    return place


def body(**overrides):
    data = {
        "venue": "hokushin-centre",
        "procedure": "record",
        "start": TEN,
        "name": "長野 太郎",
        "phone": "026-000-0000",
        "email": "taro@example.jp",
        "answers": dict(ALL_GOOD),
    }
    data.update(overrides)
    return data


def book(api, **overrides):
    return api.post("/api/v1/bookings/", body(**overrides), format="json")


def booked(api, **overrides) -> dict:
    response = book(api, **overrides)
    assert response.status_code == 201, response.json()
    return response.json()


def seat(start=TEN) -> Slot:
    return Slot.objects.get(venue__code="hokushin-centre", start=start)


def header(token: str) -> dict:
    return {"HTTP_X_BOOKING_TOKEN": token}


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    payload = response.json()
    assert payload["code"] == code
    assert isinstance(payload["detail"], str) and payload["detail"]
    return payload


# --- Book --------------------------------------------------------------------------------


def test_a_booking_is_confirmed_with_its_reference_token_times_and_manage_link(api, centre):
    response = book(api)
    assert response.status_code == 201
    data = response.json()
    assert data["status"] == "confirmed"
    assert (data["venue"], data["procedure"]) == ("hokushin-centre", "record")
    assert (data["start"], data["end"]) == (TEN, TEN_TEN)
    assert len(data["reference"]) == 8 and not set(data["reference"]) & set("0O1IL")
    assert len(data["token"]) >= 43  # 32 random bytes, URL-safe base64
    assert data["manage_url"].endswith(f"/booking/{data['reference']}/?token={data['token']}")
    assert data["name"] == "長野 太郎" and data["phone"] == "0260000000"


def test_booking_answers_are_never_kept_by_a_cache(api, centre):
    response = book(api)
    assert response["Cache-Control"] == "no-store"
    made = response.json()
    assert (
        api.get(f"/api/v1/bookings/{made['reference']}/", **header(made["token"]))["Cache-Control"]
        == "no-store"
    )
    assert api.get("/api/v1/bookings/ZZZZZZZZ/")["Cache-Control"] == "no-store"


def test_a_booking_takes_the_seat_so_availability_shows_it_full(api, centre):
    booked(api)
    assert seat().taken == 1
    days = api.get(
        "/api/v1/venues/hokushin-centre/availability/?procedure=record&from=2026-12-14&to=2026-12-14"
    ).json()["days"]
    assert days[0]["slots"][0] == {"start": TEN, "end": TEN_TEN, "remaining": 0}


def test_a_booking_records_who_made_it_and_when(api, centre):
    data = booked(api)
    event = BookingEvent.objects.get(booking__reference=data["reference"])
    assert (event.from_status, event.to_status, event.actor_kind) == ("", "confirmed", "resident")
    assert event.at == at_jst(date(2026, 12, 1), 9)


def test_the_language_comes_from_accept_language_and_japanese_is_the_default(api, centre):
    english = api.post("/api/v1/bookings/", body(), format="json", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.8")
    assert english.json()["language"] == "en"
    default = booked(api, start=TEN_TEN, phone="026-000-0001", email="hanako@example.jp")
    assert default["language"] == "ja"


def test_an_explicit_language_field_wins_over_accept_language(api, centre):
    response = api.post("/api/v1/bookings/", body(language="ja"), format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert Booking.objects.get(reference=response.json()["reference"]).language == "ja"


def test_a_procedure_needing_no_answers_can_be_booked_without_any(api, centre):
    data = body(procedure="erase")
    del data["answers"]
    response = api.post("/api/v1/bookings/", data, format="json")
    assert response.status_code == 201 and response.json()["procedure"] == "erase"
    assert Booking.objects.get().answers == {}


# --- Errors of booking, one test each ------------------------------------------------------


def test_a_full_slot_is_refused_with_409_slot_full(api, centre):
    booked(api)
    response = book(api, phone="026-111-1111", email="other@example.jp")
    assert_error(response, 409, "slot_full")
    assert seat().taken == 1 and Booking.objects.count() == 1


def test_a_time_where_no_slot_starts_is_400_no_such_slot(api, centre):
    assert_error(book(api, start="2026-12-14T10:05:00+09:00"), 400, "no_such_slot")


def test_a_closed_day_has_no_slot_so_it_is_400_no_such_slot(api, centre):
    assert_error(book(api, start="2026-12-12T10:00:00+09:00"), 400, "no_such_slot")  # a Saturday


def test_a_slot_past_the_cut_off_is_400_outside_booking_window(api, centre, travel):
    travel(2026, 12, 13, 17, 0)
    assert_error(book(api), 400, "outside_booking_window")


def test_a_slot_beyond_the_horizon_is_400_outside_booking_window(api, centre, travel):
    slots_generate(days=60, now=travel(2026, 12, 1, 9, 0), venues=[centre])
    assert_error(book(api, start="2027-01-05T10:00:00+09:00"), 400, "outside_booking_window")


def test_answers_that_rule_the_procedure_out_are_400_ineligible_with_reasons(api, centre):
    answers = {**ALL_GOOD, "card_valid": False, "licence_suspended": True}
    payload = assert_error(book(api, answers=answers), 400, "ineligible")
    assert payload["reasons"] == ["card_expired", "licence_suspended"]
    assert seat().taken == 0


def test_a_chip_without_room_is_400_ineligible_with_the_reason_chip_full(api, centre):
    payload = assert_error(book(api, answers={**ALL_GOOD, "chip_has_space": False}), 400, "ineligible")
    assert payload["reasons"] == ["chip_full"]
    assert seat().taken == 0


def test_a_booking_without_chip_has_space_counts_it_as_yes(api, centre):
    assert "chip_has_space" not in ALL_GOOD  # a version 1 client never sends it
    booked(api)
    assert Booking.objects.get().answers == {"card_valid": True, "chip_ok": True, "licence_suspended": False}


def test_a_chip_with_room_is_booked_and_its_answer_kept(api, centre):
    booked(api, answers={**ALL_GOOD, "chip_has_space": True})
    assert Booking.objects.get().answers["chip_has_space"] is True


def test_chip_has_space_is_not_asked_of_erase_and_is_ignored_there(api, centre):
    booked(api, procedure="erase", answers={"chip_has_space": False})
    assert Booking.objects.get().answers == {}


def test_the_same_phone_for_the_same_procedure_is_409_duplicate_booking(api, centre):
    booked(api)
    response = book(api, start=TEN_TEN, phone="０２６－０００－００００", email="")
    assert_error(response, 409, "duplicate_booking")
    assert seat(TEN_TEN).taken == 0


def test_the_same_email_in_other_letters_case_is_409_duplicate_booking(api, centre):
    booked(api)
    response = book(api, start=TEN_TEN, phone="", email="Taro@Example.JP")
    assert_error(response, 409, "duplicate_booking")


def test_the_same_person_may_book_another_procedure_or_again_after_cancelling(api, centre):
    first = booked(api)
    booked(api, start=TEN_TEN, procedure="erase", answers={})
    api.post(f"/api/v1/bookings/{first['reference']}/cancel/", **header(first["token"]))
    booked(api, start="2026-12-14T10:20:00+09:00")


def test_invalid_fields_are_400_invalid_with_every_field_named(api, centre):
    response = book(api, name="", phone="12345", email="not-an-address")
    payload = assert_error(response, 400, "invalid")
    assert set(payload["fields"]) == {"name", "phone", "email"}


def test_a_missing_answer_is_400_invalid_naming_the_answer(api, centre):
    answers = {key: value for key, value in ALL_GOOD.items() if key != "chip_ok"}
    payload = assert_error(book(api, answers=answers), 400, "invalid")
    assert list(payload["fields"]) == ["answers.chip_ok"]


def test_an_unknown_venue_in_the_body_is_400_invalid_on_the_venue_field(api, centre):
    payload = assert_error(book(api, venue="atlantis"), 400, "invalid")
    assert list(payload["fields"]) == ["venue"]


def test_an_unknown_procedure_in_the_body_is_400_invalid_on_the_procedure_field(api, centre):
    payload = assert_error(book(api, procedure="renewal"), 400, "invalid")
    assert list(payload["fields"]) == ["procedure"]


def test_a_procedure_the_venue_does_not_take_is_400_procedure_not_offered(api, centre, travel):
    kiso = builders.venue(code="kiso-station", kind=Venue.Kind.POLICE_STATION, procedures=("erase",))
    builders.procedure("record")
    slots_generate(now=travel(2026, 12, 1, 9, 0), venues=[kiso])
    response = book(api, venue="kiso-station", start="2026-12-14T09:00:00+09:00")
    assert_error(response, 400, "procedure_not_offered")


def test_a_start_without_offset_is_400_invalid_on_the_start_field(api, centre):
    payload = assert_error(book(api, start="2026-12-14T10:00:00"), 400, "invalid")
    assert list(payload["fields"]) == ["start"]


def test_a_start_given_in_utc_finds_the_same_slot(api, centre):
    assert booked(api, start="2026-12-14T01:00:00Z")["start"] == TEN


# --- Look up -----------------------------------------------------------------------------


def test_the_token_holder_can_look_the_booking_up(api, centre):
    made = booked(api)
    response = api.get(f"/api/v1/bookings/{made['reference']}/", **header(made["token"]))
    assert response.status_code == 200
    data = response.json()
    assert {k: data[k] for k in ("reference", "status", "venue", "procedure", "start", "end", "name")} == {
        "reference": made["reference"],
        "status": "confirmed",
        "venue": "hokushin-centre",
        "procedure": "record",
        "start": TEN,
        "end": TEN_TEN,
        "name": "長野 太郎",
    }
    assert "token" not in data


def test_a_lower_case_reference_finds_the_booking_too(api, centre):
    made = booked(api)
    response = api.get(f"/api/v1/bookings/{made['reference'].lower()}/", **header(made["token"]))
    assert response.status_code == 200


def test_a_wrong_token_is_404_not_found(api, centre):
    made = booked(api)
    response = api.get(f"/api/v1/bookings/{made['reference']}/", **header(made["token"][:-1] + "x"))
    assert_error(response, 404, "not_found")


def test_a_missing_token_is_404_not_found(api, centre):
    made = booked(api)
    assert_error(api.get(f"/api/v1/bookings/{made['reference']}/"), 404, "not_found")


def test_an_unknown_reference_is_404_not_found_exactly_like_a_wrong_token(api, centre):
    made = booked(api)
    unknown = api.get("/api/v1/bookings/ZZZZZZZZ/", **header(made["token"]))
    wrong = api.get(f"/api/v1/bookings/{made['reference']}/", **header("nope"))
    assert_error(unknown, 404, "not_found")
    assert unknown.json() == wrong.json()


def test_the_stored_token_hash_does_not_open_the_booking(api, centre):
    made = booked(api)
    stored = Booking.objects.get(reference=made["reference"]).token_hash
    assert made["token"] not in stored
    assert_error(api.get(f"/api/v1/bookings/{made['reference']}/", **header(stored)), 404, "not_found")


# --- Cancel ------------------------------------------------------------------------------


def test_cancelling_frees_the_seat_at_once(api, centre):
    made = booked(api)
    response = api.post(f"/api/v1/bookings/{made['reference']}/cancel/", **header(made["token"]))
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert seat().taken == 0
    booked(api, phone="026-222-2222", email="")  # somebody else gets it


def test_cancelling_twice_is_409_not_active_and_frees_nothing_more(api, centre):
    made = booked(api)
    url = f"/api/v1/bookings/{made['reference']}/cancel/"
    api.post(url, **header(made["token"]))
    booked(api, phone="026-222-2222", email="")
    assert_error(api.post(url, **header(made["token"])), 409, "not_active")
    assert seat().taken == 1


def test_cancelling_with_a_wrong_token_is_404_and_keeps_the_booking(api, centre):
    made = booked(api)
    response = api.post(f"/api/v1/bookings/{made['reference']}/cancel/", **header("guess"))
    assert_error(response, 404, "not_found")
    assert Booking.objects.get().status == "confirmed"


def test_cancelling_once_the_visit_started_is_400_outside_booking_window(api, centre, travel):
    made = booked(api)
    travel(2026, 12, 14, 10, 0)
    response = api.post(f"/api/v1/bookings/{made['reference']}/cancel/", **header(made["token"]))
    assert_error(response, 400, "outside_booking_window")


def test_cancelling_a_minute_before_the_start_still_works(api, centre, travel):
    made = booked(api)
    travel(2026, 12, 14, 9, 59)
    response = api.post(f"/api/v1/bookings/{made['reference']}/cancel/", **header(made["token"]))
    assert response.status_code == 200


# --- Reschedule --------------------------------------------------------------------------


def reschedule(api, made, start):
    return api.post(
        f"/api/v1/bookings/{made['reference']}/reschedule/",
        {"start": start},
        format="json",
        **header(made["token"]),
    )


def test_rescheduling_takes_the_new_seat_and_frees_the_old_one(api, centre):
    made = booked(api)
    response = reschedule(api, made, "2026-12-15T14:30:00+09:00")
    assert response.status_code == 200
    assert (response.json()["start"], response.json()["reference"]) == (
        "2026-12-15T14:30:00+09:00",
        made["reference"],
    )
    assert seat().taken == 0 and seat("2026-12-15T14:30:00+09:00").taken == 1


def test_rescheduling_to_a_full_slot_is_409_slot_full_and_changes_nothing(api, centre):
    made = booked(api)
    booked(api, start=TEN_TEN, phone="026-222-2222", email="")
    assert_error(reschedule(api, made, TEN_TEN), 409, "slot_full")
    assert (seat().taken, seat(TEN_TEN).taken) == (1, 1)
    assert Booking.objects.get(reference=made["reference"]).start == at_jst(MONDAY, 10)


def test_rescheduling_to_a_time_without_slot_is_400_no_such_slot(api, centre):
    made = booked(api)
    assert_error(reschedule(api, made, "2026-12-14T12:00:00+09:00"), 400, "no_such_slot")


def test_rescheduling_past_the_cut_off_is_400_outside_booking_window(api, centre, travel):
    made = booked(api, start="2026-12-15T10:00:00+09:00")
    travel(2026, 12, 13, 17, 0)
    assert_error(reschedule(api, made, TEN), 400, "outside_booking_window")
    assert seat("2026-12-15T10:00:00+09:00").taken == 1


def test_rescheduling_a_cancelled_booking_is_409_not_active(api, centre):
    made = booked(api)
    api.post(f"/api/v1/bookings/{made['reference']}/cancel/", **header(made["token"]))
    assert_error(reschedule(api, made, TEN_TEN), 409, "not_active")
    assert seat(TEN_TEN).taken == 0


def test_rescheduling_with_a_wrong_token_is_404_not_found(api, centre):
    made = booked(api)
    made = {**made, "token": "guess"}
    assert_error(reschedule(api, made, TEN_TEN), 404, "not_found")


def test_rescheduling_to_a_malformed_start_is_400_invalid(api, centre):
    made = booked(api)
    payload = assert_error(reschedule(api, made, "next monday"), 400, "invalid")
    assert list(payload["fields"]) == ["start"]


# --- The schema --------------------------------------------------------------------------


def test_the_openapi_schema_describes_every_booking_endpoint_and_the_token_header(api):
    response = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "post" in paths["/api/v1/bookings/"]
    for path, method in [
        ("/api/v1/bookings/{reference}/", "get"),
        ("/api/v1/bookings/{reference}/cancel/", "post"),
        ("/api/v1/bookings/{reference}/reschedule/", "post"),
    ]:
        operation = paths[path][method]
        headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
        expected = ["Idempotency-Key", "X-Booking-Token"] if method == "post" else ["X-Booking-Token"]
        assert sorted(headers) == expected, path
        assert "404" in operation["responses"]
    create = paths["/api/v1/bookings/"]["post"]
    assert {"201", "400", "409"} <= set(create["responses"])
    schemas = response.json()["components"]["schemas"]
    assert {"token", "manage_url", "reference", "start"} <= set(schemas["BookingCreated"]["properties"])
    assert {"venue", "procedure", "start", "name", "answers"} <= set(schemas["BookingRequest"]["properties"])
    assert set(schemas["RescheduleRequest"]["properties"]) == {"start"}


def test_a_booking_s_answer_is_what_drf_itself_would_give_for_every_declared_field(api, centre):
    """The booking serializers build their answer directly (`BookingOutputSerializer`), the
    schema names their declared fields: both must stay the same, for the creation's answer too."""
    from rest_framework import serializers as drf

    from bookings.api import BookingCreateApi, BookingOutputSerializer

    made = booked(api, email="", language="en", phone="090-1234-5678", sms_opt_in=True)
    booking = Booking.objects.select_related("venue", "procedure").get(reference=made["reference"])
    booking.token, booking.manage_url = made["token"], made["manage_url"]
    for serializer in (BookingOutputSerializer, BookingCreateApi.OutputSerializer):
        fast = serializer(booking).data
        assert fast == drf.Serializer.to_representation(serializer(booking), booking)
        assert list(fast) == list(serializer._declared_fields)
    assert made == dict(BookingCreateApi.OutputSerializer(booking).data)
