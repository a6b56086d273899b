"""Proof of work (ALTCHA, self-hosted): a cost that a resident pays once and a hoarder pays per seat.

The pages ask for it only from an address that has taken more holds this hour than the soft
limit (CHALLENGE_SOFT_LIMIT), so most residents never meet it and the pages need no script until
then; the API asks for it on every hold and on every booking without a hold when API_CHALLENGE=1.
A challenge is signed with a key derived from SECRET_KEY, expires, and is accepted once: its
signature is claimed in the shared cache (`cache.add`), so a replay from any web node fails.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

import altcha
from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

from . import metrics
from .throttling import ScopeThrottle

ALGORITHM = "PBKDF2/SHA-256"
FIELD = "altcha"  # the form field the widget fills (and the API's body field)
HEADER = "X-Altcha"  # the API may send the payload as a header instead

REQUIRED = "challenge_required"
FAILED = "challenge_failed"


def _key(purpose: str) -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), f"altcha:{purpose}".encode(), hashlib.sha256).digest()


def issue(*, now: float | None = None) -> dict[str, Any]:
    """A fresh signed challenge, as the widget fetches it (`{"parameters": …, "signature": …}`)."""
    now = time.time() if now is None else now
    challenge = altcha.create_challenge(
        ALGORITHM,
        settings.CHALLENGE_COST,
        counter=secrets.randbelow(settings.CHALLENGE_MAX_COUNTER) + 1,
        expires_at=int(now) + settings.CHALLENGE_SECONDS,
        hmac_secret=_key("challenge"),
        hmac_key_secret=_key("derived"),
    )
    metrics.challenge_issued()
    return challenge.to_dict()


def check(payload: str | None) -> str | None:
    """None when `payload` solves a challenge of ours that was never used; else the error code."""
    problem = _problem(payload)
    metrics.challenge_checked({None: "passed", REQUIRED: "required"}.get(problem, "failed"))
    return problem


def _problem(payload: str | None) -> str | None:
    if not payload or not isinstance(payload, str):
        return REQUIRED
    if len(payload) > 4096:
        return FAILED
    result = altcha.verify_solution(payload, _key("challenge"), hmac_key_secret=_key("derived"))
    if not result.verified:
        return FAILED
    # Accepted once: the first request to claim the signature wins, on every node.
    signature = altcha.Payload.from_base64(payload).challenge.signature
    claim = "altcha:used:" + hashlib.sha256(signature.encode()).hexdigest()[:40]
    if not cache.add(claim, 1, timeout=settings.CHALLENGE_SECONDS + 60):
        return FAILED
    return None


def api_check(request: Any) -> None:
    """With API_CHALLENGE=1, the request carries a solved challenge in X-Altcha; else 403 with a code."""
    if not settings.API_CHALLENGE:
        return
    from .errors import ChallengeFailed, ChallengeRequired

    problem = check(request.headers.get(HEADER))
    if problem == REQUIRED:
        raise ChallengeRequired()
    if problem == FAILED:
        raise ChallengeFailed()


class _SoftLimit(ScopeThrottle):
    """Holds taken through the pages by one address in the current hour."""

    def __init__(self) -> None:
        super().__init__("challenge")

    def get_rate(self) -> str | None:
        limit = settings.CHALLENGE_SOFT_LIMIT
        return None if limit is None else f"{limit}/hour"

    def current(self, request: Any) -> int:
        _, duration = self.parse_rate(self.get_rate())
        window = int(time.time() // duration)
        try:
            return int(cache.get(f"{self.get_cache_key(request, None)}:{duration}:{window}") or 0)
        except (RedisError, OSError):  # the cache is down: ask no proof, as the throttles count none
            return 0


def needed(request: Any) -> bool:
    """The pages ask this address for a proof of work: it is past the soft limit this hour."""
    if settings.CHALLENGE_SOFT_LIMIT is None:
        return False
    return _SoftLimit().current(request) >= settings.CHALLENGE_SOFT_LIMIT


def count(request: Any) -> None:
    """One more hold asked for through the pages by this address."""
    if settings.CHALLENGE_SOFT_LIMIT is not None:
        _SoftLimit().allow_request(request, None)
