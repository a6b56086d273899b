"""However malformed, a request to the booking API gets a 4xx with a `code`, never a 500.

These run on PostgreSQL in CI too, where a NUL byte that reached a text column would fail inside
the database: they must be refused before.
"""

import json

import pytest
from rest_framework.test import APIClient

from bookings.models import Booking
from bookings.slots import slots_generate
from tests import builders

pytestmark = pytest.mark.django_db

HUGE = "長" * 200_000
GOOD = {
    "venue": "hokushin-centre",
    "procedure": "record",
    "start": "2026-12-14T10:00:00+09:00",
    "name": "長野 太郎",
    "phone": "026-000-0000",
    "email": "taro@example.jp",
    "answers": {"card_valid": True, "chip_ok": True, "licence_suspended": False},
}

# Somebody else, for a free slot: refused only for what a test spoils in it.
OTHER = {**GOOD, "start": "2026-12-14T10:10:00+09:00", "phone": "026-999-9999", "email": "b@example.jp"}


@pytest.fixture
def api():
    client = APIClient()
    client.raise_request_exception = False  # a crash must show up as the 500 a user would get
    return client


@pytest.fixture
def booking(db, travel, api):
    """One booking at a small venue that takes `record` (built, not loaded: these tests are many)."""
    place = builders.venue(code="hokushin-centre", procedures=("record",))
    slots_generate(days=14, now=travel(2026, 12, 1, 9, 0), venues=[place])
    response = api.post("/api/v1/bookings/", GOOD, format="json")
    assert response.status_code == 201
    return response.json()


def assert_refused(response, status: int | None = None) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    if status is not None:
        assert response.status_code == status
    payload = response.json()
    assert isinstance(payload.get("code"), str) and payload["code"]
    assert isinstance(payload.get("detail"), str)
    return payload


def post_raw(api, path: str, raw: bytes | str, content_type: str = "application/json", **extra):
    return api.generic("POST", path, raw, content_type=content_type, **extra)


RAW_BODIES = {
    "truncated JSON": b'{"venue": "hokushin-centre", ',
    "not UTF-8": b'{"name": "\xff\xfe"}',
    "nested too deeply": b"[" * 100_000 + b"]" * 100_000,
    "a huge number": b'{"name": ' + b"9" * 10_000 + b"}",
    "NaN": b'{"name": NaN}',
    "a list": b"[1, 2, 3]",
    "a string": b'"book me"',
    "null": b"null",
    "empty": b"",
    "a NUL byte in JSON text": json.dumps({**GOOD, "name": "a\x00b"}).encode(),
}


@pytest.mark.parametrize("raw", RAW_BODIES.values(), ids=RAW_BODIES.keys())
def test_a_malformed_booking_body_is_refused_with_a_code(api, booking, raw):
    payload = assert_refused(post_raw(api, "/api/v1/bookings/", raw), 400)
    assert payload["code"] in {"malformed", "invalid"}
    assert Booking.objects.count() == 1


RESCHEDULE_BODIES = {
    **RAW_BODIES,
    "a NUL byte in JSON text": json.dumps({"start": "2026-12-15T10:00\x00+09:00"}),
}


@pytest.mark.parametrize("raw", RESCHEDULE_BODIES.values(), ids=RESCHEDULE_BODIES.keys())
def test_a_malformed_reschedule_body_is_refused_with_a_code(api, booking, raw):
    path = f"/api/v1/bookings/{booking['reference']}/reschedule/"
    assert_refused(post_raw(api, path, raw, HTTP_X_BOOKING_TOKEN=booking["token"]), 400)
    assert Booking.objects.get().start.isoformat() == "2026-12-14T01:00:00+00:00"


def test_a_body_that_is_not_json_is_415_unsupported_media_type(api, booking):
    response = post_raw(
        api, "/api/v1/bookings/", "venue=hokushin-centre", "application/x-www-form-urlencoded"
    )
    assert assert_refused(response, 415)["code"] == "unsupported_media_type"


def test_a_body_over_the_size_limit_is_refused(api, booking):
    raw = json.dumps({**GOOD, "name": "x" * 3_000_000}).encode()
    assert assert_refused(post_raw(api, "/api/v1/bookings/", raw), 413)["code"] == "too_large"


