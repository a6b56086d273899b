"""Availability answers kept in Django's cache (Redis when configured, else per process), never stale.

An answer is stored under a key naming what the request names (venue code, procedure code, the raw
`from`/`to` and today's JST date, which the defaults depend on), together with the two tokens it
was computed under: the global *generation* and the venue's *seat version*, a random token keyed
by the venue's code that every write changing the venue (its settings, procedures, windows,
closures, slots or seats) replaces (`venue_changed`) at once and again when its transaction
commits. A hit is one `get_many` round trip (both tokens and the answer) and no database query:
the answer is served only if the tokens it was stored with are still the current ones. A reader
reads the tokens *before* the rows, so an answer computed from the rows before a commit carries a
token that the commit's bump puts out of date. Tokens are random, not counters: a token lost from
the cache (eviction, restart) is replaced by a new one, never by one an old answer was stored with.

Time matters too (past slots, the 17:00 cut-off, the horizon): an answer is kept with the moment
it was computed at and the next moment at which the passing of time changes it (`valid_until`);
it is only served between the two. Errors (unknown venue or procedure, bad dates) are never
stored: a miss validates the request in full. The generation (`reset`) drops every answer at
once, e.g. when a procedure changes, and between tests.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from venues.models import Closure, Procedure, ReceptionWindow, Venue

from .models import Slot

log = logging.getLogger(__name__)

PREFIX = "availability:v2"
GENERATION_KEY = f"{PREFIX}:generation"
TTL_SECONDS = 300  # a bound on any staleness should the cache itself lose a write


def _venue_key(code: str) -> str:
    return f"{PREFIX}:venue:{code}"


def _new_token() -> str:
    return secrets.token_hex(8)


def _bump(key: str) -> None:
    try:
        cache.set(key, _new_token(), None)
    except Exception:  # the cache is an optimisation: a lost bump is bounded by TTL_SECONDS
        log.warning("availability cache: could not bump %s", key, exc_info=True)


def _bump_at_commit(key: str) -> None:
    """Bump now (this transaction's own later reads see fresh answers, even if it never commits,
    as in a test case) and again at commit (an answer computed meanwhile from the rows before the
    commit was stored with the first new token, which the second one puts out of date)."""
    _bump(key)
    if transaction.get_connection().in_atomic_block:  # else the change is committed already
        transaction.on_commit(lambda: _bump(key), robust=True)


def venue_changed(venue: Venue | int) -> None:
    """Call inside the transaction that changes a venue (settings, procedures, windows, closures,
    slots or seats). Given only an id, the code is read from the database."""
    code = venue.code if isinstance(venue, Venue) else _code_of(venue)
    if code is not None:
        _bump_at_commit(_venue_key(code))


def _code_of(venue_id: int | None) -> str | None:
    if venue_id is None:
        return None
    return Venue.objects.filter(pk=venue_id).values_list("code", flat=True).first()


def reset() -> None:
    """Forget every cached answer (new generation)."""
    _bump_at_commit(GENERATION_KEY)


def new_generation() -> None:
    """Forget every cached answer now (outside any transaction: e.g. between tests)."""
    _bump(GENERATION_KEY)


def tokens(venue_code: str) -> tuple[str, str]:
    """The current generation and seat version of the venue, created if the cache lost them."""
    keys = [GENERATION_KEY, _venue_key(venue_code)]
    found = cache.get_many(keys)
    result = []
    for key in keys:
        token = found.get(key)
        if token is None:
            cache.add(key, _new_token(), None)
            token = cache.get(key)
            if token is None:
                raise RuntimeError("cache did not keep the token")
        result.append(token)
    return result[0], result[1]


def request_key(parts: tuple[Any, ...]) -> str:
    """Where the answer to a request naming these values is kept (hashed: raw input is arbitrary)."""
    return f"{PREFIX}:answer:{hashlib.sha256(repr(parts).encode()).hexdigest()}"


def store(key: str, *, tokens: tuple[str, str], computed_at: float, valid_until: float, body: Any) -> None:
    cache.set(key, (tokens[0], tokens[1], computed_at, valid_until, body), TTL_SECONDS)


Compute = Callable[[], tuple[Any, datetime]]


def cached_answer(*, venue_code: str, parts: tuple[Any, ...], now: datetime, compute: Compute) -> Any:
    """The body `compute()` returns (it validates the request and raises its errors), from the cache
    when nothing of the venue has changed since: one cache round trip and no query on a hit.

    `parts` name everything else the answer depends on (procedure, dates, mode)."""
    key = request_key((venue_code, *parts))
    venue_key = _venue_key(venue_code)
    moment = now.timestamp()
    try:
        found = cache.get_many([GENERATION_KEY, venue_key, key])
    except Exception:
        log.warning("availability cache unavailable", exc_info=True)
        return compute()[0]
    current = (found.get(GENERATION_KEY), found.get(venue_key))
    cached = found.get(key)
    if cached is not None and None not in current:
        generation, version, computed_at, valid_until, body = cached
        if (generation, version) == current and computed_at <= moment < valid_until:
            return body
    try:
        seen = current if None not in current else tokens(venue_code)  # before the rows are read
    except Exception:
        log.warning("availability cache unavailable", exc_info=True)
        return compute()[0]
    body, valid_until = compute()
    try:
        store(key, tokens=seen, computed_at=moment, valid_until=valid_until.timestamp(), body=body)
    except Exception:
        log.warning("availability cache: could not store", exc_info=True)
    return body


# --- Writes outside the services (admin forms, fixtures, shell): the same invalidation ---------


def _on_venue_row(sender, instance, **kwargs) -> None:
    if sender is Venue:
        venue_changed(instance)  # deactivation, horizon, cut-off, …: the code's answers go at once
        old_code = getattr(instance, "_availability_old_code", None)
        if old_code and old_code != instance.code:
            _bump_at_commit(_venue_key(old_code))  # renamed: the old code's answers go too
    else:
        venue = instance.venue if type(instance).venue.is_cached(instance) else None
        venue_changed(venue if venue is not None else instance.venue_id)


def _before_venue_save(sender, instance, **kwargs) -> None:
    if instance.pk is not None:
        instance._availability_old_code = _code_of(instance.pk)


def _on_procedures_m2m(sender, instance, **kwargs) -> None:
    if not kwargs.get("action", "").startswith("post_"):
        return
    if isinstance(instance, ReceptionWindow):
        venue_changed(instance.venue_id)
    elif isinstance(instance, Venue):
        venue_changed(instance)
    else:  # a procedure's venues or windows, changed from the procedure's side
        reset()


def _on_procedure(sender, instance, **kwargs) -> None:
    reset()


def connect() -> None:
    pre_save.connect(_before_venue_save, sender=Venue, dispatch_uid="availability-cache-venue-before")
    for model in (Venue, ReceptionWindow, Closure, Slot):
        post_save.connect(
            _on_venue_row, sender=model, dispatch_uid=f"availability-cache-save-{model.__name__}"
        )
        post_delete.connect(
            _on_venue_row, sender=model, dispatch_uid=f"availability-cache-delete-{model.__name__}"
        )
    post_save.connect(_on_procedure, sender=Procedure, dispatch_uid="availability-cache-procedure")
    post_delete.connect(_on_procedure, sender=Procedure, dispatch_uid="availability-cache-procedure-delete")
    for through in (ReceptionWindow.procedures.through, Venue.procedures.through):
        m2m_changed.connect(
            _on_procedures_m2m,
            sender=through,
            dispatch_uid=f"availability-cache-procedures-{through.__name__}",
        )
