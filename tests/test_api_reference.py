from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from bookings.models import Slot
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from tests import builders
from venues.models import Procedure, Venue

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def december(nagano, travel):
    now = travel(2026, 12, 1, 9, 0)
    slots_generate(now=now, venues=Venue.objects.filter(code__in=["hokushin-centre", "kiso-station"]))
    return now


def test_procedures_are_listed_with_names_and_duration(api, nagano):
    body = api.get("/api/v1/procedures/").json()
    assert body[0] == {
        "code": "record",
        "name": "特定免許情報の記録（マイナンバーカードとの一体化）",
        "name_en": "Record the licence on the My Number Card",
        "duration_minutes": 10,
    }
    assert len(body) == 6


def test_venues_are_listed_with_the_contract_fields(api, nagano):
    body = api.get("/api/v1/venues/").json()
    centre = next(v for v in body if v["code"] == "hokushin-centre")
    assert {"code", "name", "name_en", "kind", "address", "phone", "procedures"} <= set(centre)
    assert centre["kind"] == "licence_centre" and len(centre["procedures"]) == 6


def test_venues_carry_the_english_city_and_address_an_administrator_entered(api, nagano):
    Venue.objects.filter(code="kiso-station").update(city_en="Kiso Town", address_en="1 Example, Kiso")
    body = {v["code"]: v for v in api.get("/api/v1/venues/").json()}
    assert (body["kiso-station"]["city_en"], body["kiso-station"]["address_en"]) == (
        "Kiso Town",
        "1 Example, Kiso",
    )
    for venue in Venue.objects.filter(code__in=body):
        listed = body[venue.code]
        assert (listed["city"], listed["address"]) == (venue.city, venue.address)
        assert (listed["city_en"], listed["address_en"]) == (venue.city_en, venue.address_en)


def test_venues_can_be_filtered_by_procedure(api, nagano):
    codes = {v["code"] for v in api.get("/api/v1/venues/?procedure=record").json()}
    assert codes == {"hokushin-centre", "toshin-centre", "chunanshin-centre", "iida-station"}
    erase = {v["code"] for v in api.get("/api/v1/venues/?procedure=erase").json()}
    assert "ikeda-koban" in erase and "saku-station" not in erase


NON_PUBLIC = ["nagano-minami-station", "saku-station", "shiojiri-station"]


def test_stations_that_take_no_procedure_are_not_listed_but_a_koban_names_its_parent_station(api, nagano):
    body = api.get("/api/v1/venues/").json()
    codes = {v["code"] for v in body}
    assert not codes & set(NON_PUBLIC) and len(codes) == 28
    matsushiro = next(v for v in body if v["code"] == "matsushiro-koban")
    assert (matsushiro["parent_name"], matsushiro["parent_name_en"]) == (
        "長野南警察署",
        "Nagano Minami Police Station",
    )
    centre = next(v for v in body if v["code"] == "hokushin-centre")
    assert centre["parent_name"] is None and centre["parent_name_en"] is None


@pytest.mark.parametrize("code", NON_PUBLIC)
@pytest.mark.parametrize("path", ["calendar/", "availability/?procedure=erase"])
def test_a_station_that_takes_no_procedure_answers_404_unknown_venue(api, december, code, path):
    response = api.get(f"/api/v1/venues/{code}/{path}")
    assert response.status_code == 404 and response.json()["code"] == "unknown_venue"


def test_a_station_that_takes_no_procedure_cannot_be_held_or_booked(api, december):
    body = {"venue": "saku-station", "procedure": "erase", "start": "2026-12-14T09:00:00+09:00"}
    response = api.post("/api/v1/holds/", body, format="json")
    assert response.status_code == 400 and list(response.json()["fields"]) == ["venue"]


def test_a_venue_given_a_procedure_by_an_administrator_becomes_public(api, nagano):
    Venue.objects.get(code="saku-station").procedures.add(Procedure.objects.get(code="erase"))
    assert "saku-station" in {v["code"] for v in api.get("/api/v1/venues/").json()}
    assert api.get("/api/v1/venues/saku-station/calendar/").status_code == 200


def test_an_unconfirmed_venue_phone_is_held_back_until_an_administrator_confirms_it(api, nagano):
    def chuo():
        return next(v for v in api.get("/api/v1/venues/").json() if v["code"] == "nagano-chuo-station")

    assert (chuo()["phone"], chuo()["phone_pending"]) == ("", True)
    Venue.objects.filter(code="nagano-chuo-station").update(phone_verified=True)
    assert (chuo()["phone"], chuo()["phone_pending"]) == ("026-244-0110", False)
    koban = next(v for v in api.get("/api/v1/venues/").json() if v["code"] == "ikeda-koban")
    assert (koban["phone"], koban["phone_pending"]) == ("", False)  # no number known at all


