"""The product's own 404 page for an address no page has, also with DEBUG=1 (`make run`), where
Django would show its technical 404 (the URL patterns, for a developer) instead of `404.html`.

It is the last pattern of the resident URLs, so CommonMiddleware's APPEND_SLASH no longer sees an
unmatched path: the slash is added here the same way (`/help` → `/help/`, permanent), when the
address with the slash is a page.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt

from .views import resident_page


def _is_a_page(path: str) -> bool:
    try:
        return resolve(path).func is not page_not_found
    except Resolver404:
        return False


@csrf_exempt  # as for any unmatched address: a 404 whatever the method, never a CSRF 403
@resident_page
def page_not_found(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    request.metrics_route = "unmatched"  # as before this pattern: one label, never the path
    if settings.APPEND_SLASH and not request.path_info.endswith("/") and request.method in ("GET", "HEAD"):
        if _is_a_page(request.path_info + "/"):
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
    return render(request, "404.html", status=404)
