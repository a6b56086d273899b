"""Running it for a prefecture: gunicorn's configuration, the shared cache without Redis, the
operator endpoints (/healthz, /readyz, /metrics) and what the metrics count."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError, connection
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from bookings.models import Notification
from bookings.slots import slots_generate
from scheduler import health
from scheduler.cache import DatabaseCache
from scheduler.rates import parse_rates
from tests import builders

ROOT = Path(__file__).resolve().parent.parent
ON_POSTGRES = django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
TEN = "2026-12-14T10:00:00+09:00"
ANSWERS = {"card_valid": True, "chip_ok": True, "licence_suspended": False}
# What a driver's error says about where the database is: none of it may reach a client.
DRIVER_TEXT = (
    'connection to server at "db-7.internal.example" (10.20.30.40), port 5432 failed: PostgreSQL 16.4'
)


def fresh_address() -> str:
    """An address no other test (or earlier run) has counted against (its own IPv6 /64)."""
    return f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}::1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


@pytest.fixture
def centre(db, travel):
    """A centre with ten ten-minute seats on Monday 14 December 2026, seen on 1 December 09:00 JST."""
    place = builders.venue(code="health-centre", procedures=("record",), windows=(("10:00", "11:00"),))
    slots_generate(now=travel(2026, 12, 1, 9, 0), venues=[place])
    return place


def booking_body(**overrides) -> dict:
    body = {
        "venue": "health-centre",
        "procedure": "record",
        "start": TEN,
        "name": "長野 太郎",
        "phone": "090-8765-4321",
        "email": "health-taro@example.jp",
        "answers": ANSWERS,
    }
    body.update(overrides)
    return body


def hold(api, *, minute: int = 0):
    body = {"venue": "health-centre", "procedure": "record", "start": f"2026-12-14T10:{minute:02d}:00+09:00"}
    return api.post("/api/v1/holds/", body, format="json")


def scrape(address: str = "127.0.0.1") -> str:
    response = Client(REMOTE_ADDR=address).get("/metrics")
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a scrape (0 when it has not been counted yet)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return 0.0


# --- /healthz and /readyz -----------------------------------------------------------------------


def test_healthz_answers_ok_and_touches_neither_the_database_nor_the_cache(monkeypatch):
    # No django_db mark: any query would fail the test. No cache either:
    from django.core.cache import cache

    monkeypatch.setattr(cache, "get", lambda *a, **k: pytest.fail("the cache was read"))
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_readyz_answers_ok_on_a_healthy_database(db):
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_readyz_answers_503_naming_the_database_when_it_cannot_be_reached_and_says_nothing_else(
    db, monkeypatch
):
    def unreachable(*args, **kwargs):
        raise OperationalError(DRIVER_TEXT)

    with monkeypatch.context() as patched:
        patched.setattr(connection, "ensure_connection", unreachable)
        response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failing": ["database"]}
    everything = response.content.decode() + " ".join(f"{k}: {v}" for k, v in response.items())
    for told in ("db-7", "10.20.30.40", "5432", "PostgreSQL", "16.4", "connection to server"):
        assert told not in everything


@pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL: DATABASE_URL is not PostgreSQL (CI sets one)")
@pytest.mark.django_db(transaction=True)
def test_with_postgresql_unreachable_readyz_answers_503_naming_the_database_only():
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        started = time.monotonic()
        response = Client().get("/readyz")
        took = time.monotonic() - started
        alive = Client().get("/healthz")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failing": ["database"]}
    assert "127.0.0.1" not in response.content.decode()
    assert took < 5
    assert alive.status_code == 200  # liveness does not depend on the database


def test_readyz_answers_503_naming_the_outbox_when_its_oldest_due_row_has_waited_too_long(
    centre, travel, settings
):
    settings.READY_OUTBOX_MAX_AGE_SECONDS = 900
    response = APIClient(REMOTE_ADDR=fresh_address()).post("/api/v1/bookings/", booking_body(), format="json")
    assert response.status_code == 201, response.content
    # The confirmation is pending: the test's transaction never commits, so nothing sends it.
    assert Notification.objects.filter(state=Notification.State.PENDING).count() == 1
    travel(2026, 12, 1, 9, 14)  # due for 14 minutes
    assert Client().get("/readyz").status_code == 200
    travel(2026, 12, 1, 9, 16)  # for 16
    late = Client().get("/readyz")
    assert late.status_code == 503
    assert late.json() == {"status": "unavailable", "failing": ["outbox"]}


def test_readyz_names_the_outbox_when_more_rows_are_pending_than_allowed_and_off_turns_it_off(
    centre, settings
):
    APIClient(REMOTE_ADDR=fresh_address()).post("/api/v1/bookings/", booking_body(), format="json")
    settings.READY_OUTBOX_MAX_ROWS = 0
    assert Client().get("/readyz").json() == {"status": "unavailable", "failing": ["outbox"]}
    settings.READY_OUTBOX_MAX_ROWS = None  # READY_OUTBOX_MAX_ROWS=off
    assert Client().get("/readyz").json() == {"status": "ok"}


def test_a_row_in_back_off_counts_as_pending_but_not_as_waiting(centre, travel):
    from bookings import selectors

    APIClient(REMOTE_ADDR=fresh_address()).post("/api/v1/bookings/", booking_body(), format="json")
    now = travel(2026, 12, 1, 9, 30)
    assert selectors.outbox_backlog(now=now) == (1, 1800.0)
    Notification.objects.update(next_attempt_at=now + timedelta(minutes=5))  # after an SMTP error
    assert selectors.outbox_backlog(now=now) == (1, 0.0)


def test_readyz_names_redis_and_the_broker_when_they_do_not_answer(db, settings):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings.REDIS_URL = dead
    settings.CELERY_BROKER_URL = dead
    started = time.monotonic()
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failing": ["cache", "broker"]}
    assert "127.0.0.1" not in response.content.decode()
    assert time.monotonic() - started < 10


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: REDIS_URL is not set (CI sets one)")
def test_with_redis_configured_readyz_checks_it_and_the_broker_and_answers_ok(db):
    assert [name for name, _check in health.checks()] == ["database", "cache", "broker", "outbox"]
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok"}


def test_the_operator_endpoints_answer_a_probe_by_address_in_plain_http_without_login_or_csrf(db, settings):
    settings.ALLOWED_HOSTS = ["yoyaku.example.jp"]
    settings.SECURE_SSL_REDIRECT = True
    probe = Client(enforce_csrf_checks=True)
    for path in ("/healthz", "/readyz", "/metrics"):
        response = probe.get(path, HTTP_HOST="10.0.3.7:8000")
        assert response.status_code == 200, (path, response.status_code)
    assert probe.get("/", HTTP_HOST="10.0.3.7:8000").status_code == 400  # the site still checks
    refused = probe.post("/readyz", HTTP_HOST="10.0.3.7:8000")
    assert refused.status_code == 405 and refused["Allow"] == "GET, HEAD"


def test_the_operator_endpoints_are_never_throttled(db, settings):
    settings.THROTTLE_RATES = parse_rates("hold=1/hour,booking=1/hour,lookup=1/hour,manage=1/hour")
    probe = Client(REMOTE_ADDR=fresh_address())
    assert {probe.get("/readyz").status_code for _ in range(20)} == {200}


# --- /metrics: who may read it --------------------------------------------------------------------


def test_metrics_answers_the_prometheus_text_to_an_allowed_address(db):
    response = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response["Cache-Control"] == "no-store"
    text = response.content.decode()
    assert "scheduler_http_requests_total" in text
    assert "scheduler_outbox_pending_rows" in text
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200


def test_metrics_is_a_404_for_any_other_address_even_one_claiming_to_be_forwarded_for_localhost(db):
    outside = Client(REMOTE_ADDR="203.0.113.9")
    assert outside.get("/metrics").status_code == 404
    # TRUSTED_PROXIES=0: nobody's X-Forwarded-For is believed.
    assert outside.get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 404
    assert b"scheduler_" not in outside.get("/metrics").content


def test_metrics_follows_the_configured_addresses_and_networks(db, settings):
    settings.METRICS_ALLOWED_ADDRESSES = ["10.0.0.0/8", "2001:db8:ff::7"]
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="2001:db8:ff::7").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 404
    assert Client(REMOTE_ADDR="11.0.0.1").get("/metrics").status_code == 404


def test_a_process_without_a_web_server_serves_its_metrics_on_its_own_port_to_allowed_addresses():
    from scheduler import metrics

    port = free_port()
    server = metrics.serve(port=port, bind="127.0.0.1", allowed=["127.0.0.1"])
    try:
        status, text = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and "scheduler_task_runs_total" in text
        assert get(f"http://127.0.0.1:{port}/other")[0] == 404
    finally:
        server.shutdown()
        server.server_close()
    port = free_port()
    server = metrics.serve(port=port, bind="127.0.0.1", allowed=["10.0.0.0/8"])
    try:
        assert get(f"http://127.0.0.1:{port}/metrics")[0] == 404
    finally:
        server.shutdown()
        server.server_close()


# --- /metrics: what it counts ----------------------------------------------------------------------


def test_the_booking_counter_rises_after_a_booking_through_the_api_and_no_reference_token_or_phone_shows(
    centre, django_capture_on_commit_callbacks
):
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        response = APIClient(REMOTE_ADDR=fresh_address()).post(
            "/api/v1/bookings/", booking_body(), format="json"
        )
    assert response.status_code == 201, response.content
    booking = response.json()
    Client().get(f"/booking/{booking['reference']}/?token={booking['token']}")
    after = scrape()
    name = "scheduler_bookings_created_total"
    assert sample(after, name, channel="online") == sample(before, name, channel="online") + 1
    # The phone in every shape it could be written (a bare fragment such as "8765" also turns up
    # inside timing floats, so look for the whole number).
    for personal in (
        booking["reference"],
        booking["token"],
        "090-8765-4321",
        "09087654321",
        "+819087654321",
        "health-taro",
        "長野",
        "token=",
    ):
        assert personal not in after


def test_a_booking_rolled_back_is_not_counted(centre, django_capture_on_commit_callbacks):
    before = sample(scrape(), "scheduler_bookings_created_total", channel="online")
    api = APIClient(REMOTE_ADDR=fresh_address())
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post("/api/v1/bookings/", booking_body(), format="json")
        again = api.post("/api/v1/bookings/", booking_body(), format="json")  # the same person again
    assert (first.status_code, again.status_code) == (201, 409)
    assert sample(scrape(), "scheduler_bookings_created_total", channel="online") == before + 1


def test_requests_are_labelled_by_route_name_never_by_path(centre):
    Client().get("/api/v1/procedures/")
    Client().get("/booking/ABCDEFGH/?token=not-a-real-token")
    Client().get("/no/such/page/")
    text = scrape()
    name = "scheduler_http_requests_total"
    assert sample(text, name, method="GET", route="api:procedures", status="200") >= 1
    assert sample(text, name, method="GET", route="web:manage") >= 1
    assert sample(text, name, method="GET", route="unmatched", status="404") >= 1
    assert (
        sample(text, "scheduler_http_request_duration_seconds_count", method="GET", route="api:procedures")
        >= 1
    )
    routes = {
        found.labels["route"]
        for family in text_string_to_metric_families(text)
        for found in family.samples
        if "route" in found.labels
    }
    assert all("/" not in route for route in routes), routes
    assert "ABCDEFGH" not in text and "not-a-real-token" not in text


def test_holds_taken_and_fair_share_refusals_are_counted_by_scope(
    centre, settings, django_capture_on_commit_callbacks
):
    settings.THROTTLE_RATES = parse_rates("hold=2/hour")
    before = scrape()
    api = APIClient(REMOTE_ADDR=fresh_address())
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [hold(api, minute=10 * m).status_code for m in range(3)]
    assert statuses == [201, 201, 429]
    after = scrape()
    assert sample(after, "scheduler_holds_taken_total") == sample(before, "scheduler_holds_taken_total") + 2
    throttled = "scheduler_throttled_total"
    assert sample(after, throttled, scope="hold") == sample(before, throttled, scope="hold") + 1


def test_challenges_handed_out_and_answers_missing_are_counted(centre, settings):
    settings.API_CHALLENGE = True
    before = scrape()
    api = APIClient(REMOTE_ADDR=fresh_address())
    assert api.get("/api/v1/challenge/").status_code == 200
    hold = {"venue": "health-centre", "procedure": "record", "start": TEN}
    assert api.post("/api/v1/holds/", hold, format="json").status_code == 403
    after = scrape()
    issued = "scheduler_challenges_issued_total"
    assert sample(after, issued) == sample(before, issued) + 1
    checks = "scheduler_challenge_checks_total"
    assert sample(after, checks, result="required") == sample(before, checks, result="required") + 1


def test_the_confirmation_task_and_its_delivery_are_counted(
    centre, mailoutbox, django_capture_on_commit_callbacks
):
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        APIClient(REMOTE_ADDR=fresh_address()).post("/api/v1/bookings/", booking_body(), format="json")
    assert len(mailoutbox) == 1
    after = scrape()
    runs = "scheduler_task_runs_total"
    task = "bookings.notification_send"
    assert (
        sample(after, runs, task=task, state="SUCCESS")
        == sample(before, runs, task=task, state="SUCCESS") + 1
    )
    assert sample(after, "scheduler_task_duration_seconds_count", task=task) >= 1
    sent = "scheduler_outbox_deliveries_total"
    assert sample(after, sent, outcome="sent") == sample(before, sent, outcome="sent") + 1


def test_a_row_the_sweep_sends_is_counted_and_the_backlog_gauges_follow(centre, travel, mailoutbox):
    from bookings import notifications

    APIClient(REMOTE_ADDR=fresh_address()).post("/api/v1/bookings/", booking_body(), format="json")
    waiting = scrape()
    assert sample(waiting, "scheduler_outbox_pending_rows") == 1
    now = travel(2026, 12, 1, 9, 5)
    assert sample(scrape(), "scheduler_outbox_oldest_due_age_seconds") == 300
    notifications.sweep(now=now)
    after = scrape()
    sent = "scheduler_outbox_deliveries_total"
    assert sample(after, sent, outcome="sent") == sample(waiting, sent, outcome="sent") + 1
    assert sample(after, "scheduler_outbox_pending_rows") == 0
    assert sample(after, "scheduler_outbox_oldest_due_age_seconds") == 0


# --- The database cache ----------------------------------------------------------------------------


def test_the_migrations_create_the_shared_cache_table(db):
    assert "cache_table" in connection.introspection.table_names()


@pytest.fixture
def db_cache(db):
    return DatabaseCache("cache_table", {"KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}"})


def test_the_database_cache_adds_once_increments_in_place_and_keeps_the_expiry(db_cache):
    assert db_cache.add("counter", 0, timeout=3600) is True
    assert db_cache.add("counter", 0, timeout=3600) is False  # a live key is never overwritten
    assert [db_cache.incr("counter") for _ in range(3)] == [1, 2, 3]
    assert db_cache.incr("counter", 10) == 13
    assert db_cache.decr("counter") == 12
    with pytest.raises(ValueError):
        db_cache.incr("missing")
    with connection.cursor() as cursor:
        cursor.execute("SELECT expires FROM cache_table WHERE cache_key = %s", [db_cache.make_key("counter")])
        (expires,) = cursor.fetchone()
    assert "2" in str(expires) and db_cache.get("counter") == 12  # an hour's key, not the default 300 s


def test_the_database_cache_treats_expired_rows_as_missing_and_keeps_types(db_cache):
    db_cache.set("gone", 5, timeout=-1)
    assert db_cache.get("gone") is None
    with pytest.raises(ValueError):
        db_cache.incr("gone")
    assert db_cache.touch("gone") is False
    db_cache.set("gone", 5, timeout=-1)
    assert db_cache.add("gone", 7, timeout=60) is True and db_cache.get("gone") == 7
    for value in (True, 3, 2.5, "text", {"state": "in_progress"}, None):
        db_cache.set("value", value, timeout=60)
        kept = db_cache.get("value", "missing")
        assert kept == value and type(kept) is type(value)


def test_the_database_cache_never_evicts_a_live_key(db_cache):
    db_cache.set_many({f"key-{n}": n for n in range(400)}, timeout=60)  # past Django's 300 entries
    assert len(db_cache.get_many([f"key-{n}" for n in range(400)])) == 400


def test_fair_shares_count_on_the_database_cache(centre, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "scheduler.cache.DatabaseCache",
            "LOCATION": "cache_table",
            "KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
        }
    }
    settings.THROTTLE_RATES = parse_rates("hold=2/hour")
    api = APIClient(REMOTE_ADDR=fresh_address())
    statuses = [hold(api, minute=10 * m).status_code for m in range(3)]
    assert statuses == [201, 201, 429]


@pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL: DATABASE_URL is not PostgreSQL (CI sets one)")
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_concurrent_increments_from_many_threads_lose_no_count():
    cache = DatabaseCache("cache_table", {"KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}"})
    cache.add("throttle", 0, timeout=600)
    cache.add("claim", 0, timeout=600)
    gate = threading.Barrier(8)
    errors: list[BaseException] = []
    claims: list[bool] = []

    def work() -> None:
        try:
            gate.wait()
            claims.append(cache.add("claimed-once", 1, timeout=600))
            for _ in range(50):
                cache.incr("throttle")
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert cache.get("throttle") == 400
        assert sorted(claims) == [False] * 7 + [True]
    finally:
        cache.delete_many(["throttle", "claim", "claimed-once"])


# --- Processes: settings, the cache they share, gunicorn -----------------------------------------


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a production process: DEBUG off, no Redis."""
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "CLOCK_NOW")}
    env.update({"DEBUG": "0", "DJANGO_SETTINGS_MODULE": "scheduler.settings", **extra})
    return env


