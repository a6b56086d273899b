"""The booking's SQL alone against the bare view's, without Python in the way (not a test: run it
by hand, after bench/load.py, on the database that one left).

    .venv/bin/python bench/sql_only.py                  # 5 rounds of 1,000 of each, taken in turns

Why: bench/load.py's ratio divides a booking's PostgreSQL CPU by the bare view's, each measured
with the app around it. How much of the gap is the booking's own SQL, and how much the app's
processes competing for two cores? Here one connection sends the very statements the app sends
for a booking (recorded from one booking made through the API in this process), with new
contacts, reference and id each time, one transaction after another, and the bare view's (its
UPDATE and INSERT in BEGIN … COMMIT, as bench/bare_app.py sends them), taken in turns. The
figure is the CPU of that one backend (/proc), per transaction: no web process, no listener (the
NOTIFY reaches nobody), no client in the count.

Everything stays on 127.0.0.1; every loop is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import bare_app
import load

REDIS = "redis://127.0.0.1:6379/11"
VENUE = "toshin-centre"


def record_booking(database: str, start: str) -> tuple[list[tuple[str, list[Any]]], dict[str, Any]]:
    """The statements one booking through the API sends, with the values that make it this one."""
    os.environ.update(load.bench_environment(database_url=database, redis_url=REDIS, now=load.CLOCK_NOW))
    os.environ["DJANGO_SETTINGS_MODULE"] = "scheduler.settings"
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from bookings.models import Booking

    phone, email = f"070{secrets.randbelow(10**8):08d}", f"sql{secrets.token_hex(4)}@example.jp"
    body = {"venue": VENUE, "procedure": "record", "start": start, "name": "負荷 試験"}
    body |= {"phone": phone, "email": email, "answers": load.ANSWERS}
    statements: list[tuple[str, list[Any]]] = []

    def keep(execute, sql, params, many, context):
        statements.append((sql, list(params or [])))
        return execute(sql, params, many, context)

    client = Client(HTTP_HOST=load.HOST)
    client.post("/api/v1/bookings/", body, content_type="application/json")  # warm: reference rows kept
    statements.clear()
    body |= {"phone": phone[:-1] + str((int(phone[-1]) + 1) % 10), "email": "x" + email}
    with connection.execute_wrapper(keep):
        answer = client.post("/api/v1/bookings/", body, content_type="application/json")
    if answer.status_code != 201:
        raise SystemExit(f"the recorded booking was refused: {answer.status_code} {answer.content[:200]!r}")
    booking = Booking.objects.get(reference=answer.json()["reference"])
    known = {
        "phone": booking.phone,
        "email": booking.email,
        "reference": booking.reference,
        "token_hash": booking.token_hash,
        "id": booking.pk,
        "slot": booking.slot_id,
        "procedure": booking.procedure_id,
    }
    return statements, known


def _fresh(value: Any, known: dict[str, Any], new: dict[str, Any]) -> Any:
    """`value` of the recorded booking as it reads for the new one."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and value == known["id"]:
        return new["id"]
    if not isinstance(value, str):  # ids go as plain ints (bookings.statements.AS_HELD)
        return value
    for name in ("phone", "email", "reference", "token_hash"):
        if value == known[name]:
            return new[name]
    if value.startswith("confirmed:"):  # the outbox row's dedupe key: its booking and a nonce
        return f"confirmed:{new['id']}:{uuid.uuid4().hex}"
    if known["reference"] in value:  # the subject names the reference
        return value.replace(known["reference"], new["reference"])
    return value


def run_booking(conn: psycopg.Connection, statements, known, count: int, serial: list[int]) -> None:
    (read_sql, read_params), (write_sql, write_params) = statements
    for _ in range(count):
        serial[0] += 1
        new = {
            "phone": f"06{serial[0]:09d}",
            "email": f"q{serial[0]}@example.jp",
            "reference": "".join(secrets.choice(bare_app.ALPHABET) for _ in range(8)),
            "token_hash": secrets.token_hex(32),
            "id": None,
        }
        row = conn.execute(read_sql, [_fresh(v, known, new) for v in read_params]).fetchone()
        new["id"] = row[-1]  # the read draws the new booking's id (its last column)
        answer = conn.execute(write_sql, [_fresh(v, known, new) for v in write_params]).fetchone()
        if answer[1] is None:
            raise SystemExit(f"the replayed booking was not written: {answer}")


def run_bare(conn: psycopg.Connection, known, count: int, serial: list[int]) -> None:
    for _ in range(count):
        serial[0] += 1
        reference = "".join(secrets.choice(bare_app.ALPHABET) for _ in range(8))
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(bare_app.TAKE_SEAT, (known["slot"],))
            if cur.rowcount != 1:
                raise SystemExit("the bare view's seat is full")
            cur.execute(
                bare_app.INSERT_BOOKING,
                (
                    reference,
                    secrets.token_hex(32),
                    known["procedure"],
                    "bench",
                    f"05{serial[0]:09d}",
                    known["slot"],
                ),
            )
            cur.fetchone()


def backend_cpu_ms(pid: int) -> float:
    return load._cpu_seconds([pid]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="scheduler_bench_load", help="by name, on 127.0.0.1")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=1000, help="transactions of each side per round")
    args = parser.parse_args()
    database = load.bench_database(args.database)
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            "UPDATE bookings_slot SET capacity = 30000 FROM venues_venue v "
            "WHERE v.id = bookings_slot.venue_id AND v.code = %s AND date >= '2026-12-03'",
            (VENUE,),
        )
        (start,) = conn.execute(
            "SELECT s.start FROM bookings_slot s JOIN venues_venue v ON v.id = s.venue_id "
            "WHERE v.code = %s AND s.date >= '2026-12-03' ORDER BY s.date, s.start LIMIT 1",
            (VENUE,),
        ).fetchone()
    japan = load.datetime.fromisoformat(load.CLOCK_NOW).tzinfo
    statements, known = record_booking(database, start.astimezone(japan).isoformat())
    if len(statements) != 2:
        raise SystemExit(
            f"a booking sent {len(statements)} statements, not the read and the write: update this bench"
        )
    print(f"recorded: a booking's {len(statements)} statements; slot {known['slot']}")
    serial = [secrets.randbelow(10**7) * 100]
    figures: dict[str, list[float]] = {"bare": [], "booking": []}
    with psycopg.connect(database, autocommit=True) as conn:  # psycopg prepares after 5 uses, as the app
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        run_booking(conn, statements, known, 20, serial)  # warm: both prepared
        run_bare(conn, known, 20, serial)
        for round_number in range(1, args.rounds + 1):
            for name in figures:
                conn.execute("CHECKPOINT")
                before = backend_cpu_ms(pid)
                if name == "bare":
                    run_bare(conn, known, args.count, serial)
                else:
                    run_booking(conn, statements, known, args.count, serial)
                figures[name].append((backend_cpu_ms(pid) - before) / args.count)
                print(f"round {round_number} {name:<8} {figures[name][-1]:.3f} ms", flush=True)
    bare, booking = (statistics.median(figures[name]) for name in ("bare", "booking"))
    print(f"median   bare {bare:.3f} ms, booking {booking:.3f} ms of its backend's CPU per transaction")
    print(f"booking / bare, SQL alone: {booking / bare:.2f}")
    print(f"machine speed: sum(range(1000)) in {load.python_speed_us()} µs (lower is faster)")
    out = ROOT / "bench" / "results" / f"sql-only-{load.datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps({"rounds": figures, "bare_ms": bare, "booking_ms": booking}, indent=2))


if __name__ == "__main__":
    main()
