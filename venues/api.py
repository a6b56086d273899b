"""Read-only reference API: procedures, venues and their calendar."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from scheduler import clock
from scheduler.api import ErrorSerializer

from . import selectors
from .calendar import venue_calendar

CALENDAR_MAX_DAYS = 366


class ProcedureListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "Procedure"

        code = serializers.CharField()
        name = serializers.CharField()
        name_en = serializers.CharField()
        duration_minutes = serializers.IntegerField()

    @extend_schema(operation_id="procedures_list", responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        from .models import Procedure

        return Response(self.OutputSerializer(Procedure.objects.all(), many=True).data)


class VenueListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "Venue"

        code = serializers.CharField()
        name = serializers.CharField()
        name_en = serializers.CharField()
        kind = serializers.CharField()
        area = serializers.CharField()
        address = serializers.CharField()
        phone = serializers.CharField()
        procedures = serializers.SerializerMethodField()

        def get_procedures(self, venue) -> list[str]:
            return [p.code for p in sorted(venue.procedures.all(), key=lambda p: (p.sort_order, p.code))]

    @extend_schema(
        operation_id="venues_list",
        parameters=[OpenApiParameter("procedure", str, description="only venues that take this procedure")],
        responses={200: OutputSerializer(many=True), 400: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        code = request.query_params.get("procedure")
        procedure = selectors.procedure_get(code) if code is not None else None
        return Response(self.OutputSerializer(selectors.venue_list(procedure=procedure), many=True).data)


class CalendarDaySerializer(serializers.Serializer):
    class Meta:
        ref_name = "CalendarDay"

    date = serializers.DateField()
    open = serializers.BooleanField()
    reason = serializers.ChoiceField(choices=["weekend", "holiday", "year_end", "closure"], allow_null=True)
    note = serializers.CharField(allow_blank=True, help_text="the holiday's name, or the closure's note")


class VenueCalendarApi(APIView):
    DaySerializer = CalendarDaySerializer

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "Calendar"

        venue = serializers.CharField()
        days = CalendarDaySerializer(many=True)

    @extend_schema(
        operation_id="venue_calendar",
        parameters=[
            OpenApiParameter("from", str, description="YYYY-MM-DD, default today"),
            OpenApiParameter("to", str, description="YYYY-MM-DD, default end of booking horizon"),
        ],
        responses={200: OutputSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
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
