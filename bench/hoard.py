"""Seat hoarding from one address: how many seats an hour one client takes, API and pages.

    .venv/bin/python bench/hoard.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x REDIS_URL=redis://127.0.0.1:6379/13 \
        .venv/bin/python bench/hoard.py

In-process (Django's test client, a throwaway test database with the Nagano data), with the
fair-share settings as configured (THROTTLE_RATES, CHALLENGE_SOFT_LIMIT, CHALLENGE_COST…; the
defaults unless the environment says otherwise). The hoarder invents a phone number for every
booking, as in the issue, and solves every proof of work it is asked for (in Python, the cost is
reported). All requests of a run fall in one fixed hour window of the counters (their clock is
pinned), so "taken" is what one address gets in an hour.

1. before: the limits off, as before the fair-share issue: the rate at which one client books.
2. API: POST /api/v1/bookings/ at every free start until refused 20 times in a row.
3. pages: fresh sessions from another address, each walking procedure → venue → time → contact →
   confirm, solving the check page when it comes, until refused 20 times in a row.
4. API with API_CHALLENGE=1 from a third address: holds, each with a solved challenge.
5. a whole day: the API hoarder again, the counters' clock moved on hour by hour.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler.settings")
os.environ.setdefault("CLOCK_NOW", "2026-12-01T09:00:00+09:00")
os.environ.setdefault("LOG_LEVEL", "ERROR")

import django

django.setup()

import altcha
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import setup_test_environment

VENUE, PROCEDURE = "hokushin-centre", "erase"
ANSWERS_WEB: dict[str, str] = {}
phones = (f"090{n:08d}" for n in itertools.count(10_000_000))


def free_starts(client: Client) -> list[str]:
    body = client.get(f"/api/v1/venues/{VENUE}/availability/?procedure={PROCEDURE}").json()
    return [slot["start"] for day in body["days"] for slot in day["slots"] if slot["remaining"]]


def solve(body: dict, spent: list[float]) -> str:
    started = time.process_time()
    challenge = altcha.Challenge.from_dict(body)
    payload = altcha.Payload(challenge, altcha.solve_challenge(challenge)).to_base64()
    spent.append(time.process_time() - started)
    return payload


def api_hoard(address: str, *, limit: int, with_challenge: bool = False) -> tuple[int, Counter, list[float]]:
    client = Client(REMOTE_ADDR=address)
    taken, codes, refused_in_row, spent = 0, Counter(), 0, []
    starts = iter(free_starts(client))
    for _ in range(limit):
        start = next(starts, None)
        if start is None:
            break
        headers = {}
        if with_challenge:
            headers["HTTP_X_ALTCHA"] = solve(client.get("/api/v1/challenge/").json(), spent)
            path, body = "/api/v1/holds/", {"venue": VENUE, "procedure": PROCEDURE, "start": start}
        else:
            path = "/api/v1/bookings/"
            body = {"venue": VENUE, "procedure": PROCEDURE, "start": start, "name": "買占 太郎"}
            body |= {"phone": next(phones), "email": ""}
        response = client.post(path, body, content_type="application/json", **headers)
        codes[response.status_code] += 1
        if response.status_code == 201:
            taken, refused_in_row = taken + 1, 0
        else:
            refused_in_row += 1
            if refused_in_row >= 20:
                break
    return taken, codes, spent


def page_hoard(address: str, *, limit: int) -> tuple[int, Counter, list[float]]:
    taken, codes, refused_in_row, spent = 0, Counter(), 0, []
    starts = iter(free_starts(Client()))
    for _ in range(limit):
        start = next(starts, None)
        if start is None:
            break
        client = Client(REMOTE_ADDR=address)  # a fresh session (cookies thrown away) every time
        client.post("/book/", {"procedure": PROCEDURE})
        client.get("/book/questions/")
        client.post("/book/venue/", {"venue": VENUE})
        response = client.post("/book/date/", {"start": start})
        if response.status_code == 403:  # the check page: the hoarder does the work
            payload = solve(client.get("/api/v1/challenge/").json(), spent)
            response = client.post("/book/date/", {"start": start, "altcha": payload})
        if response.status_code == 302:
            client.post("/book/contact/", {"name": "買占 花子", "phone": next(phones), "email": ""})
            response = client.post("/book/confirm/", {})
        codes[response.status_code] += 1
        if response.status_code == 302 and "/book/done/" in response["Location"]:
            taken, refused_in_row = taken + 1, 0
        else:
            refused_in_row += 1
            if refused_in_row >= 20:
                break
    return taken, codes, spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=int, default=40, help="bookings tried with the limits off")
    parser.add_argument("--attempts", type=int, default=400, help="attempts per hoarder with the limits on")
    args = parser.parse_args()
    setup_test_environment()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    old_name = connection.creation.create_test_db(verbosity=0, keepdb=False)
    try:
        from bookings.models import Booking
        from bookings.slots import slots_generate
        from scheduler import clock, throttling
        from scheduler.rates import parse_rates
        from venues.models import Venue
        from venues.services import reference_data_load

        reference_data_load()
        slots_generate(now=clock.now(), venues=Venue.objects.filter(code=VENUE))
        pinned = time.time()
        throttling.time.time = lambda: pinned  # every request in one window of the counters
        run = f"2001:{os.getpid() % 65536:x}:{int(pinned) % 65536:x}"  # networks new to the counters
        seats = len(free_starts(Client()))
        print(f"database: {connection.vendor}; {VENUE} {PROCEDURE}: {seats} free starts in the horizon")
        rates, soft = settings.THROTTLE_RATES, settings.CHALLENGE_SOFT_LIMIT
        print(
            f"limits: {os.environ.get('THROTTLE_RATES') or settings.THROTTLE_RATES_TEXT}; soft limit {soft}"
        )

        settings.THROTTLE_RATES, settings.CHALLENGE_SOFT_LIMIT = parse_rates("off"), None
        started = time.perf_counter()
        before, codes, _ = api_hoard(f"{run}:1::1", limit=args.before)
        elapsed = time.perf_counter() - started
        print(
            f"before (limits off): {before} seats in {elapsed:.1f} s through the API "
            f"({before / elapsed:.0f}/s: all {seats} in {seats * elapsed / before:.1f} s); {dict(codes)}"
        )
        settings.THROTTLE_RATES, settings.CHALLENGE_SOFT_LIMIT = rates, soft

        api, codes, _ = api_hoard(f"{run}:2::1", limit=args.attempts)
        print(f"API, one address: {api} seats in the hour; answers {dict(codes)}")
        pages, codes, spent = page_hoard(f"{run}:3::1", limit=args.attempts)
        solved = (
            f"; {len(spent)} checks solved, {sum(spent) / max(1, len(spent)):.2f} s CPU each" if spent else ""
        )
        print(f"pages, one address: {pages} seats in the hour; answers {dict(codes)}{solved}")
        both, _, _ = api_hoard(f"{run}:4::1", limit=args.attempts)
        both_pages, _, _ = page_hoard(f"{run}:4::1", limit=args.attempts)
        print(f"API then pages, one address: {both + both_pages} seats in the hour ({both} + {both_pages})")

        settings.API_CHALLENGE = True
        held, codes, spent = api_hoard(f"{run}:5::1", limit=args.attempts, with_challenge=True)
        each = sum(spent) / max(1, len(spent))
        print(
            f"API_CHALLENGE=1, holds, one address: {held} in the hour {dict(codes)}, {len(spent)} solved, "
            f"{each:.2f} s CPU each (cost {settings.CHALLENGE_COST} x up to {settings.CHALLENGE_MAX_COUNTER})"
        )
        settings.API_CHALLENGE = False
        day = []
        for hour in range(24):  # the counters' clock moves on an hour at a time
            pinned_at = pinned + 3600 * hour
            throttling.time.time = lambda at=pinned_at: at
            day.append(api_hoard(f"{run}:6::1", limit=args.attempts)[0])
        print(f"a whole day from one address through the API: {sum(day)} seats (by hour: {day})")
        print(f"bookings in the database: {Booking.objects.count()}")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
