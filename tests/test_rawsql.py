"""Rows read by fixed SQL on the booking path are the very instances the ORM would build."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.forms.models import model_to_dict

from bookings.models import Slot
from bookings.slots import run_for_start, slots_generate_for_venue
from scheduler.clock import JST
from tests import builders
from venues.models import Procedure, Venue
from venues.selectors import venue_and_procedure

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=JST)


def fields_of(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_venue_and_procedure_equal_the_orm_instances(db):
    place = builders.venue(code="raw-venue")
    venue, procedure = venue_and_procedure("raw-venue", "record")
    assert fields_of(venue) == fields_of(Venue.objects.get(pk=place.pk))
    assert fields_of(procedure) == fields_of(Procedure.objects.get(code="record"))


def test_unknown_or_inactive_codes_read_as_none(db):
    place = builders.venue(code="closed-venue")
    Venue.objects.filter(pk=place.pk).update(is_active=False)
    assert venue_and_procedure("closed-venue", "record") == (None, Procedure.objects.get(code="record"))
    assert venue_and_procedure("no-such-venue", "no-such-procedure") == (None, None)


def test_a_run_of_slots_equals_the_orm_rows_with_their_window(db):
    place = builders.venue(windows=(("10:00", "11:00"),))
    long_procedure = builders.procedure("one-stop", duration=25)
    place.procedures.add(long_procedure)
    place.windows.get().procedures.add(long_procedure)
    day = date(2026, 12, 14)
    slots_generate_for_venue(venue=place, first=day, last=day, now=NOW)
    start = datetime(2026, 12, 14, 10, 10, tzinfo=JST)

    run = run_for_start(venue=place, procedure=long_procedure, start=start)

    expected = list(Slot.objects.filter(venue=place, start__gte=start).order_by("start")[:3])
    assert [fields_of(slot) for slot in run] == [fields_of(slot) for slot in expected]
    assert run[0].start == start and run[0].start.utcoffset() is not None  # aware, as the ORM's
    assert run[-1].end == start + timedelta(minutes=30)
    assert model_to_dict(run[0].window) == model_to_dict(expected[0].window)
