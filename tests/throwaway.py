"""Throwaway servers for the fault drills (tests/test_drills.py): a private PostgreSQL and a private
Redis, each on a free port of its own, and the app itself under gunicorn and Celery on top of them.

The shared servers of this machine (PostgreSQL on 5432, Redis on 6379) are never stopped, restarted
or even used here: every port is checked against them before a server is started or stopped.

- `PrivatePostgres`: `initdb` into a temporary folder (Debian's binaries under
  /usr/lib/postgresql/*/bin), trust authentication on 127.0.0.1 and a socket in that folder;
  PostgreSQL refuses to run as root, so as root the folder belongs to the `postgres` OS user and
  `initdb`/`pg_ctl` run as that user (`runuser`). `start`, `stop`, `restart`, `cleanup`.
- `PrivateRedis`: `redis-server --save "" --appendonly no` as a child process. Same methods.
- `Gunicorn`, `CeleryWorker`: the app's processes, with an environment built by `app_env` (DEBUG
  off, as deployed: a real secret key, ALLOWED_HOSTS, a file e-mail backend).
- `Http`: a raw asyncio HTTP/1.1 client on one kept-alive connection (after bench/load.py's: about
  half a millisecond of CPU a request), answering status, headers and body.
- `seat_check`: the seat invariant in SQL (tests/seat_checks.py's rule): every slot's counter equals
  the seats of its seat-holding bookings plus its live holds, and none is above its capacity.

Where `initdb` or `redis-server` is missing, a drill skips, except under CI (`CI=true`), where it
fails: CI must run every drill.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SHARED_PORTS = frozenset({5432, 6379})  # the machine's own servers: never touched here
CLOCK_NOW = "2026-12-01T09:00:00+09:00"  # a Tuesday (the app's pinned clock)
NO_LIMITS = "hold=1000000/hour,booking=1000000/hour,lookup=1000000/hour,manage=1000000/hour"
ANSWERS = {"card_valid": True, "chip_ok": True, "licence_suspended": False}


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    """Skip without the tool; under CI fail instead, since CI must run every drill."""
    if under_ci():
        pytest.fail(f"{what} (CI must run the drills: install it)", pytrace=False)
    pytest.skip(what)


def free_port() -> int:
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            port = probe.getsockname()[1]
        if port not in SHARED_PORTS:
            return port
    raise RuntimeError("no free port")


def _not_shared(port: int) -> int:
    if port in SHARED_PORTS:
        raise RuntimeError(f"port {port} is a shared server's: a drill never touches it")
    return port


def wait_for(predicate, *, seconds: float, what: str, step: float = 0.05) -> float:
    """Poll until `predicate()` is true; the seconds it took. Fails after `seconds`."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > seconds:
            raise TimeoutError(f"{what} not within {seconds} s")
        time.sleep(step)


# --- PostgreSQL ---------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL's binaries, else an `initdb` on PATH with its `pg_ctl` beside."""
    found = []
    for initdb in Path("/usr/lib/postgresql").glob("*/bin/initdb"):
        try:
            found.append((float(initdb.parent.parent.name), initdb.parent))
        except ValueError:
            continue
    for _, folder in sorted(found, reverse=True):
        if (folder / "pg_ctl").exists():
            return folder
    on_path = shutil.which("initdb")
    if on_path and (Path(on_path).parent / "pg_ctl").exists():
        return Path(on_path).parent
    return None


