"""Load benchmark of the booking API under gunicorn on PostgreSQL (not a test: run it by hand).

    .venv/bin/python bench/load.py                     # defaults: 4 sync workers, 32 clients
    .venv/bin/python bench/load.py --worker-class gthread --workers 2 --threads 8

What it does, all on this machine (127.0.0.1 only; every loop is bounded in count and in time):

1. creates a fresh PostgreSQL database (dropping the bench database of an earlier run), migrates,
   loads the Nagano reference data and generates slots, with the clock pinned (CLOCK_NOW) so that
   runs are comparable;
2. starts the app under gunicorn (DEBUG off, ALLOWED_HOSTS=127.0.0.1) and drives it with
   concurrent clients (asyncio coroutines, one raw HTTP/1.1 connection each, a request or a short
   sequence of them per turn: see below):
   (a) availability of one venue over 30 days, 32 clients;
   (b) bookings of distinct seats (seats raised to 100 per slot at the licence centres, a new
       phone and email per booking, spread round-robin over the slots), 32 clients;
   (a') and (b') the same two loads, paced (open loop) at half the rate (a) and (b) reached:
       the latency of a server that is busy but not saturated;
   (c) a rush: 200 clients at once on 20 one-seat slots;
   (e) hold then book, after the rush (so that (a) to (c) run as before holds existed): each
       client holds a seat of (b) (`POST /api/v1/holds/`), then books it with the hold's secret
       alone (`POST /api/v1/bookings/`, a new phone and email each), closed loop, 32 clients; a
       hold+book pair is one unit of its req/s, latency and CPU figures (CPU per booking made),
       with each step's own p50/p95/p99 beside;
3. starts `bench/bare_app.py` (one conditional UPDATE + one INSERT, no framework) under the very
   same gunicorn settings and runs (b) against it: the write path's ceiling (d); then (d'), the
   same paced at the rate (b) reached, since a process's CPU per request grows as its rate falls
   (it sleeps between requests and wakes with cold caches): the ratios at that equal rate are
   printed beside the issue's, which divide (b) by (d); and (b1)/(d1), each with one client (one
   request at a time: on a machine whose cores the server, PostgreSQL, the outbox listener and this
   client share, the heavier app's processes otherwise pay for each other's cold caches);
4. checks the database: no slot above its capacity, every counter (`Slot.taken`) equal to the
   seat-holding bookings plus the live holds covering it, every hold `used` by a booking of its
   own time;
5. prints a summary table and saves everything to bench/results/load-<time>.json.

Why 4 sync workers by default: a request is CPU-bound Python between short database round trips,
on 2 cores that the database and the load generator share; two processes per core cover the
round trips. Sync workers close the connection after each response, so every request pays a TCP
connect. `--worker-class gthread --workers 2 --threads 4` keeps connections alive: measured here
(2026-11-26) it served availability at 790 req/s (p95 69 ms) against 472 (p95 86 ms) for sync,
bookings at about the same rate (the booking path is CPU-bound), the bare view at 702 against 561
req/s, with longer tails when paced. It gains only where the clients (or a reverse proxy with
upstream keep-alive) reuse connections.
Closed-loop figures at 32 clients measure saturation: latency there is mostly queueing
(32 clients / throughput); the paced phases show the latency of the code itself.

Why a raw asyncio client (plain asyncio streams, pre-encoded requests, minimal response parsing)
and not an HTTP library: the load generator shares the 2 cores with the server, so its own CPU
per request must be small for the server to be what is measured. Against a hello-world WSGI app
under 4 sync workers, httpx cost ~3.5-4.5 ms of CPU per request and used ~80% of a core for ~170-225
req/s (it capped the bare view below at ~255-270 req/s); this client costs ~0.4-0.55 ms per request
(a new connection each time, since sync workers close it after every response; ~0.1 ms on a
kept-alive gthread connection) and drove that app at ~750-1100 req/s with about half a core.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"  # the only address this script ever talks to
LISTENER_APP = "outbox_listen"  # the outbox listener's application_name
CLOCK_NOW = "2026-12-01T09:00:00+09:00"  # a Tuesday; the horizon runs to 31 December
ANSWERS = {"card_valid": True, "chip_ok": True, "licence_suspended": False}
CENTRES = ("hokushin-centre", "toshin-centre", "chunanshin-centre", "iida-station")
RUSH_VENUE = "nagano-chuo-station"
PAIR = ("hold", "book")  # the steps of phase (e)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def latency_summary(values: list[float]) -> dict:
    return {
        "p50_ms": round(percentile(values, 50), 1),
        "p95_ms": round(percentile(values, 95), 1),
        "p99_ms": round(percentile(values, 99), 1),
        "mean_ms": round(statistics.fmean(values), 1) if values else None,
    }


@dataclass
class Phase:
    """One phase's figures. A unit is one request, or one sequence of requests (`steps`, e.g. a hold
    then its booking): `requests`, req/s, the latencies and the CPU figures count units; `steps`
    has each step's own latencies, and `statuses` are then keyed "<step> <status>"."""

    name: str
    requests: int = 0  # units answered (every request the unit sent got an answer)
    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU per unit, by process group
    steps: dict[str, list[float]] = field(default_factory=dict, repr=False)  # latencies per step

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)

    def step_summary(self, step: str) -> dict:
        latencies = self.steps[step]
        statuses = {
            key.split(" ", 1)[1]: count for key, count in self.statuses.items() if key.startswith(step + " ")
        }
        return {"requests": len(latencies), **latency_summary(latencies), "statuses": statuses}

    def summary(self) -> dict:
        summary = {
            "name": self.name,
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "rps": round(self.rps, 1),
            **latency_summary(self.latencies_ms),
            "statuses": self.statuses,
            "errors": self.errors,
            "cpu_ms_per_request": self.cpu_ms,
        }
        if self.steps:
            summary["unit"] = "+".join(self.steps)  # requests, rps, latencies and CPU count these
            summary["http_requests"] = sum(len(latencies) for latencies in self.steps.values())
            summary["steps"] = {step: self.step_summary(step) for step in self.steps}
        return summary


