"""One settings file, configured only from the environment (safe defaults for local use)."""

import ipaddress
import os
import sys
from pathlib import Path

import dj_database_url
import dj_email_url
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    # A local-only key: fine for a laptop; with DEBUG off the web server, worker and beat refuse
    # it (scheduler/startup.py), and so does `check --deploy`.
    SECRET_KEY = "django-insecure-local-only-change-me"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
CSRF_FAILURE_VIEW = "scheduler.error_views.csrf_failure"  # JSON with a code under /api/
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "venues",
    "bookings",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "scheduler.idempotency.IdempotencyMiddleware",  # API POSTs with an Idempotency-Key
    "scheduler.middleware.ServiceUnavailableMiddleware",  # innermost: sees the views' exceptions
]
IDEMPOTENCY_SECONDS = int(os.environ.get("IDEMPOTENCY_SECONDS", str(24 * 3600)))
BUSY_RETRY_AFTER_SECONDS = int(os.environ.get("BUSY_RETRY_AFTER_SECONDS", "30"))
# A venue and a procedure read by a booking or a hold are kept by the process this long (0: never);
# another process's change to them is seen within it (venues/selectors.py, `venue_and_procedure`).
REFERENCE_CACHE_SECONDS = float(os.environ.get("REFERENCE_CACHE_SECONDS", "10"))

ROOT_URLCONF = "scheduler.urls"
WSGI_APPLICATION = "scheduler.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# Persistent connections (PostgreSQL; SQLite opens one per request): seconds a connection is kept,
# `none` for ever, 0 to close it after each request; checked before reuse (CONN_HEALTH_CHECKS).
_conn_max_age = os.environ.get("CONN_MAX_AGE", "60").strip().lower()
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=None if _conn_max_age in ("none", "") else int(_conn_max_age),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent web use on SQLite: WAL so readers never block the writer, IMMEDIATE transactions
    # so that a writer takes the lock at BEGIN (no deadlock on upgrade), a busy timeout so that a
    # waiting writer queues instead of failing.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": ("PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=20000;"),
    }
