"""Errors that happen before any view: under /api/ they answer the contract's JSON with a code."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.csrf import csrf_exempt

API_PREFIX = "/api/"


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if is_api(request):
        return JsonResponse({"code": "forbidden", "detail": "Cross-site request refused."}, status=403)
    return django_csrf_failure(request, reason=reason)


@csrf_exempt
def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Any method on a path the API does not have (the API takes no cookie: nothing to forge)."""
    return JsonResponse({"code": "not_found", "detail": "No such API endpoint."}, status=404)
