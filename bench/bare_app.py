"""The write path's ceiling: a bare booking view, outside Django, for bench/load.py.

One WSGI callable, no framework and no middleware: it reads `{"slot", "procedure", "phone"}`,
takes the seat with one conditional UPDATE and writes the booking row with one INSERT, in one
transaction on the same PostgreSQL database as the app. 201 when the seat was taken, 409 when
the slot was full. Run under the same gunicorn settings as the app, so that the full-stack
booking figure reads as a share of this one.

    BARE_DATABASE_URL=postgres://… gunicorn --chdir bench bare_app:application
"""

from __future__ import annotations

import json
import os
import secrets
import threading

import psycopg

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
TAKE_SEAT = "UPDATE bookings_slot SET taken = taken + 1 WHERE id = %s AND taken < capacity"
INSERT_BOOKING = """
INSERT INTO bookings_booking (reference, token_hash, venue_id, procedure_id, slot_id, slot_count,
    start, "end", status, channel, name, phone, email, answers, language, sms_opt_in, created_at, updated_at)
SELECT %s, %s, venue_id, %s, id, 1, start, "end", 'confirmed', 'online', %s, %s, '', '{}', 'ja', false,
    now(), now()
FROM bookings_slot WHERE id = %s
RETURNING id
"""

_local = threading.local()


def _connection() -> psycopg.Connection:
    """One connection per worker thread, kept (as the app keeps its own with CONN_MAX_AGE)."""
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = psycopg.connect(os.environ["BARE_DATABASE_URL"])
    return conn


def _reply(start_response, status: str, body: dict) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def application(environ, start_response):
    if environ["REQUEST_METHOD"] != "POST":
        return _reply(start_response, "405 Method Not Allowed", {"code": "method_not_allowed"})
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = json.loads(environ["wsgi.input"].read(min(length, 10_000)))
        slot, procedure, phone = int(data["slot"]), int(data["procedure"]), str(data["phone"])[:11]
    except (ValueError, KeyError, TypeError):
        return _reply(start_response, "400 Bad Request", {"code": "invalid"})
    conn = _connection()
    reference = "".join(secrets.choice(ALPHABET) for _ in range(8))
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(TAKE_SEAT, (slot,))
        if cur.rowcount != 1:
            return _reply(start_response, "409 Conflict", {"code": "slot_full"})
        cur.execute(INSERT_BOOKING, (reference, secrets.token_hex(32), procedure, "bench", phone, slot))
        cur.fetchone()
    return _reply(start_response, "201 Created", {"reference": reference, "status": "confirmed"})
