"""No request, however malformed, gets a 500: each answers 4xx with a code (API) or a page."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from bookings.slots import slots_generate
from scheduler.clock import at_jst
from tests.admin_setup import TUESDAY, book, generate, staff_user
from venues.models import Venue

pytestmark = pytest.mark.django_db

BAD_STARTS = [
    "2026-13-01T10:00:00+09:00",
    "2026-12-14T25:00:00+09:00",
    "2026-12-14T10:00:00+99:99",
    "0001-01-01T00:00:00+10:00",
    "9999-12-31T23:59:59-10:00",
]


@pytest.fixture
def site(nagano, travel):
    now = travel(2026, 12, 1, 9, 0)
    slots_generate(now=now, venues=Venue.objects.filter(code__in=["hokushin-centre", "iida-station"]))
    return now


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        (
            "get",
            "/api/v1/venues/hokushin-centre/calendar/?from=9999-12-31&to=9999-12-31",
            400,
            "invalid_range",
        ),
        (
            "get",
            "/api/v1/venues/hokushin-centre/calendar/?from=0001-01-01&to=0001-01-02",
            400,
            "invalid_range",
        ),
        (
            "get",
            "/api/v1/venues/hokushin-centre/availability/?procedure=record&from=9999-12-31&to=9999-12-31",
            400,
            "invalid_range",
        ),
        ("options", "/api/v1/docs/", 405, "method_not_allowed"),
        ("post", "/api/v1/nope/", 404, "not_found"),
        ("get", "/api/v1/nope/", 404, "not_found"),
        ("delete", "/api/v1/bookings/", 405, "method_not_allowed"),
    ],
)
def test_malformed_api_requests_answer_json_with_a_code(site, method, path, status, code):
    response = getattr(Client(enforce_csrf_checks=True), method)(path)
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == code


def walk_to_date(client):
    client.post("/book/", {"procedure": "record"})
    client.post(
        "/book/questions/",
        {"card_valid": "yes", "chip_ok": "yes", "chip_has_space": "yes", "licence_not_suspended": "yes"},
    )
    client.post("/book/venue/", {"venue": "hokushin-centre"})


@pytest.mark.parametrize("start", BAD_STARTS)
def test_an_impossible_time_on_the_date_page_is_a_form_error(site, client, start):
    walk_to_date(client)
    response = client.post("/book/date/", {"start": start})
    assert response.status_code in (200, 400)
    assert "時間を選び直してください" in response.content.decode() or response.status_code == 400


@pytest.mark.parametrize("start", BAD_STARTS)
def test_an_impossible_time_on_the_reschedule_page_changes_nothing(site, client, start):
    booking = book("hokushin-centre", at_jst(TUESDAY, 10, 0).date(), 10, 0, now=site, email="a@example.jp")
    session = client.session
    session["manage"] = [booking.reference]
    session.save()
    response = client.post(f"/booking/{booking.reference}/reschedule/", {"start": start})
    assert response.status_code in (200, 400)


@pytest.mark.parametrize("month", ["99999999999999999999-1", "2026-99", "-1--1", "9999-12", "0000-01"])
def test_an_impossible_month_on_the_date_page_shows_a_month_that_exists(site, client, month):
    walk_to_date(client)
    assert client.get("/book/date/", {"month": month}).status_code == 200


@pytest.mark.parametrize(
    "given", ["はなこ@example.jp", "０２６１２３４５６７", "\u00e9@example.jp", "0" * 300]
)
def test_the_lookup_form_answers_not_found_for_non_ascii_contact_data(site, client, given):
    booking = book("hokushin-centre", TUESDAY, 10, 0, now=site, email="hanako@example.jp")
    response = client.post("/booking/lookup/", {"reference": booking.reference, "phone_or_email": given})
    page = response.content.decode()
    assert response.status_code == 200 and ("予約が見つかりませんでした" in page or 'class="error"' in page)


@pytest.fixture
def clerk(site, client):
    generate("iida-station")
    client.force_login(staff_user("iida-clerk", "iida-station"))
    return client


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("admin:bookings_booking_day", {"date": "9999-12-31"}),
        ("admin:bookings_booking_day", {"date": "0001-01-01"}),
        ("admin:bookings_booking_day", {"q": "\x00"}),
        ("admin:bookings_booking_day_print", {"date": "9999-12-31"}),
        ("admin:bookings_slot_month", {"month": "9999-12"}),
        ("admin:bookings_slot_month", {"month": "0001-01"}),
        ("admin:bookings_booking_export", {"from": "9999-12-31"}),
        ("admin:bookings_booking_export", {"from": "0001-01-01", "to": "0001-01-02"}),
        ("admin:bookings_booking_book", {"date": "9999-12-31"}),
        ("admin:bookings_booking_changelist", {"q": "\x00"}),
        ("admin:venues_venue_changelist", {"q": "a\x00b"}),
    ],
)
def test_admin_pages_refuse_impossible_dates_without_an_error(clerk, name, params):
    response = clerk.get(reverse(name), params)
    assert response.status_code in (200, 400), response.status_code


@pytest.mark.parametrize("start", [*BAD_STARTS, "", "tomorrow"])
def test_the_admin_booking_form_refuses_an_impossible_start(clerk, start):
    response = clerk.post(
        reverse("admin:bookings_booking_book"),
        {"venue": "iida-station", "procedure": "record", "channel": "staff", "start": start, "name": "x"},
    )
    assert response.status_code == 400


def test_a_changelist_action_on_a_malformed_selection_is_refused_politely(clerk):
    response = clerk.post(
        reverse("admin:bookings_booking_changelist"), {"action": "check_in", "_selected_action": ["abc"]}
    )
    assert response.status_code in (200, 302)


# --- A service that is down ---------------------------------------------------------------------

ON_POSTGRES = "postgresql" in __import__("django.conf").conf.settings.DATABASES["default"]["ENGINE"]


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


@pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL: DATABASE_URL is not PostgreSQL (CI sets one)")
@pytest.mark.django_db(transaction=True)
def test_with_postgresql_unreachable_the_api_and_pages_answer_busy_with_retry_after():
    from django.db import connection

    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port()))
    try:
        api = Client().get("/api/v1/procedures/")
        booking = Client().post(
            "/api/v1/bookings/",
            {
                "venue": "hokushin-centre",
                "procedure": "record",
                "start": "2026-12-14T10:00:00+09:00",
                "name": "長野 太郎",
                "phone": "026-000-0000",
            },
            content_type="application/json",
        )
        page = Client().get("/book/")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    for response in (api, booking):
        assert response.status_code == 503 and response.json()["code"] == "busy"
        assert int(response["Retry-After"]) > 0
    assert page.status_code == 503 and "1分ほど待って" in page.content.decode()


def test_a_database_error_inside_a_view_answers_busy_not_500(site, client, monkeypatch):
    from django.db import OperationalError

    from bookings import seats

    def down(**kwargs):
        raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(seats, "availability_answer", down)
    response = client.get("/api/v1/venues/hokushin-centre/availability/?procedure=record")
    assert response.status_code == 503 and response.json()["code"] == "busy"
    assert response["Retry-After"] == "30"
