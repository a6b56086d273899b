from __future__ import annotations

from datetime import datetime

import pytest

from scheduler.clock import JST
from venues.services import reference_data_load


@pytest.fixture
def nagano(db):
    """The real Nagano reference data, as `load_nagano` loads it."""
    return reference_data_load()


@pytest.fixture
def travel(settings):
    """Pin the app's clock: `travel(2026, 12, 1, 16, 59)` (JST)."""

    def _travel(*args: int) -> datetime:
        moment = datetime(*args, tzinfo=JST)
        settings.CLOCK_NOW = moment.isoformat()
        return moment

    return _travel
