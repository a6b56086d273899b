"""Schemathesis against the live app: every check, a bounded number of examples per operation.

    .venv/bin/python bench/schemathesis_run.py                  # SQLite in a temporary folder
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scheduler_h2 REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python bench/schemathesis_run.py              # PostgreSQL and Redis
    .venv/bin/python bench/schemathesis_run.py --max-examples 200 --seed random -- --max-failures 5

`make proof` runs it. What it does (127.0.0.1 only, every wait bounded):

1. a fresh database: a SQLite file in a temporary folder, or, with DATABASE_URL (PostgreSQL), the
   database it names dropped and created anew (give a throwaway one); migrate, `load_nagano`,
   `generate_slots`;
2. the app under gunicorn on a free port as in production (DEBUG=0, ALLOWED_HOSTS=127.0.0.1, a
   random SECRET_KEY, e-mails kept in memory), with THROTTLE_RATES=off and the lookup-failure
   limits raised (thousands of requests from one address are the point here); with REDIS_URL, the
   cache keys and the Celery queue are this run's own and are removed afterwards;
3. dictionaries of real values for schemathesis to mix into what it generates (venue and
   procedure codes, bookable start times, valid phones and e-mail addresses), so that requests
   get past "unknown venue" and "no such slot" and book, hold, look up, reschedule and cancel;
4. `schemathesis run <app>/api/v1/schema/ --checks all` with bench/schemathesis.toml (which says
   why a check is relaxed for some operations) and bench/schemathesis_hooks.py (a fresh
   Idempotency-Key per request), every phase (examples, coverage, fuzzing,
   stateful), at most --max-examples test cases per operation and phase (default 150; the seed
   is fixed, 1 by default, so that two runs on the same day send the same requests);
5. stops the server and exits non-zero on any failure, or if gunicorn logged a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import random
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SCHEMA_PATH = "/api/v1/schema/"
CONFIG = ROOT / "bench" / "schemathesis.toml"
BIN = Path(sys.executable).parent
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1: never a proxy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def fresh_postgres(url: str) -> None:
    import psycopg

    head, name = url.rsplit("/", 1)
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing an odd database name: {name!r}")
    with psycopg.connect(f"{head}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict, *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


def get_json(url: str):
    with OPENER.open(url, timeout=30) as response:
        return json.load(response)


def wait_ready(base: str, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            with OPENER.open(base + SCHEMA_PATH, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn on {base} did not answer {SCHEMA_PATH} within {seconds:.0f} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def write_dictionary(path: Path, values: list[str]) -> None:
    """A libFuzzer-style dictionary file: one quoted value a line."""
    path.write_text("".join(json.dumps(value) + "\n" for value in values), encoding="utf-8")


def write_dictionaries(base: str, folder: Path, rng: random.Random) -> dict[str, int]:
    """Real values from the running app (its API), for schemathesis to mix into its data."""
    api = base + "/api/v1"
    venues = get_json(api + "/venues/")
    procedures = [p["code"] for p in get_json(api + "/procedures/")]
    starts: list[str] = []
    for venue in venues:
        for procedure in venue["procedures"]:
            answer = get_json(f"{api}/venues/{venue['code']}/availability/?procedure={procedure}")
            free = [s["start"] for day in answer["days"] for s in day["slots"] if s["remaining"]]
            starts += rng.sample(free, min(len(free), 8))
    found = {
        "venues": [v["code"] for v in venues],
        "procedures": procedures,
        "starts": sorted(set(starts)) or ["2026-12-14T10:00:00+09:00"],
        "phones": [f"090-{n // 10000:04d}-{n % 10000:04d}" for n in rng.sample(range(10**8), 2000)],
        "emails": [f"proof{n}@example.jp" for n in rng.sample(range(10**9), 2000)],
    }
    for name, values in found.items():
        write_dictionary(folder / f"{name}.dict", values)
    return {name: len(values) for name, values in found.items()}


def redis_cleanup(url: str, run_id: str) -> None:
    """Remove this run's cache keys and its (never consumed) Celery queue from the given Redis db."""
    try:
        import redis

        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=f"*{run_id}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    except Exception as error:  # cleanup only: never hides the run's own result
        print(f"proof: Redis cleanup skipped: {error}", file=sys.stderr)


