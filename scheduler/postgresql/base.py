"""Django's PostgreSQL backend, with a health check that costs no round trip.

CONN_HEALTH_CHECKS makes Django check a kept connection before its first use in each request. Its
check is a `SELECT 1`: one round trip, and about 40 µs of the database's CPU, on every request (a
sixth of what a booking asked of PostgreSQL; bench/load.py). A server that ends a connection
(restart, `pg_terminate_backend`, an idle timeout) tells the client first: an error message, then
the end of the stream. So an idle connection whose socket has nothing to read is alive as far as
a `SELECT 1` could tell; one with something to read is read, and checked the old way if it is
still open. What neither check sees (a peer gone without a word) fails the request's first
statement, answered as 503 `busy`, and the connection is dropped at the end of that request.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        conn = self.connection
        if conn is None or conn.closed:
            return False
        pgconn = conn.pgconn
        if pgconn.status != pq.ConnStatus.OK:
            return False
        if pgconn.transaction_status == pq.TransactionStatus.IDLE and not _readable(pgconn.socket):
            return True
        return super().is_usable()  # the server spoke while idle, or a transaction is open


def _readable(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))
