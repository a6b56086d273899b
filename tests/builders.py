"""Small builders for tests: a venue with windows in one call, with sensible defaults."""

from __future__ import annotations

import itertools
from datetime import time

from venues.models import Closure, Procedure, ReceptionWindow, Venue

_seq = itertools.count(1)


def procedure(code: str = "record", duration: int = 10) -> Procedure:
    obj, _ = Procedure.objects.get_or_create(
        code=code, defaults={"name": code, "name_en": code, "duration_minutes": duration}
    )
    return obj


def venue(
    *,
    code: str | None = None,
    kind: str = Venue.Kind.LICENCE_CENTRE,
    procedures: tuple[str, ...] = ("record",),
    windows: tuple[tuple[str, str], ...] = (("10:00", "11:00"),),
    counters: int = 1,
    **fields,
) -> Venue:
    n = next(_seq)
    place = Venue.objects.create(
        code=code or f"test-venue-{n}",
        name=f"テスト会場{n}",
        name_en=f"Test venue {n}",
        kind=kind,
        area=Venue.Area.HOKUSHIN,
        **fields,
    )
    procs = [procedure(code) for code in procedures]
    place.procedures.set(procs)
    for index, (start, end) in enumerate(windows):
        window(place, start, end, counters=counters, procedures=procs, label=f"w{index}")
    return place


def window(
    place: Venue,
    start: str,
    end: str,
    *,
    counters: int = 1,
    procedures=(),
    label: str | None = None,
    **fields,
) -> ReceptionWindow:
    h1, m1 = map(int, start.split(":"))
    h2, m2 = map(int, end.split(":"))
    obj = ReceptionWindow.objects.create(
        venue=place,
        label=label or f"w{next(_seq)}",
        start=time(h1, m1),
        end=time(h2, m2),
        counters=counters,
        **fields,
    )
    obj.procedures.set(procedures or place.procedures.all())
    return obj


def closure(
    place: Venue, start_date, end_date=None, start_time=None, end_time=None, note: str = ""
) -> Closure:
    return Closure.objects.create(
        venue=place,
        start_date=start_date,
        end_date=end_date or start_date,
        start_time=start_time,
        end_time=end_time,
        note=note,
    )
