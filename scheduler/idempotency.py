"""`Idempotency-Key` on every API POST (api.md 1.1): a repeat gets the first response again.

The first request with a key claims it in the shared cache (an atomic `add`, so two concurrent
repeats cannot both run); its response is then kept for IDEMPOTENCY_SECONDS (24 h), sealed
(`scheduler.sealing`: it may carry a booking's token), under the key and a fingerprint of the
request (path, body, token header). A repeat with the same fingerprint gets that response, byte
for byte, and changes nothing; another body under the same key is 422 `idempotency_mismatch`; a
repeat while the first still runs is 409 `idempotency_in_progress`. Answers that say "try again"
(429, 503) are not kept, so the retry runs for real.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse

from .error_views import is_api
from .sealing import seal, unseal

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
KEY_SHAPE = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no space
IN_PROGRESS = "in_progress"
IN_PROGRESS_SECONDS = 120  # a claim whose request died is forgotten after this
NOT_KEPT = {429, 503}
REPLAYED_HEADERS = ("Content-Type", "Cache-Control", "Location")


def _fingerprint(request: HttpRequest) -> str:
    body = request.body
    try:  # the same JSON in another key order or spacing is the same request
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        pass
    token = request.headers.get("X-Booking-Token", "")
    parts = [request.path.encode(), body, hashlib.sha256(token.encode()).digest()]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()


def _cache_key(request: HttpRequest, key: str) -> str:
    return "idempotency:" + hashlib.sha256(f"{request.path}\0{key}".encode()).hexdigest()


def _error(status: int, code: str, detail: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail, **extra}, status=status)


def _replay(record: dict[str, Any]) -> HttpResponse:
    sealed = unseal(record["body"])
    if sealed is None:  # kept under another SECRET_KEY: nothing can be replayed
        return _error(409, "idempotency_in_progress", "The first response is no longer available.")
    response = HttpResponse(base64.b64decode(sealed), status=record["status"])
    for name, value in record["headers"].items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


def _answer_for(record: dict[str, Any], fingerprint: str) -> HttpResponse:
    if record["fingerprint"] != fingerprint:
        return _error(422, "idempotency_mismatch", "This Idempotency-Key was used with another request.")
    if record["state"] == IN_PROGRESS:
        return _error(409, "idempotency_in_progress", "The first request with this key is still running.")
    return _replay(record)


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get(HEADER)
        if key is None or request.method != "POST" or not is_api(request):
            return self.get_response(request)
        if not KEY_SHAPE.fullmatch(key):
            return _error(
                400,
                "invalid",
                "Some fields are invalid.",
                fields={HEADER: ["1 to 255 printable ASCII characters, no spaces."]},
            )
        fingerprint = _fingerprint(request)
        where = _cache_key(request, key)
        claim = {"state": IN_PROGRESS, "fingerprint": fingerprint}
        try:
            claimed = cache.add(where, claim, timeout=IN_PROGRESS_SECONDS)
            record = None if claimed else cache.get(where)
        except Exception:  # the cache is down: run the request once, unprotected (rules still hold)
            logger.warning("idempotency: cache unavailable, %s not checked", HEADER, exc_info=True)
            return self.get_response(request)
        if not claimed:
            if record is None:  # expired between add and get: treat as still running
                return _error(409, "idempotency_in_progress", "The first request with this key is running.")
            return _answer_for(record, fingerprint)
        try:
            response = self.get_response(request)
        except BaseException:
            cache.delete(where)
            raise
        self._keep(where, fingerprint, response)
        return response

    @staticmethod
    def _keep(where: str, fingerprint: str, response: HttpResponse) -> None:
        try:
            if response.status_code in NOT_KEPT or response.streaming:
                cache.delete(where)
                return
            record = {
                "state": "done",
                "fingerprint": fingerprint,
                "status": response.status_code,
                "headers": {name: response[name] for name in REPLAYED_HEADERS if response.has_header(name)},
                "body": seal(base64.b64encode(response.content).decode()),
            }
            cache.set(where, record, timeout=settings.IDEMPOTENCY_SECONDS)
        except Exception:
            logger.warning("idempotency: could not keep the response", exc_info=True)