def server_env(work: Path, run_id: str) -> tuple[dict, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"CLOCK_NOW", "DJANGO_SETTINGS_MODULE", "PYTEST_XDIST_WORKER", "EMAIL_URL"}
    }
    env.update(
        DEBUG="0",
        ALLOWED_HOSTS=HOST,
        SECRET_KEY=secrets.token_urlsafe(50),
        SITE_URL="http://" + HOST,
        THROTTLE_RATES="off",
        LOOKUP_FAILURES_PER_ADDRESS="1000000",
        LOOKUP_FAILURES_PER_REFERENCE="1000000",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",  # not the console: refused
        CACHE_KEY_PREFIX=run_id,
        CELERY_QUEUE=run_id,
        PYTHONUNBUFFERED="1",
    )
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith(("postgres://", "postgresql://")):
        fresh_postgres(database_url)
        return env, "PostgreSQL " + database_url.rsplit("@", 1)[-1]
    if database_url:
        raise SystemExit("DATABASE_URL: PostgreSQL only (or none: a SQLite file in a temporary folder)")
    env["DATABASE_URL"] = f"sqlite:///{work / 'proof.sqlite3'}"
    return env, "SQLite in " + str(work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("PROOF_MAX_EXAMPLES", "150")))
    parser.add_argument(
        "--seed",
        default=os.environ.get("PROOF_SEED", "1"),
        help="an integer (default 1, so that CI runs alike), or `random`",
    )
    # One worker: with threads, CPython 3.11's ast.parse (Hypothesis describing a strategy) can fail
    # with "AST constructor recursion depth mismatch", an error of the tool, not of the API.
    parser.add_argument("--workers", default="1", help="schemathesis workers (threads)")
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (server log)")
    parser.add_argument("extra", nargs="*", help="more schemathesis options, after --")
    args = parser.parse_args()
    seed = secrets.randbelow(2**31) if args.seed == "random" else int(args.seed)
    rng = random.Random(seed)  # test data, not secrets

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="schemathesis-proof-"))
    run_id = f"proof{os.getpid()}x{secrets.token_hex(3)}"
    redis_url = os.environ.get("REDIS_URL", "")
    server = None
    server_log = work / "gunicorn.log"
    status = 1
    try:
        env, where = server_env(work, run_id)
        print(f"proof: database {where}" + (f", Redis {redis_url.rsplit('@', 1)[-1]}" if redis_url else ""))
        manage(env, "migrate", "--noinput")
        manage(env, "load_nagano")
        manage(env, "generate_slots")
        print(f"proof: database ready in {time.monotonic() - started:.1f} s")

        port = free_port()
        base = f"http://{HOST}:{port}"
        with server_log.open("wb") as log:
            server = subprocess.Popen(
                [
                    str(BIN / "gunicorn"),
                    "scheduler.wsgi",
                    "--bind",
                    f"{HOST}:{port}",
                    "--workers",
                    str(args.gunicorn_workers),
                    "--timeout",
                    "60",
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_ready(base, server)
        counts = write_dictionaries(base, work, rng)
        print("proof: dictionaries " + ", ".join(f"{name} {n}" for name, n in counts.items()))
        shutil.copy(CONFIG, work / CONFIG.name)  # its dictionaries are read from beside it
        command = [
            str(BIN / "schemathesis"),
            "--config-file",
            str(work / CONFIG.name),
            "--no-color",
            "run",
            base + SCHEMA_PATH,
            "--checks",
            "all",
            "--max-examples",
            str(args.max_examples),
            "--workers",
            args.workers,
            "--seed",
            str(seed),
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            *args.extra,
        ]
        print("proof: " + " ".join(command[1:]).replace(str(work), "<tmp>"), flush=True)
        fuzz_started = time.monotonic()
        hooks = {"SCHEMATHESIS_HOOKS": "schemathesis_hooks", "PYTHONPATH": str(ROOT / "bench")}
        status = subprocess.call(command, cwd=work, env={**os.environ, "NO_COLOR": "1", **hooks})
        print(f"proof: schemathesis exited with {status} after {time.monotonic() - fuzz_started:.0f} s")
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        print(f"proof: {error}", file=sys.stderr)
        status = 1
    finally:
        if server is not None:
            stop(server)
        if redis_url:
            redis_cleanup(redis_url, run_id)
        text = server_log.read_text(encoding="utf-8", errors="replace") if server_log.exists() else ""
        if "Traceback" in text:
            print(f"proof: the server logged a traceback:\n{text[-8000:]}", file=sys.stderr)
            status = status or 1
        if args.keep:
            print(f"proof: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"proof: {'FAILED' if status else 'passed'} in {time.monotonic() - started:.0f} s (seed {seed})")
    return status


if __name__ == "__main__":
    sys.exit(main())