def test_venues_with_an_unknown_procedure_is_400_unknown_procedure(api, nagano):
    response = api.get("/api/v1/venues/?procedure=renewal")
    assert response.status_code == 400 and response.json()["code"] == "unknown_procedure"
    assert response.json()["detail"]


def test_calendar_gives_every_day_with_the_reason(api, december):
    body = api.get("/api/v1/venues/hokushin-centre/calendar/?from=2026-12-25&to=2027-01-04").json()
    assert body["venue"] == "hokushin-centre"
    by_date = {d["date"]: d for d in body["days"]}
    assert len(by_date) == 11
    assert by_date["2026-12-25"] == {"date": "2026-12-25", "open": True, "reason": None, "note": ""}
    assert by_date["2026-12-26"]["reason"] == "weekend"
    assert by_date["2026-12-30"]["reason"] == "year_end"
    assert by_date["2027-01-04"]["open"] is True


def test_calendar_shows_holiday_names_and_closure_notes(api, december):
    builders.closure(Venue.objects.get(code="hokushin-centre"), date(2027, 5, 7), note="システム更新")
    body = api.get("/api/v1/venues/hokushin-centre/calendar/?from=2027-05-03&to=2027-05-07").json()
    notes = [(d["reason"], d["note"]) for d in body["days"]]
    assert notes[0] == ("holiday", "憲法記念日")
    assert notes[-1] == ("closure", "システム更新")


def test_calendar_accepts_366_days_and_refuses_367(api, december):
    assert (
        api.get("/api/v1/venues/hokushin-centre/calendar/?from=2027-01-01&to=2028-01-01").status_code == 200
    )
    response = api.get("/api/v1/venues/hokushin-centre/calendar/?from=2027-01-01&to=2028-01-02")
    assert response.status_code == 400 and response.json()["code"] == "invalid_range"


@pytest.mark.parametrize("path", ["calendar/", "availability/?procedure=record"])
def test_an_unknown_venue_is_404_unknown_venue(api, december, path):
    response = api.get(f"/api/v1/venues/nowhere/{path}")
    assert response.status_code == 404 and response.json()["code"] == "unknown_venue"


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-12-10&to=2026-12-09",
        "from=2026-13-01",
        "to=tomorrow",
        "from=2026-12-1",
        "from=2026-12-01T00:00",
    ],
)
@pytest.mark.parametrize("path", ["calendar/?", "availability/?procedure=record&"])
def test_bad_or_reversed_dates_are_400_invalid_range(api, december, path, query):
    response = api.get(f"/api/v1/venues/hokushin-centre/{path}{query}")
    assert response.status_code == 400 and response.json()["code"] == "invalid_range"


def test_availability_lists_open_days_with_every_slot(api, december):
    body = api.get(
        "/api/v1/venues/hokushin-centre/availability/?procedure=record&from=2026-12-14&to=2026-12-20"
    ).json()
    assert (body["venue"], body["procedure"]) == ("hokushin-centre", "record")
    assert [d["date"] for d in body["days"]] == [
        "2026-12-14",
        "2026-12-15",
        "2026-12-16",
        "2026-12-17",
        "2026-12-18",
    ]
    first = body["days"][0]["slots"][0]
    assert first == {"start": "2026-12-14T10:00:00+09:00", "end": "2026-12-14T10:10:00+09:00", "remaining": 1}
    assert len(body["days"][0]["slots"]) == 12


def test_availability_shows_full_slots_with_remaining_zero(api, december):
    Slot.objects.filter(venue__code="hokushin-centre", start=at_jst(date(2026, 12, 14), 10)).update(taken=1)
    body = api.get(
        "/api/v1/venues/hokushin-centre/availability/?procedure=record&from=2026-12-14&to=2026-12-14"
    ).json()
    assert body["days"][0]["slots"][0]["remaining"] == 0


def test_availability_hides_seats_kept_back_for_staff(api, december):
    Slot.objects.filter(venue__code="hokushin-centre").update(capacity=2, reserved=1)
    body = api.get(
        "/api/v1/venues/hokushin-centre/availability/?procedure=record&from=2026-12-14&to=2026-12-14"
    ).json()
    assert {s["remaining"] for s in body["days"][0]["slots"]} == {1}


