"""Wrong look-ups (reference + phone or e-mail) are limited, so that guessing does not pay.

Failures count per client address (LOOKUP_FAILURES_PER_ADDRESS in 15 minutes) and, at a much
higher ceiling, per reference (LOOKUP_FAILURES_PER_REFERENCE a day): a stranger who guesses at one
reference from a single address is stopped long before the reference itself is, so they cannot
lock its holder out; a guesser spread over many addresses still meets the reference's ceiling.
Counted in the shared cache (Redis when configured), so every web node counts alike. With the
cache down, look-ups go on uncounted (as the fair-share throttles do): a resident can still find
their booking, and a few minutes of uncounted guessing at 36^8 references is no real gain.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

from scheduler.throttling import count_up

logger = logging.getLogger(__name__)
CACHE_DOWN = (RedisError, OSError)

ADDRESS_SECONDS = 15 * 60
REFERENCE_SECONDS = 24 * 3600
PREFIX = "lookup-failures"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def _keys(address: str, reference: str) -> tuple[str, str]:
    return f"{PREFIX}:address:{_digest(address)}", f"{PREFIX}:reference:{_digest(reference)}"


def lookup_blocked(*, address: str, reference: str) -> bool:
    by_address, by_reference = _keys(address, reference)
    try:
        counts = cache.get_many([by_address, by_reference])
    except CACHE_DOWN:
        logger.warning("lookup limits: the cache is unavailable, look-up not limited")
        return False
    return (
        counts.get(by_address, 0) >= settings.LOOKUP_FAILURES_PER_ADDRESS
        or counts.get(by_reference, 0) >= settings.LOOKUP_FAILURES_PER_REFERENCE
    )


def lookup_failed(*, address: str, reference: str) -> None:
    try:
        count_up(list(zip(_keys(address, reference), (ADDRESS_SECONDS, REFERENCE_SECONDS))))
    except CACHE_DOWN:
        logger.warning("lookup limits: the cache is unavailable, a failed look-up not counted")


def forget(*, address: str, reference: str) -> None:
    try:
        cache.delete_many(list(_keys(address, reference)))
    except CACHE_DOWN:
        logger.warning("lookup limits: the cache is unavailable, failures not forgotten")
