"""Availability latency for one venue over 30 days: median of many calls through the full stack.

Usage: .venv/bin/python bench/availability.py [--calls 300] [--venue hokushin-centre]
Uses DATABASE_URL if set (e.g. PostgreSQL), otherwise a temporary SQLite file. In-process
(Django's test client: URL routing, middleware, view, serializer, SQL), no network.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--venue", default="hokushin-centre")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp.name}/bench.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler.settings")
    os.environ["CLOCK_NOW"] = "2026-12-01T09:00:00+09:00"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    print(f"database: {connection.vendor}", flush=True)
    call_command("migrate", verbosity=0)
    call_command("load_nagano", verbosity=0, stdout=open(os.devnull, "w"))
    call_command("generate_slots", verbosity=0, stdout=open(os.devnull, "w"))

    client = Client()
    url = f"/api/v1/venues/{args.venue}/availability/?procedure=erase&from=2026-12-02&to=2026-12-31"
    for _ in range(20):  # warm up
        assert client.get(url).status_code == 200
    queries: list[str] = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        body = client.get(url).json()
    slots = sum(len(day["slots"]) for day in body["days"])

    timings = []
    for index in range(args.calls):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
        if (index + 1) % 100 == 0:
            print(f"  {index + 1}/{args.calls} calls", flush=True)
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"availability {args.venue}, 30 days, {len(body['days'])} open days, {slots} slots, "
        f"{len(queries)} SQL queries per call"
    )
    print(
        f"calls={args.calls} median={statistics.median(timings):.2f} ms p95={p95:.2f} ms "
        f"min={timings[0]:.2f} ms max={timings[-1]:.2f} ms"
    )


if __name__ == "__main__":
    main()