def test_availability_defaults_to_today_up_to_the_horizon(api, december):
    body = api.get("/api/v1/venues/hokushin-centre/availability/?procedure=record").json()
    dates = [d["date"] for d in body["days"]]
    # Today (1 Dec) is open but every slot is past the cut-off; 2 Dec is closed at 17:00 on 1 Dec.
    assert dates[0] == "2026-12-01" and body["days"][0]["slots"] == []
    assert body["days"][1]["date"] == "2026-12-02" and len(body["days"][1]["slots"]) == 12
    assert dates[-1] == "2026-12-28"


def test_availability_drops_slots_after_the_cut_off(api, nagano, travel):
    slots_generate(now=at_jst(date(2026, 12, 1), 9), venues=Venue.objects.filter(code="hokushin-centre"))
    travel(2026, 12, 1, 17, 0)
    body = api.get(
        "/api/v1/venues/hokushin-centre/availability/?procedure=record&from=2026-12-02&to=2026-12-03"
    ).json()
    assert [(d["date"], len(d["slots"])) for d in body["days"]] == [("2026-12-02", 0), ("2026-12-03", 12)]


def test_availability_of_a_station_offers_erase_only(api, december):
    response = api.get("/api/v1/venues/kiso-station/availability/?procedure=record")
    assert response.status_code == 400 and response.json()["code"] == "procedure_not_offered"
    body = api.get(
        "/api/v1/venues/kiso-station/availability/?procedure=erase&from=2026-12-14&to=2026-12-14"
    ).json()
    assert len(body["days"][0]["slots"]) == 15 + 18


@pytest.mark.parametrize("query", ["", "?procedure=", "?procedure=renewal"])
def test_availability_without_a_known_procedure_is_400_unknown_procedure(api, december, query):
    response = api.get(f"/api/v1/venues/hokushin-centre/availability/{query}")
    assert response.status_code == 400 and response.json()["code"] == "unknown_procedure"


def test_availability_refuses_more_than_92_days(api, december):
    ok = api.get(
        "/api/v1/venues/hokushin-centre/availability/?procedure=record&from=2027-01-01&to=2027-04-02"
    )
    assert ok.status_code == 200
    response = api.get(
        "/api/v1/venues/hokushin-centre/availability/?procedure=record&from=2027-01-01&to=2027-04-03"
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_range"


def test_availability_skips_closed_days(api, december):
    builders.closure(Venue.objects.get(code="hokushin-centre"), date(2026, 12, 15), note="臨時休業")
    body = api.get(
        "/api/v1/venues/hokushin-centre/availability/?procedure=record&from=2026-12-14&to=2026-12-16"
    ).json()
    assert [d["date"] for d in body["days"]] == ["2026-12-14", "2026-12-16"]


@pytest.mark.parametrize("days", [1, 30, 92])
def test_availability_runs_a_constant_number_of_queries(api, december, django_assert_max_num_queries, days):
    first = date(2026, 12, 2)
    last = first + timedelta(days=days - 1)
    with django_assert_max_num_queries(6):
        response = api.get(
            f"/api/v1/venues/hokushin-centre/availability/?procedure=record&from={first}&to={last}"
        )
    assert response.status_code == 200


def test_availability_query_count_does_not_grow_with_slots(api, december):
    url = "/api/v1/venues/hokushin-centre/availability/?procedure=record&from=2026-12-02&to=2026-12-31"
    with CaptureQueriesContext(connection) as one_counter:
        api.get(url)
    from venues.models import ReceptionWindow

    ReceptionWindow.objects.filter(venue__code="hokushin-centre").update(counters=4)
    builders.window(Venue.objects.get(code="hokushin-centre"), "12:00", "14:00", label="noon")
    slots_generate(now=december, venues=Venue.objects.filter(code="hokushin-centre"))
    with CaptureQueriesContext(connection) as more_slots:
        body = api.get(url).json()
    assert len(body["days"][0]["slots"]) == 24
    assert len(more_slots) == len(one_counter)


def test_every_error_body_has_a_code_and_a_detail_even_for_unknown_api_paths(api, nagano):
    response = api.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_the_openapi_schema_describes_the_read_only_endpoints(api, nagano):
    response = api.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in [
        "/api/v1/procedures/",
        "/api/v1/venues/",
        "/api/v1/venues/{venue}/calendar/",
        "/api/v1/venues/{venue}/availability/",
    ]:
        assert path in paths


def test_the_api_docs_page_is_served_without_a_cdn(client, nagano):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger" in html.lower() and "cdn.jsdelivr" not in html


def test_the_openapi_schema_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yaml"))
    text = (tmp_path / "schema.yaml").read_text(encoding="utf-8")
    for path in [
        "/api/v1/bookings/",
        "/api/v1/bookings/{reference}/cancel/",
        "/api/v1/bookings/{reference}/reschedule/",
    ]:
        assert path in text