class PrivatePostgres:
    """A PostgreSQL cluster of its own in a temporary folder, on its own port."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        if self.bin is None:
            missing("initdb/pg_ctl not found (apt-get install postgresql)")
        self.as_root = os.geteuid() == 0
        if self.as_root and shutil.which("runuser") is None:
            missing("running as root without `runuser`: PostgreSQL will not run as root")
        # Under /tmp itself (pytest's tmp_path is private to root, out of the postgres user's reach).
        self.root = Path(tempfile.mkdtemp(prefix="drill-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.sockets.mkdir()
        if self.as_root:
            for path in (self.root, self.sockets):
                shutil.chown(path, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        settings = self.data / "postgresql.conf"
        with settings.open("a") as conf:
            # Throwaway data: no fsync. Room for two gunicorn nodes, a worker and the test.
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '{HOST}'\n"
                f"unix_socket_directories = '{self.sockets}'\nfsync = off\nmax_connections = 200\n"
            )

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        # pg_ctl's server keeps no pipe of ours open (its output goes to the log file).
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({result.returncode}): "
                f"{result.stderr.decode(errors='replace')[-2000:]}\n{self.log_tail()}"
            )

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def start(self) -> None:
        _not_shared(self.port)
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        _not_shared(self.port)
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def restart(self) -> None:
        _not_shared(self.port)
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w", "restart")

    def running(self) -> bool:
        try:
            with psycopg.connect(self.url(), connect_timeout=1):
                return True
        except psycopg.Error:
            return False

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@{HOST}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def cleanup(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


# --- Redis --------------------------------------------------------------------------------------


class PrivateRedis:
    """`redis-server` as a child process on its own port, keeping nothing on disk."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            missing("redis-server not found (apt-get install redis-server)")
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="drill-redis-"))
        self.log = self.root / "redis.log"
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    def ping(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        _not_shared(self.port)
        command = [self.binary, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no"]
        command += ["--daemonize", "no", "--dir", str(self.root), "--logfile", str(self.log)]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        wait_for(self.ping, seconds=10, what=f"redis-server on {self.port}")

    def stop(self) -> None:
        _not_shared(self.port)
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: with nothing to save, Redis exits at once
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivateRedis:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


# --- The app --------------------------------------------------------------------------------------

# Variables of the surrounding run (CI's DATABASE_URL, pytest-xdist's worker name…) that must not
# leak into the app's processes: each drill names its own servers.
_DROPPED = (
    *("DATABASE_URL", "REDIS_URL", "EMAIL_URL", "EMAIL_BACKEND", "EMAIL_FILE_PATH", "CACHE_KEY_PREFIX"),
    *("CELERY_QUEUE", "OUTBOX_WAKE", "TRUSTED_PROXIES", "HTTPS", "API_CHALLENGE", "PROMETHEUS_MULTIPROC_DIR"),
)


def app_env(
    *, database_url: str, redis_url: str = "", mail_dir: Path | None = None, **extra: str
) -> dict[str, str]:
    """The environment of a deployed node (DEBUG off) on the drill's servers."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _DROPPED and not key.startswith(("PYTEST_", "COV_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="scheduler.settings",
        DATABASE_URL=database_url,
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(48),  # 64 random characters
        ALLOWED_HOSTS=HOST,
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        THROTTLE_RATES=NO_LIMITS,
        CHALLENGE_SOFT_LIMIT="off",
        PERSON_ACTIVE_BOOKINGS_MAX="1000000",
        CLOCK_NOW=CLOCK_NOW,
        LOG_LEVEL="WARNING",
        LOG_FORMAT="text",
        PYTHONDONTWRITEBYTECODE="1",
        CELERY_QUEUE="drill",
        GUNICORN_MAX_REQUESTS="0",  # gunicorn.conf.py: no worker recycled mid-drill (pids are checked)
        ACCESS_LOG="0",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
        env["CACHE_KEY_PREFIX"] = "drill"
    if mail_dir is not None:
        env["EMAIL_BACKEND"] = "tests.drill_mail.EmailBackend"  # one .eml file per message
        env["EMAIL_FILE_PATH"] = str(mail_dir)
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=180,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)}: {result.stderr.decode(errors='replace')[-3000:]}")


def prepare_database(env: dict[str, str], *, days: int = 20) -> None:
    """Migrated, with the Nagano venues and `days` of slots (the clock pinned at CLOCK_NOW)."""
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "load_nagano")
    manage(env, "generate_slots", "--days", str(days))


class _Process:
    """A child process with its output in a log file."""

    name = "process"

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 20) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class Gunicorn(_Process):
    """One web node: `gunicorn scheduler.wsgi` with gthread workers (kept-alive connections)."""

    name = "gunicorn"

    def __init__(self, env: dict[str, str], log: Path, *, workers: int = 2, threads: int = 4) -> None:
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        command = [str(Path(sys.executable).with_name("gunicorn")), "scheduler.wsgi:application"]
        command += ["--bind", f"{HOST}:{self.port}", "--workers", str(workers)]
        command += ["--worker-class", "gthread", "--threads", str(threads), "--timeout", "60"]
        command += ["--graceful-timeout", "5", "--log-level", "warning", "--backlog", "2048"]
        super().__init__(command, env, log)

    def wait_ready(self, path: str = "/api/v1/procedures/", seconds: float = 60) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"gunicorn exited:\n{self.log_text()[-3000:]}")
            try:
                with opener.open(self.base + path, timeout=2) as response:
                    return response.status == 200
            except (urllib.error.URLError, OSError):
                return False

        wait_for(ready, seconds=seconds, what=f"gunicorn on {self.port}", step=0.1)


class CeleryWorker(_Process):
    """`celery -A scheduler worker --pool=solo` on the drill's queue."""

    name = "celery worker"

    def __init__(self, env: dict[str, str], log: Path) -> None:
        command = [sys.executable, "-m", "celery", "-A", "scheduler", "worker", "--pool=solo"]
        command += ["--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        command += ["-Q", env.get("CELERY_QUEUE", "celery"), f"--hostname=drill-{secrets.token_hex(4)}@%h"]
        super().__init__(command, {**env, "LOG_LEVEL": "INFO"}, log)  # INFO: "ready.", each task

    def wait_ready(self, seconds: float = 60) -> None:
        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"the worker exited:\n{self.log_text()[-3000:]}")
            return " ready." in self.log_text()

        wait_for(ready, seconds=seconds, what="the celery worker", step=0.1)


class OutboxListener(_Process):
    """`manage.py outbox_listen` (OUTBOX_WAKE=notify): sends each row as its NOTIFY arrives."""

    name = "outbox listener"

    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__(
            [sys.executable, "manage.py", "outbox_listen"], {**env, "PYTHONUNBUFFERED": "1"}, log
        )

    def wait_ready(self, seconds: float = 60) -> None:
        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"outbox_listen exited:\n{self.log_text()[-3000:]}")
            return "outbox: listening" in self.log_text()

        wait_for(ready, seconds=seconds, what="outbox_listen", step=0.1)


@contextlib.contextmanager
def running(*processes: _Process):
    """Stop these processes (in reverse order) however the block ends; their log tails on failure."""
    try:
        yield processes
    except BaseException:
        for process in processes:
            print(f"--- {process.name} log ({process.log}) ---\n{process.log_text()[-4000:]}")
        raise
    finally:
        for process in reversed(processes):
            process.stop()


# --- HTTP -----------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: float = 0.0  # time.monotonic() when sent, and when answered
    answered: float = 0.0

    @property
    def data(self) -> dict:
        try:
            value = json.loads(self.body)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def code(self) -> str:
        """The error code of a JSON error body, `html` for a page, '' for a success."""
        if self.status < 400:
            return ""
        if not self.headers.get("content-type", "").startswith("application/json"):
            return (
                "html"
                if b"<html" in self.body[:500].lower() or b"<!doctype" in self.body[:500].lower()
                else "?"
            )
        return str(self.data.get("code", "?"))


REQUEST_SECONDS = 30.0  # one request, connecting included; past it, the request failed


class Http:
    """One kept-alive HTTP/1.1 connection to a node, reopened when the server closes it."""

    def __init__(self, base: str, headers: dict[str, str] | None = None) -> None:
        rest = base.removeprefix("http://")
        host, _, port = rest.partition(":")
        self.host, self.port, self.netloc = host, int(port or 80), rest
        self.headers = dict(headers or {})
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    def _encode(self, method: str, path: str, body: dict | None, headers: dict[str, str]) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.netloc}"]
        lines += [f"{name}: {value}" for name, value in {**self.headers, **headers}.items()]
        data = b""
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
        elif method not in ("GET", "HEAD"):
            lines.append("Content-Length: 0")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + data

    async def request(
        self, method: str, path: str, body: dict | None = None, headers: dict[str, str] | None = None
    ) -> Answer:
        payload = self._encode(method, path, body, headers or {})
        sent = time.monotonic()
        async with asyncio.timeout(REQUEST_SECONDS):
            status, answer_headers, data = await self._exchange(payload)
        return Answer(status, answer_headers, data, sent, time.monotonic())

    async def _exchange(self, payload: bytes) -> tuple[int, dict[str, str], bytes]:
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
            head = await reader.readuntil(b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError) as error:
            self.close()
            if reused and not getattr(error, "partial", b""):
                # A kept-alive connection the server closed as we sent: it read nothing of it.
                return await self._exchange(payload)
            raise
        lines = head.decode("latin-1").split("\r\n")
        version, code, *_ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        status = int(code)
        close = version == "HTTP/1.0" or "close" in headers.get("connection", "").lower()
        if status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            parts = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16):
                parts.append((await reader.readexactly(size + 2))[:-2])
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            body = b"".join(parts)
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body, close = await reader.read(), True
        if close:
            self.close()
        return status, headers, body


