"""Schemathesis hooks of `make proof` (bench/schemathesis_run.py loads them: SCHEMATHESIS_HOOKS).

Each well-formed `Idempotency-Key` the generator drew is replaced by a fresh one just before the
call. The generator draws short keys ("0", "!") again and again for unrelated requests, which the
contract (api.md 1.1) answers with the first request's response replayed (a hold already released:
"created resource not found") or 422 idempotency_mismatch: right answers, but they would stop
almost every POST before the booking logic. Malformed keys are sent as drawn (they must be 400);
replays and mismatches are tested in tests/test_idempotency.py.
"""

from __future__ import annotations

import re
import uuid

import schemathesis

HEADER = "Idempotency-Key"
KEY_SHAPE = re.compile(r"[\x21-\x7e]{1,255}")  # scheduler.idempotency.KEY_SHAPE


@schemathesis.hook
def before_call(context, case, kwargs):
    key = (case.headers or {}).get(HEADER)
    if isinstance(key, str) and KEY_SHAPE.fullmatch(key):
        case.headers[HEADER] = f"proof-{uuid.uuid4().hex}"


# Links for the stateful phase (OpenAPI `links`, added to the schema as loaded for this run): the
# chains a client follows, availability → hold → booking → look-up / reschedule / cancel. The one
# schemathesis infers by itself (a reference into the path) lacks the token, so every call after a
# booking would be a 404.
FIRST_SLOT = {
    "venue": "$response.body#/venue",
    "procedure": "$response.body#/procedure",
    "start": "$response.body#/days/0/slots/0/start",
}
MANAGE = {"path.reference": "$response.body#/reference", "header.X-Booking-Token": "$response.body#/token"}
LINKS = {
    ("/api/v1/venues/{venue}/availability/", "get", "200"): {
        "HoldFirstSlot": {"operationId": "hold_create", "requestBody": FIRST_SLOT},
        "BookFirstSlot": {"operationId": "booking_create", "requestBody": FIRST_SLOT},
    },
    ("/api/v1/holds/", "post", "201"): {
        "BookHold": {"operationId": "booking_create", "requestBody": {"hold": "$response.body#/hold"}},
        "ReleaseHold": {"operationId": "hold_release", "parameters": {"path.hold": "$response.body#/hold"}},
    },
    ("/api/v1/bookings/", "post", "201"): {
        "LookUp": {"operationId": "booking_get", "parameters": MANAGE},
        "Reschedule": {"operationId": "booking_reschedule", "parameters": MANAGE},
        "Cancel": {"operationId": "booking_cancel", "parameters": MANAGE},
    },
}


@schemathesis.hook
def before_load_schema(context, raw_schema):
    for (path, method, status), links in LINKS.items():
        response = raw_schema["paths"][path][method]["responses"][status]
        response.setdefault("links", {}).update(
            {name: {**link, "x-schemathesis": {"merge_body": True}} for name, link in links.items()}
        )
