"""Public API of slots and bookings (thin views over selectors and services)."""

from __future__ import annotations

import re

from django.http import HttpResponse
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from scheduler import api_schema, challenge, clock, parsing
from scheduler.api import PlainOutputSerializer, Serializer
from scheduler.errors import InvalidInput
from scheduler.throttling import ScopeThrottle
from venues.selectors import venue_and_procedure

from . import holds, seats, services
from .contact import contact_clean, sms_opt_in_clean
from .eligibility import QUESTIONS
from .links import manage_url
from .models import Booking

JSON = "application/json"


class AvailableSlotSerializer(Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    remaining = serializers.IntegerField(min_value=0)


class AvailableDaySerializer(Serializer):
    date = serializers.DateField()
    slots = AvailableSlotSerializer(many=True)


class AvailabilityApi(APIView):
    """The serializers describe the response for the schema; the body itself is built directly
    (hundreds of slots per call: DRF's per-field machinery cost more than the query)."""

    @extend_schema_serializer(component_name="Availability")
    class OutputSerializer(Serializer):
        venue = serializers.CharField()
        procedure = serializers.CharField()
        days = AvailableDaySerializer(many=True)

    @extend_schema(
        operation_id="venue_availability",
        description=(
            "Bookable slots of a venue for a procedure, day by day (closed days absent, full slots with "
            "remaining 0); at most 92 days per request."
        ),
        parameters=api_schema.parameters(
            api_schema.VENUE_PATH,
            api_schema.code_query("procedure", required=True, description="A procedure's code."),
            api_schema.date_query("from", "today"),
            api_schema.date_query("to", "the end of the booking horizon"),
        ),
        responses={
            200: OutputSerializer,
            **api_schema.errors(
                {
                    400: "unknown_procedure (or none given), procedure_not_offered; invalid_range: a date "
                    "not YYYY-MM-DD in the years 2000 to 2200, `to` before `from`, or more than "
                    f"{seats.AVAILABILITY_MAX_DAYS} days.",
                    404: "unknown_venue: no public venue has that code.",
                }
            ),
        },
    )
    def get(self, request: Request, venue: str) -> Response:
        params = request.query_params
        body = seats.availability_answer(
            venue_code=venue,
            procedure_code=params.get("procedure"),
            raw_from=params.get("from"),
            raw_to=params.get("to"),
            now=clock.now(),
        )
        return HttpResponse(body, content_type=JSON)  # kept rendered: a hit neither parses nor renders


# --- Bookings (residents) ----------------------------------------------------------------

NAMED = ("venue", "procedure", "start")
CODE_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
TIME_PATTERN = parsing.MOMENT
TOKEN_HEADER = api_schema.TOKEN_HEADER
INVALID = (
    "invalid: a field is missing, of the wrong type or not valid, an unknown venue or procedure code "
    "included (`fields` names each); malformed: the body is not JSON"
)
CHALLENGE = "challenge_required, challenge_failed: with API_CHALLENGE=1, the proof of work (X-Altcha)."


class SafeJSONParser(JSONParser):
    """JSON nested too deeply is malformed input (a 400), not a crash."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise ParseError("JSON parse error - nested too deeply.") from error


class TextField(serializers.CharField):
    """Text only: a number or a boolean sent for a text field is a type error, not text."""

    default_error_messages = {"invalid": "Must be text."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(api_schema.CODE_SCHEMA)
class CodeField(TextField):
    """A venue or procedure code, checked for its shape before it gets near the database."""

    default_error_messages = {"invalid": "Must be a code (lower-case letters, digits and hyphens)."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not CODE_PATTERN.fullmatch(value):
            self.fail("invalid")
        return value


class JapanTimeField(serializers.DateTimeField):
    """ISO 8601 with its offset in, Japan time out (`2026-12-14T10:00:00+09:00`); naive times refused."""

    default_error_messages = {
        "invalid": "Give a time in ISO 8601 with its offset, e.g. 2026-12-14T10:00:00+09:00.",
        "range": "That time is out of range.",
    }

    def to_internal_value(self, value):
        parsed = parsing.moment_or_none(value)
        if parsed is None:
            self.fail("range" if isinstance(value, str) and TIME_PATTERN.fullmatch(value) else "invalid")
        return clock.local(parsed)

    def to_representation(self, value):
        return clock.local(value).isoformat()


@extend_schema_field(api_schema.MOMENT_SCHEMA)
class JapanTimeInput(JapanTimeField):
    """A time given by the client: the schema says what `parsing.moment_or_none` takes."""


# The contact fields are checked by `contact_clean` (shared with the pages), the answers by the
# eligibility rules: their schemas are said here, as those checks take them.
@extend_schema_field({"type": "string", "pattern": api_schema.SECRET, "maxLength": 200})
class HoldField(TextField):
    pass


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 60, "pattern": "[^\\s]"})
class NameField(TextField):
    """1 to 60 characters once trimmed, any script, no control characters. Not `allow_blank` (so the
    schema does not offer an empty name), yet an empty one reaches `contact_clean`, which says why."""

    def run_validation(self, data=serializers.empty):
        return "" if data == "" else super().run_validation(data)


@extend_schema_field({"type": "string", "maxLength": 30})
class PhoneField(TextField):
    pass


@extend_schema_field({"type": "string", "maxLength": 254})
class EmailField(TextField):
    pass


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            key: {"type": "boolean", "description": "Optional: absent counts as true."}
            if question.optional
            else {"type": "boolean"}
            for key, question in QUESTIONS.items()
        },
        "additionalProperties": True,
    }
)
class AnswersField(serializers.DictField):
    pass


class BookingApi(APIView):
    """Booking answers carry personal data (and, once, the token): never kept by a cache.
    Each endpoint counts against its fair-share scope (`throttle_scope`, THROTTLE_RATES)."""

    throttle_classes = [ScopeThrottle]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response


def request_language(request: Request, given: str | None) -> str:
    """The booking's language: the `language` field, else Accept-Language (Japanese by default)."""
    if given:
        return given
    return "en" if (getattr(request, "LANGUAGE_CODE", "") or "").startswith("en") else "ja"


def booking_for_request(request: Request, reference: str) -> Booking:
    """The booking named in the path, if the X-Booking-Token header is its token; else 404."""
    return services.booking_get_for_token(reference=reference, token=request.headers.get("X-Booking-Token"))


class StrictBooleanField(serializers.BooleanField):
    """`true` or `false` only (DRF's BooleanField would also take "yes", 1, "on"…): the one
    parser of a boolean in a request body."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class BookingOutputSerializer(PlainOutputSerializer):
    """A booking as its holder sees it (never the token: that is shown once, at creation)."""

    reference = serializers.CharField()
    status = serializers.ChoiceField(choices=Booking.Status.choices)
    venue = serializers.CharField(source="venue.code")
    venue_name = serializers.CharField(source="venue.name")
    venue_name_en = serializers.CharField(source="venue.name_en")
    procedure = serializers.CharField(source="procedure.code")
    procedure_name = serializers.CharField(source="procedure.name")
    procedure_name_en = serializers.CharField(source="procedure.name_en")
    start = JapanTimeField()
    end = JapanTimeField()
    name = serializers.CharField()
    phone = serializers.CharField(help_text="Digits only.")
    email = serializers.CharField()
    language = serializers.ChoiceField(choices=["ja", "en"])
    sms_opt_in = serializers.BooleanField(help_text="Messages go by SMS too (where SMS is on).")


class BookingCreateApi(BookingApi):
    parser_classes = [SafeJSONParser]
    throttle_scope = "booking"

    @extend_schema_serializer(component_name="BookingRequest")
    class InputSerializer(Serializer):
        venue = CodeField(max_length=40, required=False, help_text="Required unless `hold` is given.")
        procedure = CodeField(max_length=40, required=False, help_text="Required unless `hold` is given.")
        start = JapanTimeInput(required=False, help_text="Required unless `hold` is given.")
        hold = HoldField(
            required=False,
            max_length=200,
            help_text="A hold from POST /api/v1/holds/: books its seat (venue, procedure, start optional).",
        )
        name = NameField(
            trim_whitespace=False,
            help_text="1 to 60 characters (once trimmed), any script, no control characters.",
        )
        phone = PhoneField(
            required=False,
            allow_blank=True,
            trim_whitespace=False,
            default="",
            help_text="A Japanese number, 10 or 11 digits from 0; hyphens, spaces and full-width digits "
            "are fine. May be empty when an email is given.",
        )
        email = EmailField(
            required=False,
            allow_blank=True,
            trim_whitespace=False,
            default="",
            help_text="An email address; may be empty when a phone is given.",
        )
        answers = AnswersField(
            required=False,
            default=dict,
            help_text="Yes/no answers; keys a procedure does not ask may be left out (and are ignored).",
        )
        language = serializers.ChoiceField(
            choices=["ja", "en"], required=False, help_text="Default: from Accept-Language, else ja."
        )
        sms_opt_in = StrictBooleanField(
            required=False,
            default=False,
            help_text="Also send the confirmation, the reminder and a venue's cancellation by SMS to "
            "`phone`, which must then be a mobile number (070, 080, 090). Honoured where SMS is on.",
        )

        def validate(self, attrs: dict) -> dict:
            """Both codes in one query (`venue_and_procedure`), with the contact's own checks."""
            errors: dict[str, list[str]] = {}
            if "hold" not in attrs:
                errors.update({key: ["This field is required."] for key in NAMED if key not in attrs})
            if not errors:
                codes = attrs.get("venue"), attrs.get("procedure")
                found = venue_and_procedure(*codes) if all(codes) else (None, None)
                for key, code, obj in zip(("venue", "procedure"), codes, found):
                    if code is not None and obj is None:
                        errors[key] = [f"No {key} has that code."]
                    attrs[key] = obj
            try:
                attrs["contact"] = contact_clean(
                    name=attrs["name"], phone=attrs["phone"], email=attrs["email"]
                )
                sms_opt_in_clean(contact=attrs["contact"], sms_opt_in=attrs["sms_opt_in"])
            except InvalidInput as error:
                errors.update(error.fields)
            if errors:
                raise serializers.ValidationError(errors)
            return attrs

    @extend_schema_serializer(component_name="BookingCreated")
    class OutputSerializer(BookingOutputSerializer):
        token = serializers.CharField(help_text="Shown once: needed to look up, reschedule or cancel.")
        manage_url = serializers.CharField(help_text="The private page of this booking (carries the token).")

    @extend_schema(
        operation_id="booking_create",
        request=InputSerializer,
        parameters=api_schema.parameters(api_schema.CHALLENGE_HEADER, idempotent=True),
        responses={
            201: OutputSerializer,
            **api_schema.errors(
                {
                    400: f"{INVALID}; no_such_slot, outside_booking_window, procedure_not_offered; "
                    "ineligible (with `reasons`: "
                    + ", ".join(question.reason for question in QUESTIONS.values())
                    + ").",
                    403: CHALLENGE,
                    404: "not_found: the hold was booked already, by somebody else.",
                    409: "slot_full, duplicate_booking, too_many_bookings",
                },
                body=True,
                idempotent=True,
                throttled=True,
            ),
        },
        description=(
            "Book one visit, at a start or on a hold's seat. 400: invalid (with fields), no_such_slot, "
            "outside_booking_window, ineligible (with reasons), procedure_not_offered. 409: slot_full, "
            "duplicate_booking. The same hold booked again by the same person answers with that booking."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not data.get("hold"):  # a hold already cost one proof of work
            challenge.api_check(request)
        created = services.booking_create(
            venue=data.get("venue"),
            procedure=data.get("procedure"),
            start=data.get("start"),
            hold=data.get("hold"),
            contact=data["contact"],
            answers=data["answers"],
            now=clock.now(),
            language=request_language(request, data.get("language")),
            sms_opt_in=data["sms_opt_in"],
        )
        booking = created.booking
        booking.token = created.token
        booking.manage_url = manage_url(booking.reference, created.token)
        return Response(self.OutputSerializer(booking).data, status=201)


class BookingRequestSchema(OpenApiSerializerExtension):
    """What the serializer's `validate` and `contact_clean` require besides each field: `venue`,
    `procedure` and `start` unless a `hold` is given, and a phone or an e-mail address."""

    target_class = BookingCreateApi.InputSerializer
    REACH = [{"required": [key], "properties": {key: {"minLength": 1}}} for key in ("phone", "email")]

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        where = {"anyOf": [{"required": list(NAMED)}, {"required": ["hold"]}]}
        return {**schema, "allOf": [where, {"anyOf": self.REACH}]}


class BookingDetailApi(BookingApi):
    throttle_scope = "lookup"

    @extend_schema(
        operation_id="booking_get",
        parameters=api_schema.parameters(api_schema.REFERENCE_PATH, TOKEN_HEADER),
        responses={
            200: BookingOutputSerializer,
            **api_schema.errors(
                {404: "not_found: unknown reference, or a wrong or missing token."}, throttled=True
            ),
        },
        description="Look up a booking. A wrong or missing token and an unknown reference are the same 404.",
    )
    def get(self, request: Request, reference: str) -> Response:
        return Response(BookingOutputSerializer(booking_for_request(request, reference)).data)


class BookingCancelApi(BookingApi):
    throttle_scope = "manage"

    @extend_schema(
        operation_id="booking_cancel",
        request=None,
        parameters=api_schema.parameters(api_schema.REFERENCE_PATH, TOKEN_HEADER, idempotent=True),
        responses={
            200: BookingOutputSerializer,
            **api_schema.errors(
                {
                    400: "outside_booking_window: the visit has started.",
                    404: "not_found: unknown reference, or a wrong or missing token.",
                    409: "not_active: cancelled already, or no longer active",
                },
                idempotent=True,
                throttled=True,
            ),
        },
        description=(
            "Cancel until the visit starts; the seat is free again at once. 409 not_active when it is "
            "no longer active (e.g. cancelled already); 400 outside_booking_window once it has started."
        ),
    )
    def post(self, request: Request, reference: str) -> Response:
        booking = booking_for_request(request, reference)
        booking = services.booking_cancel(booking=booking, now=clock.now())
        return Response(BookingOutputSerializer(booking).data)


class BookingRescheduleApi(BookingApi):
    parser_classes = [SafeJSONParser]
    throttle_scope = "manage"

    @extend_schema_serializer(component_name="RescheduleRequest")
    class InputSerializer(Serializer):
        start = JapanTimeInput()

    @extend_schema(
        operation_id="booking_reschedule",
        request=InputSerializer,
        parameters=api_schema.parameters(api_schema.REFERENCE_PATH, TOKEN_HEADER, idempotent=True),
        responses={
            200: BookingOutputSerializer,
            **api_schema.errors(
                {
                    400: f"{INVALID}; no_such_slot, outside_booking_window.",
                    404: "not_found: unknown reference, or a wrong or missing token.",
                    409: "slot_full, not_active",
                },
                body=True,
                idempotent=True,
                throttled=True,
            ),
        },
        description=(
            "Move to another start time at the same venue for the same procedure, atomically: the new "
            "seat is taken and the old one freed, or nothing changes. 409 slot_full / not_active; "
            "400 no_such_slot / outside_booking_window / invalid."
        ),
    )
    def post(self, request: Request, reference: str) -> Response:
        booking = booking_for_request(request, reference)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        booking = services.booking_reschedule(
            booking=booking, start=serializer.validated_data["start"], now=clock.now()
        )
        return Response(BookingOutputSerializer(booking).data)


# --- Holds (version 1.1) -----------------------------------------------------------------------


class HoldApi(BookingApi):
    parser_classes = [SafeJSONParser]
    throttle_scope = "hold"

    @extend_schema_serializer(component_name="HoldRequest")
    class InputSerializer(Serializer):
        venue = CodeField(max_length=40)
        procedure = CodeField(max_length=40)
        start = JapanTimeInput()

        def validate(self, attrs: dict) -> dict:
            attrs["venue"], attrs["procedure"] = venue_and_procedure(attrs["venue"], attrs["procedure"])
            errors = {
                key: [f"No {key} has that code."] for key in ("venue", "procedure") if attrs[key] is None
            }
            if errors:
                raise serializers.ValidationError(errors)
            return attrs

    @extend_schema_serializer(component_name="Hold")
    class OutputSerializer(Serializer):
        hold = serializers.CharField(
            help_text="The hold's secret: book with it, or DELETE it to free the seat."
        )
        venue = serializers.CharField(source="venue.code")
        procedure = serializers.CharField(source="procedure.code")
        start = JapanTimeField()
        end = JapanTimeField()
        expires_at = JapanTimeField()

    @extend_schema(
        operation_id="hold_create",
        request=InputSerializer,
        parameters=api_schema.parameters(api_schema.CHALLENGE_HEADER, idempotent=True),
        responses={
            201: OutputSerializer,
            **api_schema.errors(
                {
                    400: f"{INVALID}; no_such_slot, outside_booking_window, procedure_not_offered.",
                    403: CHALLENGE,
                    409: "slot_full",
                },
                body=True,
                idempotent=True,
                throttled=True,
            ),
        },
        description=(
            "Keep a seat (or run of seats) while the booking form is filled in, until `expires_at`: "
            "it counts as taken at once. Errors as for a booking."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        challenge.api_check(request)
        held = holds.hold_create(
            venue=data["venue"], procedure=data["procedure"], start=data["start"], now=clock.now()
        )
        held.hold.hold = held.secret
        return Response(self.OutputSerializer(held.hold).data, status=201)


class HoldDetailApi(BookingApi):
    throttle_scope = "hold"

    @extend_schema(
        operation_id="hold_release",
        request=None,
        parameters=api_schema.parameters(api_schema.HOLD_PATH),
        responses={
            204: None,
            **api_schema.errors({404: "not_found: the hold is unknown, used or expired."}, throttled=True),
        },
        description="Free the held seat at once. An unknown, used or expired hold is 404 not_found.",
    )
    def delete(self, request: Request, hold: str) -> Response:
        holds.hold_release(secret=hold, now=clock.now())
        return Response(status=204)
