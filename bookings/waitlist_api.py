"""Public API of the waiting list (docs/api.md, "Waiting list"): thin views over bookings.waitlist."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from scheduler import api_schema, clock, parsing
from scheduler.api import Serializer
from scheduler.errors import InvalidInput, NotFound
from venues.selectors import venue_and_procedure

from . import waitlist
from .api import (
    INVALID,
    AnswersField,
    BookingApi,
    BookingCreateApi,
    CodeField,
    EmailField,
    JapanTimeField,
    NameField,
    PhoneField,
    SafeJSONParser,
    StrictBooleanField,
    TextField,
    request_language,
)
from .contact import contact_clean
from .eligibility import QUESTIONS
from .links import manage_url, waitlist_url
from .models import WaitlistEntry

SECRET_PATH = OpenApiParameter(
    "secret",
    {"type": "string", "pattern": api_schema.SECRET},
    location=OpenApiParameter.PATH,
    description="The entry's secret (from POST /api/v1/waitlist/) or its offer's (from the offer's message).",
)


@extend_schema_field({"type": "string", "pattern": api_schema.DATE, "example": "2026-12-14"})
class DayField(TextField):
    default_error_messages = {"invalid": "Give a date as YYYY-MM-DD (years 2000 to 2200)."}

    def to_internal_value(self, data):
        value = parsing.date_or_none(super().to_internal_value(data))
        if value is None:
            self.fail("invalid")
        return value


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: "5", 5.0 and true are type errors."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class OfferSerializer(Serializer):
    start = JapanTimeField()
    end = JapanTimeField()
    expires_at = JapanTimeField(help_text="Book it (POST …/accept/) before this; then it passes on.")


class EntrySerializer(Serializer):
    venue = serializers.CharField(source="venue.code")
    procedure = serializers.CharField(source="procedure.code")
    first_day = serializers.DateField()
    last_day = serializers.DateField()
    state = serializers.ChoiceField(choices=WaitlistEntry.State.choices)
    position = serializers.IntegerField(
        allow_null=True, help_text="1 = first in line (for the venue and procedure); null once not waiting."
    )
    offer = OfferSerializer(allow_null=True, help_text="The seat kept for this entry now, or null.")
    booking = serializers.CharField(allow_null=True, help_text="The booking's reference once booked.")


def entry_data(entry: WaitlistEntry) -> dict:
    shown = {
        "venue": entry.venue,
        "procedure": entry.procedure,
        "first_day": entry.first_day,
        "last_day": entry.last_day,
        "state": entry.state,
        "position": waitlist.entry_position(entry),
        "offer": waitlist.entry_offer(entry, now=clock.now()),
        "booking": entry.booking.reference if entry.booking_id else None,
    }
    return EntrySerializer(shown).data


class WaitlistJoinApi(BookingApi):
    parser_classes = [SafeJSONParser]
    throttle_scope = "booking"

    @extend_schema_serializer(component_name="WaitlistRequest")
    class InputSerializer(Serializer):
        venue = CodeField(max_length=40)
        procedure = CodeField(max_length=40)
        first_day = DayField(required=False, help_text="The first day waited for (or give `days`).")
        last_day = DayField(required=False, help_text="The last day waited for; default: first_day.")
        days = StrictIntegerField(
            required=False,
            min_value=1,
            max_value=waitlist.MAX_DAYS,
            help_text="Instead of first_day/last_day: any day from tomorrow to this many days from today.",
        )
        name = NameField(trim_whitespace=False, help_text="1 to 60 characters (once trimmed).")
        phone = PhoneField(required=False, allow_blank=True, trim_whitespace=False, default="")
        email = EmailField(
            required=False,
            allow_blank=True,
            trim_whitespace=False,
            default="",
            help_text="Where the offer of a freed seat is sent; may be empty with a phone and sms_opt_in.",
        )
        sms_opt_in = StrictBooleanField(
            required=False, default=False, help_text="Tell me by SMS at the phone number (where SMS is on)."
        )
        answers = AnswersField(
            required=False, default=dict, help_text="The same yes/no answers as a booking."
        )
        language = serializers.ChoiceField(choices=["ja", "en"], required=False)

        def validate(self, attrs: dict) -> dict:
            errors: dict[str, list[str]] = {}
            attrs["venue"], attrs["procedure"] = venue_and_procedure(attrs["venue"], attrs["procedure"])
            for key in ("venue", "procedure"):
                if attrs[key] is None:
                    errors[key] = [f"No {key} has that code."]
            try:
                attrs["contact"] = contact_clean(
                    name=attrs["name"], phone=attrs["phone"], email=attrs["email"]
                )
            except InvalidInput as error:
                errors.update(error.fields)
            if errors:
                raise serializers.ValidationError(errors)
            return attrs

    @extend_schema_serializer(component_name="WaitlistJoined")
    class OutputSerializer(EntrySerializer):
        secret = serializers.CharField(
            help_text="Shown once: to see, leave or accept (DELETE, GET, POST …/accept/)."
        )
        page_url = serializers.CharField(help_text="The entry's private page (carries the secret).")

    @extend_schema(
        operation_id="waitlist_join",
        request=InputSerializer,
        parameters=api_schema.parameters(idempotent=True),
        responses={
            201: OutputSerializer,
            **api_schema.errors(
                {
                    400: f"{INVALID}; invalid_range (no day of it can still be booked online, past the "
                    "horizon, last_day before first_day, both or neither of first_day and days), "
                    "procedure_not_offered, ineligible (with `reasons`: "
                    + ", ".join(question.reason for question in QUESTIONS.values())
                    + ").",
                    409: "seats_free (with `first_free`: book that instead), already_waiting, "
                    "duplicate_booking, too_many_bookings (bookings and live entries together)",
                },
                body=True,
                idempotent=True,
                throttled=True,
            ),
        },
        description=(
            "Wait for a seat at a venue for a procedure on a day or any day of a range, when nothing is "
            "free there. When a seat frees up, the first in line is offered it: it is kept for them for "
            "WAITLIST_OFFER_MINUTES (e-mail, or SMS with sms_opt_in) and booked with POST …/accept/."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        joined = waitlist.waitlist_join(
            venue=data["venue"],
            procedure=data["procedure"],
            first_day=data.get("first_day"),
            last_day=data.get("last_day"),
            days=data.get("days"),
            contact=data["contact"],
            answers=data["answers"],
            sms_opt_in=data["sms_opt_in"],
            language=request_language(request, data.get("language")),
            now=clock.now(),
        )
        body = {**entry_data(joined.entry), "secret": joined.secret, "page_url": waitlist_url(joined.secret)}
        return Response(body, status=201)


class WaitlistRequestSchema(OpenApiSerializerExtension):
    """Besides each field: the days (first_day, or days) and a way to be told (an e-mail, or a phone
    with sms_opt_in)."""

    target_class = WaitlistJoinApi.InputSerializer
    REACH = [
        {"required": ["email"], "properties": {"email": {"minLength": 1}}},
        {
            "required": ["phone", "sms_opt_in"],
            "properties": {
                "phone": {"minLength": 1},
                "sms_opt_in": {"type": "boolean", "not": {"enum": [False]}},
            },
        },
    ]

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        days = {"anyOf": [{"required": ["first_day"]}, {"required": ["days"]}]}
        return {**schema, "allOf": [days, {"anyOf": self.REACH}]}


class WaitlistDetailApi(BookingApi):
    throttle_scope = "manage"

    @extend_schema(
        operation_id="waitlist_get",
        parameters=api_schema.parameters(SECRET_PATH),
        responses={
            200: EntrySerializer,
            **api_schema.errors({404: "not_found: no entry has that secret."}, throttled=True),
        },
        description="The entry: its state, its place in line, and the seat offered to it (if any).",
    )
    def get(self, request: Request, secret: str) -> Response:
        entry = waitlist.entry_find(secret)
        if entry is None:
            raise NotFound("No such waiting list entry.")
        return Response(entry_data(entry))

    @extend_schema(
        operation_id="waitlist_leave",
        request=None,
        parameters=api_schema.parameters(SECRET_PATH),
        responses={
            204: None,
            **api_schema.errors(
                {404: "not_found: no entry has that secret, or it is no longer waiting (booked, ended)."},
                throttled=True,
            ),
        },
        description="Leave the waiting list; a seat offered meanwhile passes to the next in line at once.",
    )
    def delete(self, request: Request, secret: str) -> Response:
        waitlist.waitlist_leave(secret=secret, now=clock.now())
        return Response(status=204)


class WaitlistAcceptApi(BookingApi):
    throttle_scope = "booking"

    @extend_schema(
        operation_id="waitlist_accept",
        request=None,
        parameters=api_schema.parameters(SECRET_PATH, idempotent=True),
        responses={
            201: BookingCreateApi.OutputSerializer,
            **api_schema.errors(
                {
                    400: "outside_booking_window, ineligible, no_such_slot",
                    404: "not_found: no entry has that secret.",
                    409: "no_offer: no seat is offered now (none yet, or the offer ran out); "
                    "duplicate_booking, too_many_bookings, slot_full",
                },
                idempotent=True,
                throttled=True,
            ),
        },
        description=(
            "The one tap: book the seat offered to the entry, with the entry's contact and answers. The "
            "answer is a booking as POST /api/v1/bookings/ gives it (reference, token once); the same "
            "accept again answers with the same booking."
        ),
    )
    def post(self, request: Request, secret: str) -> Response:
        created = waitlist.waitlist_accept(secret=secret, now=clock.now())
        booking = created.booking
        booking.token = created.token
        booking.manage_url = manage_url(booking.reference, created.token)
        return Response(BookingCreateApi.OutputSerializer(booking).data, status=201)
