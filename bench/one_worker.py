"""Before and after on this noisy machine: one gunicorn sync worker, one request at a time, two
checkouts (or the app and the bare view) taken in turns (not a test: run it by hand).

    git worktree add /tmp/before 51d1772
    .venv/bin/python bench/one_worker.py --before /tmp/before            # 5 rounds of 500 bookings
    .venv/bin/python bench/one_worker.py --bare                          # the app against bench/bare_app.py

A change of schema needs the before side on a database of its own, a copy made before migrating:

    createdb -h 127.0.0.1 -U postgres -T scheduler_bench_load scheduler_bench_before
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scheduler_bench_load .venv/bin/python manage.py migrate
    .venv/bin/python bench/one_worker.py --before /tmp/before --before-database scheduler_bench_before

Why: absolute CPU figures here swing by up to 2× within minutes (a run of bench/load.py gave a
booking 2.9 ms of server CPU, the next one 4.4 ms, the bare view 0.53 and 0.64), and a closed-loop
run on two cores measures the processes' contention as much as their code. Taken in turns, one
request at a time, two versions meet the same machine, and the median of each side compares.

Each round starts gunicorn (one sync worker, DEBUG off, the bench settings of bench/load.py) on
the database bench/load.py left (`scheduler_bench_load`: run that first), books `--requests`
seats of the Toshin licence centre (raised to 30,000 per slot, from 2026-12-03) through the API
(or the bare view), and reports the worker's CPU and PostgreSQL's CPU (all its processes) per
booking, from /proc. Everything stays on 127.0.0.1; every loop is bounded.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import load  # bench/load.py: its CPU readings and settings

PORT = 18099
DATABASE = load.bench_database()
REDIS = "redis://127.0.0.1:6379/11"
APP, BARE = "scheduler.wsgi:application", "bare_app:application"


def seats(database: str = DATABASE) -> list[tuple[int, str]]:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            "UPDATE bookings_slot SET capacity = 30000 FROM venues_venue v "
            "WHERE v.id = bookings_slot.venue_id AND v.code = 'toshin-centre' AND date >= '2026-12-03'"
        )
        rows = conn.execute(
            "SELECT s.id, s.start FROM bookings_slot s JOIN venues_venue v ON v.id = s.venue_id "
            "WHERE v.code = 'toshin-centre' AND s.date >= '2026-12-03' ORDER BY s.date, s.start LIMIT 400"
        ).fetchall()
    japan = datetime.fromisoformat(load.CLOCK_NOW).tzinfo
    return [(slot, start.astimezone(japan).isoformat()) for slot, start in rows]


def one_round(
    checkout: Path, app: str, requests: int, free: list[tuple[int, str]], database: str = DATABASE
) -> tuple[float, float]:
    """(worker CPU ms, PostgreSQL CPU ms) per booking."""
    chdir = checkout / "bench" if app == BARE else checkout
    server = subprocess.Popen(  # our own gunicorn, on 127.0.0.1
        [
            str(ROOT / ".venv/bin/gunicorn"),
            app,
            "--chdir",
            str(chdir),
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            "1",
            "--log-level",
            "error",
        ],
        env=load.bench_environment(database_url=database, redis_url=REDIS, now=load.CLOCK_NOW),
    )
    try:
        for _ in range(100):
            workers = load._children(server.pid)[1:]
            if workers and _answers():
                break
            time.sleep(0.1)
        else:
            raise SystemExit("gunicorn did not start")
        base = random.randint(0, 9_000_000)  # phone numbers, not secrets

        def book(number: int) -> None:
            slot, start = free[number % len(free)]
            if app == BARE:
                path, body = "/", {"slot": slot, "procedure": 1, "phone": f"080{base + number:08d}"}
            else:
                path = "/api/v1/bookings/"
                body = {
                    "venue": "toshin-centre",
                    "procedure": "record",
                    "start": start,
                    "name": "負荷 試験",
                    "phone": f"090{base + number:08d}",
                    "email": f"one{base + number}@example.jp",
                    "answers": load.ANSWERS,
                }
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
            connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            answer = connection.getresponse()
            answer.read()
            connection.close()
            if answer.status != 201:
                raise SystemExit(f"{app}: {answer.status}")

        for number in range(30):  # warm: statements prepared, caches filled
            book(number)
        worker_before = load._cpu_seconds(workers)
        postgres_before = load._cpu_seconds(load._processes("postgres"))
        for number in range(30, 30 + requests):
            book(number)
        worker = (load._cpu_seconds(workers) - worker_before) / requests * 1000
        postgres = (load._cpu_seconds(load._processes("postgres")) - postgres_before) / requests * 1000
        return worker, postgres
    finally:
        server.terminate()
        server.wait(timeout=30)


def _answers() -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    side = parser.add_mutually_exclusive_group(required=True)
    side.add_argument("--before", type=Path, help="a checkout to compare this one with (git worktree)")
    side.add_argument("--bare", action="store_true", help="compare the app with bench/bare_app.py")
    parser.add_argument(
        "--before-database", help="the before side's database (a copy, for a change of schema), by name"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    before_database = load.bench_database(args.before_database) if args.before_database else DATABASE
    free = seats()
    if before_database != DATABASE and seats(before_database) != free:
        raise SystemExit("the two databases differ in their seats: copy the before database again")
    # The second side over the first: after / before, or the app / the bare view.
    sides = (
        [("before", args.before, APP, before_database), ("after", ROOT, APP, DATABASE)]
        if args.before
        else [
            ("bare", ROOT, BARE, DATABASE),
            ("app", ROOT, APP, DATABASE),
        ]
    )
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _, _ in sides}
    for round_number in range(1, args.rounds + 1):
        for name, checkout, app, database in sides:
            worker, postgres = one_round(checkout, app, args.requests, free, database)
            figures[name].append((worker, postgres))
            print(
                f"round {round_number} {name:<7} web {worker:6.2f} ms  postgres {postgres:5.2f} ms",
                flush=True,
            )
    medians = {
        name: (statistics.median(w for w, _ in rows), statistics.median(p for _, p in rows))
        for name, rows in figures.items()
    }
    for name, (worker, postgres) in medians.items():
        print(f"median  {name:<7} web {worker:6.2f} ms  postgres {postgres:5.2f} ms")
    (first, (w1, p1)), (second, (w2, p2)) = medians.items()
    print(f"{second} / {first}: web {w2 / w1:.2f}, postgres {p2 / p1:.2f}, both {(w2 + p2) / (w1 + p1):.2f}")
    print(f"machine speed: sum(range(1000)) in {load.python_speed_us()} µs (lower is faster)")


if __name__ == "__main__":
    main()