HTTP_FAILURES = (OSError, EOFError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError)


# --- The database, read directly --------------------------------------------------------------------

SEAT_HOLDING = ("confirmed", "checked_in", "in_service", "done", "no_show")  # bookings.seats.SEAT_HOLDING

# tests/seat_checks.py in SQL: per slot, the bookings holding a seat and the live holds, each
# covering the slots of its window from its start to its end (a run of slots for a long procedure).
SEATS_OFF = """
SELECT s.id, s.taken, coalesce(counted.n, 0), s.capacity FROM bookings_slot s
LEFT JOIN (
    SELECT c.id, count(*) AS n
    FROM (SELECT slot_id, start, "end" FROM bookings_booking WHERE status = ANY(%(seat_holding)s)
          UNION ALL
          SELECT slot_id, start, "end" FROM bookings_hold WHERE state = 'live') AS k
    JOIN bookings_slot f ON f.id = k.slot_id
    JOIN bookings_slot c ON c.window_id = f.window_id AND c.start >= k.start AND c.start < k."end"
    GROUP BY c.id
) AS counted ON counted.id = s.id
WHERE s.taken <> coalesce(counted.n, 0) OR s.taken > s.capacity
ORDER BY s.id
"""


@dataclass
class SeatCheck:
    slots_off: list[tuple] = field(default_factory=list)  # (slot id, taken, counted, capacity)
    over_capacity: int = 0
    bookings: int = 0
    holds: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.slots_off and self.over_capacity == 0


def seat_check(url: str) -> SeatCheck:
    from bookings.seats import SEAT_HOLDING as APP_SEAT_HOLDING

    assert set(SEAT_HOLDING) == set(APP_SEAT_HOLDING), "bookings.seats.SEAT_HOLDING changed: update SEATS_OFF"
    with psycopg.connect(url) as conn:
        off = conn.execute(SEATS_OFF, {"seat_holding": list(SEAT_HOLDING)}).fetchall()
        over = conn.execute("SELECT count(*) FROM bookings_slot WHERE taken > capacity").fetchone()[0]
        bookings = conn.execute("SELECT count(*) FROM bookings_booking").fetchone()[0]
        holds = dict(conn.execute("SELECT state, count(*) FROM bookings_hold GROUP BY state"))
    return SeatCheck(off, over, bookings, holds)
