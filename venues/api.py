"""Read-only reference API: procedures, venues and their calendar."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from scheduler import api_schema, clock
from scheduler.api import Serializer

from . import selectors
from .calendar import venue_calendar
from .models import Venue

CALENDAR_MAX_DAYS = 366


class ProcedureListApi(APIView):
    class OutputSerializer(Serializer):
        class Meta:
            ref_name = "Procedure"

        code = serializers.CharField()
        name = serializers.CharField()
        name_en = serializers.CharField()
        duration_minutes = serializers.IntegerField(min_value=1, max_value=240)

    @extend_schema(
        operation_id="procedures_list",
        parameters=api_schema.parameters(),
        responses={200: OutputSerializer(many=True), **api_schema.errors({})},
    )
    def get(self, request: Request) -> Response:
        from .models import Procedure

        return Response(self.OutputSerializer(Procedure.objects.all(), many=True).data)


class VenueListApi(APIView):
    class OutputSerializer(Serializer):
        class Meta:
            ref_name = "Venue"

        code = serializers.CharField()
        name = serializers.CharField()
        name_en = serializers.CharField()
        kind = serializers.ChoiceField(choices=Venue.Kind.choices)
        area = serializers.ChoiceField(choices=Venue.Area.choices)
        city = serializers.CharField()
        city_en = serializers.CharField(help_text="Empty where no English spelling is recorded yet.")
        address = serializers.CharField()
        address_en = serializers.CharField(help_text="Empty where no English address is recorded yet.")
        phone = serializers.CharField(
            source="public_phone",
            help_text="Empty while unknown, or while an administrator has not yet confirmed it.",
        )
        phone_pending = serializers.BooleanField(
            help_text="True when a number is known but not confirmed yet (it is then held back)."
        )
        parent_name = serializers.CharField(
            source="parent.name", allow_null=True, default=None, help_text="A koban's police station."
        )
        parent_name_en = serializers.CharField(source="parent.name_en", allow_null=True, default=None)
        procedures = serializers.SerializerMethodField()

        def get_procedures(self, venue) -> list[str]:
            return [p.code for p in sorted(venue.procedures.all(), key=lambda p: (p.sort_order, p.code))]

    @extend_schema(
        operation_id="venues_list",
        parameters=api_schema.parameters(
            api_schema.code_query(
                "procedure", required=False, description="only venues that take this procedure"
            )
        ),
        responses={
            200: OutputSerializer(many=True),
            **api_schema.errors({400: "unknown_procedure: no procedure has that code (or it is empty)."}),
        },
    )
    def get(self, request: Request) -> Response:
        code = request.query_params.get("procedure")
        procedure = selectors.procedure_get(code) if code is not None else None
        return Response(self.OutputSerializer(selectors.venue_list(procedure=procedure), many=True).data)


class CalendarDaySerializer(Serializer):
    class Meta:
        ref_name = "CalendarDay"

    date = serializers.DateField()
    open = serializers.BooleanField()
    reason = serializers.ChoiceField(choices=["weekend", "holiday", "year_end", "closure"], allow_null=True)
    note = serializers.CharField(allow_blank=True, help_text="the holiday's name, or the closure's note")


class VenueCalendarApi(APIView):
    DaySerializer = CalendarDaySerializer

    class OutputSerializer(Serializer):
        class Meta:
            ref_name = "Calendar"

        venue = serializers.CharField()
        days = CalendarDaySerializer(many=True)

    @extend_schema(
        operation_id="venue_calendar",
        parameters=api_schema.parameters(
            api_schema.VENUE_PATH,
            api_schema.date_query("from", "today"),
            api_schema.date_query("to", "the end of the booking horizon"),
        ),
        responses={
            200: OutputSerializer,
            **api_schema.errors(
                {
                    400: "invalid_range: a date not YYYY-MM-DD in the years 2000 to 2200, `to` before "
                    f"`from`, or more than {CALENDAR_MAX_DAYS} days.",
                    404: "unknown_venue: no public venue has that code.",
                }
            ),
        },
    )
    def get(self, request: Request, venue: str) -> Response:
        place = selectors.venue_get(venue)
        today = clock.today()
        first, last = selectors.date_range(
            request.query_params.get("from"),
            request.query_params.get("to"),
            default_from=today,
            default_to=selectors.horizon_end(place, today=today),
            max_days=CALENDAR_MAX_DAYS,
        )
        days = [
            {"date": s.date, "open": s.open, "reason": s.reason, "note": s.note}
            for s in venue_calendar(place, first, last)
        ]
        return Response({"venue": place.code, "days": self.DaySerializer(days, many=True).data})