else:
    # Django's backend with a health check by a look at the socket, not a `SELECT 1` per request
    # (scheduler/postgresql/base.py).
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["ENGINE"] = "scheduler.postgresql"
    # Parameters bound by the server, and a statement prepared after its fifth use on a connection:
    # PostgreSQL then skips parsing and planning it, which was a third of its CPU per booking
    # (pg_stat_statements under bench/load.py). Behind a transaction-mode connection pooler that
    # cannot keep prepared statements, set DATABASE_PREPARE_THRESHOLD to an empty value.
    _prepare = os.environ.get("DATABASE_PREPARE_THRESHOLD", "5")
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=int(_prepare) if _prepare else None
    )
    # A database host that drops packets must not hold a request (or /readyz) for minutes.
    DATABASES["default"]["OPTIONS"].setdefault(
        "connect_timeout", int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "5"))
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits, availability versions, idempotency records, used challenges) ---------
# One cache that every process shares: Redis with REDIS_URL; without it, with DEBUG=0, the
# database's table `cache_table` (migration venues 0005; scheduler.cache.DatabaseCache: atomic
# increments, no eviction of live keys), never a process's own memory, which another gunicorn
# worker or node would not see (a booked seat shown free, throttles counted per process). With
# DEBUG=1 (`make run`: runserver is one process) and in the pytest process (whose tests count
# queries: a cache hit must cost none), the memory of the process.
REDIS_URL = os.environ.get("REDIS_URL", "")
# Processes sharing one Redis keep apart by prefix; each pytest-xdist worker has its own database,
# so it gets its own prefix too (else one worker's cached answers would be served to another).
CACHE_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", "") or os.environ.get("PYTEST_XDIST_WORKER", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "scheduler.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
elif DEBUG or "pytest" in sys.modules:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CACHES = {
        "default": {
            "BACKEND": "scheduler.cache.DatabaseCache",
            "LOCATION": "cache_table",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }

# --- Health and metrics (scheduler/health.py, scheduler/metrics.py) ---------------------------
# /readyz fails when more outbox rows than this are pending, or one has been due longer than this
# (`off`: not checked).


def _limit(name: str, default: str) -> int | None:
    value = os.environ.get(name, default).strip().lower()
    return None if value in ("off", "none", "") else int(value)


READY_OUTBOX_MAX_ROWS = _limit("READY_OUTBOX_MAX_ROWS", "5000")
READY_OUTBOX_MAX_AGE_SECONDS = _limit("READY_OUTBOX_MAX_AGE_SECONDS", "900")
# /metrics (and a worker's METRICS_PORT) answer these client addresses only (IPs or networks);
# any other gets a 404. The address is the one the throttles count (TRUSTED_PROXIES).
METRICS_ALLOWED_ADDRESSES = env_list("METRICS_ALLOWED_ADDRESSES", "127.0.0.1,::1")
for _entry in METRICS_ALLOWED_ADDRESSES:
    ipaddress.ip_network(_entry, strict=False)  # a typo stops the start, not every scrape
METRICS_PORT = int(os.environ.get("METRICS_PORT", "") or 0) or None  # a Celery worker's own endpoint
METRICS_BIND = os.environ.get("METRICS_BIND", "127.0.0.1")
# Outermost: every answer is counted and timed; then the operator endpoints, answered before the
# host check and the https redirect (a probe names the node by its address, in plain http).
MIDDLEWARE = [
    "scheduler.metrics.RequestMetricsMiddleware",
    "scheduler.health.OperatorEndpointsMiddleware",
    *MIDDLEWARE,
]

# --- Auth -----------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 1  # hours
# Locked per user name and address, and per user name across addresses: guesses spread over
# many addresses stop too. An administrator sees the lock (スタッフ, ログイン停止) and may lift it.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username"]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(8 * 3600)))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# --- Internationalisation and time ---------------------------------------------------------
LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("日本語")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("STATIC_MANIFEST", (STATIC_ROOT / "staticfiles.json").exists())
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Without `collectstatic` (local use, tests), serve straight from the apps' static folders.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", not (STATIC_ROOT / "staticfiles.json").exists())

# --- Security -------------------------------------------------------------------------------
# How many reverse proxies in front of the app: X-Forwarded-For and X-Forwarded-Proto are trusted
# only behind them (0: never; anybody could send those headers).
TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if env_bool("HTTPS", False):
    if TRUSTED_PROXIES > 0:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Email ----------------------------------------------------------------------------------
EMAIL_URL = os.environ.get("EMAIL_URL", "")
if EMAIL_URL:
    vars().update(dj_email_url.parse(EMAIL_URL))
else:
    EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "scheduler.mail.ConsoleEmailBackend")
    if os.environ.get("EMAIL_FILE_PATH"):  # for the filebased backend (end-to-end tests, demos)
        EMAIL_FILE_PATH = os.environ["EMAIL_FILE_PATH"]
# A hung mail server must not hold a worker (or an eager request) for ever.
EMAIL_TIMEOUT = vars().get("EMAIL_TIMEOUT") or int(os.environ.get("EMAIL_TIMEOUT", "30"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "yoyaku@example.jp")
# SMS (docs/sms.md, scheduler/sms.py): empty is off; `console://` prints one line per text (the
# default with DEBUG on); `twilio://SID:TOKEN@api.twilio.com?from=%2B81…` sends through Twilio.
SMS_URL = os.environ.get("SMS_URL", "console://" if DEBUG else "").strip()
SMS_TIMEOUT = float(os.environ.get("SMS_TIMEOUT", "10"))  # seconds: a hung provider must not hold a worker

# --- Celery ---------------------------------------------------------------------------------
# Without REDIS_URL, tasks run eagerly in-process so that a newcomer needs no server.
# The embedded default runs tasks in-process; its in-memory broker named with a host, as kombu
# otherwise warns that it "reverts to localhost" on every start.
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
# One queue per installation sharing a Redis; each pytest-xdist worker (own test database, own
# Celery worker subprocess) gets its own queue, so a task never reaches another test database.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "") or (
    f"celery-{os.environ['PYTEST_XDIST_WORKER']}" if os.environ.get("PYTEST_XDIST_WORKER") else "celery"
)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5, "max_retries": 1}
# Publishing fails fast when Redis is down (the outbox row stays pending for the sweep).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.1,
}
# Every periodic task, in one place; crontab times are JST (CELERY_TIMEZONE). All are idempotent.
CELERY_BEAT_SCHEDULE = {
    "notifications-sweep": {"task": "bookings.notifications_sweep", "schedule": 60.0},
    "holds-expire": {"task": "bookings.holds_expire", "schedule": 60.0},
    # Offers that ran out pass on, ended ranges expire, free seats go to the first in line.
    "waitlist-sweep": {"task": "bookings.waitlist_sweep", "schedule": 60.0},
    "sessions-purge": {"task": "bookings.sessions_purge", "schedule": crontab(hour="3", minute="45")},
    # 18:00 the day before; the 19:00 run catches one missed while Redis was down (one email each).
    "reminders": {"task": "bookings.reminders_send", "schedule": crontab(hour="18,19", minute="0")},
    # Slots reach the day after the horizon: a day opening at 00:00 had its slots made a day earlier.
    "slots-roll": {"task": "bookings.slots_roll", "schedule": crontab(hour="0", minute="15")},
    "no-shows": {"task": "bookings.no_shows_mark", "schedule": crontab(minute="*/30")},
    "personal-data-erase": {
        "task": "bookings.personal_data_erase",
        "schedule": crontab(hour="3", minute="30"),
    },
}

