"""The outbox listener: sends new rows the moment their transaction commits (PostgreSQL).

`notifications.wake` NOTIFYs inside the booking's transaction; this loop LISTENs on its own
connection, and on every wake-up (or after OUTBOX_LISTEN_IDLE_SECONDS without one, for retries
whose back-off is over) sends what is due through `notifications.sweep`, whose claims make
several listeners (one per worker machine) safe side by side. When the database goes away it
reconnects; a NOTIFY lost meanwhile is only a delay, since the next pass finds the row anyway.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection

from scheduler import clock

from . import notifications

logger = logging.getLogger(__name__)
PASS_SECONDS = 1.0


def listen(
    *,
    stop: threading.Event | None = None,
    progress: Callable[[dict[str, int]], None] | None = None,
) -> None:
    """Run until `stop` is set (or for ever)."""
    stop = stop or threading.Event()
    idle = settings.OUTBOX_LISTEN_IDLE_SECONDS
    while not stop.is_set():
        try:
            connection.ensure_connection()
            pg = connection.connection
            pg.execute(f"LISTEN {notifications.CHANNEL}")
            # This session writes only the outbox rows' claims and outcomes. Their commits need not
            # wait for the disk (a quarter of its database CPU per message): a database crash
            # can forget the last fraction of a second of them, and then a row is claimed and
            # sent again (once more, never lost), as after a listener's own crash.
            pg.execute("SET synchronous_commit TO off")
            woken = False  # the first pass, like an idle one, also looks for rows stuck in sending
            while not stop.is_set():
                # Short passes: each reads the clock again (a claim's time, `sent_at`), and a burst
                # that keeps arriving is picked up by the next pass.
                counts = notifications.sweep(now=clock.now(), seconds=PASS_SECONDS, woken=woken)
                if counts and progress:
                    progress(counts)
                # Wake on the first NOTIFY (with those that came during the pass: psycopg keeps
                # them for this wait), or after `idle`.
                woken = False
                for _ in pg.notifies(timeout=idle, stop_after=1):
                    woken = True
        except (DatabaseError, psycopg.Error, OSError) as error:
            logger.warning("outbox listener: database unavailable (%s); reconnecting", type(error).__name__)
            with contextlib.suppress(Exception):  # the connection is gone already
                connection.close()
            stop.wait(1.0)
