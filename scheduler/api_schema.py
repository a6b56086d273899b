"""The OpenAPI description of what the API takes and answers, shared by the views of both apps.

The patterns say what the server's own parsers accept (`scheduler.parsing`, the code shape of
`venues.selectors`, `bookings.references`), so that a client generating requests from the schema
(schemathesis in `make proof`) gets no 400 for the shape of a value and the server accepts nothing
the schema calls invalid. ASCII classes only (`[0-9]`, never `\\d`): the same in ECMA-262 and Python.
Every error response is `{"code", "detail", ...}` (api.md), 429 and 503 with `Retry-After`.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from .api import ErrorSerializer

CODE = "^[a-z0-9][a-z0-9-]{0,39}$"
_YEAR = "(?:2[01][0-9]{2}|2200)"  # parsing.YEARS: 2000 to 2200
_DAY = f"{_YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.][0-9]{1,6})?)?"
_OFFSET = "(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
DATE = f"^{_DAY}$"
MOMENT = f"^{_DAY}[Tt ]{_TIME}{_OFFSET}$"
REFERENCE = "^[A-HJKMNP-Za-hjkmnp-z2-9]{8}$"  # references.REFERENCE_ALPHABET, either case
SECRET = "^[A-Za-z0-9_-]{43}$"  # references.new_secret(): 32 random bytes, URL-safe base64
IDEMPOTENCY_KEY = "^[!-~]{1,255}$"  # idempotency.KEY_SHAPE: printable ASCII, no space

CODE_SCHEMA = {"type": "string", "pattern": CODE, "minLength": 1, "maxLength": 40}
MOMENT_SCHEMA = {
    "type": "string",
    "pattern": MOMENT,
    "example": "2026-12-14T10:00:00+09:00",
    "description": "ISO 8601 with its offset (years 2000 to 2200).",
}


def date_query(name: str, default: str) -> OpenApiParameter:
    """`from` / `to`: `YYYY-MM-DD` in the years 2000 to 2200; empty or absent is the default."""
    return OpenApiParameter(
        name,
        {"type": "string", "pattern": f"^(?:{_DAY})?$", "example": "2026-12-14"},
        description=f"YYYY-MM-DD (years 2000 to 2200); absent or empty: {default}.",
    )


def code_query(name: str, *, required: bool, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, dict(CODE_SCHEMA), required=required, description=description)


VENUE_PATH = OpenApiParameter(
    "venue", dict(CODE_SCHEMA), location=OpenApiParameter.PATH, description="A venue's code."
)
REFERENCE_PATH = OpenApiParameter(
    "reference",
    {"type": "string", "pattern": REFERENCE},
    location=OpenApiParameter.PATH,
    description="The booking's reference (8 characters, no 0/O/1/I/L).",
)
HOLD_PATH = OpenApiParameter(
    "hold",
    {"type": "string", "pattern": SECRET},
    location=OpenApiParameter.PATH,
    description="The hold's secret, as POST /api/v1/holds/ returned it.",
)
TOKEN_HEADER = OpenApiParameter(
    "X-Booking-Token",
    {"type": "string", "pattern": SECRET},
    location=OpenApiParameter.HEADER,
    required=True,
    description="The secret token returned once, when the booking was made.",
)
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "pattern": IDEMPOTENCY_KEY},
    location=OpenApiParameter.HEADER,
    description=(
        "1 to 255 printable ASCII characters. A repeat with the same key and request within 24 hours "
        "gets the first response again (with `Idempotent-Replayed: true`); another request under the "
        "same key is 422 idempotency_mismatch, a repeat while the first runs 409 idempotency_in_progress."
    ),
)
CHALLENGE_HEADER = OpenApiParameter(
    "X-Altcha",
    {"type": "string", "minLength": 1, "maxLength": 4096},
    location=OpenApiParameter.HEADER,
    description=(
        "Only where the installation sets API_CHALLENGE=1: a solved proof of work (ALTCHA v2 payload, "
        "base64) of a challenge from GET /api/v1/challenge/, each accepted once. Without it 403 "
        "challenge_required; wrong, expired or used 403 challenge_failed."
    ),
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    {"type": "integer", "minimum": 1},
    location=OpenApiParameter.HEADER,
    response=[429, 503],
    required=True,
    description="Seconds to wait before trying again.",
)

BUSY = "busy: the database or the cache is unavailable; try again after Retry-After."
THROTTLED = "throttled: too many requests of this kind from this address; try again after Retry-After."
BODY = {
    413: "too_large: the body is over 2.5 MB.",
    415: "unsupported_media_type: the body is not sent as application/json.",
}
MISMATCH = "idempotency_mismatch: this Idempotency-Key was used with another request."
IN_PROGRESS = "idempotency_in_progress: the first request with this Idempotency-Key is still running"


def errors(
    described: dict[int, str], *, body: bool = False, idempotent: bool = False, throttled: bool = False
) -> dict:
    """The error responses of an operation, each with the codes it can carry: those given, and
    413/415 for a JSON body, 409/422 for an `Idempotency-Key` (every POST), 429 for a throttled
    scope, 503 always."""
    by_status = {**described, **(BODY if body else {}), 503: BUSY}
    if idempotent:
        by_status[409] = f"{by_status[409]}; {IN_PROGRESS}." if 409 in by_status else f"{IN_PROGRESS}."
        by_status[422] = MISMATCH
    if throttled:
        by_status[429] = THROTTLED
    return {
        status: OpenApiResponse(ErrorSerializer, description=text)
        for status, text in sorted(by_status.items())
    }


def parameters(*given: OpenApiParameter, idempotent: bool = False) -> list[OpenApiParameter]:
    """The operation's parameters, with `Idempotency-Key` (every POST) and the `Retry-After` answer."""
    return [*given, *([IDEMPOTENCY_HEADER] if idempotent else []), RETRY_AFTER]