# --- API ------------------------------------------------------------------------------------
# --- Fair shares (README: "Fair shares") -----------------------------------------------------
# Many residents share one mobile carrier's address: the limits allow a family or a small office
# behind one address, and stop one address from taking more than a handful of seats an hour.
THROTTLE_RATES_TEXT = os.environ.get(
    "THROTTLE_RATES", "hold=30/hour+100/day,booking=10/hour+30/day,lookup=30/hour,manage=60/hour"
)
THROTTLE_IPV6_PREFIX = int(os.environ.get("THROTTLE_IPV6_PREFIX", "64"))  # an IPv6 client is its /64
LOOKUP_FAILURES_PER_ADDRESS = int(os.environ.get("LOOKUP_FAILURES_PER_ADDRESS", "10"))  # in 15 minutes
LOOKUP_FAILURES_PER_REFERENCE = int(os.environ.get("LOOKUP_FAILURES_PER_REFERENCE", "100"))  # in a day
PERSON_ACTIVE_BOOKINGS_MAX = int(os.environ.get("PERSON_ACTIVE_BOOKINGS_MAX", "3"))  # per phone, per email


def _throttle_rates() -> dict:
    from scheduler.rates import parse_rates

    return parse_rates(THROTTLE_RATES_TEXT)


THROTTLE_RATES = _throttle_rates()

# Proof of work (ALTCHA, served by the app itself). The pages ask for it from an address that has
# asked for more holds this hour than the soft limit (`off`: never); the API on every hold, and on
# every booking without a hold, when API_CHALLENGE=1 (off by default: partner clients of the 1.1
# contract know nothing of it). Work per challenge: PBKDF2 of COST iterations, on average
# MAX_COUNTER / 2 times (1.0–2.0 s from tap to the next page in headless Chromium on this 2-core
# machine, 1.0 s of one core in Python: bench/hoard.py; an older phone takes a few seconds).
_soft_limit = os.environ.get("CHALLENGE_SOFT_LIMIT", "3").strip().lower()
CHALLENGE_SOFT_LIMIT = None if _soft_limit in ("", "off", "none") else int(_soft_limit)
CHALLENGE_COST = int(os.environ.get("CHALLENGE_COST", "5000"))
CHALLENGE_MAX_COUNTER = int(os.environ.get("CHALLENGE_MAX_COUNTER", "2000"))
CHALLENGE_SECONDS = int(os.environ.get("CHALLENGE_SECONDS", "600"))  # a challenge expires after
API_CHALLENGE = env_bool("API_CHALLENGE", False)

