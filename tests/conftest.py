from __future__ import annotations

from datetime import datetime

import pytest

from scheduler.clock import JST
from venues.services import reference_data_load


@pytest.fixture(autouse=True, scope="session")
def fast_password_hashing():
    """Staff accounts are made and logged in to by hundreds of tests: PBKDF2's million rounds
    cost 0.3-0.6 s a password here, so the tests hash with MD5 (Django's advice for test runs;
    production keeps PBKDF2, settings.py does not name hashers)."""
    from django.conf import settings

    saved = settings.PASSWORD_HASHERS
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    yield
    settings.PASSWORD_HASHERS = saved


@pytest.fixture(autouse=True)
def celery_eager(request):
    """Tasks run in-process for every test, even where REDIS_URL is set (CI's second run), except
    tests marked `redis`, which talk to the real broker and worker."""
    if request.node.get_closest_marker("redis"):
        yield
        return
    from scheduler.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture(autouse=True)
def outbox_by_task(settings):
    """Rows are sent in-process right after commit, on every database (the PostgreSQL default,
    a NOTIFY for `outbox_listen`, is tested with a listener running: tests/test_outbox_listener.py)."""
    settings.OUTBOX_WAKE = "task"


@pytest.fixture(autouse=True)
def fresh_inquiry_numbers():
    """The footer's numbers are kept per process for five minutes; each test has its own data."""
    from bookings.templatetags import resident

    resident._inquiry = (0.0, [])


@pytest.fixture(autouse=True)
def fresh_reference_rows():
    """Each test reads venues and procedures afresh (its database is new; ids are reused)."""
    from venues import selectors

    selectors.forget_kept()


@pytest.fixture(autouse=True)
def fresh_availability_cache():
    """Each test starts with no cached availability (the database is new; the cache may be shared)."""
    from bookings import availability_cache

    availability_cache.new_generation()


@pytest.fixture(autouse=True)
def no_fair_share_limits(settings):
    """Tests make many requests from one address: limits are off unless a test sets them."""
    from scheduler.rates import parse_rates

    settings.THROTTLE_RATES = parse_rates("off")
    settings.CHALLENGE_SOFT_LIMIT = None  # the proof of work too (tests/test_challenge.py sets it)


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
