"""Operator endpoints: `/healthz` (liveness), `/readyz` (readiness) and `/metrics` (Prometheus).

- `/healthz` answers 200 `{"status": "ok"}` while the process serves requests; it touches
  nothing (no database, no cache), so that a slow dependency never gets a healthy process killed.
- `/readyz` answers 200 `{"status": "ok"}` when this node can do its work: the database answers;
  with REDIS_URL, Redis (the cache) and the Celery broker answer; the outbox is not stuck (no
  more than READY_OUTBOX_MAX_ROWS pending rows, none due for longer than
  READY_OUTBOX_MAX_AGE_SECONDS; `off` disables either). Else 503
  `{"status": "unavailable", "failing": ["database", …]}`: the names of the checks only, never
  an error text, a version or a host name (those go to the log, redacted).
- `/metrics`, the Prometheus text, to the addresses of METRICS_ALLOWED_ADDRESSES only (the
  client address as the throttles see it, behind TRUSTED_PROXIES); any other gets the site's
  ordinary 404, as for a page that does not exist.

They are answered by a middleware at the top of the stack, before the host check, the https
redirect, sessions and languages: a load balancer's or Prometheus's request names the node by its
address, not by the site's host name, and comes in plain http from inside the network. GET and
HEAD only, no login, no CSRF, no throttle, `Cache-Control: no-store`.

Why not django-health-check (4.8, the field's library): its JSON answer maps each check's repr
(for Redis: the client's host and port) to "OK" or the error's text, and answers 500 rather than
503; its database check's error is the driver's first line (a host name) and its Celery check
pings workers rather than the broker. The checks here are a few lines each; the library would
have been the views' shape to override and a dependency (dnspython) to carry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client.core import GaugeMetricFamily
from rest_framework.throttling import BaseThrottle

from bookings import selectors

from . import clock, metrics

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 2.0  # Redis and the broker; the database has its connect_timeout


class Failing(Exception):
    """A readiness check that ran and found its service unfit (nothing to add)."""


# --- Readiness checks: each raises when its service is not fit ---------------------------------


def database() -> None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def cache() -> None:
    """Redis, which is the cache (and the throttles' counters) with REDIS_URL."""
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
        socket_timeout=PROBE_TIMEOUT_SECONDS,
    )
    try:
        if not client.ping():
            raise Failing()
    finally:
        client.close()


def broker() -> None:
    """The Celery broker: a connection as a task's publisher opens it."""
    from scheduler.celery import app

    with app.connection_for_write(url=settings.CELERY_BROKER_URL) as connection:
        connection.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=PROBE_TIMEOUT_SECONDS
        )


def outbox() -> None:
    rows, age = selectors.outbox_backlog(now=clock.now())
    max_rows, max_age = settings.READY_OUTBOX_MAX_ROWS, settings.READY_OUTBOX_MAX_AGE_SECONDS
    if (max_rows is not None and rows > max_rows) or (max_age is not None and age > max_age):
        raise Failing()


def checks() -> list[tuple[str, Callable[[], None]]]:
    """The checks that apply to this configuration, in the order they run."""
    found: list[tuple[str, Callable[[], None]]] = [("database", database)]
    if settings.REDIS_URL:
        found += [("cache", cache), ("broker", broker)]
    found.append(("outbox", outbox))
    return found


def failing() -> list[str]:
    """The names of the checks that fail now (the outbox is not looked at without a database)."""
    names: list[str] = []
    for name, check in checks():
        if name == "outbox" and "database" in names:
            continue
        try:
            check()
        except Failing:
            logger.warning("readiness: %s is not ready", name)
            names.append(name)
        except Exception as error:  # whatever the driver raises: the name goes out, the text is logged
            logger.warning("readiness: %s failing: %s: %s", name, type(error).__name__, error)
            names.append(name)
    return names


# --- Views ------------------------------------------------------------------------------------


def _answer(body: dict[str, Any], status: int = 200) -> HttpResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def healthz(request: HttpRequest) -> HttpResponse:
    return _answer({"status": "ok"})


def readyz(request: HttpRequest) -> HttpResponse:
    names = failing()
    if names:
        return _answer({"status": "unavailable", "failing": names}, status=503)
    return _answer({"status": "ok"})


class OutboxCollector:
    """The outbox backlog, read from the database at each scrape (the same for every node)."""

    def collect(self):
        try:
            rows, age = selectors.outbox_backlog(now=clock.now())
        except Exception as error:  # a scrape still answers the other metrics
            logger.warning("metrics: outbox backlog unreadable: %s", type(error).__name__)
            return
        yield GaugeMetricFamily(
            "scheduler_outbox_pending_rows",
            "Outbox rows waiting to be sent (due or in back-off).",
            value=rows,
        )
        yield GaugeMetricFamily(
            "scheduler_outbox_oldest_due_age_seconds",
            "How long the oldest due outbox row has been waiting (0: none due).",
            value=age,
        )


def client_address(request: HttpRequest) -> str:
    """The client's address as the throttles count it: the connection's, or behind
    TRUSTED_PROXIES the one the nearest trusted proxy appended to X-Forwarded-For."""
    return str(BaseThrottle().get_ident(request) or "")


def metrics_view(request: HttpRequest) -> HttpResponse | None:
    """The Prometheus text; None (the site's own 404) for an address that is not allowed."""
    if not metrics.address_allowed(client_address(request), settings.METRICS_ALLOWED_ADDRESSES):
        return None
    body, content_type = metrics.exposition(OutboxCollector())
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response


ENDPOINTS: dict[str, tuple[str, Callable[[HttpRequest], HttpResponse | None]]] = {
    "/healthz": ("healthz", healthz),
    "/readyz": ("readyz", readyz),
    "/metrics": ("metrics", metrics_view),
}


class OperatorEndpointsMiddleware:
    """Answers the three endpoints above before the rest of the stack (see the module's text)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        endpoint = ENDPOINTS.get(request.path_info)
        if endpoint is None:
            return self.get_response(request)
        name, view = endpoint
        if request.method not in ("GET", "HEAD"):
            response = _answer({"code": "method_not_allowed", "detail": "Only GET."}, status=405)
            response["Allow"] = "GET, HEAD"
            request.metrics_route = name
            return response
        response = view(request)
        if response is None:
            return self.get_response(request)  # not for this client: whatever the site says
        request.metrics_route = name
        return response