REST_FRAMEWORK = {
    "NUM_PROXIES": TRUSTED_PROXIES,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "scheduler.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Nagano My Number licence counter booking API",
    "DESCRIPTION": "Public API for booking a counter visit for a My Number driving licence "
    "procedure in Nagano Prefecture.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Product settings -----------------------------------------------------------------------
# "now" for the whole app: tests set CLOCK_NOW (ISO 8601) to travel in time.
CLOCK_NOW = os.environ.get("CLOCK_NOW", "")
RETENTION_DAYS = int(os.environ.get("RETENTION_DAYS", "90"))
# The waiting list (docs/waitlist.md): how long a freed seat is kept for the first in line (never
# past the day's online cut-off), and the shortest offer worth making before the cut-off (a seat
# freed later stays free for everybody).
WAITLIST_OFFER_MINUTES = int(os.environ.get("WAITLIST_OFFER_MINUTES", "30"))
WAITLIST_OFFER_MIN_MINUTES = int(os.environ.get("WAITLIST_OFFER_MIN_MINUTES", "5"))
# Outbox: attempts before a notification is marked failed; back-off doubles from the base.
NOTIFICATION_MAX_ATTEMPTS = int(os.environ.get("NOTIFICATION_MAX_ATTEMPTS", "5"))
NOTIFICATION_RETRY_SECONDS = int(os.environ.get("NOTIFICATION_RETRY_SECONDS", "60"))
NOTIFICATION_STALE_SECONDS = int(os.environ.get("NOTIFICATION_STALE_SECONDS", "600"))  # stuck "sending"
# One sweep sends batch after batch for at most this long (it runs every minute).
NOTIFICATION_SWEEP_SECONDS = float(os.environ.get("NOTIFICATION_SWEEP_SECONDS", "50"))
# How a new outbox row reaches a sender. `notify` (the default on PostgreSQL): a NOTIFY in the
# booking's transaction wakes `manage.py outbox_listen`, which sends at once, so a booking costs
# no broker round trip; `task`: a Celery task enqueued after commit (in-process when there is no
# REDIS_URL, as on the embedded default). The sweep (beat, every minute) sends whatever is left.
OUTBOX_WAKE = os.environ.get("OUTBOX_WAKE", "").strip().lower() or (
    "notify" if DATABASES["default"]["ENGINE"].endswith("postgresql") else "task"
)
if OUTBOX_WAKE not in ("notify", "task"):
    raise RuntimeError(f"OUTBOX_WAKE must be notify or task, not {OUTBOX_WAKE!r}")
if OUTBOX_WAKE == "notify" and not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise RuntimeError("OUTBOX_WAKE=notify needs PostgreSQL (LISTEN/NOTIFY)")
# outbox_listen: how long it waits for a NOTIFY before it looks for due rows anyway (retries).
OUTBOX_LISTEN_IDLE_SECONDS = float(os.environ.get("OUTBOX_LISTEN_IDLE_SECONDS", "2"))
NO_SHOW_GRACE_MINUTES = int(os.environ.get("NO_SHOW_GRACE_MINUTES", "30"))  # after the last slot ends
# The counter's "did not come" button: refused until the booking's own slot ended this many minutes
# ago (a per-booking judgement; the automatic marking above waits for the day's last window).
NO_SHOW_AFTER_MINUTES = int(os.environ.get("NO_SHOW_AFTER_MINUTES", "15"))

# Logs: JSON lines (LOG_FORMAT=json, the default unless DEBUG=1) or readable text (LOG_FORMAT=text,
# the default with DEBUG=1), on stderr. Every handler carries the redacting filter
# (scheduler.logs): no token, e-mail address or phone number gets through, and the access logs
# lose their query strings. Django's own handlers (console, mail_admins) and the servers' access
# loggers are replaced by the one handler of the root; the Celery worker and beat use this
# configuration too (scheduler/celery.py).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "").strip().lower() or ("text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise RuntimeError(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "scheduler.logs.RedactingFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "{levelname}{name}{message}",
            "style": "{",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
            "json_ensure_ascii": False,
        },
        "text": {"format": "{asctime} {levelname} {name}: {message}", "style": "{"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Through the root's handler; their level follows LOG_LEVEL.
        "django": {"handlers": [], "level": "NOTSET", "propagate": True},
        "django.server": {"handlers": [], "level": "NOTSET", "propagate": True},
        "gunicorn.access": {"handlers": [], "level": "NOTSET", "propagate": True},
        "django.db.backends": {"level": "WARNING"},  # SQL with its parameters: never below WARNING
        # Tasks run in the web process on the embedded default (no REDIS_URL): a line for each that
        # succeeded (a waiting-list pass per venue as `load_nagano` runs) only buries what `make run`
        # says; failures still log. A worker (with REDIS_URL) keeps them, for the operator.
        **({"celery.app.trace": {"level": "WARNING"}} if CELERY_TASK_ALWAYS_EAGER else {}),
    },
}
