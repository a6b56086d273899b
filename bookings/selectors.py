"""Reads of bookings for the API, the pages and the admin."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Booking


def bookings_of_day(*, venue_ids, day) -> QuerySet[Booking]:
    return (
        Booking.objects.filter(venue_id__in=venue_ids, slot__date=day)
        .select_related("procedure", "slot", "venue")
        .order_by("start", "id")
    )
