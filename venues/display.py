"""The waiting room's display link of a venue: a secret key that an administrator renews.

Only the key's sha256 is stored (a database dump opens no display); the key itself is shown once,
on the page the renewal returns. Renewing replaces the hash, so the old link stops working at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

from django.db import transaction

from .models import Venue
from .services import audit_record

KEY_BYTES = 32  # token_urlsafe(32): 43 characters, which the log filter hides (scheduler/logs.py)
MAX_KEY_LENGTH = 100


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@transaction.atomic
def display_secret_renew(*, venue: Venue, now: datetime, actor: Any) -> str:
    """A new key for the venue's display (the old link stops working); audited without the key."""
    key = secrets.token_urlsafe(KEY_BYTES)
    previous = venue.display_secret_renewed_at
    Venue.objects.filter(pk=venue.pk).update(display_secret_hash=key_hash(key), display_secret_renewed_at=now)
    venue.display_secret_hash, venue.display_secret_renewed_at = key_hash(key), now
    audit_record(
        actor=actor,
        venue=venue,
        object_type="venue",
        object_id=venue.pk,
        action="display_link_renew",
        before={"display_secret_renewed_at": previous.isoformat() if previous else None},
        after={"display_secret_renewed_at": now.isoformat()},
    )
    return key


def display_key_matches(venue: Venue, key: str | None) -> bool:
    """Whether `key` opens the venue's display: compared in constant time; no link, no display."""
    if not venue.display_secret_hash or not key or len(key) > MAX_KEY_LENGTH:
        return False
    return hmac.compare_digest(key_hash(key), venue.display_secret_hash)
