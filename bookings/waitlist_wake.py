"""Wake the waiting list of a venue when its seats may have freed up (a cancel, a move, a hold
given back, new slots or counters): after the transaction commits, the task
`bookings.waitlist_pass` offers the free seats to the first in line (bookings/waitlist.py).

The seat module and slot generation call `seats_freed`; this module imports nothing of the
bookings app (the task is named, as the outbox does), so the lower layers stay below the waiting
list. A wake that cannot be enqueued (broker down) is only a delay: the periodic
`bookings.waitlist_sweep` finds the seat within a minute.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)
TASK = "bookings.waitlist_pass"

_state = threading.local()


class _Wake:
    """The on-commit callback, naming its venue (for a reader of the pending callbacks)."""

    def __init__(self, venue_id: int) -> None:
        self.venue_id = venue_id

    def __call__(self) -> None:
        enqueue(self.venue_id)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Inside the waiting list's own pass: the seats it gives back are offered by that pass."""
    previous = getattr(_state, "quiet", False)
    _state.quiet = True
    try:
        yield
    finally:
        _state.quiet = previous


def seats_freed(venue_id: int) -> None:
    """Call inside the transaction that freed seats of the venue (or made new ones)."""
    if getattr(_state, "quiet", False):
        return
    # One wake per change: a closure cancelling fifty bookings runs fifty passes, the first of which
    # offers every seat and the others find nothing to do (a few queries each).
    transaction.on_commit(_Wake(venue_id), robust=True)


def enqueue(venue_id: int) -> bool:
    try:
        current_app.tasks[TASK].apply_async((venue_id,))
    except Exception as error:  # broker down, worker unknown: never fail the change that freed the seat
        logger.warning("waitlist pass for venue %s not enqueued (%s); the sweep will run it", venue_id, error)
        return False
    return True
