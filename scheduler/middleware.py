"""A service the request needs (the database, the cache) is unavailable: 503 `busy` with
Retry-After, as JSON under /api/ and as a "try again in a minute" page elsewhere; never a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, DataError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from .error_views import is_api

logger = logging.getLogger(__name__)


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OperationalError, InterfaceError]
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        errors += [RedisConnectionError, RedisTimeoutError]
    except ImportError:  # pragma: no cover - redis is a requirement
        pass
    return tuple(errors)


UNAVAILABLE = _unavailable_errors()


def busy_response(request: HttpRequest) -> HttpResponse:
    retry = str(settings.BUSY_RETRY_AFTER_SECONDS)
    if is_api(request):
        response: HttpResponse = JsonResponse(
            {"code": "busy", "detail": "The service is busy; please try again shortly."}, status=503
        )
    else:
        # No context processors: they may need the very service that is down.
        response = HttpResponse(render_to_string("busy.html"), status=503)
    response["Retry-After"] = retry
    response["Cache-Control"] = "no-store"
    return response


class ServiceUnavailableMiddleware:
    """Innermost middleware: a view (or DRF, which re-raises what it does not know) that meets an
    unavailable database or cache answers 503 instead of Django's 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DataError):  # a value the database cannot store (a NUL byte…)
            # The class and the SQLSTATE only: the database's text may quote the value refused.
            sqlstate = getattr(exception.__cause__, "sqlstate", None) or "-"
            logger.warning("refused by the database: %s (SQLSTATE %s)", type(exception).__name__, sqlstate)
            if is_api(request):
                return JsonResponse(
                    {"code": "bad_request", "detail": "The request cannot be read."}, status=400
                )
            return HttpResponse(render_to_string("400.html"), status=400)
        if isinstance(exception, UNAVAILABLE) or (
            isinstance(exception, DatabaseError) and "connection" in str(exception).lower()
        ):
            logger.warning("service unavailable: %s: %s", type(exception).__name__, exception)
            return busy_response(request)
        return None
