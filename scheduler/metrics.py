"""Prometheus metrics (prometheus-client): the figures an operator graphs, and nothing personal.

Counted where each thing happens, once: requests by method, route *name* and status (never the
raw path, which carries references and hold secrets) with their latency (the middleware below);
bookings created by channel (`bookings.events`, at commit), holds taken (`bookings.holds`, at
commit), responses refused past a fair share by scope (`scheduler.throttling`), challenges issued
and checked (`scheduler.challenge`), outbox deliveries by outcome (the `notification_send` task
and the sweep) and Celery task runs and durations (signals, `scheduler.celery`). The outbox
backlog is read from the database at each scrape (`scheduler.health`).

Several processes: with PROMETHEUS_MULTIPROC_DIR set (an empty directory, one per gunicorn
instance), every gunicorn worker writes its counts there and `/metrics` adds them up
(`gunicorn.conf.py` empties it at start and marks exited workers dead). A Celery worker serves its
own on METRICS_PORT (with its own PROMETHEUS_MULTIPROC_DIR for a prefork pool). Both answer only
the addresses of METRICS_ALLOWED_ADDRESSES.

This module depends on no app (pyproject.toml, import-linter), so that any layer may count.
"""

from __future__ import annotations

import glob
import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

logger = logging.getLogger(__name__)

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # the metrics below open their files there at once
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

