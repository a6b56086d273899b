"""Fair shares: how many holds, bookings, look-ups and changes one client address may make.

DRF's throttle interface (`allow_request`, `wait`, `get_ident` behind `NUM_PROXIES`), counted
in fixed windows with an atomic increment in the shared cache (Redis when configured), so that
concurrent requests from one address cannot slip past the limit and every web node counts alike.
Rates come from THROTTLE_RATES (settings), e.g. `hold=30/hour,booking=10/hour+30/day`; `off`
disables.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

from . import metrics
from .cache import RedisCache
from .rates import SCOPES, parse_rates  # noqa: F401 - the scopes and their parser live there

logger = logging.getLogger(__name__)


class ScopeThrottle(SimpleRateThrottle):
    """The view's `throttle_scope` (or the scope given) per client address."""

    def __init__(self, scope: str | None = None) -> None:
        self.scope = scope

    def get_rate(self) -> str | None:
        return settings.THROTTLE_RATES.get(self.scope)

    def get_ident(self, request: Any) -> str:
        return client_network(str(super().get_ident(request) or ""))

    def get_cache_key(self, request: Any, view: Any) -> str:
        ident = hashlib.sha256(str(self.get_ident(request)).encode()).hexdigest()[:32]
        return f"throttle:{self.scope}:{ident}"

    def allow_request(self, request: Any, view: Any) -> bool:
        self.scope = self.scope or getattr(view, "throttle_scope", None)
        rate = self.get_rate() if self.scope else None
        if rate is None:
            return True
        now = time.time()
        base = self.get_cache_key(request, view)
        windows = []  # (key, allowed, duration, window) for each rate of the scope
        for one in rate.split("+"):
            allowed, duration = self.parse_rate(one.strip())
            window = int(now // duration)
            windows.append((f"{base}:{duration}:{window}", allowed, duration, window))
        try:
            counts = count_up([(key, duration + 1) for key, _, duration, _ in windows])
        except (RedisError, OSError) as error:
            # The shared cache is down: count nothing and refuse nobody, rather than refuse every
            # hold and booking while it is (README: a booking succeeds even when Redis is down);
            # the per-person caps live in the database and still hold (tests/test_drills.py).
            logger.warning("fair shares: cache down (%s); %s not counted", type(error).__name__, self.scope)
            return True
        refused = [
            max(1, math.ceil((window + 1) * duration - now))
            for (_, allowed, duration, window), count in zip(windows, counts, strict=True)
            if count > allowed
        ]
        self.retry_after = max(refused, default=1)
        if refused and self.scope in SCOPES:  # a fair share's refusal (not the challenge's soft limit)
            metrics.throttled(self.scope)
        return not refused

    def wait(self) -> float:
        return getattr(self, "retry_after", 1)


def count_up(keys: list[tuple[str, int]]) -> list[int]:
    """Add one to each counter (created with its timeout in seconds); the new values. On Redis one
    round trip for them all (INCR, then EXPIRE only where none is set); elsewhere add + incr."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        pipe = backend._cache.get_client(write=True).pipeline(transaction=False)
        for key, timeout in keys:
            name = backend.make_and_validate_key(key)
            pipe.incr(name)
            pipe.expire(name, timeout, nx=True)
        return [int(value) for value in pipe.execute()[::2]]
    counts = []
    for key, timeout in keys:
        cache.add(key, 0, timeout=timeout)
        try:
            counts.append(cache.incr(key))
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=timeout)
            counts.append(1)
    return counts


def client_network(address: str) -> str:
    """The unit a limit counts: an IPv4 address, or an IPv6 address's network prefix (/64 by
    default, THROTTLE_IPV6_PREFIX), since one line or device is given a whole /64 and could
    otherwise change address at every request."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{settings.THROTTLE_IPV6_PREFIX}", strict=False))
    return str(ip)


def refused(scope: str, request: Any) -> int | None:
    """Count this request against `scope`; the seconds to wait when it is one too many, else None."""
    throttle = ScopeThrottle(scope)
    return None if throttle.allow_request(request, None) else int(throttle.wait())
