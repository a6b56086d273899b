"""Availability answers kept in Django's cache (Redis when configured, else per process), never stale.

An answer is stored under a key naming the venue's *seat version*: a random token that every write
changing the venue's seats, slots, windows or closures replaces (`venue_changed`) at once and again
when its transaction commits. A reader
that computed an answer from the rows before the commit stored it under the old token, which the
commit puts out of reach. Tokens are
random, not counters: a token lost from the cache (eviction, restart) is replaced by a new one,
never by one that an old answer was stored under.

Time matters too (past slots, the 17:00 cut-off, the horizon): an answer is kept with the moment
it was computed at and the next moment at which the passing of time changes it (`valid_until`);
it is only served between the two. A global generation token (`reset`) drops every answer at once,
e.g. when a procedure's length changes, and between tests.
"""

from __future__ import annotations

import logging
import secrets
from datetime import date, datetime
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from scheduler import clock
from venues.models import Closure, Procedure, ReceptionWindow, Venue

from .models import Slot
from .slots import availability_with_validity

log = logging.getLogger(__name__)

PREFIX = "availability:v1"
GENERATION_KEY = f"{PREFIX}:generation"
TTL_SECONDS = 300  # a bound on any staleness should the cache itself lose a write


def _venue_key(venue_id: int) -> str:
    return f"{PREFIX}:venue:{venue_id}"


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
    commit was stored under the first new token, which the second one puts out of reach)."""
    _bump(key)
    transaction.on_commit(lambda: _bump(key), robust=True)


def venue_changed(venue_id: int) -> None:
    """Call inside the transaction that changes a venue's seats, slots, windows or closures."""
    _bump_at_commit(_venue_key(venue_id))


def reset() -> None:
    """Forget every cached answer (new generation)."""
    _bump_at_commit(GENERATION_KEY)


def new_generation() -> None:
    """Forget every cached answer now (outside any transaction: e.g. between tests)."""
    _bump(GENERATION_KEY)


def _tokens(venue_id: int) -> tuple[str, str]:
    keys = [GENERATION_KEY, _venue_key(venue_id)]
    found = cache.get_many(keys)
    tokens = []
    for key in keys:
        token = found.get(key)
        if token is None:
            cache.add(key, _new_token(), None)
            token = cache.get(key)
            if token is None:
                raise RuntimeError("cache did not keep the token")
        tokens.append(token)
    return tokens[0], tokens[1]


def answer_key(*, venue: Venue, procedure: Procedure, first: date, last: date) -> str:
    """Where the answer for these arguments is kept under the current tokens."""
    generation, version = _tokens(venue.pk)
    return f"{PREFIX}:{generation}:{version}:{venue.pk}:{procedure.pk}:{first}:{last}"


def render_days(days) -> list[dict[str, Any]]:
    """The `days` of the availability response (JSON-ready)."""
    return [
        {
            "date": day.date.isoformat(),
            "slots": [
                {
                    "start": clock.local(view.start).isoformat(),
                    "end": clock.local(view.end).isoformat(),
                    "remaining": view.remaining,
                }
                for view in day.slots
            ],
        }
        for day in days
    ]


def availability_days(
    *, venue: Venue, procedure: Procedure, first: date, last: date, now: datetime
) -> list[dict[str, Any]]:
    """`render_days(availability(...))`, from the cache when nothing it depends on has changed."""
    try:
        key = answer_key(venue=venue, procedure=procedure, first=first, last=last)
        cached = cache.get(key)
    except Exception:
        log.warning("availability cache unavailable", exc_info=True)
        days, _ = availability_with_validity(
            venue=venue, procedure=procedure, first=first, last=last, now=now
        )
        return render_days(days)
    moment = now.timestamp()
    if cached is not None:
        computed_at, valid_until, body = cached
        if computed_at <= moment < valid_until:
            return body
    days, valid_until = availability_with_validity(
        venue=venue, procedure=procedure, first=first, last=last, now=now
    )
    body = render_days(days)
    try:
        cache.set(key, (moment, valid_until.timestamp(), body), TTL_SECONDS)
    except Exception:
        log.warning("availability cache: could not store", exc_info=True)
    return body


# --- Writes outside the services (admin forms, fixtures, shell): the same invalidation ---------


def _on_venue_row(sender, instance, **kwargs) -> None:
    venue_id = instance.pk if sender is Venue else getattr(instance, "venue_id", None)
    if venue_id is not None:
        venue_changed(venue_id)


def _on_window_procedures(sender, instance, **kwargs) -> None:
    if kwargs.get("action", "").startswith("post_"):
        if isinstance(instance, ReceptionWindow):
            venue_changed(instance.venue_id)
        else:
            reset()


def _on_procedure(sender, instance, **kwargs) -> None:
    reset()


def connect() -> None:
    for model in (Venue, ReceptionWindow, Closure, Slot):
        post_save.connect(
            _on_venue_row, sender=model, dispatch_uid=f"availability-cache-save-{model.__name__}"
        )
        post_delete.connect(
            _on_venue_row, sender=model, dispatch_uid=f"availability-cache-delete-{model.__name__}"
        )
    post_save.connect(_on_procedure, sender=Procedure, dispatch_uid="availability-cache-procedure")
    post_delete.connect(_on_procedure, sender=Procedure, dispatch_uid="availability-cache-procedure-delete")
    m2m_changed.connect(
        _on_window_procedures,
        sender=ReceptionWindow.procedures.through,
        dispatch_uid="availability-cache-window-procedures",
    )
