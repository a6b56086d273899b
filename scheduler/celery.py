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