def run_python(script: str, env: dict[str, str], timeout: float = 60) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory) -> dict[str, str]:
    """A SQLite database file migrated by `manage.py migrate`, as a deploy does."""
    path = tmp_path_factory.mktemp("shared") / "db.sqlite3"
    env = process_env(DATABASE_URL=f"sqlite:///{path}")
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return env


SETUP = (
    "import django; django.setup(); from django.conf import settings; from django.core.cache import cache; "
)


def test_with_debug_off_and_no_redis_the_cache_is_the_database_table_not_a_process_memory(migrated_sqlite):
    backend = run_python(SETUP + "print(settings.CACHES['default']['BACKEND'])", migrated_sqlite)
    assert backend == "scheduler.cache.DatabaseCache"
    local = run_python(
        SETUP + "print(settings.CACHES['default']['BACKEND'])", {**migrated_sqlite, "DEBUG": "1"}
    )
    assert local == "django.core.cache.backends.locmem.LocMemCache"  # make run: one process


def test_a_throttle_counter_written_by_one_process_is_seen_by_another(migrated_sqlite):
    key = f"throttle:hold:{uuid.uuid4().hex}:3600:1"
    count = SETUP + f"from scheduler.throttling import count_up; print(count_up([({key!r}, 3601)])[0])"
    assert run_python(count, migrated_sqlite) == "1"
    assert run_python(count, migrated_sqlite) == "2"
    assert run_python(SETUP + f"print(cache.get({key!r}))", migrated_sqlite) == "2"