HTTP_REQUESTS = Counter(
    "scheduler_http_requests",
    "HTTP requests answered, by method, route name and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "scheduler_http_request_duration_seconds",
    "Time from the request reaching the app to its response, by method and route name.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
BOOKINGS_CREATED = Counter(
    "scheduler_bookings_created", "Bookings created (committed), by channel.", ["channel"]
)
HOLDS_TAKEN = Counter(
    "scheduler_holds_taken", "Holds taken (committed): a seat kept while a form is filled in."
)
THROTTLED = Counter(
    "scheduler_throttled", "Requests refused past a fair share (429 or its page), by scope.", ["scope"]
)
CHALLENGES_ISSUED = Counter("scheduler_challenges_issued", "Proof-of-work challenges handed out.")
CHALLENGE_CHECKS = Counter(
    "scheduler_challenge_checks",
    "Proof-of-work answers checked, by result (passed, required: none sent, failed).",
    ["result"],
)
OUTBOX_DELIVERIES = Counter(
    "scheduler_outbox_deliveries",
    "Outbox rows tried, by outcome (sent, retry: back-off after an error, failed: given up, skipped).",
    ["outcome"],
)
TASK_RUNS = Counter(
    "scheduler_task_runs", "Celery task runs, by task name and final state.", ["task", "state"]
)
TASK_LATENCY = Histogram(
    "scheduler_task_duration_seconds", "Celery task run time, by task name.", ["task"], buckets=TASK_BUCKETS
)

OUTBOX_OUTCOMES = frozenset({"sent", "retry", "failed", "skipped"})
NOTIFICATION_TASK = "bookings.notification_send"  # returns its row's outcome


# --- Counting ---------------------------------------------------------------------------------


def booking_created(channel: str) -> None:
    BOOKINGS_CREATED.labels(channel=channel).inc()


def hold_taken() -> None:
    HOLDS_TAKEN.inc()


def throttled(scope: str) -> None:
    THROTTLED.labels(scope=scope).inc()


def challenge_issued() -> None:
    CHALLENGES_ISSUED.inc()


def challenge_checked(result: str) -> None:
    CHALLENGE_CHECKS.labels(result=result).inc()


def outbox_delivered(outcome: str, count: int = 1) -> None:
    if outcome in OUTBOX_OUTCOMES and count > 0:  # not `not_claimed`: someone else has the row
        OUTBOX_DELIVERIES.labels(outcome=outcome).inc(count)


_task_started: dict[str, float] = {}


def task_started(task_id: str | None) -> None:
    if task_id:
        _task_started[task_id] = time.perf_counter()


def task_finished(task_id: str | None, task: str, state: str | None, retval: Any = None) -> None:
    started = _task_started.pop(task_id, None) if task_id else None
    TASK_RUNS.labels(task=task, state=state or "UNKNOWN").inc()
    if started is not None:
        TASK_LATENCY.labels(task=task).observe(time.perf_counter() - started)
    if task == NOTIFICATION_TASK and isinstance(retval, str):
        outbox_delivered(retval)


# --- Requests ---------------------------------------------------------------------------------


def route_of(request: Any) -> str:
    """The route's name (`api:booking-detail`, `web:manage`, `admin:index`…): never the path."""
    explicit = getattr(request, "metrics_route", None)
    if explicit:
        return explicit
    match = getattr(request, "resolver_match", None)
    if match is not None:
        if match.url_name:
            return match.view_name
        return ":".join([*match.namespaces, "unnamed"])
    from django.conf import settings

    static = "/" + settings.STATIC_URL.strip("/") + "/"
    return "static" if request.path_info.startswith(static) else "unmatched"


class RequestMetricsMiddleware:
    """Outermost: counts and times every answer, whichever middleware or view gave it."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        started = time.perf_counter()
        response = self.get_response(request)
        try:
            method = request.method if request.method in METHODS else "other"
            route = route_of(request)
            HTTP_REQUESTS.labels(method=method, route=route, status=str(response.status_code)).inc()
            HTTP_LATENCY.labels(method=method, route=route).observe(time.perf_counter() - started)
        except Exception:  # a metric never costs a resident their answer
            logger.warning("request metrics not recorded", exc_info=True)
        return response


# --- Access -----------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def address_allowed(address: str | None, entries: Iterable[str]) -> bool:
    """`address` is one of the IPs or inside one of the networks of `entries`."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _networks(tuple(entries)))


# --- Exposition -------------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def multiprocess_dir_clear(path: str | None = None) -> None:
    """Empty the directory of a previous run (its counts are over), creating it if needed; this
    process's own files stay (it may count too: a worker with a solo or thread pool)."""
    path = path or multiprocess_dir()
    if not path:
        return
    os.makedirs(path, exist_ok=True)
    mine = f"_{os.getpid()}.db"
    for stale in glob.glob(os.path.join(path, "*.db")):
        if not stale.endswith(mine):
            os.remove(stale)


def process_dead(pid: int) -> None:
    """A worker process exited (gunicorn's child_exit, Celery's worker_process_shutdown)."""
    if multiprocess_dir():
        _multiprocess.mark_process_dead(pid)


class _ThisProcess:
    """The default registry, forwarded (one process: no directory to add up)."""

    def collect(self):
        yield from REGISTRY.collect()


def exposition(*collectors: Any) -> tuple[bytes, str]:
    """The text a scrape gets: this process's (or, with PROMETHEUS_MULTIPROC_DIR, every worker's)
    metrics and those of `collectors`, read now."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        _multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def serve(*, port: int, bind: str, allowed: Iterable[str]) -> Any:
    """Serve GET /metrics on `bind:port` in a daemon thread, to `allowed` addresses only (404 for
    the others): for a process that has no web server of its own (the Celery worker). Returns the
    server (`shutdown()` stops it)."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client.exposition import ThreadingWSGIServer

    allowed = tuple(allowed)

    def app(environ, start_response):
        if environ.get("PATH_INFO") != "/metrics" or not address_allowed(environ.get("REMOTE_ADDR"), allowed):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not Found\n"]
        body, content_type = exposition()
        start_response("200 OK", [("Content-Type", content_type), ("Cache-Control", "no-store")])
        return [body]

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:  # scrapes are not worth a log line each
            pass

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in bind else socket.AF_INET

    server = make_server(bind, port, app, Server, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


def serve_from_settings() -> Any:
    """With METRICS_PORT, serve this process's metrics there (see `serve`): a process with no web
    server of its own (the Celery worker, the outbox listener) calls this once at its start."""
    from django.conf import settings

    if not settings.METRICS_PORT:
        return None
    multiprocess_dir_clear()
    return serve(
        port=settings.METRICS_PORT, bind=settings.METRICS_BIND, allowed=settings.METRICS_ALLOWED_ADDRESSES
    )
