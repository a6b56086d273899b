"""The Celery app: Redis broker from REDIS_URL; eager in-process without it.

Configured from Django settings (CELERY_*), including the periodic schedule
(CELERY_BEAT_SCHEDULE, JST). Tasks live in each app's tasks.py (bookings/tasks.py).
Processes: `celery -A scheduler worker -l info` and `celery -A scheduler beat -l info`.
"""

import logging.config
import os
import sys

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler.settings")

app = Celery("scheduler")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def _logging_as_the_web(**_kwargs) -> None:
    """The worker and beat log as the web does (settings.LOGGING: JSON lines or text, the level of
    LOG_LEVEL, every handler redacting) instead of through Celery's own handlers, which carry no
    filter; `-l/--loglevel` is then ignored."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.worker_init.connect
@signals.beat_init.connect
def _refuse_unsafe_start(**_kwargs) -> None:
    """Celery logs and swallows an exception from a signal handler: the refusal exits instead."""
    from django.core.exceptions import ImproperlyConfigured

    from scheduler.startup import refuse_unsafe_start

    try:
        refuse_unsafe_start("The Celery worker or beat")
    except ImproperlyConfigured as refusal:
        print(refusal, file=sys.stderr)
        raise SystemExit(78) from refusal  # EX_CONFIG


# --- Metrics (scheduler.metrics): every task run, in the worker and eagerly in the web alike ----


@signals.task_prerun.connect
def _task_started(task_id=None, **_kwargs) -> None:
    from scheduler import metrics

    metrics.task_started(task_id)


@signals.task_postrun.connect
def _task_finished(task_id=None, task=None, retval=None, state=None, **_kwargs) -> None:
    from scheduler import metrics

    metrics.task_finished(task_id, getattr(task, "name", None) or "unknown", state, retval)


@signals.worker_init.connect
def _metrics_served(**_kwargs) -> None:
    """With METRICS_PORT, the worker serves its metrics there (to METRICS_ALLOWED_ADDRESSES); a
    prefork pool's children count into PROMETHEUS_MULTIPROC_DIR, emptied here first."""
    from scheduler import metrics

    metrics.serve_from_settings()


@signals.worker_process_shutdown.connect
def _metrics_process_dead(pid=None, **_kwargs) -> None:
    from scheduler import metrics

    metrics.process_dead(pid or os.getpid())