def test_processes_counting_at_once_on_sqlite_lose_no_count(migrated_sqlite):
    key = f"throttle:booking:{uuid.uuid4().hex}:3600:1"
    script = (
        SETUP + "import time; from scheduler.throttling import count_up; "
        f"time.sleep(max(0, {time.time() + 3} - time.time())); "  # start together
        f"[count_up([({key!r}, 3601)]) for _ in range(100)]"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script], cwd=ROOT, env=migrated_sqlite, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr.decode()[-2000:]
    assert run_python(SETUP + f"print(cache.get({key!r}))", migrated_sqlite) == "300"


def gunicorn_config(**env: str) -> dict:
    script = (
        "import json, runpy; c = runpy.run_path('gunicorn.conf.py'); "
        "print(json.dumps({k: c[k] for k in ('bind', 'workers', 'threads', 'timeout', 'graceful_timeout', "
        "'keepalive', 'max_requests', 'max_requests_jitter', 'forwarded_allow_ips', 'access_log_format', "
        "'logconfig_dict')}))"
    )
    clean = {k: v for k, v in process_env().items() if k not in ("PORT", "BIND", "WEB_CONCURRENCY")}
    return json.loads(run_python(script, {**clean, **env}))


def test_gunicorn_takes_its_workers_threads_timeouts_and_address_from_the_environment():
    config = gunicorn_config(
        PORT="9001",
        WEB_CONCURRENCY="5",
        GUNICORN_THREADS="4",
        GUNICORN_TIMEOUT="45",
        GUNICORN_GRACEFUL_TIMEOUT="20",
        GUNICORN_KEEPALIVE="75",
        GUNICORN_MAX_REQUESTS="2000",
    )
    assert config["bind"] == ["0.0.0.0:9001"]
    assert (config["workers"], config["threads"]) == (5, 4)
    assert (config["timeout"], config["graceful_timeout"], config["keepalive"]) == (45, 20, 75)
    assert (config["max_requests"], config["max_requests_jitter"]) == (2000, 200)
    cores = len(os.sched_getaffinity(0))
    default = gunicorn_config(BIND="unix:/run/scheduler/web.sock")
    assert default["bind"] == ["unix:/run/scheduler/web.sock"]
    assert default["workers"] == min(2 * cores + 1, 8) and default["threads"] == 1


