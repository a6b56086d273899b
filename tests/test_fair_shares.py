"""Fair shares: per-address limits on holds, bookings, look-ups and changes; per-person caps."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from rest_framework.test import APIClient

from bookings.slots import slots_generate
from scheduler import throttling
from scheduler.rates import parse_rates
from tests import builders

pytestmark = pytest.mark.django_db

ANSWERS = {"card_valid": True, "chip_ok": True, "licence_suspended": False}


@pytest.fixture
def centre(db, travel):
    """Five counters 10:00–11:00 for every procedure a person might book."""
    place = builders.venue(
        code="fair-centre", procedures=("record", "erase", "re-record", "one-stop"), counters=5
    )
    slots_generate(now=travel(2026, 12, 1, 9, 0), venues=[place])
    return place


def fresh_address() -> str:
    """An address no other test (or earlier run) has counted against."""
    return f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}::1"  # its own /64


@pytest.fixture
def limits(settings):
    def set_rates(text: str) -> None:
        settings.THROTTLE_RATES = parse_rates(text)

    return set_rates  # no cache.clear(): on Redis it would wipe the other test worker's counters


def seat(minute: int = 0) -> dict:
    return {"venue": "fair-centre", "procedure": "erase", "start": f"2026-12-14T10:{minute:02d}:00+09:00"}


def booking(index: int, **extra) -> dict:
    return {**seat(10 * (index % 6)), "name": "住民", "phone": f"090{index:08d}", "email": "", **extra}


def test_the_booking_scope_answers_429_with_retry_after_past_its_limit(centre, limits):
    limits("booking=3/hour")
    api = APIClient(REMOTE_ADDR=fresh_address())
    statuses = [api.post("/api/v1/bookings/", booking(i), format="json").status_code for i in range(4)]
    assert statuses == [201, 201, 201, 429]
    refused = api.post("/api/v1/bookings/", booking(9), format="json")
    assert refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 3600
    other = APIClient(REMOTE_ADDR=fresh_address())  # another address is not affected
    assert other.post("/api/v1/bookings/", booking(10), format="json").status_code == 201


def test_the_next_window_is_allowed_again(centre, limits, monkeypatch):
    limits("hold=2/minute")
    api = APIClient(REMOTE_ADDR=fresh_address())
    now = [1_800_000_000.0]
    monkeypatch.setattr(throttling.time, "time", lambda: now[0])
    assert [api.post("/api/v1/holds/", seat(m), format="json").status_code for m in (0, 10, 20)] == [
        201,
        201,
        429,
    ]
    now[0] += 60
    assert api.post("/api/v1/holds/", seat(30), format="json").status_code == 201


@pytest.mark.parametrize(
    ("scope", "method", "path", "body"),
    [
        ("hold", "post", "/api/v1/holds/", seat()),
        ("lookup", "get", "/api/v1/bookings/ABCDEFGH/", None),
        ("manage", "post", "/api/v1/bookings/ABCDEFGH/cancel/", None),
        ("manage", "post", "/api/v1/bookings/ABCDEFGH/reschedule/", {"start": "2026-12-14T10:10:00+09:00"}),
    ],
)
def test_every_scope_of_the_api_reaches_its_limit(centre, limits, scope, method, path, body):
    limits(f"{scope}=1/hour")
    api = APIClient(REMOTE_ADDR=fresh_address())
    getattr(api, method)(path, body, format="json")
    second = getattr(api, method)(path, body, format="json")
    assert second.status_code == 429 and second.json()["code"] == "throttled" and second["Retry-After"]


def test_a_spoofed_forwarded_for_is_ignored_without_trusted_proxies(centre, limits):
    limits("booking=1/hour")
    api = APIClient(REMOTE_ADDR=fresh_address())
    first = api.post("/api/v1/bookings/", booking(1), format="json", HTTP_X_FORWARDED_FOR="198.51.100.1")
    second = api.post("/api/v1/bookings/", booking(2), format="json", HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert (first.status_code, second.status_code) == (201, 429)


def test_behind_one_trusted_proxy_the_forwarded_address_is_the_client(centre, limits, settings):
    from rest_framework.settings import api_settings

    limits("booking=1/hour")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    api_settings.reload()
    try:
        proxy = APIClient(REMOTE_ADDR=fresh_address())
        first_client, second_client = fresh_address(), fresh_address()
        one = proxy.post("/api/v1/bookings/", booking(1), format="json", HTTP_X_FORWARDED_FOR=first_client)
        two = proxy.post("/api/v1/bookings/", booking(2), format="json", HTTP_X_FORWARDED_FOR=second_client)
        again = proxy.post("/api/v1/bookings/", booking(3), format="json", HTTP_X_FORWARDED_FOR=first_client)
    finally:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}
        api_settings.reload()
    assert (one.status_code, two.status_code, again.status_code) == (201, 201, 429)


def test_the_pages_answer_a_friendly_page_past_the_limit(centre, limits):
    limits("hold=1/hour")
    client = Client(REMOTE_ADDR=fresh_address())
    client.post("/book/", {"procedure": "erase"})
    client.get("/book/questions/")
    client.post("/book/venue/", {"venue": "fair-centre"})
    assert client.post("/book/date/", {"start": seat(0)["start"]}).status_code == 302
    refused = client.post("/book/date/", {"start": seat(10)["start"]})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "分ほど待ってから" in refused.content.decode()
    assert client.get("/book/date/").status_code == 200  # looking is never limited


def test_a_scope_with_an_hour_and_a_day_window_refuses_past_either(centre, limits, monkeypatch):
    limits("hold=2/hour+3/day")
    api = APIClient(REMOTE_ADDR=fresh_address())
    now = [1_800_000_000.0 - 1_800_000_000.0 % 86_400 + 3600]  # 01:00 UTC: the day has hours left
    monkeypatch.setattr(throttling.time, "time", lambda: now[0])
    hold = lambda minute: api.post("/api/v1/holds/", seat(minute), format="json")  # noqa: E731
    assert [hold(m).status_code for m in (0, 10, 20)] == [201, 201, 429]  # the hour's two
    now[0] += 3600
    assert hold(30).status_code == 429  # a new hour, but the day's three are used (one refused too)
    assert 3600 < int(hold(40)["Retry-After"]) <= 86_400


def test_an_ipv6_client_is_counted_by_its_network_not_its_changing_address(centre, limits):
    limits("hold=2/hour")
    network = fresh_address().removesuffix("::1")
    statuses = [
        APIClient(REMOTE_ADDR=f"{network}:{index:x}:{index:x}:0:{index:x}")
        .post("/api/v1/holds/", seat(10 * index), format="json")
        .status_code
        for index in range(1, 4)
    ]
    assert statuses == [201, 201, 429]
    assert throttling.client_network("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert throttling.client_network("::ffff:192.0.2.7") == "192.0.2.7"
    assert throttling.client_network("192.0.2.7") == "192.0.2.7"


def test_one_person_holds_at_most_three_active_bookings_across_procedures(centre, settings):
    api = APIClient()
    same_phone = {"name": "住民", "phone": "09012345670", "email": "", "answers": ANSWERS}
    made = [
        api.post(
            "/api/v1/bookings/",
            {**seat(0), "procedure": procedure, **same_phone, "answers": {**ANSWERS, "card_only": True}},
            format="json",
        ).status_code
        for procedure in ("record", "erase", "re-record")
    ]
    assert made == [201, 201, 201]
    fourth = api.post(
        "/api/v1/bookings/",
        {
            **seat(10),
            "procedure": "one-stop",
            **same_phone,
            "answers": {
                **ANSWERS,
                "card_only": True,
                "signature_cert_valid": True,
                "knows_signature_pin": True,
            },
        },
        format="json",
    )
    assert fourth.status_code == 409 and fourth.json()["code"] == "too_many_bookings"
    settings.PERSON_ACTIVE_BOOKINGS_MAX = 4
    again = api.post(
        "/api/v1/bookings/",
        {
            **seat(10),
            "procedure": "one-stop",
            **same_phone,
            "answers": {
                **ANSWERS,
                "card_only": True,
                "signature_cert_valid": True,
                "knows_signature_pin": True,
            },
        },
        format="json",
    )
    assert again.status_code == 201


def test_throttle_rates_are_read_from_one_setting():
    assert parse_rates("hold=20/hour,booking=10/hour")["booking"] == "10/hour"
    assert parse_rates("booking=10/hour+30/day")["booking"] == "10/hour+30/day"
    assert parse_rates("off") == dict.fromkeys(("hold", "booking", "lookup", "manage"))
    with pytest.raises(ValueError):
        parse_rates("bookings=10/hour")
    with pytest.raises(ValueError):
        parse_rates("hold=ten/hour")