WRONG_FIELDS = {
    "answers is a list": {"answers": ["card_valid"]},
    "answers is text": {"answers": "yes"},
    "an answer is text": {"answers": {**GOOD["answers"], "card_valid": "yes"}},
    "an answer is a number": {"answers": {**GOOD["answers"], "chip_ok": 1}},
    "name is a number": {"name": 12345},
    "name is true": {"name": True},
    "name is null": {"name": None},
    "name is an object": {"name": {"family": "長野"}},
    "phone is a number": {"phone": 260000000},
    "email is a list": {"email": ["taro@example.jp"]},
    "venue is a number": {"venue": 7},
    "procedure is null": {"procedure": None},
    "start is a number": {"start": 1765674000},
    "start is a list": {"start": ["2026-12-14T10:00:00+09:00"]},
    "language is unknown": {"language": "fr"},
    "name is huge": {"name": HUGE},
    "phone is huge": {"phone": "0" * 200_000},
    "email is huge": {"email": "a" * 200_000 + "@example.jp"},
    "venue is huge": {"venue": "a" * 200_000},
    "start is huge": {"start": "2026-12-14T10:00:00+09:00" * 1000},
    "an answer key is huge": {"answers": {"x" * 200_000: True}},
    "NUL in name": {"name": "長野\x00太郎"},
    "NUL in phone": {"phone": "026\x00000\x000000"},
    "NUL in email": {"email": "taro\x00@example.jp"},
    "NUL in venue": {"venue": "hokushin-centre\x00"},
    "NUL in procedure": {"procedure": "\x00record"},
    "NUL in start": {"start": "2026-12-14T10:00:00\x00+09:00"},
    "control character in name": {"name": "長野\u202e太郎"},
    "a date that does not exist": {"start": "2026-02-30T10:00:00+09:00"},
    "an hour that does not exist": {"start": "2026-12-14T25:00:00+09:00"},
    "a date without time": {"start": "2026-12-14"},
    "a time without offset": {"start": "2026-12-14T10:00:00"},
    "an offset that does not exist": {"start": "2026-12-14T10:00:00+25:00"},
    "year one": {"start": "0001-01-01T00:00:00+09:00"},
    "year 9999 west of UTC": {"start": "9999-12-31T23:59:59-12:00"},
    "words": {"start": "next monday"},
    "full-width digits in start": {"start": "２０２６-12-14T10:10:00+09:00"},
    "an ISO week date": {"start": "2026-W51-1T10:10:00+09:00"},
    "unknown venue": {"venue": "atlantis"},
    "unknown procedure": {"procedure": "renewal"},
    "upper-case venue": {"venue": "HOKUSHIN-CENTRE"},
}


def test_the_body_these_tests_spoil_is_itself_accepted(api, booking):
    response = api.post("/api/v1/bookings/", OTHER, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize("change", WRONG_FIELDS.values(), ids=WRONG_FIELDS.keys())
def test_a_wrong_field_is_400_invalid_with_the_field_named(api, booking, change):
    response = api.post(
        "/api/v1/bookings/",
        {**OTHER, **change},
        format="json",
    )
    payload = assert_refused(response, 400)
    assert payload["code"] == "invalid"
    assert payload["fields"] and all(isinstance(v, list) for v in payload["fields"].values())
    assert Booking.objects.count() == 1


def test_a_missing_field_is_400_invalid_with_the_field_named(api, booking):
    data = {key: value for key, value in GOOD.items() if key != "start"}
    payload = assert_refused(api.post("/api/v1/bookings/", data, format="json"), 400)
    assert payload["code"] == "invalid" and list(payload["fields"]) == ["start"]


BAD_REFERENCES = ["ZZZZZZZZ", "zz", "A" * 5000, "%00", "ABCD%00EF", "ABCDEFG0", "..", "%E9%95%B7"]


@pytest.mark.parametrize("reference", BAD_REFERENCES)
@pytest.mark.parametrize("action", ["", "cancel/", "reschedule/"])
def test_a_malformed_or_unknown_reference_is_404_not_found(api, booking, reference, action):
    path = f"/api/v1/bookings/{reference}/{action}"
    send = api.get if not action else api.post
    response = send(path, {"start": GOOD["start"]}, format="json", HTTP_X_BOOKING_TOKEN=booking["token"])
    assert assert_refused(response, 404)["code"] == "not_found"


@pytest.mark.parametrize("token", ["", "x" * 100_000, "\x00", "tök€n", "A" * 43])
def test_a_malformed_token_is_404_not_found(api, booking, token):
    response = api.get(f"/api/v1/bookings/{booking['reference']}/", HTTP_X_BOOKING_TOKEN=token)
    assert assert_refused(response, 404)["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/bookings/"),
        ("delete", "/api/v1/bookings/ABCDEFGH/"),
        ("get", "/api/v1/bookings/X/cancel/"),
    ],
)
def test_a_wrong_method_is_405_with_a_code(api, booking, method, path):
    response = getattr(api, method)(path)
    assert assert_refused(response, 405)["code"] == "method_not_allowed"


READ_PATHS = {
    "/api/v1/venues/a%00b/calendar/": (404, "unknown_venue"),
    "/api/v1/venues/a%00b/availability/?procedure=record": (404, "unknown_venue"),
    "/api/v1/venues/HOKUSHIN-CENTRE/calendar/": (404, "unknown_venue"),
    f"/api/v1/venues/{'a' * 5000}/calendar/": (404, "unknown_venue"),
    "/api/v1/venues/?procedure=re%00cord": (400, "unknown_procedure"),
    "/api/v1/venues/hokushin-centre/availability/?procedure=re%00cord": (400, "unknown_procedure"),
    "/api/v1/venues/hokushin-centre/availability/?procedure=record&from=2026-12-0%00": (400, "invalid_range"),
}


@pytest.mark.parametrize(("path", "expected"), READ_PATHS.items(), ids=list(READ_PATHS))
def test_odd_codes_in_the_read_endpoints_get_their_contract_error(api, booking, path, expected):
    response = api.get(path)
    assert (response.status_code, assert_refused(response)["code"]) == expected