def test_gunicorn_believes_forwarded_headers_only_as_the_app_does():
    assert gunicorn_config(TRUSTED_PROXIES="0")["forwarded_allow_ips"] == ""  # nobody's
    assert gunicorn_config(TRUSTED_PROXIES="1")["forwarded_allow_ips"] == "*"
    listed = gunicorn_config(TRUSTED_PROXIES="1", FORWARDED_ALLOW_IPS="10.0.0.2,10.0.0.3")
    assert listed["forwarded_allow_ips"] == "10.0.0.2,10.0.0.3"


def test_gunicorn_logs_through_the_apps_redacting_handler_and_never_the_query_string():
    config = gunicorn_config()
    assert "%(U)s" in config["access_log_format"]
    for leaky in ("%(r)s", "%(q)s", "%(f)s", "{"):  # request line, query, referer, headers
        assert leaky not in config["access_log_format"]
    logging = config["logconfig_dict"]
    for name in ("gunicorn.access", "gunicorn.error"):
        assert logging["loggers"][name]["propagate"] is True and logging["loggers"][name]["handlers"] == []
    assert logging["root"]["handlers"] == ["console"]
    assert logging["handlers"]["console"]["filters"] == ["redact"]
    quiet = gunicorn_config(ACCESS_LOG="0")["logconfig_dict"]["loggers"]["gunicorn.access"]
    assert quiet["level"] == "WARNING"  # ACCESS_LOG=0: no line per request


