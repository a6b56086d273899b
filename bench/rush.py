"""The opening rush (issue 12, item 5): 1,000 residents at 00:00 JST, when a new day opens.

    .venv/bin/python bench/rush.py                      # 1,000 residents, 4 × gthread × 4, 64 connections
    .venv/bin/python bench/rush.py --residents 300 --connections 32 --think 0.5

At 00:00 JST the day at the end of the horizon (30 days ahead) becomes bookable, every seat of it at
once (`bookings.seats.last_bookable_day`); its slots were made the night before by the nightly roll,
which reaches one day beyond the horizon (`venues.selectors.slots_end`). This bench, on this machine
only (127.0.0.1):

1. creates its own PostgreSQL database (`scheduler_rush`, dropped first if an earlier run left it),
   migrates, loads the Nagano venues (`load_nagano`) and generates slots as beat's `slots-roll`
   would have the night before: `generate_slots` with the clock at 00:15 JST of the previous day;
   Redis db 8 is flushed (that db only);
2. checks the eve: a one-worker gunicorn pinned at 23:59:59 shows no seat of the new day at any
   venue and refuses a hold on it (`outside_booking_window`);
3. starts the app under gunicorn (gthread, keep-alive) pinned at 00:00:00 of the opening night and
   lets `--residents` simulated residents loose on every seat of the new day at the three licence
   centres, Iida police station and the police stations and koban that take `erase`. Each resident
   is a coroutine that arrives within `--arrival` seconds of midnight and does what a person on the
   site does, with think time between steps: reads the day's availability at their venue, chooses
   one of the earliest free times (1-4 s), holds it, types the contact details (3-10 s) and books
   with the hold; on 409 `slot_full` they read the availability again and try another free time
   (at most `--tries` holds per venue); a venue with nothing left sends them to another one that
   takes their procedure (at most `--venues` venues), after which they give up. Residents go to
   venues in proportion to their seats (so each venue gets more residents than seats), with a
   procedure the venue takes, and each has a phone number and e-mail of their own (invented).
   Residents are many, connections few: every request borrows one of `--connections` keep-alive
   connections (PostgreSQL's connections are shared with others on this machine, and the client
   stays cheap: the raw asyncio client of bench/load.py);
4. checks the database: every seat of the day booked, no slot over its capacity (`taken` and the
   bookings covering each slot), counters equal to bookings plus live holds, no phone or e-mail
   with two active bookings for one procedure, no hold used twice, no resident booked twice;
5. starts `bench/bare_app.py` (one conditional UPDATE and one INSERT) under the same gunicorn
   settings and drives it in closed loop with the same client and as many connections: the
   write path's ceiling, for the ratio;
6. prints the report, saves it under bench/results/rush-<time>.json and drops its database
   (`--keep-database` to look at it).

Latencies are given twice per step: as the resident sees them (from wanting to send, waiting for a
free connection included) and on the connection (from the send to the answer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load  # bench/load.py: its raw client, its gunicorn and database set-up, its checks
from load import (
    FAILURES,
    RESULTS,
    ROOT,
    SEAT_HOLDING,
    TIMEOUT,
    Connection,
    Gunicorn,
    encode,
    fresh_database,
    integrity,
    latency_summary,
    manage,
)

ROLL_AT = "2026-11-15T00:15:00+09:00"  # Sunday: beat's nightly slots-roll, the day before
EVE = "2026-11-15T23:59:59+09:00"  # the horizon (30 days) still ends on Tuesday 15 December
OPENS_AT = "2026-11-16T00:00:00+09:00"  # Monday 00:00 JST: Wednesday 16 December opens
OPENING = date(2026, 12, 16)
STEPS = ("availability", "hold", "book")
ACTIVE = ("confirmed", "checked_in", "in_service")  # bookings.models.Booking.ACTIVE
ERASE = "erase"
# Every question any procedure asks, answered so that nobody is ruled out (keys a procedure does
# not ask are ignored).
ANSWERS = {
    "card_valid": True,
    "chip_ok": True,
    "licence_suspended": False,
    "card_only": True,
    "signature_cert_valid": True,
    "knows_signature_pin": True,
}
# What residents come for at a venue taking all six (assumed shares; erase-only venues: erase).
PROCEDURE_WEIGHTS = {
    "record": 50,
    "holding-change": 10,
    "erase": 5,
    "re-record": 10,
    "one-stop": 15,
    "portal-link": 10,
}


# --- Figures ---------------------------------------------------------------------------------


@dataclass
class Figures:
    started: float = 0.0  # perf_counter at 00:00 (the release)
    seen: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})  # ms
    wire: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})  # ms
    statuses: Counter = field(default_factory=Counter)  # "step status code"
    sent_at: list[float] = field(default_factory=list)  # seconds after the release, per request
    booked_at: list[float] = field(default_factory=list)  # seconds after the release, per 201 booking
    references: list[str] = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)  # per resident: booked, gave_up, …
    bookings_per_resident: Counter = field(default_factory=Counter)
    holds_per_resident: list[int] = field(default_factory=list)
    finished_at: float = 0.0


class Pool:
    """`size` keep-alive connections (bench/load.py's `Connection`) shared by all the residents."""

    def __init__(self, base: str, size: int, figures: Figures) -> None:
        address = urlsplit(base)
        self.netloc = address.netloc
        self.free: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(size):
            self.free.put_nowait(Connection(address.hostname, address.port))
        self.figures = figures

    async def send(self, step: str, method: str, url: str, body: dict | None) -> tuple[int | None, dict]:
        """(status, parsed JSON body): (None, {}) when the request failed (counted as an error)."""
        figures = self.figures
        payload = encode(method, url, body, self.netloc)
        wanted = time.perf_counter()
        connection = await self.free.get()
        sent = time.perf_counter()
        figures.sent_at.append(sent - figures.started)
        try:
            async with asyncio.timeout(TIMEOUT):
                status, raw = await connection.request(payload)
        except FAILURES as error:
            connection.close()
            figures.statuses[f"{step} error {type(error).__name__}"] += 1
            return None, {}
        finally:
            self.free.put_nowait(connection)
        done = time.perf_counter()
        figures.seen[step].append((done - wanted) * 1000)
        figures.wire[step].append((done - sent) * 1000)
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        code = data.get("code", "") if isinstance(data, dict) and status >= 400 else ""
        figures.statuses[f"{step} {status}{' ' + code if code else ''}"] += 1
        return status, data if isinstance(data, dict) else {}

    def close(self) -> None:
        while not self.free.empty():
            self.free.get_nowait().close()


# --- Residents -------------------------------------------------------------------------------


@dataclass
class Resident:
    number: int
    procedure: str
    venues: list[str]  # home first, then where they try next
    phone: str
    email: str


def residents_make(count: int, seats: dict[str, int], takes: dict[str, set[str]], rng: random.Random):
    """Residents spread over the venues in proportion to their seats: the first `sum(seats)` cover
    every seat once, the rest choose at random with the same weights. Each has a procedure the home
    venue takes, and the other venues taking it, in random order, to try when the first is full
    (`--venues` caps how many)."""
    by_seat = [code for code, n in seats.items() for _ in range(n)]
    rng.shuffle(by_seat)
    homes = [by_seat[i] if i < len(by_seat) else rng.choice(by_seat) for i in range(count)]
    rng.shuffle(homes)
    procedures, weights = list(PROCEDURE_WEIGHTS), list(PROCEDURE_WEIGHTS.values())
    made = []
    for number, home in enumerate(homes):
        offered = takes[home]
        if offered == {ERASE}:
            procedure = ERASE
        else:
            procedure = rng.choices(
                [p for p in procedures if p in offered],
                [w for p, w in zip(procedures, weights, strict=True) if p in offered],
            )[0]
        others = [code for code in seats if code != home and procedure in takes[code]]
        rng.shuffle(others)
        made.append(
            Resident(
                number=number,
                procedure=procedure,
                venues=[home, *others],
                phone=f"090{41000000 + number:08d}",  # invented, one per resident
                email=f"rush{number}@example.jp",
            )
        )
    return made


@dataclass
class Behaviour:
    arrival: float  # seconds after midnight within which residents arrive
    think: float  # scale of every think time (0: none)
    tries: int  # holds per venue
    venues: int  # venues tried at most
    pick: int  # chooses among the first `pick` free starts


async def resident_run(resident: Resident, pool: Pool, how: Behaviour, rng: random.Random) -> None:
    figures = pool.figures

    async def think(low: float, high: float) -> None:
        if how.think:
            await asyncio.sleep(rng.uniform(low, high) * how.think)

    async def free_starts(venue: str) -> list[str] | None:
        url = (
            f"/api/v1/venues/{venue}/availability/?procedure={resident.procedure}"
            f"&from={OPENING.isoformat()}&to={OPENING.isoformat()}"
        )
        for _ in range(3):  # a failed or busy read: look again a moment later
            status, data = await pool.send("availability", "GET", url, None)
            if status == 200:
                return [
                    slot["start"]
                    for day in data.get("days", [])
                    for slot in day["slots"]
                    if slot["remaining"]
                ]
            await think(1, 3)
        return None

    await asyncio.sleep(rng.uniform(0, how.arrival))
    holds = 0
    outcome = "gave_up"
    for venue in resident.venues[: how.venues]:
        free = await free_starts(venue)
        tries = 0
        while free and tries < how.tries:
            await think(1, 4)  # reading the times, choosing one
            start = rng.choice(free[: how.pick])
            tries += 1
            holds += 1
            status, hold = await pool.send(
                "hold",
                "POST",
                "/api/v1/holds/",
                {"venue": venue, "procedure": resident.procedure, "start": start},
            )
            if status != 201:
                if status in (409, 400):  # taken meanwhile (or closed): the page shows what is left
                    await think(0.5, 2)
                else:  # busy, throttled or failed: wait, then look again
                    await think(2, 4)
                free = await free_starts(venue)
                continue
            await think(3, 10)  # typing name, phone and e-mail
            body = {
                "hold": hold["hold"],
                "name": "長野 住民",
                "phone": resident.phone,
                "email": resident.email,
                "answers": ANSWERS,
            }
            for _ in range(3):  # the same hold again after a failure: the same booking (api.md)
                status, booked = await pool.send("book", "POST", "/api/v1/bookings/", body)
                if status is not None and status < 500:
                    break
                await think(1, 3)
            if status == 201:
                figures.booked_at.append(time.perf_counter() - figures.started)
                figures.references.append(booked.get("reference", ""))
                figures.bookings_per_resident[resident.number] += 1
                outcome = "booked"
            else:
                outcome = f"book {status}"
            break
        if outcome != "gave_up":
            break
    figures.outcomes[outcome] += 1
    figures.holds_per_resident.append(holds)


async def rush(
    base: str, residents: list[Resident], how: Behaviour, *, connections: int, seed: int, max_seconds: float
) -> Figures:
    figures = Figures()
    pool = Pool(base, connections, figures)
    rng = random.Random(seed)
    figures.started = time.perf_counter()
    try:
        async with asyncio.timeout(max_seconds):
            await asyncio.gather(
                *(resident_run(r, pool, how, random.Random(rng.random())) for r in residents)
            )
    except TimeoutError:
        figures.outcomes["stopped_at_max_seconds"] += 1
    figures.finished_at = time.perf_counter() - figures.started
    pool.close()
    await asyncio.sleep(0)
    return figures


async def warm_up(base: str, seats: dict[str, int], takes: dict[str, set[str]], connections: int) -> None:
    """The server has been up all evening: every worker thread has its database connection and its
    code loaded. Availability and bookings of the day before the opening day (not of it)."""
    pool = Pool(base, connections, Figures())
    day = (OPENING - timedelta(days=1)).isoformat()
    urls = [
        f"/api/v1/venues/{code}/availability/?procedure={'record' if 'record' in takes[code] else ERASE}"
        f"&from={day}&to={day}"
        for code in seats
    ]
    answers = await asyncio.gather(*(pool.send("availability", "GET", url, None) for url in urls * 8))
    # And bookings, by hold, of that day (they leave the opening day alone).
    free = [
        (code, slot["start"])
        for code, (_, data) in zip(seats, answers, strict=False)
        if takes[code] == {ERASE}
        for day in data.get("days", [])
        for slot in day["slots"]
        if slot["remaining"]
    ]

    async def book(number: int, venue: str, start: str) -> None:
        body = {"venue": venue, "procedure": ERASE, "start": start}
        status, hold = await pool.send("hold", "POST", "/api/v1/holds/", body)
        if status == 201:
            contact = {"name": "前日 予約", "phone": f"070{number:08d}", "email": f"eve{number}@example.jp"}
            await pool.send(
                "book", "POST", "/api/v1/bookings/", {"hold": hold["hold"], **contact, "answers": {}}
            )

    await asyncio.gather(*(book(n, venue, start) for n, (venue, start) in enumerate(free[::3][:48])))
    pool.close()


def cpu_times(pids: list[int]) -> dict[int, tuple[float, float]]:
    """Per process: its own user+system CPU and that of its children it has reaped (seconds)."""
    tick = os.sysconf("SC_CLK_TCK")
    times = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        times[pid] = ((int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick)
    return times


def cpu_spent(before: dict[int, tuple[float, float]], after: dict[int, tuple[float, float]]) -> float:
    """CPU spent between two `cpu_times`, processes started meanwhile included (a PostgreSQL
    backend opened during the rush, or one that ended: its time is in the postmaster's reaped
    children)."""
    spent = 0.0
    for pid, (own, reaped) in after.items():
        own_before, reaped_before = before.get(pid, (0.0, 0.0))
        spent += own - own_before + reaped - reaped_before
    return spent


# --- The database ----------------------------------------------------------------------------

# Per slot of the day: capacity, seats kept for staff, `taken`, and the seat-holding bookings
# covering it (a booking covers the slots of its window from its start to its end).
DAY_SLOTS = """
SELECT v.code, s.id, s.capacity, s.reserved, s.taken, (
    SELECT count(*) FROM bookings_booking b JOIN bookings_slot f ON f.id = b.slot_id
    WHERE f.window_id = s.window_id AND b.start <= s.start AND s.start < b."end"
      AND b.status = ANY(%(seat_holding)s)
) AS booked
FROM bookings_slot s JOIN venues_venue v ON v.id = s.venue_id
WHERE s.date = %(day)s AND s.active
ORDER BY v.sort_order, v.code, s.start
"""


def day_seats(url: str) -> dict[str, dict]:
    """Per venue of the opening day: slots, seats offered online, seats booked, slots oversold."""
    per_venue: dict[str, dict] = defaultdict(
        lambda: {"slots": 0, "seats": 0, "booked": 0, "oversold_slots": 0, "taken_over_capacity": 0}
    )
    with psycopg.connect(url) as conn:
        rows = conn.execute(DAY_SLOTS, {"seat_holding": list(SEAT_HOLDING), "day": OPENING}).fetchall()
    for code, _, capacity, reserved, taken, booked in rows:
        venue = per_venue[code]
        venue["slots"] += 1
        venue["seats"] += capacity - reserved
        venue["booked"] += booked
        venue["oversold_slots"] += booked > capacity
        venue["taken_over_capacity"] += taken > capacity
    return dict(per_venue)


def double_bookings(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:

        def count(sql: str, *params) -> int:
            return conn.execute(sql, params).fetchone()[0]

        return {
            "phones_with_two_active_bookings_for_one_procedure": count(
                "SELECT count(*) FROM (SELECT 1 FROM bookings_booking WHERE status = ANY(%s) "
                "GROUP BY phone, procedure_id HAVING count(*) > 1) AS d",
                list(ACTIVE),
            ),
            "emails_with_two_active_bookings_for_one_procedure": count(
                "SELECT count(*) FROM (SELECT 1 FROM bookings_booking WHERE status = ANY(%s) AND email <> '' "
                "GROUP BY lower(email), procedure_id HAVING count(*) > 1) AS d",
                list(ACTIVE),
            ),
            "holds_used_by_two_bookings": count(
                "SELECT count(*) FROM (SELECT 1 FROM bookings_hold WHERE booking_id IS NOT NULL "
                "GROUP BY booking_id HAVING count(*) > 1) AS d"
            ),
            "bookings": count("SELECT count(*) FROM bookings_booking"),
        }


# --- The run ---------------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict:
    summary = latency_summary(values)
    return {"n": len(values), **{k: summary[k] for k in ("p50_ms", "p95_ms", "p99_ms")}}


def peak_rate(moments: list[float], width: float = 1.0) -> float:
    if not moments:
        return 0.0
    buckets = Counter(int(m // width) for m in moments)
    return max(buckets.values()) / width


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/scheduler_rush")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--residents", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections shared by all")
    parser.add_argument("--arrival", type=float, default=3.0, help="residents arrive within N s of 00:00")
    parser.add_argument("--think", type=float, default=1.0, help="scale of the think times (0: none)")
    parser.add_argument("--tries", type=int, default=4, help="holds per venue before trying another")
    parser.add_argument("--venues", type=int, default=3, help="venues a resident tries at most")
    parser.add_argument("--pick", type=int, default=3, help="choose among the first N free times")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--bare-requests", type=int, default=4000)
    parser.add_argument("--bare-seconds", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--keep-database", action="store_true", help="leave scheduler_rush for a look")
    args = parser.parse_args()
    if not args.database_url.startswith(("postgres://postgres@127.0.0.1", "postgresql://postgres@127.0.0.1")):
        raise SystemExit("the bench only runs against PostgreSQL on 127.0.0.1")
    if not args.database_url.rsplit("/", 1)[1].startswith("scheduler_rush"):
        raise SystemExit("the rush uses its own database only (scheduler_rush…)")

    server = SimpleNamespace(workers=args.workers, worker_class="gthread", threads=args.threads)
    env = load.bench_environment(
        database_url=args.database_url,
        redis_url=args.redis_url,
        now=ROLL_AT,
        SECRET_KEY=secrets.token_urlsafe(48),  # 64 random characters
        CHALLENGE_SOFT_LIMIT="off",
    )
    clock_started = time.perf_counter()
    print(f"setting up {args.database_url} …", flush=True)
    fresh_database(args.database_url)
    manage(env, "migrate", "--noinput")
    manage(env, "load_nagano")
    manage(env, "generate_slots")  # as beat's slots-roll at 00:15 the day before
    manage(env, "collectstatic", "--noinput")
    cache = redis.Redis.from_url(args.redis_url)
    cache.flushdb()  # db 8 only

    with psycopg.connect(args.database_url) as conn:
        takes: dict[str, set[str]] = defaultdict(set)
        for code, procedure in conn.execute(
            "SELECT v.code, p.code FROM venues_venue v JOIN venues_venue_procedures vp ON vp.venue_id = v.id "
            "JOIN venues_procedure p ON p.id = vp.procedure_id WHERE v.is_active"
        ):
            takes[code].add(procedure)
        record_id = conn.execute("SELECT id FROM venues_procedure WHERE code = 'record'").fetchone()[0]
    before = day_seats(args.database_url)
    seats = {code: v["seats"] for code, v in before.items() if v["seats"]}
    total = sum(seats.values())
    if not total:
        raise SystemExit(f"no slot on {OPENING}: the roll the day before did not make the opening day")
    print(f"{OPENING}: {total} seats at {len(seats)} venues; {args.residents} residents", flush=True)

    # 2. The eve: nothing of the new day is open at 23:59:59.
    eve = Gunicorn(
        "scheduler.wsgi:application",
        {**env, "CLOCK_NOW": EVE},
        SimpleNamespace(workers=1, worker_class="gthread", threads=2),
    )
    try:
        eve.wait_ready("/api/v1/procedures/")
        eve_figures = Figures()
        eve_pool = Pool(eve.base, 2, eve_figures)

        async def look_on_the_eve() -> tuple[int, str]:
            shown = 0
            for code in seats:
                procedure = "record" if "record" in takes[code] else ERASE
                url = f"/api/v1/venues/{code}/availability/?procedure={procedure}&from={OPENING}&to={OPENING}"
                _, data = await eve_pool.send("availability", "GET", url, None)
                shown += sum(len(day["slots"]) for day in data.get("days", []))
            code = next(iter(seats))
            status, data = await eve_pool.send(
                "hold",
                "POST",
                "/api/v1/holds/",
                {"venue": code, "procedure": ERASE, "start": f"{OPENING}T10:00:00+09:00"},
            )
            eve_pool.close()
            return shown, f"{status} {data.get('code', '')}"

        eve_shown, eve_hold = asyncio.run(look_on_the_eve())
    finally:
        eve.stop()
    print(f"23:59:59: {eve_shown} slots of {OPENING} shown; a hold on it answers {eve_hold}", flush=True)

    # 3. Midnight.
    cache.flushdb()
    app = Gunicorn("scheduler.wsgi:application", {**env, "CLOCK_NOW": OPENS_AT}, server)
    groups: dict[str, list[int]] = {}
    try:
        app.wait_ready("/api/v1/procedures/")
        residents = residents_make(args.residents, seats, takes, random.Random(args.seed))
        how = Behaviour(args.arrival, args.think, args.tries, args.venues, args.pick)
        asyncio.run(warm_up(app.base, seats, takes, args.connections))
        groups = {
            "server": lambda: load._children(app.process.pid),
            "postgres (all, shared)": lambda: load._processes("postgres"),
            "redis (all, shared)": lambda: load._processes("redis-server"),
            "client": lambda: [os.getpid()],
        }
        cpu_before = {g: cpu_times(find()) for g, find in groups.items()}
        print(f"00:00:00: {args.residents} residents, {args.connections} connections …", flush=True)
        figures = asyncio.run(
            rush(
                app.base,
                residents,
                how,
                connections=args.connections,
                seed=args.seed,
                max_seconds=args.max_seconds,
            )
        )
        requests = len(figures.sent_at)
        cpu = {
            g: round(cpu_spent(cpu_before[g], cpu_times(find())) / max(1, requests) * 1000, 2)
            for g, find in groups.items()
        }
    finally:
        app.stop()

    # 4. The database after the rush.
    after = day_seats(args.database_url)
    doubles = double_bookings(args.database_url)
    checks = integrity(args.database_url)
    booked_total = sum(v["booked"] for v in after.values())
    oversold = sum(v["oversold_slots"] + v["taken_over_capacity"] for v in after.values())
    booked_sorted = sorted(figures.booked_at)
    full_at = booked_sorted[total - 1] if len(booked_sorted) >= total else None
    residents_twice = sum(1 for n in figures.bookings_per_resident.values() if n > 1)
    references_twice = len(figures.references) - len(set(figures.references))

    # 5. The ceiling: the bare view under the same gunicorn settings and the same client, closed
    # loop on as many connections, on seats of other days (a hundred per slot at the centres).
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE bookings_slot SET capacity = 100 FROM venues_venue v WHERE bookings_slot.venue_id = v.id "
            "AND v.kind = 'licence_centre' AND date < %s",
            (OPENING,),
        )
        bare_seats = [
            row[0]
            for row in conn.execute(
                "SELECT s.id FROM bookings_slot s JOIN venues_venue v ON v.id = s.venue_id "
                "WHERE v.kind = 'licence_centre' AND s.date < %s ORDER BY s.date, s.start, v.code",
                (OPENING,),
            )
        ]

    def bare(number: int) -> load.Request:
        return (
            "POST",
            "/",
            {
                "slot": bare_seats[number % len(bare_seats)],
                "procedure": record_id,
                "phone": f"080{number:08d}",
            },
        )

    bare_server = Gunicorn("bare_app:application", env, server, chdir=ROOT / "bench")
    try:
        bare_server.wait_ready("/", expect=405)
        asyncio.run(
            load.drive("warm-up", bare_server.base, bare, clients=8, max_requests=200, max_seconds=10)
        )
        bare_groups = {**groups, "server": lambda: load._children(bare_server.process.pid)}
        bare_before = {g: cpu_times(find()) for g, find in bare_groups.items()}
        ceiling = asyncio.run(
            load.drive(
                "bare",
                bare_server.base,
                lambda n: bare(n + 1000),
                clients=args.connections,
                max_requests=args.bare_requests,
                max_seconds=args.bare_seconds,
            )
        )
        ceiling.cpu_ms = {
            g: round(cpu_spent(bare_before[g], cpu_times(find())) / max(1, ceiling.requests) * 1000, 2)
            for g, find in bare_groups.items()
        }
    finally:
        bare_server.stop()
    cache.flushdb()  # the tasks the bookings queued (no worker here) and the cached answers

    # 6. The report.
    window = full_at or figures.finished_at
    in_window = [m for m in figures.sent_at if m <= window]
    rps_to_full = len(in_window) / window if window else 0.0
    rps_all = len(figures.sent_at) / figures.finished_at if figures.finished_at else 0.0
    errors = {key: n for key, n in sorted(figures.statuses.items()) if not key.split(" ")[1].startswith("2")}
    report = {
        "when": datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "bench/rush.py", *sys.argv[1:]]),
        "config": {
            "gunicorn": f"{args.workers} × gthread × {args.threads}",
            "connections": args.connections,
            "residents": args.residents,
            "arrival_s": args.arrival,
            "think_scale": args.think,
            "tries_per_venue": args.tries,
            "venues_per_resident": args.venues,
            "opening_day": OPENING.isoformat(),
            "clock": OPENS_AT,
            "cpus": os.cpu_count(),
            "python_speed_us": load.python_speed_us(),
            "load_average_at_end": os.getloadavg(),
        },
        "eve": {"slots_shown_at_23_59_59": eve_shown, "hold_at_23_59_59": eve_hold},
        "seats_per_venue": {code: v["seats"] for code, v in after.items()},
        "booked_per_venue": {code: v["booked"] for code, v in after.items()},
        "seats": total,
        "seats_filled": booked_total,
        "venues_not_full": {
            code: f"{v['booked']}/{v['seats']}" for code, v in after.items() if v["booked"] < v["seats"]
        },
        "oversold": oversold,
        "double_bookings": {
            **doubles,
            "residents_booked_twice": residents_twice,
            "references_given_twice": references_twice,
        },
        "integrity": checks,
        "requests": len(figures.sent_at),
        "rps_until_full": round(rps_to_full, 1),
        "rps_whole_rush": round(rps_all, 1),
        "rps_peak_1s": peak_rate(figures.sent_at),
        "bookings_per_s_until_full": round(total / full_at, 1) if full_at else None,
        "seconds_until_full": round(full_at, 2) if full_at else None,
        "seconds_until_last_resident_done": round(figures.finished_at, 2),
        "steps_as_seen": {s: percentiles(v) for s, v in figures.seen.items()},
        "steps_on_the_connection": {s: percentiles(v) for s, v in figures.wire.items()},
        "statuses": dict(sorted(figures.statuses.items())),
        "errors": errors,
        "outcomes": dict(figures.outcomes),
        "holds_per_resident_max": max(figures.holds_per_resident, default=0),
        "cpu_ms_per_request": cpu,
        "bare_view": ceiling.summary(),
        "rush_rps_share_of_bare_view_until_full": round(rps_to_full / ceiling.rps, 3)
        if ceiling.rps
        else None,
        "rush_peak_share_of_bare_view": round(peak_rate(figures.sent_at) / ceiling.rps, 3)
        if ceiling.rps
        else None,
        "bench_wall_seconds": round(time.perf_counter() - clock_started, 1),
        "python_speed_us": load.python_speed_us(),  # figures of two runs compare when this does
    }
    report["goals"] = {
        "the eve shows nothing of the new day and refuses it": eve_shown == 0
        and eve_hold.startswith("400 outside_booking_window"),
        "every seat of the day filled": booked_total == total,
        "oversold 0": oversold == 0
        and checks["over_capacity_slots"] == 0
        and checks["counter_mismatches"] == 0,
        "double bookings 0": not any(doubles[k] for k in doubles if k != "bookings")
        and residents_twice == 0
        and references_twice == 0,
        "no 5xx, no failed request": not any(
            k.split(" ")[1].startswith(("5", "error")) for k in figures.statuses
        ),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"rush-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print_report(report, ceiling, out)
    if not args.keep_database:
        drop_database(args.database_url)


def drop_database(url: str) -> None:
    dsn, name = load.admin_dsn(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def print_report(report: dict, ceiling: load.Phase, out: Path) -> None:
    c = report["config"]
    print()
    print(f"The opening rush: {c['residents']} residents at {c['clock']} for {c['opening_day']}")
    print(
        f"gunicorn {c['gunicorn']}, {c['connections']} client connections, {c['cpus']} CPUs, "
        f"sum(range(1000)) {c['python_speed_us']} µs, "
        f"load {tuple(round(x, 1) for x in c['load_average_at_end'])}"
    )
    print(
        f"at 23:59:59: {report['eve']['slots_shown_at_23_59_59']} slots shown, "
        f"a hold answers {report['eve']['hold_at_23_59_59']}"
    )
    print()
    print(f"  {'venue':<28} {'seats':>5} {'booked':>6}")
    for code, n in report["seats_per_venue"].items():
        print(f"  {code:<28} {n:>5} {report['booked_per_venue'][code]:>6}")
    print(
        f"seats {report['seats']}, filled {report['seats_filled']}"
        + (f", not full: {report['venues_not_full']}" if report["venues_not_full"] else "")
    )
    print(f"oversold: {report['oversold']} (integrity: {report['integrity']})")
    print(f"double bookings: {report['double_bookings']}")
    print(
        f"until the day was full: {report['seconds_until_full']} s "
        f"({report['bookings_per_s_until_full']} bookings/s); last resident done at "
        f"{report['seconds_until_last_resident_done']} s"
    )
    print(
        f"requests: {report['requests']}; req/s until full {report['rps_until_full']}, "
        f"whole rush {report['rps_whole_rush']}, peak second {report['rps_peak_1s']}"
    )
    print(
        f"bare view (closed loop, {c['connections']} connections): {ceiling.rps:.1f} req/s, "
        f"p50 {ceiling.percentile(50):.1f} ms, p99 {ceiling.percentile(99):.1f} ms, {ceiling.statuses}"
    )
    print(
        f"rush / bare view: {report['rush_rps_share_of_bare_view_until_full']:.0%} until full, "
        f"{report['rush_peak_share_of_bare_view']:.0%} in the peak second"
    )
    print()
    print(
        f"{'step':<14} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
        "   on the connection: p50 / p95 / p99"
    )
    for step in STEPS:
        s, w = report["steps_as_seen"][step], report["steps_on_the_connection"][step]
        print(
            f"{step:<14} {s['n']:>6} {s['p50_ms']:>8.1f} {s['p95_ms']:>8.1f} {s['p99_ms']:>8.1f}   "
            f"{w['p50_ms']:.1f} / {w['p95_ms']:.1f} / {w['p99_ms']:.1f}"
        )
    print(f"statuses: {report['statuses']}")
    print(f"errors by status and code: {report['errors'] or 'none'}")
    print(f"residents: {report['outcomes']}, at most {report['holds_per_resident_max']} holds each")
    print(f"CPU ms per request, rush: {report['cpu_ms_per_request']}")
    print(f"CPU ms per request, bare view: {ceiling.cpu_ms}")
    print(f"machine speed: sum(range(1000)) in {report['python_speed_us']} µs (lower is faster)")
    for goal, met in report["goals"].items():
        print(f"  [{'x' if met else ' '}] {goal}")
    print(f"saved {out.relative_to(ROOT)} (bench took {report['bench_wall_seconds']} s)")


if __name__ == "__main__":
    main()
