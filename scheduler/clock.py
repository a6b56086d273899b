"""The app's single source of "now", so that tests travel in time by injection, not by patching."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

JST = ZoneInfo("Asia/Tokyo")


def now() -> datetime:
    """Current time (aware, UTC); `settings.CLOCK_NOW` pins it for tests and demos."""
    pinned = getattr(settings, "CLOCK_NOW", "")
    if pinned:
        if isinstance(pinned, datetime):
            return pinned
        parsed = parse_datetime(pinned)
        if parsed is None or timezone.is_naive(parsed):
            raise ValueError(f"CLOCK_NOW must be an ISO 8601 time with an offset: {pinned!r}")
        return parsed
    return timezone.now()


def local(moment: datetime) -> datetime:
    return moment.astimezone(JST)


def today(at: datetime | None = None) -> date:
    """The date in Japan at `at` (default: now)."""
    return local(at or now()).date()


def at_jst(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=JST)