def get(url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_under_gunicorn_workers_add_up_their_counts_and_the_access_log_keeps_no_secret(
    migrated_sqlite, tmp_path
):
    port = free_port()
    env = {
        **migrated_sqlite,
        "DEBUG": "1",  # the laptop's key and hosts: DEBUG off refuses them (tests/test_startup.py)
        "LOG_FORMAT": "json",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "scheduler.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if get(base + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None:
                pytest.fail(f"gunicorn exited: {server.stderr.read().decode()[-3000:]}")
            time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not come up")
        for _ in range(20):
            assert get(base + "/healthz?token=SeCrEtToKeN")[0] == 200
        assert get(base + "/readyz")[0] == 200
        assert get(base + "/api/v1/nope/?email=leak@example.jp")[0] == 404
        status, text = get(base + "/metrics")
        assert status == 200
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    healthz = sample(text, "scheduler_http_requests_total", method="GET", route="healthz", status="200")
    assert healthz >= 21  # both workers' counts, added up from PROMETHEUS_MULTIPROC_DIR
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    access = [line["message"] for line in lines if line["logger"] == "gunicorn.access"]
    assert any('"GET /healthz HTTP/1.1" 200' in message for message in access), access[:3]
    assert any("/api/v1/nope/" in message for message in access)
    assert any(line["logger"] == "gunicorn.error" for line in lines)  # the master's lines: JSON too
    everything = stderr.decode()
    for secret in ("SeCrEtToKeN", "token=", "leak@example.jp", "email="):
        assert secret not in everything
