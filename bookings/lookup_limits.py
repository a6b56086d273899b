"""Wrong look-ups (reference + phone or e-mail) are limited, so that guessing does not pay.

Failures count per client address (LOOKUP_FAILURES_PER_ADDRESS in 15 minutes) and, at a much
higher ceiling, per reference (LOOKUP_FAILURES_PER_REFERENCE a day): a stranger who guesses at one
reference from a single address is stopped long before the reference itself is, so they cannot
lock its holder out; a guesser spread over many addresses still meets the reference's ceiling.
Counted in the shared cache (Redis when configured), so every web node counts alike.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache

ADDRESS_SECONDS = 15 * 60
REFERENCE_SECONDS = 24 * 3600
PREFIX = "lookup-failures"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def _keys(address: str, reference: str) -> tuple[str, str]:
    return f"{PREFIX}:address:{_digest(address)}", f"{PREFIX}:reference:{_digest(reference)}"


def lookup_blocked(*, address: str, reference: str) -> bool:
    by_address, by_reference = _keys(address, reference)
    counts = cache.get_many([by_address, by_reference])
    return (
        counts.get(by_address, 0) >= settings.LOOKUP_FAILURES_PER_ADDRESS
        or counts.get(by_reference, 0) >= settings.LOOKUP_FAILURES_PER_REFERENCE
    )


def lookup_failed(*, address: str, reference: str) -> None:
    for key, seconds in zip(_keys(address, reference), (ADDRESS_SECONDS, REFERENCE_SECONDS)):
        cache.add(key, 0, timeout=seconds)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=seconds)


def forget(*, address: str, reference: str) -> None:
    cache.delete_many(list(_keys(address, reference)))
