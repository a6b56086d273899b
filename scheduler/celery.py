"""The Celery app: Redis broker from REDIS_URL; eager in-process without it.

Configured from Django settings (CELERY_*), including the periodic schedule
(CELERY_BEAT_SCHEDULE, JST). Tasks live in each app's tasks.py (bookings/tasks.py).
Processes: `celery -A scheduler worker -l info` and `celery -A scheduler beat -l info`.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler.settings")

app = Celery("scheduler")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
