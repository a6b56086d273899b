"""The waiting room's display (issue 14, part 2): `/display/<venue>/?k=<key>` on the room's TV.

No log-in: the venue's secret link opens it (venues/display.py; a wrong or missing key is the
product's 404, compared in constant time). It shows the last calls (reference and counter, never a
name) and asks `/display/<venue>/calls/?k=<key>` about once a second whether anything changed: the
answer is `304 Not Modified` after two small queries while nothing did (the ETag is the newest call's
id), else the list as JSON. Polling rather than Server-Sent Events: an open event stream holds one
gunicorn sync worker per TV for as long as the TV is on; a poll holds one for a millisecond.
The key travels in the query string, which the access logs drop (scheduler/logs.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_safe

from scheduler import clock
from venues.display import display_key_matches
from venues.models import Venue

from . import calls
from .views import resident_page

POLL_MS = 1000  # how often the display asks (the issue: on screen within 2 s)
MAX_BACKOFF_MS = 5000  # the longest wait between tries while the network is down


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "404.html", status=404)


def _private(response: HttpResponse) -> HttpResponse:
    """Never cached by a proxy, never sent on as a referrer, never indexed."""
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def display_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The venue whose key is `?k=` (else the 404 page) for the view; GET and HEAD only."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, venue: str) -> HttpResponse:
        place = (
            Venue.objects.filter(code=venue[:40])
            .only("id", "code", "name", "name_en", "display_secret_hash")
            .first()
        )
        if place is None or not display_key_matches(place, request.GET.get("k")):
            return _private(_not_found(request))
        return _private(view(request, place))

    return require_safe(resident_page(wrapper))


def _etag(version: int) -> str:
    return f'"c{version}"'


def _calls_json(shown: list[calls.Shown], version: int) -> dict[str, Any]:
    return {
        "version": version,
        "calls": [
            {
                "id": s.call_id,
                "reference": s.reference,
                "counter": s.counter,
                "at": f"{clock.local(s.at):%H:%M}",
            }
            for s in shown
        ],
    }


@display_view
def display_page(request: HttpRequest, venue: Venue) -> HttpResponse:
    now = clock.now()
    version = calls.display_version(venue=venue, now=now)
    shown = calls.display_calls(venue=venue, now=now)
    calls_url = reverse("web:display-calls", args=[venue.code]) + "?" + urlencode({"k": request.GET["k"]})
    context = {
        "venue": venue,
        "shown": shown,
        "version": version,
        "calls_url": calls_url,
        "poll_ms": POLL_MS,
        "max_backoff_ms": MAX_BACKOFF_MS,
    }
    return render(request, "bookings/display.html", context)


@display_view
def display_calls(request: HttpRequest, venue: Venue) -> HttpResponse:
    """The display's poll: 304 while the newest call is the one the display has (If-None-Match)."""
    now = clock.now()
    version = calls.display_version(venue=venue, now=now)
    etag = _etag(version)
    if request.headers.get("If-None-Match") == etag:
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = JsonResponse(_calls_json(calls.display_calls(venue=venue, now=now), version))
    response["ETag"] = etag
    return response