# --- Driving HTTP ---------------------------------------------------------------------------

Request = tuple[str, str, dict | None]
TIMEOUT = 30.0  # seconds for one request, connecting included: past it, the request is an error
FAILURES = (OSError, EOFError, ValueError, asyncio.LimitOverrunError)  # TimeoutError is an OSError


def encode(method: str, url: str, body: dict | None, host: str) -> bytes:
    """One HTTP/1.1 request as bytes, its body (if any) as UTF-8 JSON."""
    head = f"{method} {url} HTTP/1.1\r\nHost: {host}\r\n"
    if body is None:
        if method in ("GET", "HEAD"):
            return f"{head}\r\n".encode("ascii")
        return f"{head}Content-Length: 0\r\n\r\n".encode("ascii")
    data = json.dumps(body, ensure_ascii=False).encode()
    head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    return head.encode("ascii") + data


class Connection:
    """One keep-alive HTTP/1.1 connection, opened on demand and reopened whenever the server closes it.

    Gunicorn's sync workers close the connection after every response (`Connection: close`): the
    next request then connects again, inside its measured latency, as a real client would.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, payload: bytes, *, head: bool = False) -> tuple[int, bytes]:
        """Send one encoded request and read the answer: (status code, body)."""
        reused = self.reader is not None
        if reused and self.reader.at_eof():  # closed by the server while idle
            self.close()
            reused = False
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.reader, self.writer
        try:
            writer.write(payload)
            await writer.drain()
            header = await reader.readuntil(b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError) as error:
            self.close()
            if reused and not getattr(error, "partial", b""):
                # A kept-alive connection the server closed as we sent: it never read the request
                # (no byte of answer came), so send it once more on a new connection.
                return await self.request(payload, head=head)
            raise
        lines = header.decode("latin-1").split("\r\n")
        version, code, *_ = lines[0].split(" ", 2)
        status = int(code)
        length, chunked, close = None, False, version == "HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                close = "close" in value.lower() or (close and "keep-alive" not in value.lower())
        if head or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif chunked:
            parts = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16):
                parts.append((await reader.readexactly(size + 2))[:-2])
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, up to the empty line
                pass
            body = b"".join(parts)
        elif length is not None:
            body = await reader.readexactly(length)
        else:  # neither length nor chunks: the body runs to the end of the connection
            body, close = await reader.read(), True
        if close:
            self.close()
        return status, body


# A sequence of requests, each made from the answer to the one before (e.g. a hold, then the
# booking that uses its secret): a generator that yields each request and is sent back its answer,
# (status, body); it ends when it has nothing more to send.
Flow = Generator[Request, tuple[int, bytes], None]


def _single(request: Request) -> Flow:
    yield request


async def drive(
    name: str,
    base: str,
    make: Callable[[int], Request] | Callable[[int], Flow],
    *,
    clients: int,
    max_requests: int,
    max_seconds: float,
    barrier: bool = False,
    rate: float | None = None,
    steps: tuple[str, ...] = (),
) -> Phase:
    """`clients` coroutines send requests made by `make(i)` until `max_requests` or `max_seconds`.

    Closed loop by default (each client sends its next request as soon as it has an answer: the
    server's saturation). With `rate`, open loop: request i is due at start + i/rate, and its
    latency counts from then (a late send counts as waiting), still at most `clients` in flight.
    Each client holds one `Connection`; a failed or timed-out request (TIMEOUT) counts as an error.

    With `steps` (their names, in order), `make(i)` is a `Flow` instead: unit i is its requests
    in sequence on the client's connection, and `max_requests`, `rate` and the latency count units
    (from the first send to the last answer); each step's latency is kept too (`Phase.steps`). A
    failed step counts as an error and ends its unit, which then counts nowhere else.
    """
    phase = Phase(name)
    phase.steps = {step: [] for step in steps}
    step_latencies = list(phase.steps.values())
    numbers = itertools.count()
    statuses: Counter = Counter()
    address = urlsplit(base)
    if address.scheme != "http" or not address.hostname:
        raise ValueError(f"plain http://host:port only, not {base!r}")
    host, port = address.hostname, address.port or 80
    started = time.perf_counter()
    deadline = started + max_seconds
    gate = asyncio.Event()

    def encoded(request: Request) -> tuple[bytes, bool]:
        method, url, body = request
        return encode(method, url, body, address.netloc), method == "HEAD"

    async def client() -> None:
        connection = Connection(host, port)
        if barrier:
            await gate.wait()
        try:
            while time.perf_counter() < deadline:
                number = next(numbers)
                if number >= max_requests:
                    return
                made = make(number)
                flow = made if steps else _single(made)
                payload, head = encoded(next(flow))
                sent = time.perf_counter()
                if rate:
                    sent = started + number / rate
                    if sent > time.perf_counter():
                        await asyncio.sleep(sent - time.perf_counter())
                step, step_sent = 0, time.perf_counter()
                try:
                    while True:
                        async with asyncio.timeout(TIMEOUT):
                            status, answer = await connection.request(payload, head=head)
                        if steps:
                            step_latencies[step].append((time.perf_counter() - step_sent) * 1000)
                            statuses[f"{steps[step]} {status}"] += 1
                        else:
                            statuses[str(status)] += 1
                        try:
                            payload, head = encoded(flow.send((status, answer)))
                        except StopIteration:
                            break
                        step, step_sent = step + 1, time.perf_counter()
                except FAILURES:
                    flow.close()
                    connection.close()
                    phase.errors += 1
                    continue
                phase.latencies_ms.append((time.perf_counter() - sent) * 1000)
        finally:
            connection.close()

    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    if barrier:
        await asyncio.sleep(0.2)
        started = time.perf_counter()
        gate.set()
    await asyncio.gather(*tasks)
    phase.seconds = time.perf_counter() - started
    await asyncio.sleep(0)  # let the transports just closed finish closing
    phase.requests = len(phase.latencies_ms)
    phase.statuses = dict(sorted(statuses.items()))
    return phase


# --- The database and the servers -------------------------------------------------------------


def admin_dsn(url: str) -> tuple[str, str]:
    """The maintenance DSN (database `postgres`) and the bench database's name, from its URL."""
    head, name = url.rsplit("/", 1)
    return f"{head}/postgres", name


def fresh_database(url: str) -> None:
    dsn, name = admin_dsn(url)
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing an odd database name: {name!r}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict, *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Gunicorn:
    def __init__(self, app: str, env: dict, args: argparse.Namespace, chdir: Path = ROOT) -> None:
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        command = [
            str(Path(sys.executable).with_name("gunicorn")),
            app,
            "--chdir",
            str(chdir),
            "--bind",
            f"{HOST}:{self.port}",
            "--workers",
            str(args.workers),
            "--worker-class",
            args.worker_class,
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ]
        if args.worker_class == "gthread":
            command += ["--threads", str(args.threads)]
        self.process = subprocess.Popen(command, env=env, cwd=ROOT)

    def wait_ready(self, path: str, expect: int = 200) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1, no proxy
        for _ in range(100):
            try:
                with opener.open(self.base + path, timeout=2) as response:
                    status = response.status
            except urllib.error.HTTPError as error:  # any status >= 400
                status = error.code
            except OSError:  # not listening yet (URLError is an OSError)
                status = None
            if status == expect:
                return
            time.sleep(0.1)
        raise SystemExit(f"gunicorn on {self.base} did not come up")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


class OutboxListener:
    """`manage.py outbox_listen` (OUTBOX_WAKE=notify, the PostgreSQL default): sends each
    confirmation as its booking commits, into the in-memory backend, on the real clock (so that
    `sent_at - created_at` is the delay a resident sees)."""

    def __init__(self, env: dict) -> None:
        self.process = None
        if env.get("OUTBOX_WAKE", "notify") != "notify":  # `off`: the bench's --no-outbox
            return
        listener_env = {key: value for key, value in env.items() if key != "CLOCK_NOW"}
        # Named, so that its database backend's CPU is counted apart (`listener_backends`).
        listener_env["PGAPPNAME"] = LISTENER_APP
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "outbox_listen"],
            env=listener_env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.process:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def email_delays(url: str, windows: dict[str, tuple[float, float]]) -> dict:
    """Seconds from the outbox row's commit to its message sent: over the run, and for the rows
    written during each booking phase (the paced one is the load a server is sized for)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM created_at), extract(epoch FROM sent_at - created_at), state"
            " FROM bookings_notification"
        ).fetchall()

    def figures(selected: list) -> dict:
        delays = sorted(float(delay) for _, delay, state in selected if state == "sent" and delay is not None)
        return {
            "rows": len(selected),
            "sent": len(delays),
            "p50_s": round(percentile(delays, 50), 3) if delays else None,
            "p95_s": round(percentile(delays, 95), 3) if delays else None,
            "max_s": round(delays[-1], 3) if delays else None,
        }

    report = {"all": figures(rows)}
    for key in ("booking", "booking_paced", "hold_then_book"):
        if key in windows:
            start, end = windows[key]
            report[key] = figures([row for row in rows if start <= float(row[0]) <= end])
    return report


SEAT_HOLDING = ("confirmed", "checked_in", "in_service", "done", "no_show")  # bookings.seats.SEAT_HOLDING

# Per slot, the seats its counter must show: the bookings holding a seat and the live holds, each
# covering the slots of its window from its start to its end (a run of slots for a long procedure).
SEATS_COUNTED = """
SELECT count(*) FROM bookings_slot s
LEFT JOIN (
    SELECT c.id, count(*) AS n
    FROM (SELECT slot_id, start, "end" FROM bookings_booking WHERE status = ANY(%(seat_holding)s)
          UNION ALL
          SELECT slot_id, start, "end" FROM bookings_hold WHERE state = 'live') AS k
    JOIN bookings_slot f ON f.id = k.slot_id
    JOIN bookings_slot c ON c.window_id = f.window_id AND c.start >= k.start AND c.start < k."end"
    GROUP BY c.id
) AS counted ON counted.id = s.id
WHERE s.taken <> coalesce(counted.n, 0)
"""


def integrity(url: str) -> dict:
    """Seats over capacity, and counters that differ from the bookings and live holds keeping them:
    both must be 0. With the holds by state: after the run every hold was used by its booking
    (`holds_not_used` 0), and each used hold names a booking of its own time (`holds_misbooked` 0)."""
    with psycopg.connect(url) as conn:
        over = conn.execute("SELECT count(*) FROM bookings_slot WHERE taken > capacity").fetchone()[0]
        mismatched = conn.execute(SEATS_COUNTED, {"seat_holding": list(SEAT_HOLDING)}).fetchone()[0]
        bookings = conn.execute("SELECT count(*) FROM bookings_booking").fetchone()[0]
        holds = dict(conn.execute("SELECT state, count(*) FROM bookings_hold GROUP BY state ORDER BY state"))
        misbooked = conn.execute(
            """
            SELECT count(*) FROM bookings_hold h LEFT JOIN bookings_booking b ON b.id = h.booking_id
            WHERE h.state = 'used' AND (b.id IS NULL OR b.slot_id <> h.slot_id OR b.start <> h.start
                                        OR b.status <> ALL(%s))
            """,
            (list(SEAT_HOLDING),),
        ).fetchone()[0]
    return {
        "over_capacity_slots": over,
        "counter_mismatches": mismatched,
        "bookings": bookings,
        "holds": holds,
        "holds_not_used": sum(count for state, count in holds.items() if state != "used"),
        "holds_misbooked": misbooked,
    }


# --- Where the CPU goes ---------------------------------------------------------------------


def listener_backends(url: str) -> list[int]:
    """The PostgreSQL backends of the outbox listener: its share of the database's CPU, reported
    beside the request path's."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (LISTENER_APP,))
        return [row[0] for row in rows]


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far, with that of their children that exited and
    were reaped (a PostgreSQL backend that ends is added to the postmaster's, a gunicorn worker to
    its master's): so a group measured before and after a phase counts the processes that came
    and went meanwhile, instead of losing them (which gave negative figures)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        ticks += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def _processes(starts_with: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if Path(command).name.startswith(starts_with) or command.startswith(starts_with):
                found.append(int(entry.name))
    return found


def _postgres_background() -> list[int]:
    """PostgreSQL's own processes (checkpointer, WAL writer, background writer, autovacuum): not
    the postmaster, into whose figure every backend that ends adds its whole life's CPU (an
    autovacuum worker that ended meanwhile is missed: this column is a lower bound)."""
    found = []
    for pid in _processes("postgres"):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and "127.0.0.1(" not in title and "[local]" not in title:
            found.append(pid)
    return found


def _children(pid: int) -> list[int]:
    """The gunicorn master and its workers."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if parent == pid:
                pids.append(int(entry.name))
    return pids


def python_speed_us() -> float:
    """A yardstick of this machine's speed at the time of the run (best of 5, µs): figures of two
    runs compare only when this one is about the same."""
    import timeit

    return round(min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6, 2)


# --- The run --------------------------------------------------------------------------------


def bench_database(name: str = "scheduler_bench_load") -> str:
    """The URL of a bench database on this machine's PostgreSQL, by name."""
    return f"postgres://postgres@{HOST}:5432/{name}"


def bench_environment(*, database_url: str, redis_url: str, now: str, **more: str) -> dict[str, str]:
    """The app's environment in every bench (this one, rush.py, one_worker.py): production
    settings on this machine, the clock pinned, no mail sent, and the fair-share limits set beyond
    any client's reach (every client comes from 127.0.0.1, the limits would refuse the load itself;
    their cost stays in the measure: they are still counted)."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "BARE_DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CLOCK_NOW": now,
        "DEBUG": "0",
        "ALLOWED_HOSTS": HOST,
        "SECRET_KEY": "bench-only-" + "x" * 40,
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "LOG_LEVEL": "ERROR",  # not a line per 409; a 500 is still logged
        "ACCESS_LOG": "0",  # gunicorn.conf.py: no line per request, no worker recycling mid-run
        "GUNICORN_MAX_REQUESTS": "0",
        "THROTTLE_RATES": "hold=1000000/hour,booking=1000000/hour,lookup=1000000/hour,manage=1000000/hour",
        "PERSON_ACTIVE_BOOKINGS_MAX": "1000000",
        "PYTHONDONTWRITEBYTECODE": "1",
        **more,
    }


def cpu_ratios(booked: dict, bare: dict) -> dict:
    """Phase (b)'s CPU per booking against the bare view's: the request path (web server and its
    database work), and with the outbox listener's work for the booking's e-mail added."""
    if not booked or not bare:
        return {}
    bare_total = max(0.01, bare["server"] + bare["postgres"])
    bare_pg = max(0.01, bare["postgres"])
    listener_pg = booked.get("outbox_pg", 0)
    with_mail = booked["server"] + booked["postgres"] + booked.get("outbox", 0) + listener_pg
    return {
        "request path": {
            "server+postgres": round((booked["server"] + booked["postgres"]) / bare_total, 2),
            "postgres": round(booked["postgres"] / bare_pg, 2),
        },
        "with the e-mail sent": {
            "server+postgres+listener": round(with_mail / bare_total, 2),
            "postgres": round((booked["postgres"] + listener_pg) / bare_pg, 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=bench_database())
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11", help="'' for none (eager tasks)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=4, help="per worker, with gthread")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=4000, help="at most, per phase")
    parser.add_argument("--seconds", type=float, default=20.0, help="at most, per phase")
    parser.add_argument("--rush", type=int, default=200)
    parser.add_argument("--seats", type=int, default=20)
    parser.add_argument(
        "--no-outbox",
        action="store_true",
        help="no outbox_listen: the request path alone (e-mails left unsent, as before the listener)",
    )
    args = parser.parse_args()
    if not args.database_url.startswith(("postgres://postgres@127.0.0.1", "postgresql://postgres@127.0.0.1")):
        raise SystemExit("the bench only runs against PostgreSQL on 127.0.0.1")

    env = bench_environment(database_url=args.database_url, redis_url=args.redis_url, now=CLOCK_NOW)
    print(f"setting up {args.database_url} …", flush=True)
    fresh_database(args.database_url)
    manage(env, "migrate", "--noinput")
    manage(env, "load_nagano")
    manage(env, "generate_slots")
    manage(env, "collectstatic", "--noinput")  # as deployed (and no warning from WhiteNoise)
    if args.redis_url:
        redis.Redis.from_url(args.redis_url).flushdb()

    with psycopg.connect(args.database_url, autocommit=True) as conn:
        record_id = conn.execute("SELECT id FROM venues_procedure WHERE code = 'record'").fetchone()[0]
        # (b) many distinct seats: 100 per slot at the licence centres, from the day after tomorrow.
        conn.execute(
            "UPDATE bookings_slot SET capacity = 100 FROM venues_venue v "
            "WHERE bookings_slot.venue_id = v.id AND v.code = ANY(%s) AND date >= '2026-12-03'",
            (list(CENTRES),),
        )
        seats = conn.execute(
            "SELECT s.id, v.code, s.start FROM bookings_slot s JOIN venues_venue v ON v.id = s.venue_id "
            "WHERE v.code = ANY(%s) AND s.date >= '2026-12-03' ORDER BY s.date, s.start, v.code",
            (list(CENTRES),),
        ).fetchall()
        # (c) the rush: the first `--seats` slots of one day at a police station, one seat each.
        rush = conn.execute(
            "SELECT s.id, s.start FROM bookings_slot s JOIN venues_venue v ON v.id = s.venue_id "
            "WHERE v.code = %s AND s.date = '2026-12-15' ORDER BY s.start LIMIT %s",
            (RUSH_VENUE, args.seats),
        ).fetchall()
    print(f"{len(seats)} slots × 100 seats for (b); {len(rush)} one-seat slots for the rush", flush=True)

    def iso(moment: datetime) -> str:
        return moment.astimezone(datetime.fromisoformat(CLOCK_NOW).tzinfo).isoformat()

    def availability(_: int) -> Request:
        return (
            "GET",
            "/api/v1/venues/hokushin-centre/availability/?procedure=record&from=2026-12-02&to=2026-12-31",
            None,
        )

    def booking(prefix: str) -> Callable[[int], Request]:
        def make(number: int) -> Request:
            _, venue, start = seats[number % len(seats)]
            body = {
                "venue": venue,
                "procedure": "record",
                "start": iso(start),
                "name": "負荷 試験",
                "phone": f"090{prefix}{number:07d}",  # a mobile number: 11 digits
                "email": f"load{prefix}{number}@example.jp",
                "answers": ANSWERS,
            }
            return ("POST", "/api/v1/bookings/", body)

        return make

    def hold_then_book(prefix: str) -> Callable[[int], Flow]:
        """A resident holding a seat, then booking it with the hold's secret alone (no venue,
        procedure or start): the seats of (b), a new phone and email per booking."""

        def make(number: int) -> Flow:
            _, venue, start = seats[number % len(seats)]
            status, answer = yield (
                "POST",
                "/api/v1/holds/",
                {"venue": venue, "procedure": "record", "start": iso(start)},
            )
            if status != 201:
                return  # no hold, nothing to book: the unit ends (its status shows it)
            body = {
                "hold": json.loads(answer)["hold"],
                "name": "負荷 試験",
                "phone": f"090{prefix}{number:07d}",  # a mobile number: 11 digits
                "email": f"load{prefix}{number}@example.jp",
                "answers": ANSWERS,
            }
            yield ("POST", "/api/v1/bookings/", body)

        return make

    def bare(prefix: str) -> Callable[[int], Request]:
        def make(number: int) -> Request:
            slot_id, _, _ = seats[number % len(seats)]
            return (
                "POST",
                "/",
                {"slot": slot_id, "procedure": record_id, "phone": f"08{prefix}{number:08d}"},
            )

        return make

    def rusher(number: int) -> Request:
        _, start = rush[number % len(rush)]
        body = {
            "venue": RUSH_VENUE,
            "procedure": "erase",
            "start": iso(start),
            "name": "殺到",
            "phone": f"07{number:09d}",
        }
        return ("POST", "/api/v1/bookings/", body)

    phases: dict[str, Phase] = {}

    windows: dict[str, tuple[float, float]] = {}  # each phase's wall-clock start and end

    def run(key: str, name: str, server: Gunicorn, make: Callable, **options) -> Phase:
        """One phase, with the CPU each side spent on it per unit (request, or hold+book pair): the
        server (gunicorn and its workers), PostgreSQL, Redis and this load generator."""
        print(f"{name} …", flush=True)
        groups = {  # listed again at the end: processes started meanwhile count too
            "server": lambda: _children(server.process.pid),
            "outbox": lambda: [outbox.process.pid] if outbox.process else [],
            "outbox_pg": lambda: listener_backends(args.database_url) if outbox.process else [],
            # The request path's share: every PostgreSQL process but the listener's backends.
            "postgres": lambda: sorted(set(_processes("postgres")) - set(groups["outbox_pg"]())),
            # Of which PostgreSQL's own processes (autovacuum, WAL writer, checkpointer): the work
            # the requests leave behind, not their statements.
            "pg_background": lambda: _postgres_background(),
            "redis": lambda: _processes("redis-server"),
            "load_generator": lambda: [os.getpid()],
        }
        # A checkpoint now, not one falling by chance inside this phase and not the next: the
        # writes of the phases before (and of the set-up) are flushed on their own time.
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        before = {group: _cpu_seconds(pids()) for group, pids in groups.items()}
        started = time.time()
        phase = asyncio.run(drive(name, server.base, make, **options))
        windows[key] = (started, time.time())
        if phase.requests:
            phase.cpu_ms = {
                group: round((_cpu_seconds(pids()) - before[group]) / phase.requests * 1000, 2)
                for group, pids in groups.items()
            }
        phases[key] = phase
        return phase

    def run_paced(key: str, name: str, server: Gunicorn, make: Callable, rate: float) -> Phase:
        """A phase paced (open loop) at `rate` requests a second, for half the closed phases' time."""
        return run(
            key,
            f"{name} at {rate:.0f}/s",
            server,
            make,
            rate=rate,
            max_requests=int(rate * args.seconds / 2),
            clients=args.clients,
            max_seconds=args.seconds / 2,
        )

    def warm_up(base: str, make: Callable, **options) -> None:
        asyncio.run(drive("warm-up", base, make, clients=8, max_requests=200, max_seconds=10, **options))

    closed = {"clients": args.clients, "max_requests": args.requests, "max_seconds": args.seconds}
    alone = {"clients": 1, "max_requests": 1000, "max_seconds": args.seconds / 2}
    app = Gunicorn("scheduler.wsgi:application", env, args)
    outbox = OutboxListener(env if not args.no_outbox else {**env, "OUTBOX_WAKE": "off"})
    try:
        app.wait_ready("/api/v1/procedures/")
        warm_up(app.base, availability)
        warm_up(app.base, booking("6"))
        a = run("availability", "(a) availability, 30 days", app, availability, **closed)
        b = run("booking", "(b) booking, full stack", app, booking("9"), **closed)
        # The same loads at half the rate each reached: latency when the server is not saturated.
        run_paced("availability_paced", "(a') availability", app, availability, a.rps / 2)
        run_paced("booking_paced", "(b') booking", app, booking("5"), b.rps / 2)
        run(
            "rush",
            f"(c) rush: {args.rush} clients, {len(rush)} seats",
            app,
            rusher,
            clients=args.rush,
            max_requests=args.rush,
            max_seconds=60,
            barrier=True,
        )
        # After the rush, so that (a) to (c) run as in the rounds before holds existed.
        warm_up(app.base, hold_then_book("2"), steps=PAIR)
        run("hold_then_book", "(e) hold then book", app, hold_then_book("3"), steps=PAIR, **closed)
        time.sleep(3)  # the last confirmations go out
        # One client, one request at a time: no process waits for a core, so caches stay the
        # request's own; the like-for-like figure when the machine is shared (see (d1)).
        run("booking_one", "(b1) booking, one client", app, booking("7"), **alone)
    finally:
        app.stop()
        outbox.stop()

    bare_server = Gunicorn("bare_app:application", env, args, chdir=ROOT / "bench")
    try:
        bare_server.wait_ready("/", expect=405)
        warm_up(bare_server.base, bare("1"))
        run("bare", "(d) booking, bare view", bare_server, bare("2"), **closed)
        run("bare_one", "(d1) bare view, one client", bare_server, bare("4"), **alone)
        # At the rate (b) reached: a process's CPU per request grows as its rate falls (idle
        # processes wake, their caches cold), so this is the like-for-like yardstick of (b).
        run_paced("bare_paced", "(d') bare view", bare_server, bare("3"), b.rps)
    finally:
        bare_server.stop()

    checks = integrity(args.database_url)
    emails = email_delays(args.database_url, windows)
    speed = python_speed_us()
    if args.redis_url:  # the confirmation tasks queued by the run: no worker is there to send them
        redis.Redis.from_url(args.redis_url).flushdb()
    full, ceiling, reads, rushed = phases["booking"], phases["bare"], phases["availability"], phases["rush"]
    paired = phases["hold_then_book"]
    ratios = cpu_ratios(full.cpu_ms, ceiling.cpu_ms)
    at_equal_rate = cpu_ratios(full.cpu_ms, phases["bare_paced"].cpu_ms)["request path"]
    one_client = cpu_ratios(phases["booking_one"].cpu_ms, phases["bare_one"].cpu_ms)["request path"]
    mailed = emails.get("booking", {})
    report = {
        "when": datetime.now().isoformat(timespec="seconds"),
        "config": {
            "workers": args.workers,
            "worker_class": args.worker_class,
            "threads": args.threads if args.worker_class == "gthread" else 1,
            "clients": args.clients,
            "redis": bool(args.redis_url),
            "cpus": os.cpu_count(),
            "python_speed_us": speed,
            "load_average_at_end": os.getloadavg(),
        },
        "phases": {key: phase.summary() for key, phase in phases.items()},
        "booking_share_of_bare_view": round(full.rps / ceiling.rps, 3) if ceiling.rps else None,
        "rush_created": rushed.statuses.get("201", 0),
        "hold_then_book_created": paired.statuses.get("book 201", 0),
        "hold_then_book_share_of_booking": round(paired.rps / full.rps, 3) if full.rps else None,
        "integrity": checks,
        "email_delays": emails,
        "cpu_ratios_to_bare_view": ratios,
        "cpu_ratios_to_bare_view_at_equal_rate": at_equal_rate,
        "cpu_ratios_to_bare_view_with_one_client": one_client,
        "goals": {
            "booking CPU (server + postgres) <= 4x the bare view's": bool(ratios)
            and ratios["request path"]["server+postgres"] <= 4,
            "postgres CPU per booking <= 2x the bare view's": bool(ratios)
            and ratios["request path"]["postgres"] <= 2,
            "confirmation e-mail p95 <= 5 s under (b)": mailed.get("p95_s") is not None
            and mailed.get("sent") == mailed.get("rows")
            and mailed["p95_s"] <= 5,
            "booking >= 50% of bare view": bool(ceiling.rps) and full.rps / ceiling.rps >= 0.5,
            "booking p99 < 100 ms (32 clients, closed loop)": full.percentile(99) < 100,
            "availability p95 < 50 ms (32 clients, closed loop)": reads.percentile(95) < 50,
            "rush: exactly one booking per seat": rushed.statuses.get("201", 0) == len(rush),
            "no over-booked seat": checks["over_capacity_slots"] == 0 and checks["counter_mismatches"] == 0,
            "hold then book: every pair booked, every hold used by its booking": paired.requests > 0
            and paired.statuses.get("book 201", 0) == paired.requests
            and checks["holds_not_used"] == 0
            and checks["holds_misbooked"] == 0,
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"load-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))

    print()
    print(
        f"gunicorn: {args.workers} × {args.worker_class}"
        + (f" × {args.threads} threads" if args.worker_class == "gthread" else "")
    )
    print(f"{'phase':<38} {'req':>6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses")
    for phase in phases.values():
        s = phase.summary()
        name = s["name"] + (f" (per {s['unit']})" if phase.steps else "")
        print(
            f"{name:<38} {s['requests']:>6} {s['rps']:>8.1f} {s['p50_ms']:>8.1f} {s['p95_ms']:>8.1f} "
            f"{s['p99_ms']:>8.1f}  {s['statuses']}{' errors=' + str(s['errors']) if s['errors'] else ''}"
        )
        for step, t in s.get("steps", {}).items():
            print(
                f"{'  step: ' + step:<38} {t['requests']:>6} {t['requests'] / (phase.seconds or 1):>8.1f} "
                f"{t['p50_ms']:>8.1f} {t['p95_ms']:>8.1f} {t['p99_ms']:>8.1f}  {t['statuses']}"
            )
    print()
    print(
        f"CPU ms per request       {'server':>8} {'postgres':>9} {'redis':>6} {'outbox':>7} {'out.pg':>7}"
        f" {'client':>7} {'pg.bg':>6}  (e: per pair; outbox: the listener, out.pg: its database backend;"
        " pg.bg: PostgreSQL's own processes, part of postgres)"
    )
    for phase in phases.values():
        c = phase.cpu_ms
        if c:
            print(
                f"{phase.name[:24]:<24} {c['server']:>8.2f} {c['postgres']:>9.2f} {c['redis']:>6.2f} "
                f"{c.get('outbox', 0):>7.2f} {c.get('outbox_pg', 0):>7.2f} {c['load_generator']:>7.2f}"
                f" {c.get('pg_background', 0):>6.2f}"
            )
    for key, ratio in ratios.items():
        print(f"booking CPU / bare view's, {key}: {ratio}")
    print(f"booking CPU / bare view's at (b)'s rate (d'), request path: {at_equal_rate}")
    print(f"booking CPU / bare view's with one client (b1)/(d1), request path: {one_client}")
    for key, figures in emails.items():
        print(f"confirmation e-mails, commit -> sent, {key}: {figures}")
    print(f"machine speed: sum(range(1000)) in {speed} µs (lower is faster)")
    print(f"full-stack booking / bare view: {report['booking_share_of_bare_view']:.0%}")
    if report["hold_then_book_share_of_booking"] is not None:
        print(f"hold+book pairs / bookings (b): {report['hold_then_book_share_of_booking']:.0%}")
    print(f"integrity: {checks}")
    for goal, met in report["goals"].items():
        print(f"  [{'x' if met else ' '}] {goal}")
    print(f"saved {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
