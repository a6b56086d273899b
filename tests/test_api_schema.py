"""The OpenAPI schema says exactly what the server takes: its patterns agree with the parsers.

A value the server accepts always matches the schema's pattern (else a client generating from the
schema, schemathesis in `make proof`, could never send it, and "invalid" data would be accepted),
and a value matching the pattern is refused only for what no pattern can say (February 30th).
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from bookings.references import REFERENCE_ALPHABET, reference_clean
from scheduler import api_schema, parsing
from scheduler.idempotency import KEY_SHAPE
from venues.selectors import CODE_SHAPE

MOMENT = re.compile(api_schema.MOMENT)
DATE = re.compile(api_schema.DATE)
OPERATIONS = {
    "procedures_list",
    "venues_list",
    "venue_calendar",
    "venue_availability",
    "hold_create",
    "hold_release",
    "booking_create",
    "booking_get",
    "booking_cancel",
    "booking_reschedule",
}
NEAR_MOMENTS = st.from_regex(parsing.MOMENT, fullmatch=True) | st.text("0123456789-:.+TtZz ", max_size=32)


def real_day(text: str) -> bool:
    try:
        return parsing.YEARS[0] <= date.fromisoformat(text[:10]).year <= parsing.YEARS[1]
    except ValueError:
        return False


@settings(max_examples=500)
@given(NEAR_MOMENTS)
def test_every_time_the_server_takes_matches_the_schema_pattern(text):
    if parsing.moment_or_none(text) is not None:
        assert MOMENT.fullmatch(text)


@settings(max_examples=500)
@given(st.from_regex(api_schema.MOMENT, fullmatch=True))
def test_a_time_matching_the_schema_pattern_is_taken_unless_its_day_does_not_exist(text):
    assert (parsing.moment_or_none(text) is not None) == real_day(text)


@settings(max_examples=300)
@given(st.from_regex(parsing.DATE, fullmatch=True) | st.text("0123456789-", max_size=12))
def test_dates_agree_with_the_parser(text):
    if parsing.date_or_none(text) is not None:
        assert DATE.fullmatch(text)
    if DATE.fullmatch(text):
        assert (parsing.date_or_none(text) is not None) == real_day(text)


@settings(max_examples=300)
@given(st.text("abcxyz0189-_ A", max_size=42) | st.from_regex(api_schema.CODE))
def test_codes_agree_with_the_server_code_shape(text):
    assert bool(re.fullmatch(api_schema.CODE, text)) == bool(CODE_SHAPE.fullmatch(text))


@settings(max_examples=300)
@given(st.text(REFERENCE_ALPHABET + REFERENCE_ALPHABET.lower() + "01ILO", min_size=7, max_size=9))
def test_references_agree_with_reference_clean(text):
    assert bool(re.fullmatch(api_schema.REFERENCE, text)) == (reference_clean(text) is not None)


@settings(max_examples=300)
@given(st.text(st.characters(max_codepoint=0x80), max_size=260))
def test_idempotency_keys_agree_with_the_middleware(text):
    assert bool(re.fullmatch(api_schema.IDEMPOTENCY_KEY, text)) == bool(KEY_SHAPE.fullmatch(text))


@pytest.mark.django_db
def test_the_served_schema_refuses_what_the_server_refuses():
    schema = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    request = schema["components"]["schemas"]["BookingRequest"]
    fields = request["properties"]
    for name in ("venue", "procedure"):
        assert fields[name]["minLength"] == 1 and fields[name]["pattern"] == api_schema.CODE
    assert fields["name"]["minLength"] == 1 and fields["name"]["maxLength"] == 60
    assert fields["start"]["pattern"] == api_schema.MOMENT
    assert {"required": ["hold"]} in request["allOf"][0]["anyOf"]
    availability = schema["paths"]["/api/v1/venues/{venue}/availability/"]["get"]
    query = {p["name"]: p for p in availability["parameters"] if p["in"] == "query"}
    assert query["procedure"]["required"] and query["procedure"]["schema"]["minLength"] == 1
    assert (
        query["from"]["schema"]["pattern"]
        == query["to"]["schema"]["pattern"]
        == f"^(?:{api_schema.DATE[1:-1]})?$"
    )
    seen = set()
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if operation["operationId"] not in OPERATIONS:
                continue
            seen.add(operation["operationId"])
            statuses = set(operation["responses"])
            assert "503" in statuses, (method, path)
            assert operation["responses"]["503"]["headers"]["Retry-After"]["required"], (method, path)
            if method == "post":
                assert {"400", "422"} <= statuses, (method, path)
                assert "Idempotency-Key" in [p["name"] for p in operation["parameters"]], path
    assert seen == OPERATIONS


@pytest.mark.django_db
def test_the_schema_lists_every_answer_key_and_says_an_absent_chip_has_space_counts_as_yes():
    schema = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    answers = schema["components"]["schemas"]["BookingRequest"]["properties"]["answers"]["properties"]
    assert set(answers) == {
        "card_valid",
        "chip_ok",
        "chip_has_space",
        "licence_suspended",
        "card_only",
        "signature_cert_valid",
        "knows_signature_pin",
    }
    assert answers["chip_has_space"] == {"type": "boolean", "description": "Optional: absent counts as true."}
    booking = schema["paths"]["/api/v1/bookings/"]["post"]["responses"]["400"]["description"]
    assert "chip_full" in booking
