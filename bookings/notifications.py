"""The outbox: a row per message, written inside the transaction of the change it reports.

Sending happens after commit (see `tasks.py`); the row is the promise that it will happen even
if the broker is down at that moment.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from .models import Booking, Notification


def record(
    *, booking: Booking, kind: str, now: datetime, token: str | None = None, note: str = ""
) -> Notification | None:
    """Write the outbox row for `kind`; nothing when the person left no email address."""
    if not booking.email:
        return None
    return Notification.objects.create(
        booking=booking,
        kind=kind,
        dedupe_key=f"{kind}:{booking.pk}:{uuid.uuid4().hex}",
        to_address=booking.email,
        language=booking.language,
        note=note[:200],
        next_attempt_at=now,
    )
