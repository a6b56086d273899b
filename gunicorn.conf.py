"""gunicorn's configuration for the web process, from the environment only.

    gunicorn scheduler.wsgi        # from the repository root: gunicorn reads this file itself
    gunicorn -c /srv/app/gunicorn.conf.py scheduler.wsgi

Every value comes from an environment variable with a default (README, "Configuration"):
`BIND` (or `PORT`), `WEB_CONCURRENCY`, `GUNICORN_THREADS`, `GUNICORN_TIMEOUT`,
`GUNICORN_GRACEFUL_TIMEOUT`, `GUNICORN_KEEPALIVE`, `GUNICORN_MAX_REQUESTS`,
`GUNICORN_MAX_REQUESTS_JITTER`, `FORWARDED_ALLOW_IPS`, `ACCESS_LOG`; a command-line flag still
wins over this file.

Logs: gunicorn's own loggers (`gunicorn.error`, `gunicorn.access`) are configured with the app's
LOGGING (scheduler/settings.py) through `logconfig_dict`, in the master too: one JSON line (or
text line) per record on stderr, through the redacting filter (scheduler/logs.py). The access
line names the path without its query string (`%(U)s`, never `%(r)s`, `%(q)s` or the referer),
so `/booking/REF/?token=…` is never written; the filter removes what a path itself may carry
(the secret in `/api/v1/holds/<secret>/`).
"""

from __future__ import annotations

import copy
import glob
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # `-c /path/to/gunicorn.conf.py` from another directory
    sys.path.insert(0, str(ROOT))

from scheduler import settings as app_settings  # noqa: E402 - needs the path above


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use (a container's share)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# --- Where and how many ---------------------------------------------------------------------
bind = [
    address.strip()
    for address in (os.environ.get("BIND") or f"0.0.0.0:{_int('PORT', 8000)}").split(",")
    if address.strip()
]
# 2 × cores + 1 sync workers (each holds one PostgreSQL connection per thread, CONN_MAX_AGE), at
# most 8 on one machine: past that, add machines (or threads) rather than processes.
workers = _int("WEB_CONCURRENCY", min(2 * _cores() + 1, 8))
threads = _int("GUNICORN_THREADS", 1)  # above 1, gunicorn runs its threaded worker (gthread)
# A worker silent this long is killed and replaced (a hung request); on SIGTERM, requests in
# flight get this long to finish; an idle keep-alive connection (gthread) is kept this long.
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# A worker is replaced after this many requests (jittered, so that they are not all replaced at
# once): a bound on any slow leak. 0: never.
max_requests = _int("GUNICORN_MAX_REQUESTS", 10000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 10)
# Heartbeat files in memory, not on a container's overlay disk (gunicorn makes them with mkstemp).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108

# --- Proxies ----------------------------------------------------------------------------------
# Whose X-Forwarded-Proto (and -For) gunicorn believes: the same rule as the app's TRUSTED_PROXIES.
# With 0 (the default) nobody's; behind proxies, any peer's (the app is then reachable through
# them only), unless FORWARDED_ALLOW_IPS lists the proxies' addresses.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS") or (
    "*" if app_settings.TRUSTED_PROXIES > 0 else ""
)

# --- Logs -------------------------------------------------------------------------------------
loglevel = os.environ.get("LOG_LEVEL", "INFO").lower()
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
# ACCESS_LOG=0: no line per request (the error log and the app's own logs stay), e.g. under a
# benchmark; the level is set again once a worker has loaded the app (post_worker_init), since
# Django's own logging configuration then applies settings.LOGGING once more.
ACCESS_LEVEL = "WARNING" if os.environ.get("ACCESS_LOG", "1").strip().lower() in ("0", "off") else "NOTSET"
logconfig_dict = copy.deepcopy(app_settings.LOGGING)
logconfig_dict["loggers"].update(
    {
        # Through the root's one handler (format and redacting filter of the app's logs); the
        # error log's level stays gunicorn's (`loglevel`, `--log-level`).
        "gunicorn.error": {"handlers": [], "propagate": True},
        "gunicorn.access": {"handlers": [], "level": ACCESS_LEVEL, "propagate": True},
    }
)


def post_worker_init(worker) -> None:
    import logging

    logging.getLogger("gunicorn.access").setLevel(ACCESS_LEVEL)


# --- Hooks: Prometheus across worker processes (scheduler/metrics.py) ---------------------------
def on_starting(server) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, start from an empty directory (the last run's counts are over)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
