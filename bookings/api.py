"""Public API of slots and bookings (thin views over selectors and services)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from scheduler import clock
from scheduler.api import ErrorSerializer
from venues import selectors as venue_selectors

from .slots import availability

AVAILABILITY_MAX_DAYS = 92


class AvailabilityApi(APIView):
    class SlotSerializer(serializers.Serializer):
        start = serializers.DateTimeField()
        end = serializers.DateTimeField()
        remaining = serializers.IntegerField()

    class DaySerializer(serializers.Serializer):
        date = serializers.DateField()
        slots = serializers.SerializerMethodField()

        def get_slots(self, day) -> list[dict]:
            return AvailabilityApi.SlotSerializer(day.slots, many=True).data

    class OutputSerializer(serializers.Serializer):
        venue = serializers.CharField()
        procedure = serializers.CharField()
        days = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        operation_id="venue_availability",
        parameters=[
            OpenApiParameter("procedure", str, required=True),
            OpenApiParameter("from", str, description="YYYY-MM-DD, default today"),
            OpenApiParameter("to", str, description="YYYY-MM-DD, default end of booking horizon"),
        ],
        responses={200: OutputSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
    )
    def get(self, request: Request, venue: str) -> Response:
        place = venue_selectors.venue_get(venue)
        procedure = venue_selectors.offered_procedure_get(place, request.query_params.get("procedure"))
        now = clock.now()
        today = clock.today(now)
        first, last = venue_selectors.date_range(
            request.query_params.get("from"),
            request.query_params.get("to"),
            default_from=today,
            default_to=venue_selectors.horizon_end(place, today=today),
            max_days=AVAILABILITY_MAX_DAYS,
        )
        days = availability(venue=place, procedure=procedure, first=first, last=last, now=now)
        return Response(
            {
                "venue": place.code,
                "procedure": procedure.code,
                "days": self.DaySerializer(days, many=True).data,
            }
        )
