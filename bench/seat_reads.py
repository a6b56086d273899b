"""The booking path's hottest reads by `Manager.raw()` against the equivalent querysets: the seat
module's `run_for_start`, and `venues.selectors.venue_and_procedure`.

    .venv/bin/python bench/seat_reads.py                        # SQLite (a throwaway test database)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/seat_reads.py

Runs in-process on a throwaway test database (created and dropped here), one venue with its slots;
reports the median time per call of each form over a few thousand calls, and their ratio in the
same run (absolute times vary by 2x from day to day on this machine; the ratio does not).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler.settings")

import django

django.setup()

from django.db import connection
from django.test.utils import setup_test_environment

CALLS = 3000


def orm_run(*, venue, procedure, start):
    """The same read as a queryset (what `run_for_start` replaced)."""
    from bookings.models import Slot
    from bookings.seats import _is_run, slots_needed
    from scheduler import clock

    span_end = start + timedelta(minutes=procedure.duration_minutes)
    rows = (
        Slot.objects.filter(
            venue=venue,
            date=clock.local(start).date(),
            active=True,
            start__gte=start,
            start__lt=span_end,
            window__procedures=procedure,
        )
        .select_related("window")
        .order_by("window_id", "start")
    )
    by_window: dict[int, list] = {}
    for slot in rows:
        by_window.setdefault(slot.window_id, []).append(slot)
    for slots in by_window.values():
        if slots[0].start == start:
            needed = slots_needed(procedure, slots[0].window.slot_minutes)
            if _is_run(slots[:needed], needed):
                return slots[:needed]
    return []


def orm_venue_and_procedure(*, venue_code: str, procedure_code: str):
    from venues.models import Procedure, Venue

    venue = Venue.objects.filter(code=venue_code, is_active=True).first()
    procedure = Procedure.objects.filter(code=procedure_code).first()
    return venue, procedure


def timed(function, **kwargs) -> float:
    samples = []
    for _ in range(CALLS):
        began = time.perf_counter()
        function(**kwargs)
        samples.append(time.perf_counter() - began)
    return statistics.median(samples) * 1e6


def main() -> None:
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, keepdb=False)
    try:
        from bookings.seats import run_for_start
        from bookings.slots import slots_generate
        from scheduler.clock import at_jst
        from tests import builders

        place = builders.venue(code="bench-centre", windows=(("10:00", "11:00"), ("14:30", "15:30")))
        now = at_jst(date(2026, 12, 1), 9)
        slots_generate(now=now, venues=[place])
        procedure = place.procedures.get()
        start = at_jst(date(2026, 12, 14), 10, 30)
        assert [s.pk for s in run_for_start(venue=place, procedure=procedure, start=start)] == [
            s.pk for s in orm_run(venue=place, procedure=procedure, start=start)
        ]
        for function in (run_for_start, orm_run):  # warm up
            timed(function, venue=place, procedure=procedure, start=start)
        raw = timed(run_for_start, venue=place, procedure=procedure, start=start)
        orm = timed(orm_run, venue=place, procedure=procedure, start=start)
        from venues.selectors import venue_and_procedure

        codes = {"venue_code": "bench-centre", "procedure_code": procedure.code}
        assert venue_and_procedure(**codes) == orm_venue_and_procedure(**codes)
        for function in (venue_and_procedure, orm_venue_and_procedure):
            timed(function, **codes)
        raw_vp = timed(venue_and_procedure, **codes)
        orm_vp = timed(orm_venue_and_procedure, **codes)
        print(f"database: {connection.vendor}; {CALLS} calls each, median per call")
        print(f"{'read':<22} {'raw() us':>9} {'queryset us':>12} {'queryset/raw':>13}")
        print(f"{'run_for_start':<22} {raw:9.1f} {orm:12.1f} {orm / raw:13.2f}")
        print(f"{'venue_and_procedure':<22} {raw_vp:9.1f} {orm_vp:12.1f} {orm_vp / raw_vp:13.2f}")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
